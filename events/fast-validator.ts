/**
 * Compiled fast-path validators for contracts at a trust boundary (the functions' records, the
 * adapter's access-log metadata). An ajv validator compiled once from the zod schema's own JSON
 * Schema (output mode: unknown keys are not allowed, so an accepted value is exactly what zod would
 * return); a value it accepts is used as parsed, anything it rejects goes through zod for the full
 * error or the canonical value (e.g. unknown keys stripped). Only schemas without defaults or
 * transforms may take the fast path (FAST_SCHEMAS): for them "ajv accepts" implies "zod accepts with
 * the same value" (test/events/fast-validator.test.ts, test/functions/lib/contracts.test.ts).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import { RequestAttributes, RequestContext } from './request-attributes.ts';

/** Schemas with neither defaults nor transforms: their validated value is the input itself. */
const FAST_SCHEMAS: readonly z.ZodType[] = [RequestAttributes, RequestContext];
const compiled = new WeakMap<z.ZodType, ValidateFunction | null>();

export function fastValidator(schema: z.ZodType): ValidateFunction | null {
  let v = compiled.get(schema);
  if (v !== undefined) return v;
  v = null;
  if (FAST_SCHEMAS.includes(schema)) {
    const json = z.toJSONSchema(schema, { target: 'draft-7', io: 'output' }) as Record<string, unknown>;
    delete json.$schema;
    // Formats are carried by zod's own patterns in the schema; ajv need not know them.
    v = new Ajv({ strict: false, validateFormats: false, allErrors: false }).compile(json);
  }
  compiled.set(schema, v);
  return v;
}
