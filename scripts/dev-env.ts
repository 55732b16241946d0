import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'dotenv';

/** The repository root; scripts run from anywhere. */
export const ROOT = resolve(import.meta.dirname, '..');
/** Development state (a local Redis's data, the development secret); git-ignored. */
export const DATA_DIR = join(ROOT, '.data');
const SECRET_FILE = join(DATA_DIR, 'dev-webhook-secret');

/** `process.env` over `.env` (the real environment wins), as every app sees it under `pnpm start`. */
export function loadEnv(): Record<string, string | undefined> {
  const file = join(ROOT, '.env');
  const fromFile = existsSync(file) ? parse(readFileSync(file)) : {};
  return { ...fromFile, ...process.env };
}

/** The development webhook secret, created once and kept under .data/ so `pnpm sample` can sign with it. */
export function devSecret(create: boolean): string | undefined {
  if (existsSync(SECRET_FILE)) return readFileSync(SECRET_FILE, 'utf8').trim();
  if (!create) return undefined;
  mkdirSync(DATA_DIR, { recursive: true });
  const secret = `dev-${randomBytes(24).toString('hex')}`;
  writeFileSync(SECRET_FILE, `${secret}\n`, { mode: 0o600 });
  return secret;
}
