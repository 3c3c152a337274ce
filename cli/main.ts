/**
 * `mesh-apim <command> [options]`. Each command is a module in cli/commands/<name>.ts exporting
 * `description` and `run(argv): Promise<number>` (the exit code), loaded only when invoked so a
 * short command does not pay for the whole program's start-up.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorMessage, MeshApimError } from '../common/errors.ts';

export interface Command {
  description: string;
  usage?: string;
  run(argv: string[]): Promise<number>;
}

const commandsDir = fileURLToPath(new URL('./commands/', import.meta.url));

function commandNames(): string[] {
  return readdirSync(commandsDir)
    .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function loadCommand(name: string): Promise<Command> {
  return (await import(`./commands/${name}.ts`)) as Command;
}

async function help(): Promise<void> {
  const lines = ['Usage: mesh-apim <command> [options]', '', 'Commands:'];
  for (const name of commandNames()) {
    const cmd = await loadCommand(name);
    lines.push(`  ${name.padEnd(12)} ${cmd.description}`);
  }
  lines.push('', 'Run `mesh-apim <command> --help` for its options.');
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    await help();
    return name ? 0 : 1;
  }
  if (!commandNames().includes(name)) {
    process.stderr.write(`mesh-apim: unknown command "${name}". Run \`mesh-apim --help\`.\n`);
    return 2;
  }
  const cmd = await loadCommand(name);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.usage ?? `mesh-apim ${name}`}\n\n${cmd.description}\n`);
    return 0;
  }
  return cmd.run(rest);
}

const isEntry = process.argv[1] && /mesh-apim(\.js)?$|cli[\\/]main\.ts$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const prefix = err instanceof MeshApimError ? `${err.code}: ` : '';
      process.stderr.write(`mesh-apim: ${prefix}${errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}
