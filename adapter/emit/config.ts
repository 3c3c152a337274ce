import { z } from 'zod';

/** The adapter's event emitter (batches, spool, journal): the `emitter` section of the configuration (docs/configuration.md). */
export const EmitterConfigSchema = z
  .object({
    batchSize: z.number().int().positive().default(500).describe('Events per producer batch.'),
    lingerMs: z
      .number()
      .int()
      .nonnegative()
      .default(100)
      .describe(
        'Max wait before a partial batch is sent. Each batch is one commit of the embedded log (an fsync with bus.embedded.fsync): fewer, larger batches cost less CPU per event; the journal keeps what waits safe from a crash.',
      ),
    bufferMax: z
      .number()
      .int()
      .positive()
      .default(50_000)
      .describe(
        'In-memory bound of events waiting for a batch. Past emitter.spoolAtBuffered they are spooled eagerly; at this bound new events are dropped (counted, reason buffer-full): only when the disk cannot keep up.',
      ),
    spoolMaxBytes: z
      .number()
      .int()
      .positive()
      .default(256 * 1024 * 1024)
      .describe('On-disk spool bound; when full, the oldest spooled events are dropped (counted).'),
    spoolSegmentBytes: z
      .number()
      .int()
      .nonnegative()
      .default(0)
      .describe(
        'Size at which a spool segment file is closed and a new one begun; 0 = spoolMaxBytes/8, at most 16 MiB.',
      ),
    spoolAtBuffered: z
      .number()
      .int()
      .nonnegative()
      .default(0)
      .describe(
        'Buffered events that make the emitter spool at once instead of waiting for a slow bus (bounds what a crash can lose); 0 = bufferMax/10.',
      ),
    produceTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(2_000)
      .describe(
        'A producer call not settled within this is treated as failed and its batch spooled (may duplicate: consumers dedupe on eventId).',
      ),
    stopTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(5_000)
      .describe('On stop (SIGTERM), how long the final flush may wait for the bus before spooling the rest.'),
    journal: z
      .boolean()
      .default(true)
      .describe(
        'Write every event to <dataDir>/spool/journal-*.wal as it is emitted (before the check is answered), so a SIGKILL loses ~nothing; off: a crash loses the events still in memory (one linger period plus one in-flight produce).',
      ),
  })
  .prefault({});

/** The documented defaults, for callers that build an Emitter without a loaded configuration. */
export const EMITTER_DEFAULTS = EmitterConfigSchema.parse(undefined);
