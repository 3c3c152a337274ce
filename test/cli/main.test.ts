/** The command line itself: help for every command, version, exit codes, completion. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { buildProgram } from '../../cli/program.ts';

const parseCalls: unknown[][] = [];
vi.mock('../../cli/parse.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../cli/parse.ts')>();
  return {
    ...actual,
    parseCommand: (...args: Parameters<typeof actual.parseCommand>) => {
      parseCalls.push(args);
      return actual.parseCommand(...args);
    },
  };
});

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err += String(s);
    return true;
  });
  try {
    return { code: await main(argv), out, err };
  } finally {
    vi.restoreAllMocks();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('output into a closed pipe', () => {
  it('`mesh-apim --help | head -1` ends quietly with the exit code, no EPIPE stack trace', () => {
    const r = spawnSync('sh', ['-c', `${process.execPath} bin/mesh-apim.js --help | head -1`], {
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('Usage: mesh-apim [options] [command]\n');
    expect(r.stderr).toBe('');
  }, 60_000);
});

const program = buildProgram(pkg.version);
const modules = readdirSync('cli/commands')
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .sort();

describe('mesh-apim commands', () => {
  it('every command module is declared in cli/program.ts and every declared command runs something', () => {
    const declared = program.commands
      .map((c) => c.name())
      .filter((n) => n !== 'version' && n !== 'completion');
    expect([...declared].sort()).toEqual(modules);
  });

  it('help, version and dispatch load no command: main.ts imports commands only dynamically, program.ts only commander', () => {
    const imports = (file: string) =>
      [...readFileSync(file, 'utf8').matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    expect(imports('cli/program.ts')).toEqual(['commander']);
    expect(imports('cli/main.ts').filter((i) => i!.includes('commands/'))).toEqual([]);
    expect(readFileSync('cli/main.ts', 'utf8')).toMatch(/await import\(`\.\/commands\/\$\{name\}\.ts`\)/);
  });

  it.each(program.commands.map((c) => c.name()))(
    '`%s --help` describes every option, exit 0',
    async (name) => {
      const res = await cli(name, '--help');
      expect(res.code).toBe(0);
      expect(res.out).toContain(`Usage: mesh-apim ${name}`);
      const cmd = program.commands.find((c) => c.name() === name)!;
      for (const o of cmd.options) {
        expect(o.description, o.flags).not.toBe('');
        expect(res.out).toContain(o.flags);
      }
    },
  );

  it('shows aliases and defaults in help', async () => {
    expect((await cli('apikey', '--help')).out).toMatch(/-a, --application <name>/);
    const check = (await cli('check', '--help')).out;
    expect(check).toMatch(/--path <path>\s+request path \(default: "\/petstore\/v1\/pets"\)/);
    expect(check).toMatch(/--method <method>\s+HTTP method \(default: "GET"\)/);
  });

  it('--version, -v and `version` print the package version; `version -o json` too', async () => {
    expect(await cli('--version')).toMatchObject({ code: 0, out: `${pkg.version}\n` });
    expect(await cli('-v')).toMatchObject({ code: 0, out: `${pkg.version}\n` });
    expect(await cli('version')).toMatchObject({ code: 0, out: `${pkg.version}\n` });
    expect(JSON.parse((await cli('version', '-o', 'json')).out)).toEqual({
      version: pkg.version,
      node: process.version,
    });
  });

  it('usage errors exit 2 in every command: unknown command, unknown option, bad -o', async () => {
    const unknown = await cli('chek');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown command 'chek'[\s\S]*Did you mean check\?/);
    for (const name of ['config', 'start', 'controller', 'bridge', 'revoke', 'topics', 'validate']) {
      const res = await cli(name, ...(name === 'topics' ? ['list'] : []), '--no-such-option');
      expect(res.code, `${name}: ${res.err}`).toBe(2);
      expect(res.err).toMatch(/unknown option '--no-such-option'/);
    }
    expect((await cli('config', '-o', 'yaml')).code).toBe(2);
    const excess = await cli('config', 'stray');
    expect(excess.code).toBe(2);
    expect(excess.err).toMatch(/too many arguments/);
    expect((await cli('invoke')).code).toBe(2); // <function> is required
    expect((await cli('apikey')).code).toBe(2); // --application is required
    expect((await cli()).code).toBe(2);
  });
});

describe('arguments are parsed once', () => {
  it("main hands commander's values to the command, which does not parse again; a direct call parses with the same declaration", async () => {
    parseCalls.length = 0;
    const viaMain = await cli('config', '--docs');
    expect(viaMain.code).toBe(0);
    expect(viaMain.out).toMatch(/^# Configuration/);
    expect(parseCalls).toEqual([]);
    const { run } = await import('../../cli/commands/config.ts');
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    expect(await run(['--docs'])).toBe(0);
    vi.restoreAllMocks();
    expect(parseCalls).toEqual([['config', ['--docs']]]);
  });
});

describe('mesh-apim completion', () => {
  const complete = (line: string) =>
    execFileSync(
      'bash',
      [
        '-c',
        `source <(${process.execPath} bin/mesh-apim.js completion bash); COMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _mesh_apim; echo "\${COMPREPLY[*]}"`,
      ],
      { encoding: 'utf8' },
    ).trim();

  it('bash completes commands, subcommands, options and option values', () => {
    expect(complete('mesh-apim ap')).toBe('apikey');
    expect(complete('mesh-apim topics ""')).toBe('apply list --config --help');
    expect(complete('mesh-apim topics apply --d')).toBe('--dry-run');
    expect(complete('mesh-apim apikey -o ""')).toBe('text json');
    expect(complete('mesh-apim check -o ""')).toBe('json');
    expect(complete('mesh-apim completion ""')).toBe('bash zsh --help');
  });

  it('zsh script is valid zsh naming every command', async () => {
    const res = await cli('completion', 'zsh');
    expect(res.code).toBe(0);
    expect(res.out).toMatch(/^#compdef mesh-apim\n/);
    for (const c of program.commands) expect(res.out).toContain(`'${c.name()}:`);
    let zsh = true;
    try {
      execFileSync('zsh', ['--version']);
    } catch {
      zsh = false; // syntax check only where zsh is installed
    }
    if (zsh) execFileSync('zsh', ['-n', '-c', res.out]);
  });

  it('an unknown shell is a usage error', async () => {
    expect((await cli('completion', 'fish')).code).toBe(2);
  });
});
