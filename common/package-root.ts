/**
 * The package's root directory: where package.json and the assets read at run time (infra/topics.yaml,
 * config/) are. Found by walking up from this module to the package's own package.json, not by a fixed
 * depth: the sources sit one directory below the root, the image's compiled bundle (dist/app/, see
 * infra/image/bundle.ts) two, and both must find the same files.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NAME = 'mesh-apim';

/** The nearest directory at or above `from` holding mesh-apim's package.json (another package's is passed over). */
export function findPackageRoot(from: string): string {
  for (let dir = from; ; ) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === NAME)
      return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`package.json of ${NAME} not found above ${from}`);
    dir = up;
  }
}

export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/** A file of the package, by its path from the root (forward slashes). */
export const packageFile = (rel: string): string => path.join(PACKAGE_ROOT, ...rel.split('/'));

/** The package's version (package.json, the one place it is set). */
export const PACKAGE_VERSION = (
  JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string }
).version;
