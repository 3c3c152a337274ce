/**
 * The bench's servers (bench/servers.ts) compiled the way the image's code is (infra/image/bundle.ts),
 * so a bench measures what ships rather than sources transpiled by tsx at run time.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Bundles `root`'s bench/servers.ts (and the embedded log's writer) into <root>/dist/bench-servers/ and
 * returns the entry to run; null for a checkout from before the bundle (its writer only runs from source).
 */
export async function compiledServers(root: string): Promise<string | null> {
  const bundler = join(root, 'infra', 'image', 'bundle.ts');
  if (!existsSync(bundler)) return null;
  // That checkout's own bundler, so an A/B (--base) compiles each side with its own settings.
  const { bundleApp } = (await import(
    pathToFileURL(bundler).href
  )) as typeof import('../../infra/image/bundle.ts');
  const out = join(root, 'dist', 'bench-servers');
  await bundleApp({ root, out, extraEntryPoints: { servers: 'bench/servers.ts' } });
  return join(out, 'servers.js');
}
