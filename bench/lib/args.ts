/**
 * The one argument parser of the bench entries (bench/*.ts, `npm run bench*`): node:util parseArgs,
 * strict, with `--help` (usage + the options and their defaults, exit 0) and a usage error (exit 2)
 * instead of a stack trace. Called by each entry's main, never at import of a module others import.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

export interface BenchCommand<O extends ParseArgsOptionsConfig> {
  /** How to run it, first line of --help (e.g. `npm run bench -- transport [options]`). */
  usage: string;
  options: O;
  /** One line per option for --help; options without one are listed by name and default. */
  describe?: Partial<Record<keyof O & string, string>>;
  /** Positional arguments are accepted (the usage names them). */
  positionals?: boolean;
  /** The `npm run bench -- <mode>` name that may lead the arguments; dropped before parsing. */
  mode?: string;
}

export function helpText<O extends ParseArgsOptionsConfig>(cmd: BenchCommand<O>): string {
  const lines = [`usage: ${cmd.usage}`, '', 'options:'];
  for (const [name, o] of Object.entries(cmd.options)) {
    const flag = `--${name}${o.type === 'string' ? ' <value>' : ''}`;
    const def = o.default === undefined || o.default === false ? '' : `(default ${String(o.default)})`;
    const what = cmd.describe?.[name as keyof O & string] ?? '';
    lines.push(`  ${flag.padEnd(24)} ${[what, def].filter(Boolean).join(' ')}`.trimEnd());
  }
  lines.push(`  ${'--help'.padEnd(24)} this text`);
  return `${lines.join('\n')}\n`;
}

export function benchArgs<const O extends ParseArgsOptionsConfig>(
  cmd: BenchCommand<O>,
  argv: string[] = process.argv.slice(2),
) {
  const args = cmd.mode !== undefined && argv[0] === cmd.mode ? argv.slice(1) : argv;
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(helpText(cmd));
    process.exit(0);
  }
  try {
    return parseArgs({
      args,
      options: cmd.options,
      allowPositionals: cmd.positionals ?? false,
      strict: true,
    });
  } catch (err) {
    if (!String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw err;
    process.stderr.write(`${(err as Error).message}\n${helpText(cmd)}`);
    process.exit(2);
  }
}
