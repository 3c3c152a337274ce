/**
 * `npm run build`: compiles the CLI (every command the image ships) into ES modules under dist/app/,
 * which the container image runs (Dockerfile: the `build` stage, ENTRYPOINT `node dist/app/mesh-apim.js`):
 *
 *   node --import tsx infra/image/bundle.ts [--out dist/app]
 *
 * Why not tsx at run time, as `npx mesh-apim` does: tsx transpiles every module on each start and keeps
 * its loader in the process. Measured on the adapter (bench/emission-rss.ts, docs/deployment.md
 * "Memory"): start to ready 0.4 s instead of 1.2 s, RSS under load ~34 MB lower, throughput the same or
 * better. Our code is bundled; node_modules stay external (resolved from /app/node_modules at run time:
 * native addons, protos and data files of packages keep working as installed). Code splitting keeps the
 * CLI's lazy imports lazy: a command's module loads only when it runs.
 *
 * Entry points: the CLI, and the embedded log's writer worker (bus/embedded/writer-client.ts starts
 * dist/app/embedded-log-writer.js when it runs from the bundle). Everything is written flat into one
 * directory, so a chunk finds the writer at `./embedded-log-writer.js`.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const ENTRY_POINTS = {
  'mesh-apim': 'cli/main.ts',
  'embedded-log-writer': 'bus/embedded/writer.ts',
} as const;

/**
 * The image's build context leaves functions/ out (.dockerignore: they ship as Lambda bundles); the one
 * import of them (pipeline/main.ts, taken only with functions.runLocal=true) becomes a module that says so.
 */
const absentFunctions: Plugin = {
  name: 'absent-functions',
  setup(b) {
    b.onResolve({ filter: /(^|\/)functions\/main\.ts$/ }, (args) => {
      const file = path.resolve(args.resolveDir, args.path);
      return existsSync(file) ? undefined : { path: file, namespace: 'absent-functions' };
    });
    b.onLoad({ filter: /.*/, namespace: 'absent-functions' }, () => ({
      contents: `export function startLocalFunctions() { throw new Error(${JSON.stringify(
        'the functions are not part of this build (they ship as Lambda bundles): set functions.runLocal=false',
      )}); }\n`,
      loader: 'js',
    }));
  },
};

export interface BundleOptions {
  /** Output directory; inside the package (common/package-root.ts finds package.json above it). */
  out?: string;
  /** Checkout to bundle (default: this one; bench/transport.ts --base bundles another). */
  root?: string;
  /** Extra entry points by output name (bench/lib/compiled.ts adds the bench's servers). */
  extraEntryPoints?: Record<string, string>;
}

export async function bundleApp(o: BundleOptions = {}): Promise<string[]> {
  const root = o.root ?? repoRoot;
  const out = o.out ?? path.join(root, 'dist/app');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { ...ENTRY_POINTS, ...o.extraEntryPoints },
    outdir: out,
    entryNames: '[name]',
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    packages: 'external',
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // Error and class names stay as written (logs and `err.name` checks read them).
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    metafile: true,
    plugins: [absentFunctions],
    logLevel: 'warning',
  });
  writeFileSync(path.join(out, 'meta.json'), JSON.stringify(result.metafile));
  return Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js'));
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]);
if (isMain) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const files = await bundleApp(values.out ? { out: path.resolve(values.out) } : {});
  process.stdout.write(`bundled ${files.length} modules into ${values.out ?? 'dist/app'}\n`);
}
