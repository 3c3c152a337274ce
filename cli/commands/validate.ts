/**
 * `mesh-apim validate [file]`: every problem of a standalone control-plane file, each with file:line and
 * its path, instead of the first one the adapter stops at. Schema problems (types, unknown keys, missing
 * fields) are all reported for every file; the cross-references (unknown application, policy, API;
 * duplicates; unreadable keys) are checked by the real compiler once the schema is clean, which reports
 * every one it finds in one pass. Exit 0 valid, 3 problems found, 2 usage, 1 cannot load the configuration.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { SnapshotError } from '../../adapter/errors.ts';
import { resolveFragmentsDir } from '../../adapter/resolved.ts';
import { compileSnapshot } from '../../adapter/snapshot/compile.ts';
import { ControlPlaneData } from '../../adapter/snapshot/model.ts';
import { loadStandaloneData } from '../../adapter/standalone/source.ts';
import { loadConfig } from '../../common/config/index.ts';
import { errorMessage, MeshApimError } from '../../common/errors.ts';
import { outputFormat } from '../output.ts';
import { type Parsed, parseCommand } from '../parse.ts';

export interface Problem {
  file: string;
  /** 1-based; 0 when the problem has no place in the file (cannot read it). */
  line: number;
  column: number;
  /** e.g. apis[0].resources[1].method; '' for the whole file. */
  path: string;
  message: string;
}

type Segment = string | number;

const fmtPath = (path: readonly Segment[]) =>
  path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');

/** The parsed file, able to say where a path is. */
class Located {
  private readonly lines = new LineCounter();
  readonly doc;
  constructor(
    readonly file: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: true });
  }

  /** The deepest node on `path` that exists (a missing field is reported where its parent is). */
  position(path: readonly Segment[], keyOf?: string): { line: number; column: number } {
    let node: unknown = this.doc.contents;
    let at: Node | null = (node as Node | null) ?? null;
    const segments = keyOf === undefined ? path : [...path, keyOf];
    for (const [i, seg] of segments.entries()) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
        if (!pair) break;
        // An unknown key is reported at the key itself, anything else at its value.
        const last = i === segments.length - 1 && keyOf !== undefined;
        node = last ? pair.key : pair.value;
        at = (node as Node | null) ?? (pair.key as Node);
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
        node = node.items[seg];
        at = node as Node;
      } else break;
    }
    const offset = at?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  problem(path: readonly Segment[], message: string, keyOf?: string): Problem {
    return {
      file: this.file,
      ...this.position(path, keyOf),
      path: fmtPath(keyOf === undefined ? path : [...path, keyOf]),
      message,
    };
  }
}

/** Syntax and schema problems of one file (all of them). */
export function checkFile(file: string, text: string): { located: Located; problems: Problem[] } {
  const located = new Located(file, text);
  const problems: Problem[] = [];
  for (const e of located.doc.errors) {
    problems.push({
      file,
      line: e.linePos?.[0].line ?? 0,
      column: e.linePos?.[0].col ?? 0,
      path: '',
      message: `not valid YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
    });
  }
  if (problems.length > 0) return { located, problems };
  const result = ControlPlaneData.safeParse(located.doc.toJS() ?? {});
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.filter((p): p is Segment => typeof p !== 'symbol');
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push(located.problem(path, `unknown key "${key}"`, key));
      } else {
        problems.push(located.problem(path, issue.message));
      }
    }
  }
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { located, problems };
}

/** The files the adapter would read for `file`: itself, plus the fragments when it is the configured one. */
function filesOf(file: string, fragmentsDir: string | null): string[] {
  if (!fragmentsDir) return [file];
  try {
    return [
      file,
      ...readdirSync(fragmentsDir)
        .filter((f) => /\.ya?ml$/i.test(f) && !f.startsWith('.'))
        .sort()
        .map((f) => join(fragmentsDir, f)),
    ];
  } catch {
    return [file];
  }
}

export async function validate(file: string, fragmentsDir: string | null): Promise<Problem[]> {
  const files = filesOf(file, fragmentsDir);
  const problems: Problem[] = [];
  const located = new Map<string, Located>();
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      problems.push({ file: f, line: 0, column: 0, path: '', message: `cannot read: ${errorMessage(err)}` });
      continue;
    }
    const checked = checkFile(f, text);
    located.set(f, checked.located);
    problems.push(...checked.problems);
  }
  if (problems.length > 0) return problems;
  // Schema-clean: the compiler checks what refers to what, exactly as the adapter will, and reports
  // every problem it finds in one pass.
  try {
    const { data, origins } = loadStandaloneData(file, fragmentsDir);
    await compileSnapshot(data, { source: 'standalone', origins });
  } catch (err) {
    const found = err instanceof SnapshotError ? err.problems : [err];
    for (const e of found) {
      const location = (e as { location?: string }).location ?? '';
      const message =
        e instanceof SnapshotError
          ? e.problem
          : location
            ? errorMessage(e).slice(location.length + 2)
            : errorMessage(e);
      // location is "<file>: <path>" (compile.ts); map it back to a line of that file.
      const m = /^(.*?): (.+)$/.exec(location);
      const where = m ? located.get(m[1]!) : undefined;
      if (m && where) {
        const segments = [...m[2]!.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((x) =>
          x[2] !== undefined ? Number(x[2]) : x[1]!,
        );
        problems.push(where.problem(segments, message));
      } else {
        problems.push({
          file: m?.[1] ?? (location || file),
          line: 0,
          column: 0,
          path: m?.[2] ?? '',
          message,
        });
      }
    }
    problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
  }
  return problems;
}

type Values = { config: string; output: string };

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  const { values, positionals } = parsed ?? parseCommand<Values>('validate', argv);
  const format = outputFormat(values.output, ['text', 'json']);
  if (positionals.length > 1) throw new MeshApimError('USAGE', 'give at most one file');
  const config = loadConfig({ file: values.config });
  const configured = resolve(config.adapter.standaloneFile);
  const file = resolve(positionals[0] ?? configured);
  const problems = await validate(file, file === configured ? resolve(resolveFragmentsDir(config)) : null);
  const shown = problems.map((p) => ({ ...p, file: relativeToCwd(p.file) }));
  if (format === 'json') {
    process.stdout.write(
      `${JSON.stringify({ file: relativeToCwd(file), valid: problems.length === 0, problems: shown }, null, 2)}\n`,
    );
  } else if (problems.length === 0) {
    process.stdout.write(`${relativeToCwd(file)}: valid\n`);
  } else {
    for (const p of shown) {
      process.stdout.write(
        `${p.file}${p.line ? `:${p.line}:${p.column}` : ''}: ${p.path ? `${p.path}: ` : ''}${p.message}\n`,
      );
    }
    process.stdout.write(`${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
  }
  return problems.length === 0 ? 0 : 3;
}

function relativeToCwd(file: string): string {
  const cwd = `${process.cwd()}/`;
  return file.startsWith(cwd) ? file.slice(cwd.length) : file;
}
