/**
 * `npm run package`: bundles every handler serverless.yml lists with esbuild, then runs
 * `serverless package` (osls, Serverless v3 line) offline with dummy credentials.
 *
 *   node --import tsx infra/aws/package.ts [--stage ci-msk] [--region eu-west-1] [--out DIR]
 *                                          [--allow-missing-handlers] [-- <serverless args, e.g. --param=k=v>]
 *
 * A handler whose source (functions/<name>.ts) does not exist fails the run, unless
 * --allow-missing-handlers is given: then a placeholder bundle that throws on every invocation is
 * written to .build/ (never into functions/), the template is still produced and validated, and the
 * missing files are listed loudly and in <out>/missing-handlers.json so nobody mistakes it for a release.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';
import { parse as parseYaml } from 'yaml';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD_DIR = '.build/functions';

export interface HandlerEntry {
  /** Function key in serverless.yml. */
  key: string;
  /** serverless.yml `handler`, e.g. .build/functions/analytics-publisher.handler */
  handler: string;
  /** Source file, e.g. functions/analytics-publisher.ts */
  source: string;
  /** Bundle path, e.g. .build/functions/analytics-publisher.mjs */
  bundle: string;
}

/** Handlers listed in serverless.yml with their sources (repo-relative paths). */
export function listHandlers(serverlessYml = path.join(repoRoot, 'serverless.yml')): HandlerEntry[] {
  const doc = parseYaml(readFileSync(serverlessYml, 'utf8')) as {
    functions: Record<string, { handler: string }>;
  };
  return Object.entries(doc.functions).map(([key, fn]) => {
    const m = /^\.build\/functions\/([a-z0-9-]+)\.handler$/.exec(fn.handler);
    if (!m) {
      throw new Error(`serverless.yml: function ${key}: handler must be ${BUILD_DIR}/<name>.handler`);
    }
    return {
      key,
      handler: fn.handler,
      source: `functions/${m[1]}.ts`,
      bundle: `${BUILD_DIR}/${m[1]}.mjs`,
    };
  });
}

/**
 * Native addons cannot be bundled (and would be built for this machine, not arm64 Lambda). They stay
 * external, so an import on a path Lambda never takes (the embedded log behind a dynamic import) is
 * harmless, and the build says loudly which handler reaches one.
 */
const NATIVE = ['better-sqlite3'];
const nativeAddonsExternal: Plugin = {
  name: 'native-addons-external',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${NATIVE.join('|')})$`) }, (args) => ({
      path: args.path,
      external: true,
      warnings: [
        {
          text: `${args.path} is a native addon, left out of the Lambda bundle (imported by ${args.importer}): the import fails if Lambda ever executes it`,
        },
      ],
    }));
  },
};

const PLACEHOLDER = (source: string) =>
  `export const handler = async () => { throw new Error(${JSON.stringify(
    `placeholder bundle: ${source} did not exist when this package was built; do not deploy`,
  )}); };\n`;

async function bundle(entries: HandlerEntry[], allowMissing: boolean): Promise<string[]> {
  const missing = entries.filter((e) => !existsSync(path.join(repoRoot, e.source)));
  if (missing.length > 0 && !allowMissing) {
    throw new Error(
      `missing handler source(s): ${missing.map((e) => e.source).join(', ')} (listed in serverless.yml)`,
    );
  }
  rmSync(path.join(repoRoot, BUILD_DIR), { recursive: true, force: true });
  mkdirSync(path.join(repoRoot, BUILD_DIR), { recursive: true });
  for (const e of missing) {
    process.stderr.write(
      `\n*** WARNING: ${e.source} does not exist: packaged a PLACEHOLDER for ${e.key} ***\n\n`,
    );
    writeFileSync(path.join(repoRoot, e.bundle), PLACEHOLDER(e.source));
  }
  const present = entries.filter((e) => !missing.includes(e));
  for (const e of present) {
    const result = await build({
      absWorkingDir: repoRoot,
      entryPoints: [e.source],
      outfile: e.bundle,
      bundle: true,
      platform: 'node',
      // Lambda runs nodejs22.x; node20 keeps the bundle loadable by the local runner too.
      target: 'node20',
      format: 'esm',
      treeShaking: true,
      sourcemap: true,
      sourcesContent: false,
      minifySyntax: true,
      legalComments: 'none',
      metafile: true,
      plugins: [nativeAddonsExternal],
      // CommonJS dependencies (kafkajs, ...) call require(): give the ESM bundle one.
      banner: {
        js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
      },
      logLevel: 'warning',
    });
    writeFileSync(path.join(repoRoot, `${e.bundle}.meta.json`), JSON.stringify(result.metafile));
  }
  return missing.map((e) => e.source);
}

function serverlessPackage(stage: string, region: string, out: string, extra: string[]): void {
  const bin = path.join(repoRoot, 'node_modules/.bin/serverless');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // Dummy credentials: `package` needs none, but the AWS provider refuses to load without any.
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    AWS_REGION: region,
    AWS_EC2_METADATA_DISABLED: 'true',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_TRACKING_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    SLS_DEPRECATION_DISABLE: '*',
    CI: process.env.CI ?? 'true',
  };
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
  const r = spawnSync(bin, ['package', '--stage', stage, '--region', region, '--package', out, ...extra], {
    cwd: repoRoot,
    env,
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`serverless package failed (exit ${r.status ?? r.signal})`);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      stage: { type: 'string', default: 'ci-msk' },
      region: { type: 'string', default: 'eu-west-1' },
      out: { type: 'string' },
      'allow-missing-handlers': { type: 'boolean', default: false },
    },
  });
  const stage = values.stage;
  const out = path.resolve(repoRoot, values.out ?? `dist/serverless/${stage}`);
  const missing = await bundle(listHandlers(), values['allow-missing-handlers']);
  rmSync(out, { recursive: true, force: true });
  serverlessPackage(stage, values.region, out, positionals);
  writeFileSync(path.join(out, 'missing-handlers.json'), `${JSON.stringify(missing)}\n`);
  process.stdout.write(`packaged stage ${stage} into ${path.relative(repoRoot, out)}\n`);
  if (missing.length > 0) {
    process.stderr.write(`*** NOT DEPLOYABLE: placeholder bundles for ${missing.join(', ')} ***\n`);
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`package: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
