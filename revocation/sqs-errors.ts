/**
 * Recognises a missing SQS queue in AWS SDK v3 errors (names differ between the query and JSON
 * protocols and ElasticMQ). Throttling/5xx/network are the SDK's standard retry's business.
 */

interface AwsLikeError {
  name?: string;
  Code?: string;
  code?: string;
}

function codeOf(err: unknown): string {
  const e = (err ?? {}) as AwsLikeError;
  return e.name ?? e.Code ?? e.code ?? '';
}

export function isQueueGone(err: unknown): boolean {
  return /QueueDoesNotExist|NonExistentQueue|QueueDeletedRecently/.test(codeOf(err));
}
