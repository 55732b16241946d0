import { PermanentError } from '@vouchflow/handler-kit';

/**
 * `base` + path segments, keeping whatever path `base` has (a proxy prefix
 * such as `https://gateway.example/voucherify`): `new URL('/v1/…', base)`
 * would drop it and send the credentials to the gateway's root. Each segment
 * is percent-encoded as one path segment, so an id cannot add segments or a
 * query; `.` and `..` (which URL parsing resolves away) and empty ids are
 * refused as permanent: a payload naming them will not change its mind.
 */
export function apiUrl(base: string, ...segments: string[]): URL {
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') {
      throw new PermanentError(`refusing to build an API URL with the path segment ${JSON.stringify(s)}`);
    }
  }
  const url = new URL(base);
  const prefix = url.pathname.replace(/\/+$/, '');
  url.pathname = `${prefix}/${segments.map(encodeURIComponent).join('/')}`;
  return url;
}
