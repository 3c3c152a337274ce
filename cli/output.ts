import { MeshApimError } from '../common/errors.ts';

/** The `-o/--output` value of a command that prints: one of `allowed`, the first being the default. */
export function outputFormat<F extends string>(value: string | undefined, allowed: readonly F[]): F {
  if (value === undefined) return allowed[0]!;
  if ((allowed as readonly string[]).includes(value)) return value as F;
  throw new MeshApimError('USAGE', `-o/--output must be one of ${allowed.join(', ')}, got "${value}"`);
}
