/**
 * Baseline for bench/standalone-load.ts: the standalone file parser as it was before the js-yaml
 * fast path (`yaml` only). Swapped in for adapter/standalone/yaml.ts by a resolve hook.
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { SnapshotError } from '../adapter/errors.ts';
import { errorMessage } from '../common/errors.ts';

export function parseStandaloneYaml(text: string, file: string): unknown {
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? `${file}:${err.linePos[0].line}` : file;
    throw new SnapshotError(where, `not valid YAML: ${errorMessage(err).split('\n')[0]}`, { cause: err });
  }
}
