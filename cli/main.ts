/**
 * `mesh-apim <command> [options]`. cli/program.ts declares the commands (help, version, completion come
 * from it); each command is a module cli/commands/<name>.ts exporting `run(argv): Promise<number>`,
 * imported only when that command runs, so `--help` or a short command does not pay for the whole
 * program's start-up. Exit codes (docs/cli.md): 0 ok, 1 failed, 2 usage error, 3 the answer is no.
 */
import { type Command, CommanderError } from 'commander';
import { errorMessage, MeshApimError } from '../common/errors.ts';
import { type Parsed, parsedOf } from './parse.ts';
import { buildProgram } from './program.ts';
import { version } from './version.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, no: 3 } as const;

interface CommandModule {
  /** `parsed` is what commander parsed here; without it the command parses `argv` itself (cli/parse.ts). */
  run(argv: string[], parsed?: Parsed<Record<string, unknown>>): Promise<number>;
}

async function runModule(
  name: string,
  argv: string[],
  parsed: Parsed<Record<string, unknown>>,
): Promise<number> {
  const mod = (await import(`./commands/${name}.ts`)) as CommandModule;
  try {
    return await mod.run(argv, parsed);
  } catch (err) {
    if (err instanceof MeshApimError && err.code === 'USAGE') {
      process.stderr.write(
        `mesh-apim ${name}: ${errorMessage(err)}\nRun \`mesh-apim ${name} --help\` for its options.\n`,
      );
      return EXIT.usage;
    }
    throw err;
  }
}

export async function main(argv: string[]): Promise<number> {
  const v = version();
  const program = buildProgram(v);
  let code: number = EXIT.ok;
  program.exitOverride().configureOutput({
    writeOut: (s) => process.stdout.write(s),
    writeErr: (s) => process.stderr.write(s),
  });
  for (const cmd of program.commands) {
    const name = cmd.name();
    cmd.exitOverride();
    if (name === 'version') {
      cmd.action((opts: { output: string }) => {
        process.stdout.write(
          opts.output === 'json' ? `${JSON.stringify({ version: v, node: process.version })}\n` : `${v}\n`,
        );
      });
    } else if (name === 'completion') {
      cmd.action(async (shell: 'bash' | 'zsh') => {
        const { completionScript } = await import('./completion.ts');
        process.stdout.write(completionScript(program, shell));
      });
    } else {
      // Parsed once, here: the module gets commander's values (and the raw arguments after its name).
      const action =
        (leading: string[]) =>
        async (...args: unknown[]) => {
          const parsed = parsedOf<Record<string, unknown>>(args[args.length - 1] as Command, leading);
          code = await runModule(name, argv.slice(argv.indexOf(name) + 1), parsed);
        };
      if (cmd.commands.length === 0) cmd.action(action([]));
      for (const sub of cmd.commands) sub.exitOverride().action(action([sub.name()]));
    }
  }
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT.usage;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw err;
  }
  return code;
}

const isEntry = process.argv[1] && /mesh-apim(\.js)?$|cli[\\/]main\.ts$/.test(process.argv[1]);
if (isEntry) {
  // A reader that went away (`mesh-apim --help | head`) ends the output, not the process with an
  // unhandled 'error' event and a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? EXIT.ok);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const prefix = err instanceof MeshApimError ? `${err.code}: ` : '';
      process.stderr.write(`mesh-apim: ${prefix}${errorMessage(err)}\n`);
      process.exitCode = EXIT.failed;
    },
  );
}
