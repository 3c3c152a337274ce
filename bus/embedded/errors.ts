/** The embedded log's failures as bus errors (SQLite and writer-worker errors carry a code). */
import { errorMessage } from '../../common/errors.ts';
import { BrokerUnavailableError, BusError, TopicError } from '../errors.ts';

export function toError(op: string, err: unknown): BusError {
  if (err instanceof BusError) return err;
  const name = (err as { name?: string }).name ?? '';
  if (name === 'TopicError') return new TopicError(errorMessage(err), { cause: err });
  const code = (err as { code?: string }).code ?? '';
  // Locked by another process beyond busy_timeout, disk full, I/O, the writer worker gone: the same
  // call can succeed later (nothing of it was acknowledged).
  if (/^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|PROTOCOL)/.test(code) || code === 'WRITER_EXITED')
    return new BrokerUnavailableError(`embedded log ${op}: ${errorMessage(err)}`, { cause: err });
  return new BusError('BUS_EMBEDDED', `embedded log ${op}: ${errorMessage(err)}`, { cause: err });
}
