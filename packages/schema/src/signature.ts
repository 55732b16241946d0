import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header Voucherify puts its signature in (HTTP header names are case-insensitive). */
export const SIGNATURE_HEADER = 'x-voucherify-signature';

const HEX_SIGNATURE = /^[0-9a-f]{64}$/;

/** Lowercase hex HMAC-SHA256 of `body` keyed with `secret`, as Voucherify computes it. */
export function signBody(body: string | Buffer, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isJsonWhitespace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/**
 * The body with JSON's insignificant whitespace (outside strings) removed, the
 * form Voucherify's SDKs sign. Returns the same buffer when there is none, so
 * the caller can skip a second HMAC.
 */
export function compactJsonWhitespace(body: Buffer): Buffer {
  let inString = false;
  let escaped = false;
  let firstWhitespace = -1;
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (b === BACKSLASH) escaped = true;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (isJsonWhitespace(b)) {
      firstWhitespace = i;
      break;
    }
  }
  if (firstWhitespace < 0) return body;

  const out = Buffer.allocUnsafe(body.length);
  body.copy(out, 0, 0, firstWhitespace);
  let n = firstWhitespace;
  for (let i = firstWhitespace; i < body.length; i++) {
    const b = body[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (b === BACKSLASH) escaped = true;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (isJsonWhitespace(b)) continue;
    out[n++] = b;
  }
  return out.subarray(0, n);
}

function matches(body: Buffer, expected: Buffer, secrets: readonly string[]): boolean {
  let ok = false;
  // Every secret is tried even after a match so timing does not reveal which one matched.
  for (const secret of secrets) {
    const actual = createHmac('sha256', secret).update(body).digest();
    ok = timingSafeEqual(actual, expected) || ok;
  }
  return ok;
}

/**
 * True when `header` is a valid signature of `rawBody` under any of `secrets`
 * (several during a rotation). The raw bytes are tried first, then the body
 * with whitespace outside strings removed; parsed JSON is never re-serialised,
 * since number and unicode formatting would change.
 */
export function verifySignature(rawBody: Buffer, header: string | undefined, secrets: readonly string[]): boolean {
  if (header === undefined || secrets.length === 0) return false;
  const normalised = header.trim().toLowerCase();
  if (!HEX_SIGNATURE.test(normalised)) return false;
  const expected = Buffer.from(normalised, 'hex');
  if (matches(rawBody, expected, secrets)) return true;
  const compact = compactJsonWhitespace(rawBody);
  return compact !== rawBody && matches(compact, expected, secrets);
}
