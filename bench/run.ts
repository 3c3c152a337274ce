/** `npm run bench`: runs every bench/*.bench.ts in turn (each prints its own side-by-side ratios). */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const dir = new URL('./', import.meta.url);
let failed = 0;
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort()) {
  console.log(`\n== ${file}`);
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', new URL(file, dir).pathname, ...process.argv.slice(2)],
    {
      stdio: 'inherit',
    },
  );
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
