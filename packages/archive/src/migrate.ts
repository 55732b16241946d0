import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));
export const MIGRATIONS_TABLE = 'vouchflow_archive_migrations';

/** Brings the archive's tables up to date; returns the names of the migrations it ran. */
export async function migrateArchive(databaseUrl: string, log: (message: string) => void = () => {}): Promise<string[]> {
  const ran = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction: 'up',
    count: Infinity,
    log,
    // Several processes may start at once; the others wait for the first.
    advisoryLockMode: 'wait',
  });
  return ran.map((m) => m.name);
}

/** Migrations the archive still lacks; empty when it is up to date. Runs nothing. */
export async function pendingArchiveMigrations(databaseUrl: string): Promise<string[]> {
  const pending = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction: 'up',
    count: Infinity,
    dryRun: true,
    log: () => {},
    noLock: true,
  });
  return pending.map((m) => m.name);
}
