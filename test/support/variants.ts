/**
 * Spellings of one compact JWS that jose decodes to the same bytes: the base64url decoder skips ASCII
 * whitespace and ignores the unused low bits of the signature's last character. Each is the same
 * credential; caches and revocation lookups must treat them as one.
 */
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Every other spelling of the signature's last character (15 for an RS256 2048-bit signature). */
export function lowBitVariants(token: string): string[] {
  const sig = token.slice(token.lastIndexOf('.') + 1);
  const unused = [0, 0, 4, 2][sig.length % 4]!;
  const last = B64URL.indexOf(sig.at(-1)!);
  const out: string[] = [];
  for (let x = 0; x < 1 << unused; x++) {
    const c = B64URL[(last & ~((1 << unused) - 1)) | x]!;
    if (c !== sig.at(-1)) out.push(token.slice(0, -1) + c);
  }
  return out;
}

/** n spellings with ASCII whitespace (space, tab, LF, FF, CR) inside the signature. */
export function whitespaceVariants(token: string, n: number): string[] {
  const cut = token.lastIndexOf('.') + 1;
  const ws = [' ', '\t', '\n', '\f', '\r'];
  const out: string[] = [];
  const room = token.length - cut - 1;
  for (let i = 0; out.length < n; i++) {
    const rest = Math.floor(i / room);
    const at = cut + 1 + (i % room);
    out.push(
      token.slice(0, at) + ws[rest % ws.length]!.repeat(1 + Math.floor(rest / ws.length)) + token.slice(at),
    );
  }
  return out;
}
