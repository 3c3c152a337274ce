/**
 * The one argument parser: commander, with the declarations of cli/program.ts. `mesh-apim <command>`
 * parses once in main.ts and hands the result to the command; a command called directly (tests) parses
 * its argv here with the same declaration, so what is accepted, its defaults and its help cannot
 * disagree. Values are keyed by the long flag as written (`key-type`, `dry-run`), positionals in order
 * (for `topics`, the subcommand first).
 */
import { type Command, CommanderError } from 'commander';
import { MeshApimError } from '../common/errors.ts';
import { buildProgram } from './program.ts';

export interface Parsed<V> {
  values: Partial<V>;
  positionals: string[];
}

/** A usage error (exit 2): unknown option, missing or malformed value, bad choice. */
export class UsageError extends MeshApimError {
  constructor(message: string) {
    super('USAGE', message, { retriable: false });
  }
}

/** What commander parsed for `cmd` (after its action was called), as flag-keyed values. */
export function parsedOf<V>(cmd: Command, leading: string[] = []): Parsed<V> {
  const opts = cmd.opts();
  const values: Record<string, unknown> = {};
  for (const o of cmd.options) {
    const v = opts[o.attributeName()];
    if (v !== undefined && o.long) values[o.long.replace(/^--/, '')] = v;
  }
  return { values: values as Partial<V>, positionals: [...leading, ...cmd.args] };
}

export function parseCommand<V>(name: string, argv: string[]): Parsed<V> {
  const root = buildProgram('0');
  const cmd = root.commands.find((c) => c.name() === name);
  if (!cmd) throw new UsageError(`unknown command ${name}`);
  let result: Parsed<V> | undefined;
  let message = '';
  const configure = (c: Command) =>
    c.exitOverride().configureOutput({
      writeOut: () => {},
      writeErr: (s) => {
        message += s;
      },
      outputError: () => {},
    });
  configure(cmd);
  if (cmd.commands.length === 0) {
    cmd.action(() => {
      result = parsedOf<V>(cmd);
    });
  }
  for (const sub of cmd.commands) {
    configure(sub).action(() => {
      result = parsedOf<V>(sub, [sub.name()]);
    });
  }
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      throw new UsageError((err.message || message).replace(/^error: /, '').trim());
    }
    throw err;
  }
  // A command with subcommands and none given: commander shows help instead of an action.
  if (!result) throw new UsageError(`expected one of: ${cmd.commands.map((c) => c.name()).join(', ')}`);
  return result;
}
