import { readFileSync } from 'node:fs';

/** The package version, read from package.json (the one place it is set). */
export function version(): string {
  return (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
}
