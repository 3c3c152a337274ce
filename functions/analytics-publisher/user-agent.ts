/**
 * User-Agent -> { userAgent, platform } as WSO2 publishes them: the browser family and OS family of
 * the ua-parser (Browserscope) rules that WSO2's uap-java uses, read from the uap-core package's
 * regexes.yaml, so the families match WSO2's ("Chrome", "Mac OS X", "Other", ...). Results are cached
 * (bounded LRU): real traffic has few distinct User-Agent strings and the rules are ~1000 regexes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { UNKNOWN } from '../../events/analytics.ts';

interface Rule {
  re: RegExp;
  replacement: string | undefined;
}

interface Rules {
  agents: Rule[];
  os: Rule[];
}

let rules: Rules | null = null;

type RawRule = { regex: string; regex_flag?: string; family_replacement?: string; os_replacement?: string };

/**
 * regexes.yaml's user-agent and OS sections are flat lists of single-quoted scalars, so a line reader
 * gets them in a few ms where a full YAML parse takes most of a second (Lambda cold start). A unit
 * test checks this reader against the yaml package on the installed file.
 */
export function readUapSections(text: string): { user_agent_parsers: RawRule[]; os_parsers: RawRule[] } {
  const out: { user_agent_parsers: RawRule[]; os_parsers: RawRule[] } = {
    user_agent_parsers: [],
    os_parsers: [],
  };
  let section: RawRule[] | null = null;
  let current: RawRule | null = null;
  const line = /^\s*(- )?([a-z0-9_]+): '((?:[^']|'')*)'\s*$/;
  for (const raw of text.split('\n')) {
    if (/^[a-z_]+:\s*$/.test(raw)) {
      const name = raw.trim().slice(0, -1);
      if (name === 'user_agent_parsers' || name === 'os_parsers') section = out[name];
      else if (section)
        break; // device_parsers and later: not needed
      else section = null;
      current = null;
      continue;
    }
    if (!section) continue;
    const m = line.exec(raw);
    if (!m) {
      if (raw.trim() === '' || raw.trim().startsWith('#')) continue;
      throw new Error(`regexes.yaml: unexpected line: ${raw.slice(0, 80)}`);
    }
    const value = m[3]!.replace(/''/g, "'");
    if (m[1]) {
      current = { regex: '' };
      section.push(current);
    }
    if (current) (current as Record<string, string>)[m[2]!] = value;
  }
  return out;
}

export function uapRegexesFile(): string {
  return createRequire(import.meta.url).resolve('uap-core/regexes.yaml');
}

function loadRules(): Rules {
  if (rules) return rules;
  const doc = readUapSections(readFileSync(uapRegexesFile(), 'utf8'));
  const compile = (regex: string, flag?: string) => new RegExp(regex, flag === 'i' ? 'i' : '');
  rules = {
    agents: doc.user_agent_parsers.map((p) => ({
      re: compile(p.regex, p.regex_flag),
      replacement: p.family_replacement,
    })),
    os: doc.os_parsers.map((p) => ({ re: compile(p.regex, p.regex_flag), replacement: p.os_replacement })),
  };
  return rules;
}

function family(list: Rule[], ua: string): string {
  for (const r of list) {
    const m = r.re.exec(ua);
    if (!m) continue;
    const f = r.replacement ? r.replacement.replace(/\$(\d)/g, (_, d: string) => m[Number(d)] ?? '') : m[1];
    return f?.trim() || 'Other';
  }
  return 'Other';
}

export interface ParsedUserAgent {
  userAgent: string;
  platform: string;
}

const CACHE_MAX = 1000;
const cache = new Map<string, ParsedUserAgent>();

/** WSO2: a missing header gives UNKNOWN for both; an unrecognised one gives ua-parser's "Other". */
export function parseUserAgent(header: string | null | undefined): ParsedUserAgent {
  if (!header) return { userAgent: UNKNOWN, platform: UNKNOWN };
  const hit = cache.get(header);
  if (hit) {
    cache.delete(header);
    cache.set(header, hit);
    return hit;
  }
  const r = loadRules();
  const parsed = { userAgent: family(r.agents, header), platform: family(r.os, header) };
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(header, parsed);
  return parsed;
}
