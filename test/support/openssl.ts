/** openssl-made certificates for tests; tests that need them skip when openssl is not installed. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * A self-signed RSA certificate (`req -x509`), valid for `days` (default 1): writes <dir>/<name>.key
 * (PKCS#8) and <dir>/<name>.crt; the subject is /CN=<cn> unless `subject` is given.
 */
export function selfSigned(
  dir: string,
  name: string,
  cn: string,
  opts: { subjectAltName?: string; days?: number; subject?: string } = {},
): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      String(opts.days ?? 1),
      '-subj',
      opts.subject ?? `/CN=${cn}`,
      ...(opts.subjectAltName ? ['-addext', `subjectAltName=${opts.subjectAltName}`] : []),
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { key, cert };
}
