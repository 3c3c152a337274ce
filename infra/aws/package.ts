/**
 * `npm run package`: runs `serverless package` (osls, Serverless v3 line) offline with dummy
 * credentials; the bundles are built by serverless itself, through the local plugin
 * infra/aws/serverless/bundle-plugin.cjs, which calls the `bundle` command below. So `serverless
 * package`/`deploy` run by hand can never ship stale bundles, and this script removes .build/functions
 * first so the zips can only hold bundles built by that run.
 *
 *   node --import tsx infra/aws/package.ts [--stage ci-msk] [--region eu-west-1] [--out DIR]
 *                                          [--allow-missing-handlers] [-- <serverless args, e.g. --param=k=v>]
 *   node --import tsx infra/aws/package.ts bundle [--function <key>] [--allow-missing-handlers]
 *
 * Bundles are ESM `.js` files next to a package.json `{"type":"module"}` (.build/functions/): Lambda's
 * Node runtime and `serverless invoke local` both resolve the handler
 * `.build/functions/<name>/handler.handler` by trying `<name>/handler.js` (the package.json one level
 * up still scopes it); osls' invoke local never tries `.mjs` (it require()s the extension-less path,
 * then `.cjs`, and import()s `<path>.js` on ERR_REQUIRE_ESM), which is why `.mjs` bundles could not
 * be invoked locally.
 *
 * A handler whose source (functions/<name>/handler.ts) does not exist fails the run, unless
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
  /** serverless.yml `handler`, e.g. .build/functions/analytics-publisher/handler.handler */
  handler: string;
  /** Source file, e.g. functions/analytics-publisher/handler.ts */
  source: string;
  /** Bundle path, e.g. .build/functions/analytics-publisher/handler.js */
  bundle: string;
}

/** Handlers listed in serverless.yml with their sources (repo-relative paths). */
export function listHandlers(serverlessYml = path.join(repoRoot, 'serverless.yml')): HandlerEntry[] {
  const doc = parseYaml(readFileSync(serverlessYml, 'utf8')) as {
    functions: Record<string, { handler: string }>;
  };
  return Object.entries(doc.functions).map(([key, fn]) => {
    const m = /^\.build\/functions\/([a-z0-9-]+)\/handler\.handler$/.exec(fn.handler);
    if (!m) {
      throw new Error(`serverless.yml: function ${key}: handler must be ${BUILD_DIR}/<name>/handler.handler`);
    }
    return {
      key,
      handler: fn.handler,
      source: `functions/${m[1]}/handler.ts`,
      bundle: `${BUILD_DIR}/${m[1]}/handler.js`,
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

/** Written next to the bundles (and packaged with each): makes the `.js` bundles ES modules. */
const MODULE_SCOPE = `${BUILD_DIR}/package.json`;
/** Sources that were missing at the last full bundle (placeholders), read back by `package`. */
const MISSING_FILE = `${BUILD_DIR}/missing-handlers.json`;

/**
 * Bundles the given handlers (all of them: .build/functions is emptied first; one: only its files
 * are replaced). Returns the sources that were missing (placeholders written).
 */
export async function bundle(
  entries: HandlerEntry[],
  allowMissing: boolean,
  { clean = true }: { clean?: boolean } = {},
): Promise<string[]> {
  const missing = entries.filter((e) => !existsSync(path.join(repoRoot, e.source)));
  if (missing.length > 0 && !allowMissing) {
    throw new Error(
      `missing handler source(s): ${missing.map((e) => e.source).join(', ')} (listed in serverless.yml)`,
    );
  }
  if (clean) rmSync(path.join(repoRoot, BUILD_DIR), { recursive: true, force: true });
  mkdirSync(path.join(repoRoot, BUILD_DIR), { recursive: true });
  writeFileSync(path.join(repoRoot, MODULE_SCOPE), '{ "type": "module" }\n');
  for (const e of missing) {
    process.stderr.write(
      `\n*** WARNING: ${e.source} does not exist: packaged a PLACEHOLDER for ${e.key} ***\n\n`,
    );
    mkdirSync(path.dirname(path.join(repoRoot, e.bundle)), { recursive: true });
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
  if (clean)
    writeFileSync(path.join(repoRoot, MISSING_FILE), `${JSON.stringify(missing.map((e) => e.source))}\n`);
  return missing.map((e) => e.source);
}

/** Environment for running serverless offline here: dummy credentials, no telemetry, no prompts. */
export function offlineServerlessEnv(
  region: string,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base,
    // Dummy credentials: `package` needs none, but the AWS provider refuses to load without any.
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    AWS_REGION: region,
    AWS_EC2_METADATA_DISABLED: 'true',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_TRACKING_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    SLS_DEPRECATION_DISABLE: '*',
    CI: base.CI ?? 'true',
  };
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
  return env;
}

function serverlessPackage(
  stage: string,
  region: string,
  out: string,
  extra: string[],
  allowMissing: boolean,
): void {
  const bin = path.join(repoRoot, 'node_modules/.bin/serverless');
  const env = offlineServerlessEnv(region);
  if (allowMissing) env.BUNDLE_ALLOW_MISSING_HANDLERS = '1';
  const r = spawnSync(bin, ['package', '--stage', stage, '--region', region, '--package', out, ...extra], {
    cwd: repoRoot,
    env,
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`serverless package failed (exit ${r.status ?? r.signal})`);
}

/** `bundle [--function <key>]`: what the serverless plugin runs before packaging / invoke local. */
async function bundleCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      function: { type: 'string' },
      'allow-missing-handlers': { type: 'boolean', default: false },
    },
  });
  const all = listHandlers();
  const only = values.function;
  const entries = only ? all.filter((e) => e.key === only) : all;
  if (only && entries.length === 0) throw new Error(`no function ${only} in serverless.yml`);
  const t = Date.now();
  const missing = await bundle(entries, values['allow-missing-handlers'], { clean: !only });
  process.stderr.write(
    `bundled ${entries.map((e) => e.bundle).join(', ')} in ${Date.now() - t} ms${missing.length ? ` (PLACEHOLDERS: ${missing.join(', ')})` : ''}\n`,
  );
  return 0;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'bundle') return bundleCommand(argv.slice(1));
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
  // Nothing left from an earlier build: whatever the zips hold, the plugin built during this run.
  rmSync(path.join(repoRoot, BUILD_DIR), { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
  serverlessPackage(stage, values.region, out, positionals, values['allow-missing-handlers']);
  const missingFile = path.join(repoRoot, MISSING_FILE);
  if (!existsSync(missingFile)) {
    throw new Error(`${MISSING_FILE} missing: the bundle plugin did not run (serverless.yml plugins?)`);
  }
  const missing = JSON.parse(readFileSync(missingFile, 'utf8')) as string[];
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
