/**
 * YAML parsing for the standalone files. `js-yaml` is ~13x faster and ~10x leaner than `yaml` on a
 * 100k-entry file (bench/standalone-load.ts), but `yaml` gives the line of an error and is what
 * defined the files' semantics so far. So: js-yaml first, with a schema that resolves plain scalars
 * exactly as `yaml`'s default (YAML 1.2 core); `yaml` whenever js-yaml fails (its result then
 * stands, or its error is reported with file:line) or the file uses anchors.
 */
import { FAILSAFE_SCHEMA, load, Type } from 'js-yaml';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { errorMessage } from '../../common/errors.ts';
import { SnapshotError } from '../errors.ts';

// YAML 1.2 core schema as the `yaml` package resolves it. js-yaml's own CORE_SCHEMA differs:
// it reads 0b101, -0x1, +0x1 and -0o7 as numbers (strings in YAML 1.2) and +.5 as a string.
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_DEC = /^[-+]?[0-9]+$/;
const INT_OCT = /^0o[0-7]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const FLOAT_SPECIAL = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;

const coreNull = new Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  resolve: (s: string | null) => s === null || NULL.test(s),
  construct: () => null,
});

const coreBool = new Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (s: string | null) => s !== null && BOOL.test(s),
  construct: (s: string) => s[0] === 't' || s[0] === 'T',
});

const coreInt = new Type('tag:yaml.org,2002:int', {
  kind: 'scalar',
  resolve: (s: string | null) => s !== null && (INT_DEC.test(s) || INT_OCT.test(s) || INT_HEX.test(s)),
  construct: (s: string) =>
    INT_OCT.test(s) ? parseInt(s.slice(2), 8) : INT_HEX.test(s) ? parseInt(s.slice(2), 16) : parseInt(s, 10),
});

const coreFloat = new Type('tag:yaml.org,2002:float', {
  kind: 'scalar',
  resolve: (s: string | null) => s !== null && (FLOAT.test(s) || FLOAT_SPECIAL.test(s)),
  construct: (s: string) => {
    if (!FLOAT_SPECIAL.test(s)) return parseFloat(s);
    if (s.slice(-3).toLowerCase() === 'nan') return Number.NaN;
    return s.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  },
});

/** Resolution order as in `yaml`; no timestamps, no `<<` merge keys, like `yaml`'s default. */
export const YAML_1_2_CORE = FAILSAFE_SCHEMA.extend({
  implicit: [coreNull, coreBool, coreInt, coreFloat],
});

// An anchor (`&name` as a node property). js-yaml shares aliased nodes without `yaml`'s alias
// expansion limit, so a file with anchors goes to `yaml` (only a speed difference if this
// over-matches, e.g. inside a quoted string).
const ANCHOR = /(?:^|[\s[{,])&[^\s[\]{},]/m;

/** Parses one standalone file's text; errors are SnapshotErrors named `file:line` where known. */
export function parseStandaloneYaml(text: string, file: string): unknown {
  if (!ANCHOR.test(text)) {
    try {
      return load(text, { schema: YAML_1_2_CORE, filename: file }) ?? null;
    } catch {
      // Re-parse with `yaml` below: it decides (it accepts some input js-yaml rejects, e.g.
      // unknown tags) and its error carries the line we report.
    }
  }
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? `${file}:${err.linePos[0].line}` : file;
    throw new SnapshotError(where, `not valid YAML: ${errorMessage(err).split('\n')[0]}`, { cause: err });
  }
}
