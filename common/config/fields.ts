/** Building blocks the areas' config slices share (no slice imports this folder's other modules). */
import { z } from 'zod';

export const hostPort = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port');

/**
 * Options of every cross-field `superRefine`: it runs even when another field of the same object is
 * invalid, so one start reports every problem at once (zod skips refinements after an issue by
 * default). A rule therefore reads only the fields it compares and must accept a raw (unparsed) value
 * there: each rule compares with literals or checks `Array.isArray` first.
 */
export const ALWAYS = { when: () => true } as const;
