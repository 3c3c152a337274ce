/**
 * Summarizes a V8 .cpuprofile (from `npm run bench -- --cpu-prof`): self time by function and by
 * source area (our files by directory, dependencies by package, node internals, GC, idle).
 * `node --import tsx bench/profile.ts <file.cpuprofile>... [top]`: one summary per file (a process
 * writes one profile per thread: main, the tsx loader, workers), busiest first.
 */
import { readFileSync } from 'node:fs';
import { benchArgs } from './lib/args.ts';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
const positionals = benchArgs({
  usage: 'node --import tsx bench/profile.ts <file.cpuprofile>... [top]',
  positionals: true,
  options: {},
}).positionals;
// A trailing number is the row count, not a file (several files used to make it NaN: empty tables).
const last = positionals.at(-1);
const topArg = last !== undefined && /^\d+$/.test(last) ? positionals.pop() : undefined;
if (positionals.length === 0) throw new Error('bench/profile.ts: give at least one .cpuprofile file');
const top = Number(topArg ?? 25);

function area(url: string, fn: string): string {
  if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)') return fn;
  if (!url) return '(native/builtin)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `dep:${nm[1]}`;
  if (url.startsWith('node:')) return url.split('/')[0]!;
  const ours = /\/(adapter|bus|common|events|bench|functions|apim|pipeline)\/(.*)$/.exec(url);
  if (ours)
    return `ours:${ours[1]}/${ours[2]!.split('/').length > 1 ? `${ours[2]!.split('/')[0]}/` : ours[2]}`;
  return url;
}

function summarize(file: string): { busy: number; text: string } {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: Node[];
    samples: number[];
    timeDeltas: number[];
  };
  const self = new Map<number, number>();
  prof.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  });
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules\/)?/, '')}:${lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1)}%`;
  const busy = total - (areas.get('(idle)') ?? 0);
  const out = [
    `total ${(total / 1e6).toFixed(1)} s sampled, busy ${(busy / 1e6).toFixed(1)} s (${pct(busy)})\n`,
    '| area | self % of busy |\n| --- | --- |',
  ];
  for (const [a, us] of [...areas]
    .filter(([a]) => a !== '(idle)')
    .sort((x, y) => y[1] - x[1])
    .slice(0, top))
    out.push(`| ${a} | ${((100 * us) / busy).toFixed(1)} |`);
  out.push('\n| function | self % of busy |\n| --- | --- |');
  for (const [f, us] of [...fns]
    .filter(([f]) => !f.startsWith('(idle)'))
    .sort((x, y) => y[1] - x[1])
    .slice(0, top))
    out.push(`| ${f} | ${((100 * us) / busy).toFixed(1)} |`);
  return { busy, text: out.join('\n') };
}

const summaries = positionals.map((f) => ({ file: f, ...summarize(f) })).sort((a, b) => b.busy - a.busy);
for (const [i, s] of summaries.entries()) {
  if (summaries.length > 1) console.log(`${i ? '\n' : ''}## ${s.file}\n`);
  console.log(s.text);
}
