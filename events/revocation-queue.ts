/**
 * The contract between the revocation fan-out (functions/revocation-fanout/) and the adapters'
 * SQS consumers (adapter/revocation/sqs-consumer.ts): one queue per adapter instance, named from
 * the queue prefix and the instance id, tagged with the adapter's last heartbeat. It lives here, not
 * under functions/, because the container image (which runs the adapters) leaves functions/ out.
 */

/** Queue tag holding the epoch ms of the adapter's last heartbeat. */
export const HEARTBEAT_TAG = 'heartbeat';

/** Queue name of one adapter instance (SQS names: 80 chars of [A-Za-z0-9_-]). */
export function adapterQueueName(prefix: string, instanceId: string): string {
  return `${prefix}-${instanceId.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, 80);
}
