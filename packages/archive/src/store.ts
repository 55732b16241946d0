import pg from 'pg';
import { DAY } from '@vouchflow/core';
import type { ArchivedDelivery, ArchivedEvent, ArchivedOutcome } from './records.js';

/*
 * The PostgreSQL side of the archive: batched writes, partition upkeep and the
 * reads operators make. Both tables are partitioned by day on received_at;
 * retention drops whole days (see `prune`).
 */

const DELIVERIES = 'vouchflow_archive_deliveries';
const OUTCOMES = 'vouchflow_archive_outcomes';
const TABLES = [DELIVERIES, OUTCOMES] as const;

export interface EventQuery {
  /** Matches the customer id, source id or (case-insensitively) e-mail. */
  customer?: string;
  code?: string;
  transaction?: string;
  /** Epoch milliseconds: only events received at or after it. */
  since?: number;
  limit?: number;
}

export interface ArchiveStore {
  /** Writes one batch in one transaction; re-writing a row changes nothing (deliveries) or keeps the latest outcome. */
  write(batch: { deliveries: readonly ArchivedDelivery[]; outcomes: readonly ArchivedOutcome[] }): Promise<void>;
  /** The newest archived copy of an event, with its handlers' outcomes. */
  findEvent(eventId: string): Promise<ArchivedEvent | undefined>;
  /** Events matching every given criterion, newest first. */
  findEvents(query: EventQuery): Promise<ArchivedEvent[]>;
  /** Drops the days older than `retentionMs` and returns how many partitions went. */
  prune(retentionMs: number, now?: number): Promise<number>;
  close(): Promise<void>;
}

/** `vouchflow_archive_deliveries_20261129` for the UTC day holding `ms`. */
const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
const startOfDay = (ms: number): number => Math.floor(ms / DAY) * DAY;
const iso = (ms: number): string => new Date(ms).toISOString();

export function createArchiveStore(databaseUrl: string, deployment: string): ArchiveStore {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  // An idle client whose server went away emits `error`; without a listener that kills the process.
  pool.on('error', () => {});
  const partitionsMade = new Set<string>();

  async function ensurePartitions(client: pg.PoolClient, receivedAts: Iterable<number>): Promise<void> {
    const days = new Set<number>();
    for (const at of receivedAts) days.add(startOfDay(at));
    for (const day of days) {
      const suffix = dayOf(day);
      if (partitionsMade.has(suffix)) continue;
      for (const table of TABLES) {
        try {
          await client.query(
            `CREATE TABLE IF NOT EXISTS ${table}_${suffix} PARTITION OF ${table} FOR VALUES FROM ('${iso(day)}') TO ('${iso(day + DAY)}')`,
          );
        } catch (err) {
          // Two archivers creating the same day race on the catalogue; the loser's
          // rows go to the table either way. Anything else fails the batch.
          const code = (err as { code?: string }).code;
          if (code !== '42P07' && code !== '23505') throw err;
        }
      }
      partitionsMade.add(suffix);
    }
  }

  const rowToEvent = (row: Record<string, unknown>, outcomes: ArchivedOutcome[]): ArchivedEvent => ({
    eventId: row['event_id'] as string,
    eventType: row['event_type'] as string,
    receivedAt: (row['received_at'] as Date).getTime(),
    processedAt: (row['processed_at'] as Date).getTime(),
    body: row['body'] as string,
    headers: row['headers'] as Record<string, string>,
    handlers: row['handlers'] as string[],
    customerId: row['customer_id'] as string | null,
    customerSourceId: row['customer_source_id'] as string | null,
    customerEmail: row['customer_email'] as string | null,
    voucherCode: row['voucher_code'] as string | null,
    transactionId: row['transaction_id'] as string | null,
    outcomes,
  });

  async function withOutcomes(rows: Record<string, unknown>[]): Promise<ArchivedEvent[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r['event_id'] as string);
    const { rows: outcomeRows } = await pool.query(
      `SELECT event_id, received_at, handler, outcome, reason, attempts, settled_at FROM ${OUTCOMES}
        WHERE deployment = $1 AND event_id = ANY($2::text[]) ORDER BY handler`,
      [deployment, ids],
    );
    return rows.map((row) => {
      const receivedAt = (row['received_at'] as Date).getTime();
      const outcomes = outcomeRows
        .filter((o) => o.event_id === row['event_id'] && (o.received_at as Date).getTime() === receivedAt)
        .map((o): ArchivedOutcome => ({
          eventId: o.event_id as string,
          receivedAt,
          handler: o.handler as string,
          outcome: o.outcome as ArchivedOutcome['outcome'],
          reason: o.reason as string | null,
          attempts: o.attempts as number,
          settledAt: (o.settled_at as Date).getTime(),
        }));
      return rowToEvent(row, outcomes);
    });
  }

  return {
    async write({ deliveries, outcomes }) {
      if (deliveries.length === 0 && outcomes.length === 0) return;
      const client = await pool.connect();
      try {
        await ensurePartitions(client, [...deliveries.map((d) => d.receivedAt), ...outcomes.map((o) => o.receivedAt)]);
        await client.query('BEGIN');
        if (deliveries.length > 0) {
          // unnest over column arrays: one statement for the whole batch, whatever its size.
          await client.query(
            `INSERT INTO ${DELIVERIES} (deployment, event_id, event_type, received_at, processed_at, body, body_sha256, headers,
               handlers, customer_id, customer_source_id, customer_email, voucher_code, transaction_id)
             SELECT $1, d.event_id, d.event_type, d.received_at, d.processed_at, d.body, encode(sha256(convert_to(d.body, 'UTF8')), 'hex'),
               d.headers, ARRAY(SELECT jsonb_array_elements_text(d.handlers)), d.customer_id, d.customer_source_id, d.customer_email,
               d.voucher_code, d.transaction_id
             FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::jsonb[], $8::jsonb[],
               $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
               AS d(event_id, event_type, received_at, processed_at, body, headers, handlers, customer_id, customer_source_id,
                    customer_email, voucher_code, transaction_id)
             ON CONFLICT DO NOTHING`,
            [
              deployment,
              deliveries.map((d) => d.eventId),
              deliveries.map((d) => d.eventType),
              deliveries.map((d) => iso(d.receivedAt)),
              deliveries.map((d) => iso(d.processedAt)),
              deliveries.map((d) => d.body),
              deliveries.map((d) => JSON.stringify(d.headers)),
              deliveries.map((d) => JSON.stringify(d.handlers)),
              deliveries.map((d) => d.customerId),
              deliveries.map((d) => d.customerSourceId),
              deliveries.map((d) => d.customerEmail),
              deliveries.map((d) => d.voucherCode),
              deliveries.map((d) => d.transactionId),
            ],
          );
        }
        if (outcomes.length > 0) {
          // One batch may hold several outcomes of one unit (a replay); keep the latest.
          const latest = new Map<string, ArchivedOutcome>();
          for (const o of outcomes) {
            const key = JSON.stringify([o.eventId, o.receivedAt, o.handler]);
            const seen = latest.get(key);
            if (!seen || seen.settledAt <= o.settledAt) latest.set(key, o);
          }
          const rows = [...latest.values()];
          await client.query(
            `INSERT INTO ${OUTCOMES} (deployment, event_id, received_at, handler, outcome, reason, attempts, settled_at)
             SELECT $1, o.* FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::int[], $8::timestamptz[])
               AS o(event_id, received_at, handler, outcome, reason, attempts, settled_at)
             ON CONFLICT (deployment, event_id, received_at, handler) DO UPDATE
               SET outcome = excluded.outcome, reason = excluded.reason, attempts = excluded.attempts, settled_at = excluded.settled_at
               WHERE ${OUTCOMES}.settled_at <= excluded.settled_at`,
            [
              deployment,
              rows.map((o) => o.eventId),
              rows.map((o) => iso(o.receivedAt)),
              rows.map((o) => o.handler),
              rows.map((o) => o.outcome),
              rows.map((o) => o.reason),
              rows.map((o) => o.attempts),
              rows.map((o) => iso(o.settledAt)),
            ],
          );
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },

    async findEvent(eventId) {
      const { rows } = await pool.query(
        `SELECT * FROM ${DELIVERIES} WHERE deployment = $1 AND event_id = $2 ORDER BY received_at DESC LIMIT 1`,
        [deployment, eventId],
      );
      const [event] = await withOutcomes(rows);
      return event;
    },

    async findEvents({ customer, code, transaction, since, limit = 50 }) {
      const where = ['deployment = $1'];
      const params: unknown[] = [deployment];
      const param = (value: unknown): string => {
        params.push(value);
        return `$${params.length}`;
      };
      if (customer !== undefined) {
        const p = param(customer);
        where.push(`(customer_id = ${p} OR customer_source_id = ${p} OR customer_email = lower(${p}))`);
      }
      if (code !== undefined) where.push(`voucher_code = ${param(code)}`);
      if (transaction !== undefined) where.push(`transaction_id = ${param(transaction)}`);
      if (since !== undefined) where.push(`received_at >= ${param(iso(since))}`);
      const { rows } = await pool.query(
        `SELECT * FROM ${DELIVERIES} WHERE ${where.join(' AND ')} ORDER BY received_at DESC LIMIT ${param(Math.max(1, Math.min(limit, 1000)))}`,
        params,
      );
      return withOutcomes(rows);
    },

    async prune(retentionMs, now = Date.now()) {
      const cutoff = startOfDay(now - retentionMs);
      let dropped = 0;
      for (const table of TABLES) {
        const { rows } = await pool.query<{ name: string }>(
          `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = $1`,
          [table],
        );
        for (const { name } of rows) {
          const match = new RegExp(`^${table}_(\\d{4})(\\d{2})(\\d{2})$`).exec(name);
          if (!match) continue;
          const dayStart = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
          // A day is dropped only once all of it is past the retention.
          if (dayStart + DAY > cutoff) continue;
          await pool.query(`DROP TABLE IF EXISTS ${name}`);
          partitionsMade.delete(`${match[1]}${match[2]}${match[3]}`);
          dropped++;
        }
        // Rows that missed their day's partition are trimmed row by row.
        await pool.query(`DELETE FROM ${table}_default WHERE received_at < $1`, [iso(cutoff)]);
      }
      return dropped;
    },

    close: () => pool.end(),
  };
}
