/**
 * `node --import tsx --import ./bench/standalone-yaml-baseline-hook.ts ...`: resolves
 * adapter/standalone/yaml.ts to bench/standalone-yaml-baseline.ts (the `yaml`-only parser).
 */
import { register } from 'node:module';

const baseline = new URL('./standalone-yaml-baseline.ts', import.meta.url).href;
const hooks = `export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  return r.url.endsWith('/adapter/standalone/yaml.ts') ? { ...r, url: ${JSON.stringify(baseline)} } : r;
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
