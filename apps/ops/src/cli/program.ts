import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, coerceError } from '@vouchflow/core';
import { migrateArchive } from '@vouchflow/archive';
import type { DeadLetterFilter } from '@vouchflow/pipeline';
import { loadCliConfig } from '../config.js';
import { parseSince, SINCE_HELP } from '../filters.js';
import { ConflictError } from '../errors/conflict-error.js';
import { NotFoundError } from '../errors/not-found-error.js';
import { UsageError } from '../errors/usage-error.js';
import { openOperations, type OpenedOperations } from '../open-operations.js';
import type { Operations } from '../operations.js';
import { confirm } from './confirm.js';
import { FIND_LIMIT, FIND_MAX, findQueryFrom } from '../find-events.js';
import {
  deadLetterDetail,
  deadLetterTable,
  eventReport,
  foundEventsTable,
  handlersTable,
  redisMemoryLine,
  replayResult,
  statsTable,
} from './format.js';
import { createProgressBar } from './progress.js';

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

export interface CliDeps {
  io: CliIo;
  /** The environment, read once by main.ts. */
  env: Record<string, string | undefined>;
  /** Runs the admin API until it is stopped (`ops serve`). */
  serve: (env: Record<string, string | undefined>) => Promise<void>;
  /** @defaultValue Date.now */
  now?: () => number;
}

/** Rows `dlq list` prints as a table unless `--limit` says otherwise. */
const TABLE_LIMIT = 100;

/** Exit codes: what a script calling `pnpm ops` can rely on. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

interface FilterOptions {
  handler?: string;
  decodeFailures?: boolean;
  eventId?: string;
  eventType?: string;
  since?: number;
  limit?: number;
  reason?: string;
  retryableOnly?: boolean;
}

const positiveInt = (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return Number(value);
};

/** `--since 2h` (that long ago) or `--since 2026-11-25T10:00Z` (that moment). */
const sinceParser =
  (now: () => number) =>
  (value: string): number => {
    const at = parseSince(value, now());
    if (at === undefined) throw new InvalidArgumentError(`expected ${SINCE_HELP}`);
    return at;
  };

const toFilter = (o: FilterOptions): DeadLetterFilter => {
  const filter: DeadLetterFilter = {};
  if (o.handler !== undefined) filter.handler = o.handler;
  if (o.decodeFailures) filter.handler = null;
  if (o.eventId !== undefined) filter.eventId = o.eventId;
  if (o.eventType !== undefined) filter.eventType = o.eventType;
  if (o.since !== undefined) filter.since = o.since;
  if (o.limit !== undefined) filter.limit = o.limit;
  if (o.reason !== undefined) filter.reason = o.reason;
  if (o.retryableOnly) filter.retryableOnly = true;
  return filter;
};

const describeFilter = (f: DeadLetterFilter): string => {
  const parts = [
    f.handler === null ? 'decode failures' : f.handler !== undefined ? `handler ${f.handler}` : '',
    f.eventId !== undefined ? `event ${f.eventId}` : '',
    f.eventType !== undefined ? `event type ${f.eventType}` : '',
    f.since !== undefined ? `since ${new Date(f.since).toISOString()}` : '',
    f.reason !== undefined ? `reason containing "${f.reason}"` : '',
    f.retryableOnly ? 'retryable only' : '',
  ].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
};

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Builds and runs the `pnpm ops` command line; resolves with the exit code.
 * Everything it prints goes through `io`, so it behaves the same under a
 * terminal, a pipe and a test.
 */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  const { io, env } = deps;
  const now = deps.now ?? Date.now;
  const out = (text: string) => io.stdout.write(`${text}\n`);
  const json = (value: unknown) => out(JSON.stringify(value, null, 2));
  let opened: OpenedOperations | undefined;
  let exitCode: number = EXIT.ok;
  // Under --json a script reads stderr too: commander's own errors (unknown option, missing argument)
  // are then printed by report() as JSON like every other error, not as commander's text.
  const asJson = argv.includes('--json');

  // Connects on first use, so `--help` and usage errors need no Redis.
  const withOps = async <T>(run: (ops: Operations) => Promise<T>): Promise<T> => {
    opened ??= await openOperations(loadCliConfig(env), { connectionName: 'vouchflow-ops' });
    return run(opened.ops);
  };

  const program = new Command('pnpm ops')
    .description('Operate a vouchflow deployment: queue stats, dead letters, events and replays.')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => (asJson ? true : io.stderr.write(s)) })
    .addHelpText(
      'after',
      '\nReads REDIS_URL, REDIS_CLUSTER and QUEUE_PREFIX like the apps.\nExit codes: 0 success, 1 failure (including not found), 2 usage error.',
    );

  const jsonOption = () => new Option('--json', 'print JSON instead of tables');
  const filterOptions = (cmd: Command, { limit }: { limit: boolean }) => {
    cmd
      .option('--handler <name>', 'only this handler’s entries')
      .addOption(new Option('--decode-failures', 'only intake’s entries: deliveries that did not decode (no handler)').conflicts('handler'))
      .option('--event-id <id>', 'only this event’s entries')
      .option('--event-type <type>', 'only this event type, e.g. customer.voucher.loyalty_card.points_added')
      .option('--since <when>', 'only entries that last failed since then: 30m, 2h, 7d, or a date', sinceParser(now))
      .option('--reason <text>', 'only entries whose failure reason contains this text (any case), e.g. 503')
      .option('--retryable-only', 'leave out what failed for good (PermanentError, did not decode): a retry cannot help those');
    if (limit) cmd.option('--limit <n>', 'at most this many, newest first', positiveInt);
    return cmd;
  };

  program
    .command('stats')
    .description(
      'per queue (intake and each handler): waiting, active, delayed, jobs completed (kept by retention), units done (intake: deliveries processed; handlers: inline first tries too), failed, dead; ' +
        'paused or open circuit beside the name; ' +
        'then Redis: used memory, maxmemory, bytes per processed event over the last hour',
    )
    .addOption(jsonOption())
    .action(async (o: { json?: boolean }) => {
      const [queues, redis] = await withOps((ops) => Promise.all([ops.stats(), ops.redisMemory()]));
      if (o.json) json({ queues, redis });
      else out(`${statsTable(queues)}\n${redisMemoryLine(redis)}`);
    });

  const dlq = program.command('dlq').description('dead letters: list, show, retry, purge');

  filterOptions(dlq.command('list').description('list dead letters, newest first'), { limit: true })
    .addOption(jsonOption())
    .action(async (o: FilterOptions & { json?: boolean }) => {
      const filter = toFilter(o);
      if (o.json) {
        json(await withOps((ops) => ops.listDeadLetters(filter)));
        return;
      }
      // A terminal gets a screenful, not ten thousand rows; scripts (--json) get everything asked for.
      const rows = await withOps((ops) => ops.listDeadLetters({ ...filter, limit: filter.limit ?? TABLE_LIMIT }));
      out(deadLetterTable(rows));
      if (filter.limit === undefined && rows.length === TABLE_LIMIT) {
        const total = await withOps((ops) => ops.countDeadLetters(filter));
        if (total > rows.length) out(`Showing the newest ${rows.length} of ${total}: --limit N for more, --json for all.`);
      }
    });

  dlq
    .command('show')
    .description('one dead letter in full: the error with its stack, and the delivery')
    .argument('<id>', 'dead letter id (from `dlq list`)')
    .addOption(jsonOption())
    .action(async (id: string, o: { json?: boolean }) => {
      const entry = await withOps((ops) => ops.getDeadLetter(id));
      if (o.json) json(entry);
      else out(deadLetterDetail(entry));
    });

  filterOptions(
    dlq
      .command('retry')
      .description('send dead letters back into processing with fresh attempts')
      .argument('[ids...]', 'dead letter ids')
      .option('--all', 'every dead letter matching the filters'),
    { limit: false },
  )
    .addOption(jsonOption())
    .action(async (ids: string[], o: FilterOptions & { all?: boolean; json?: boolean }) => {
      const filter = toFilter(o);
      const filtered = Object.keys(filter).length > 0;
      if (o.all && ids.length > 0) throw new UsageError('give dead letter ids or --all, not both');
      if (!o.all && ids.length === 0)
        throw new UsageError(
          'give the dead letter ids to retry, or --all (optionally with --handler / --event-type / --since / --reason / --retryable-only)',
        );
      if (!o.all && filtered)
        throw new UsageError('filters (--handler, --event-id, --since, --reason, --retryable-only, …) select entries for --all; add --all');
      if (o.all) {
        const bar = createProgressBar(io.stderr, 'retrying', !o.json);
        const retried = await withOps((ops) => ops.retryAllDeadLetters(filter, bar.onProgress)).finally(() => bar.stop());
        if (o.json) json({ retried });
        else out(`Retried ${plural(retried, 'dead letter')}${describeFilter(filter)}.`);
        return;
      }
      const result = await withOps((ops) => ops.retryDeadLetters(ids));
      if (o.json) json(result);
      else {
        out(`Retried ${plural(result.retried.length, 'dead letter')}.`);
        if (result.notFound.length > 0) io.stderr.write(`Not found: ${result.notFound.join(', ')}\n`);
      }
      if (result.notFound.length > 0) exitCode = EXIT.failure;
    });

  filterOptions(dlq.command('purge').description('delete dead letters for good (asks first unless --yes)'), { limit: false })
    .option('-y, --yes', 'do not ask for confirmation')
    .addOption(jsonOption())
    .action(async (o: FilterOptions & { yes?: boolean; json?: boolean }) => {
      const filter = toFilter(o);
      if (!o.yes && !io.stdin.isTTY)
        throw new UsageError('refusing to purge without --yes: stdin is not a terminal, so nobody can confirm');
      // Listed once: what is counted and asked about is exactly what is deleted, never a dead letter that arrived meanwhile.
      const ids = await withOps((ops) => ops.deadLetterIds(filter));
      if (!o.yes) {
        if (ids.length === 0) {
          out('No dead letters match; nothing to purge.');
          return;
        }
        const sure = await confirm(`Delete ${plural(ids.length, 'dead letter')}${describeFilter(filter)} for good?`, io.stdin, io.stderr);
        if (!sure) {
          out('Nothing purged.');
          exitCode = EXIT.failure;
          return;
        }
      }
      const bar = createProgressBar(io.stderr, 'purging', !o.json);
      const purged = await withOps((ops) => ops.purgeDeadLetterIds(ids, bar.onProgress)).finally(() => bar.stop());
      if (o.json) json({ purged });
      else out(`Purged ${plural(purged, 'dead letter')}${describeFilter(filter)}.`);
    });

  const events = program.command('events').description('look up events: by id, or by the customer, code or transaction they are about');
  events
    .command('show')
    .description('an event, its delivery, and where each handler’s work for it stands')
    .argument('<eventId>', 'Voucherify event id, e.g. evcus_…')
    .addOption(jsonOption())
    .action(async (eventId: string, o: { json?: boolean }) => {
      const report = await withOps((ops) => ops.showEvent(eventId));
      if (o.json) json(report);
      else out(eventReport(report));
    });

  events
    .command('find')
    .description(
      'events about a customer (id, source id or e-mail, any case), a voucher code or a transaction, newest first, with each handler’s outcome',
    )
    .option('--customer <who>', 'customer id, source id or e-mail address')
    .option('--code <code>', 'voucher (card) code')
    .option('--transaction <id>', 'transaction id, e.g. vtx_…')
    .option('--since <when>', 'only events received since then: 30m, 2h, 7d, or a date', sinceParser(now))
    .option('--limit <n>', `at most this many (default ${FIND_LIMIT}, at most ${FIND_MAX})`, positiveInt)
    .addOption(jsonOption())
    .action(async (o: { customer?: string; code?: string; transaction?: string; since?: number; limit?: number; json?: boolean }) => {
      const { json: asJsonOutput, ...given } = o;
      const query = findQueryFrom(given, now());
      const rows = await withOps((ops) => ops.findEvents(query));
      if (asJsonOutput) json(rows);
      else out(foundEventsTable(rows));
    });

  program
    .command('replay')
    .description('run an event’s handlers again, even those that succeeded (an explicit override of the once-only rule)')
    .argument('<eventId>', 'Voucherify event id')
    .option('--handler <name>', 'only this handler')
    .addOption(new Option('--all-handlers', 'every handler the event was handed to (a terminal asks instead)').conflicts('handler'))
    .addOption(jsonOption())
    .action(async (eventId: string, o: { handler?: string; allHandlers?: boolean; json?: boolean }) => {
      if (o.handler === undefined && !o.allHandlers) {
        // Every handler means every side effect again: the customer gets a second e-mail. Nobody does that by omission.
        if (!io.stdin.isTTY)
          throw new UsageError(
            'replay without --handler runs every handler again (the customer gets a second e-mail): name one with --handler H, or say --all-handlers',
          );
        const sure = await confirm(
          `Replay event ${eventId} for every handler it was handed to? Each runs again, even those that succeeded.`,
          io.stdin,
          io.stderr,
        );
        if (!sure) {
          out('Nothing replayed.');
          exitCode = EXIT.failure;
          return;
        }
      }
      const result = await withOps((ops) => ops.replay(eventId, o.handler));
      if (o.json) json(result);
      else out(replayResult(result));
    });

  program
    .command('handlers')
    .description('every handler: running or paused, waiting, active, delayed, dead, done, circuit breaker, last error')
    .addOption(jsonOption())
    .action(async (o: { json?: boolean }) => {
      const rows = await withOps((ops) => ops.handlers());
      if (o.json) json(rows);
      else out(handlersTable(rows));
    });

  for (const verb of ['pause', 'resume'] as const) {
    program
      .command(verb)
      .description(
        verb === 'pause'
          ? 'stop running a handler’s units (first tries too); they wait in its queue. Intake and other handlers go on'
          : 'run a paused handler’s units again; what waited drains at its own concurrency and rate limit',
      )
      .argument('<handler>', 'handler name (see `pnpm ops handlers`)')
      .addOption(jsonOption())
      .action(async (handler: string, o: { json?: boolean }) => {
        const status = await withOps((ops) => (verb === 'pause' ? ops.pauseHandler(handler) : ops.resumeHandler(handler)));
        if (o.json) json(status);
        else out(`${status.handler}: ${status.state} (${plural(status.waiting, 'unit')} waiting, ${status.delayed} delayed).`);
      });
  }

  program
    .command('archive')
    .description('the optional PostgreSQL archive (ARCHIVE_URL)')
    .command('migrate')
    .description('create or update the archive’s tables (versioned migrations; safe to run again, and from several places at once)')
    .addOption(jsonOption())
    .action(async (o: { json?: boolean }) => {
      const { ARCHIVE_URL } = loadCliConfig(env);
      if (ARCHIVE_URL === undefined) throw new UsageError('ARCHIVE_URL is not set, so there is no archive to migrate');
      const ran = await migrateArchive(ARCHIVE_URL);
      if (o.json) json({ migrations: ran });
      else out(ran.length > 0 ? `Ran ${plural(ran.length, 'migration')}: ${ran.join(', ')}.` : 'The archive is up to date.');
    });

  program
    .command('serve')
    .description('run the admin API and dashboard (what `pnpm start:admin` runs); needs ADMIN_TOKEN')
    .action(async () => {
      await deps.serve(env);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    exitCode = report(err, io, asJson);
  } finally {
    await opened?.close();
  }
  return exitCode;
}

/** Prints what went wrong in a form the operator can act on, and picks the exit code. */
function report(thrown: unknown, io: CliIo, asJson: boolean): number {
  if (thrown instanceof CommanderError) {
    // Asked-for help exits 0; help shown for a missing command is a usage error.
    if (thrown.exitCode === 0) return EXIT.ok;
    // Without --json commander has printed its message already.
    if (asJson) {
      const message =
        thrown.code === 'commander.help' ? 'a command is required: run with --help for usage' : thrown.message.replace(/^error:\s*/, '');
      io.stderr.write(`${JSON.stringify({ error: { kind: 'usage', message } })}\n`);
    }
    return EXIT.usage;
  }
  const err = coerceError(thrown);
  const code = err instanceof UsageError ? EXIT.usage : EXIT.failure;
  const kind =
    err instanceof UsageError
      ? 'usage'
      : err instanceof NotFoundError
        ? 'not_found'
        : err instanceof ConflictError
          ? 'conflict'
          : err instanceof ConfigError
            ? 'config'
            : 'error';
  if (asJson) io.stderr.write(`${JSON.stringify({ error: { kind, message: err.message } })}\n`);
  else io.stderr.write(`error: ${err.message}\n`);
  return code;
}
