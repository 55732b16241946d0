import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Dashboard sessions without server-side state. A browser cannot send an
 * `Authorization: Bearer` header when it loads a page, so the login form
 * trades the token for a cookie holding `<expiry>.<nonce>.<mac>`, where
 * `mac` is an HMAC-SHA256 of `<expiry>.<nonce>` under a key derived from
 * ADMIN_TOKEN. The cookie never contains the token and cannot be forged
 * without it; changing ADMIN_TOKEN ends every session at once.
 */
export interface Sessions {
  /** A new session cookie value, valid until `now + ttlMs`. */
  issue(): { value: string; expiresAt: number };
  /** True for an unexpired value this token issued. */
  verify(value: string | undefined): boolean;
}

const b64url = (buf: Buffer) => buf.toString('base64url');

/** Compares two secrets in time independent of where they differ (and of their lengths, by hashing first). */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function createSessions(token: string, ttlMs: number, now: () => number = Date.now): Sessions {
  // A key of its own, so a MAC never doubles as anything the token itself authorizes.
  const key = createHmac('sha256', token).update('vouchflow admin session v1').digest();
  const mac = (payload: string) => b64url(createHmac('sha256', key).update(payload).digest());
  return {
    issue() {
      const expiresAt = now() + ttlMs;
      const payload = `${expiresAt}.${b64url(randomBytes(12))}`;
      return { value: `${payload}.${mac(payload)}`, expiresAt };
    },
    verify(value) {
      if (!value) return false;
      const parts = value.split('.');
      if (parts.length !== 3) return false;
      const [expires, nonce, given] = parts as [string, string, string];
      if (!/^\d+$/.test(expires) || Number(expires) <= now()) return false;
      return safeEqual(given, mac(`${expires}.${nonce}`));
    },
  };
}
