/**
 * User-Agent -> { userAgent, platform } as WSO2 publishes them: the browser family and OS family of
 * the ua-parser (Browserscope) rules that WSO2's uap-java uses, read from the uap-core package's
 * regexes.yaml, so the families match WSO2's ("Chrome", "Mac OS X", "Other", ...). Results are cached
 * (bounded LRU): real traffic has few distinct User-Agent strings and the rules are ~1000 regexes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parse as parseYaml } from 'yaml';
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

function loadRules(): Rules {
  if (rules) return rules;
  const require = createRequire(import.meta.url);
  const file = require.resolve('uap-core/regexes.yaml');
  const doc = parseYaml(readFileSync(file, 'utf8')) as {
    user_agent_parsers: { regex: string; regex_flag?: string; family_replacement?: string }[];
    os_parsers: { regex: string; regex_flag?: string; os_replacement?: string }[];
  };
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
