/**
 * .dockerignore as Docker (BuildKit, moby/patternmatcher) reads it, so the image's file set can be
 * assembled without a Docker engine: comments and blank lines skipped, patterns cleaned and made
 * relative, `!` re-includes, `*` / `?` / `[...]` within one path segment, `**` across segments, a
 * pattern that matches a directory excludes everything under it, and the last matching pattern wins.
 * Hand-written (≈60 lines): the npm ports of this matcher follow .gitignore rules, which differ
 * (unanchored patterns, trailing-slash meaning) — see docs/decisions.md.
 */
import path from 'node:path';

interface Pattern {
  exclusion: boolean;
  re: RegExp;
}

export interface DockerIgnore {
  /** True when the context path (forward slashes, relative) is left out of the build context. */
  excludes(file: string): boolean;
  /** Whether any `!` pattern exists (an excluded directory must then still be walked). */
  hasExceptions: boolean;
}

function compile(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') i++;
        // `**` at the end matches everything below; `**/` any number (even zero) of directories.
        re += i + 1 >= pattern.length ? '.*' : '(.*/)?';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new Error(`.dockerignore: unterminated character class in "${pattern}"`);
      const body = pattern
        .slice(i + 1, end)
        .replace(/^!/, '^')
        .replace(/\\/g, '\\\\');
      re += `[${body}]`;
      i = end;
    } else if (ch === '\\' && i + 1 < pattern.length) {
      i++;
      re += pattern[i]!.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');
    } else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function parseDockerIgnore(text: string): DockerIgnore {
  const patterns: Pattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const exclusion = line.startsWith('!');
    if (exclusion) line = line.slice(1).trim();
    // Docker cleans the pattern (filepath.Clean) and drops a leading "/": the context root is implied.
    line = path.posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    if (!line || line === '.') continue;
    patterns.push({ exclusion, re: compile(line) });
  }
  const matches = (p: Pattern, file: string): boolean => {
    // The pattern matches the path itself or one of its parent directories.
    const parts = file.split('/');
    for (let n = parts.length; n > 0; n--) if (p.re.test(parts.slice(0, n).join('/'))) return true;
    return false;
  };
  return {
    hasExceptions: patterns.some((p) => p.exclusion),
    excludes(file) {
      let matched = false;
      for (const p of patterns) {
        // Only a pattern that could flip the current answer needs testing.
        if (p.exclusion !== matched) continue;
        if (matches(p, file)) matched = !p.exclusion;
      }
      return matched;
    },
  };
}
