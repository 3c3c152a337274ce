import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  parseUserAgent,
  readUapSections,
  uapRegexesFile,
} from '../../../functions/analytics-publisher/user-agent.ts';

describe('user agent -> WSO2 userAgent + platform', () => {
  it('the fast regexes.yaml reader agrees with a full YAML parse', () => {
    const text = readFileSync(uapRegexesFile(), 'utf8');
    const full = parseYaml(text) as Record<string, unknown>;
    const fast = readUapSections(text);
    expect(fast.user_agent_parsers).toEqual(full.user_agent_parsers);
    expect(fast.os_parsers).toEqual(full.os_parsers);
    expect(fast.user_agent_parsers.length).toBeGreaterThan(100);
  });

  const cases: [string, string, string][] = [
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
      'Chrome',
      'Mac OS X',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0',
      'Firefox',
      'Windows',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
      'Mobile Safari',
      'iOS',
    ],
    ['curl/8.4.0', 'curl', 'Other'],
    ['PostmanRuntime/7.36.0', 'PostmanRuntime', 'Other'],
    ['something-unheard-of', 'Other', 'Other'],
  ];
  for (const [ua, userAgent, platform] of cases) {
    it(`${ua.slice(0, 40)} -> ${userAgent} / ${platform}`, () => {
      expect(parseUserAgent(ua)).toEqual({ userAgent, platform });
    });
  }
  it('a missing header -> UNKNOWN / UNKNOWN', () => {
    expect(parseUserAgent(null)).toEqual({ userAgent: 'UNKNOWN', platform: 'UNKNOWN' });
    expect(parseUserAgent('')).toEqual({ userAgent: 'UNKNOWN', platform: 'UNKNOWN' });
  });
});
