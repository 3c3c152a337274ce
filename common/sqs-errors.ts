/** Classifies AWS SDK v3 SQS errors (names differ between the query and JSON protocols and ElasticMQ). */

interface AwsLikeError {
  name?: string;
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

function codeOf(err: unknown): string {
  const e = (err ?? {}) as AwsLikeError;
  return e.name ?? e.Code ?? e.code ?? '';
}

export function isQueueGone(err: unknown): boolean {
  return /QueueDoesNotExist|NonExistentQueue|QueueDeletedRecently/.test(codeOf(err));
}

export function isThrottling(err: unknown): boolean {
  const e = (err ?? {}) as AwsLikeError;
  return (
    e.$retryable?.throttling === true ||
    /Throttl|RequestThrottled|TooManyRequests|SlowDown|OverLimit|KmsThrottled/.test(codeOf(err))
  );
}

/** Throttling, 5xx and network errors: the same call may succeed later. */
export function isTransient(err: unknown): boolean {
  const e = (err ?? {}) as AwsLikeError;
  const status = e.$metadata?.httpStatusCode;
  if (isThrottling(err)) return true;
  if (status !== undefined) return status >= 500 || status === 429;
  // No HTTP response at all: connection refused/reset, timeout.
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|socket hang up|TimeoutError|NetworkingError/i.test(
    `${codeOf(err)} ${(err as Error)?.message ?? ''} ${(err as { code?: string })?.code ?? ''}`,
  );
}
