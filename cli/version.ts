import { PACKAGE_VERSION } from '../common/package-root.ts';

/** The package version, read from package.json (the one place it is set). */
export function version(): string {
  return PACKAGE_VERSION;
}
