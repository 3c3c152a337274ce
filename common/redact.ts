/**
 * Masking of credentials in what is printed or logged: `mesh-apim config`, and every log line (common/log.ts).
 * URLs carry user info (amqp://user:password@host, https://elastic:password@es:9200): the user info is
 * replaced, wherever such a URL sits in a string.
 */

/** Setting/field names whose value is a secret (apim.secretArn etc. name a secret, they are not one). */
export const SECRET_KEY = /password|secret(?!Arn$)|^sslKey$|^authorization$/i;

// scheme://userinfo@ : greedy up to the last '@' before the path, so a password holding '@' is covered.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi;

/** `text` with the user info of every URL in it replaced by `***` (amqp://***@host:5672). */
export function maskUrlCredentials(text: string): string {
  return text.includes('@') ? text.replace(URL_USERINFO, '$1***@') : text;
}

/** A copy of `value` fit to print: secret-named fields are `***` when set, URL user info masked everywhere. */
export function maskSecrets<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value, (k, v) =>
      SECRET_KEY.test(k) && v ? '***' : typeof v === 'string' ? maskUrlCredentials(v) : v,
    ),
  ) as T;
}

/**
 * The same for a log record, without serialising it: strings and Errors down to `depth` levels are
 * masked in place of copies; anything else passes through (pino serialises it).
 */
export function maskLogFields(obj: Record<string, unknown>, depth = 3): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(obj)) {
    const masked = maskValue(k, v, depth);
    if (masked !== v) {
      out ??= { ...obj };
      out[k] = masked;
    }
  }
  return out ?? obj;
}

function maskValue(key: string, v: unknown, depth: number): unknown {
  if (v === null || v === undefined || v === '') return v;
  if (SECRET_KEY.test(key) && (typeof v === 'string' || typeof v === 'number')) return '***';
  if (typeof v === 'string') return maskUrlCredentials(v);
  if (depth <= 0 || typeof v !== 'object') return v;
  if (v instanceof Error) {
    const message = maskUrlCredentials(v.message);
    const stack = v.stack === undefined ? undefined : maskUrlCredentials(v.stack);
    if (message === v.message && stack === v.stack) return v;
    const copy = Object.assign(Object.create(Object.getPrototypeOf(v) as object) as Error, v);
    Object.defineProperty(copy, 'message', { value: message, enumerable: false, writable: true });
    Object.defineProperty(copy, 'stack', { value: stack, enumerable: false, writable: true });
    return copy;
  }
  if (Array.isArray(v)) {
    const arr = v.map((x) => maskValue('', x, depth - 1));
    return arr.some((x, i) => x !== v[i]) ? arr : v;
  }
  if (Object.getPrototypeOf(v) === Object.prototype)
    return maskLogFields(v as Record<string, unknown>, depth - 1);
  return v;
}
