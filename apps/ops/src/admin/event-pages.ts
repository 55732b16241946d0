import express, { type Request, type Response, type Router } from 'express';
import { handlerQueueName, INTAKE_QUEUE, coerceError, type Logger } from '@vouchflow/core';
import { ConflictError } from '../errors/conflict-error.js';
import { NotFoundError } from '../errors/not-found-error.js';
import { UsageError } from '../errors/usage-error.js';
import { foundEvent, type FoundEvent, type FoundOutcome } from '../find-events.js';
import type { DeadLetterEntry, EventReport, HandlerWork, Operations } from '../operations.js';
import { html, Html } from './html.js';
import { PRINCIPAL_HEADER } from './dashboard.js';
import { formatTime, inDoubtShort, inDoubtText } from '../cli/format.js';

/*
 * The dashboard's event pages, beside bull-board's queue view and behind the
 * same guard: a search box (customer id, e-mail, source id, voucher code,
 * transaction or event id), the events found, and one event's timeline with
 * Retry (dead letters) and Replay (one handler, or every handler when the
 * operator says so) going through the same operations as `pnpm ops`.
 * Server-rendered, no script: the CSP allows none.
 */

const when = formatTime;

const CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

const STYLE = `
  body { font-family: system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d1f24; }
  header { background: #1d1f24; color: #fff; padding: .6rem 1.2rem; display: flex; gap: 1.2rem; align-items: center; }
  header a { color: #fff; } header form { margin-left: auto; }
  main { padding: 1rem 1.2rem; max-width: 72rem; }
  table { border-collapse: collapse; background: #fff; width: 100%; margin: .5rem 0 1rem; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e3e5e8; vertical-align: top; font-size: .9rem; }
  pre { background: #fff; padding: .8rem; overflow: auto; font-size: .8rem; }
  .notice { background: #e6f4ea; padding: .5rem .8rem; } .error { background: #fde7e9; padding: .5rem .8rem; }
  .state-dead { color: #b00020; font-weight: 600; } .state-done, .state-completed { color: #1e7e34; }
  .state-delayed, .state-waiting { color: #8a5a00; }
  .state-in-doubt, .in-doubt { color: #a33a00; font-weight: 600; } p.in-doubt { margin: 0 0 .3rem; }
  form.inline { display: inline; } input[type=search] { width: 28rem; padding: .4rem; font: inherit; } button { font: inherit; }
`;

function page(title: string, body: Html): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · vouchflow</title>
        <style>
          ${new Html(STYLE)}
        </style>
      </head>
      <body>
        <header>
          <strong>vouchflow</strong><a href="/dashboard">Queues</a><a href="/dashboard/events">Find events</a>
          <form method="post" action="/logout"><button type="submit">Sign out</button></form>
        </header>
        <main>${body}</main>
      </body>
    </html> `.text;
}

const eventHref = (eventId: string) => `/dashboard/events/${encodeURIComponent(eventId)}`;
const queueHref = (queue: string, status?: string) => `/dashboard/queue/${encodeURIComponent(queue)}${status ? `?status=${status}` : ''}`;
const jobHref = (queue: string, jobId: string) => `/dashboard/queue/${encodeURIComponent(queue)}/${encodeURIComponent(jobId)}`;

const searchForm = (q: string) =>
  html` <form method="get" action="/dashboard/events" role="search">
    <label for="q">Customer id, e-mail, source id, voucher code, transaction or event id</label><br />
    <input id="q" name="q" type="search" value="${q}" required autofocus />
    <button type="submit">Search</button>
  </form>`;

const outcomeCell = (o: FoundOutcome) =>
  html`<div>
    <span class="state-${o.outcome}">${o.handler}: ${o.outcome}${o.replay ? ' (replay)' : ''}</span>${
      o.outcome === 'delayed' || o.outcome === 'waiting'
        ? o.nextRunAt !== null
          ? ` until ${when(o.nextRunAt)}`
          : ''
        : o.finishedAt !== null
          ? ` ${when(o.finishedAt)}`
          : ''
    }${o.reason ? html` <small>(${o.reason})</small>` : ''}${
      o.inDoubt ? html` <small class="in-doubt">in doubt: ${inDoubtShort(o.inDoubt)}</small>` : ''
    }
  </div>`;

function resultsTable(rows: readonly FoundEvent[]): Html {
  if (rows.length === 0)
    return html`<p>No events found. The index keeps the delivery retention; older events are found with ARCHIVE_URL set.</p>`;
  return html`<table>
    <thead>
      <tr>
        <th>Received</th>
        <th>Event</th>
        <th>Type</th>
        <th>Handlers</th>
      </tr>
    </thead>
    <tbody>
      ${rows.map(
        (e) =>
          html`<tr>
            <td>${when(e.receivedAt)}</td>
            <td><a href="${eventHref(e.eventId)}">${e.eventId}</a>${e.source === 'archive' ? ' (archive)' : ''}</td>
            <td>${e.eventType ?? '-'}</td>
            <td>${e.handlers.length > 0 ? e.handlers.map(outcomeCell) : 'no handler'}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function handlerRow(eventId: string, w: HandlerWork): Html {
  const queue = handlerQueueName(w.handler);
  const waits = w.state === 'waiting' || w.state === 'delayed';
  // A unit with a job keeps its job's state; that its run is in doubt is said beside it.
  const inDoubtMark = w.inDoubt && w.state !== 'in-doubt' ? html` <span class="in-doubt">(in doubt)</span>` : '';
  return html`<tr data-handler="${w.handler}">
    <td>${w.handler}${w.replay ? ' (replay)' : ''}</td>
    <td class="state-${w.state}">${w.state}${inDoubtMark}</td>
    <td>${w.attemptsMade}</td>
    <td>${when(w.finishedAt)}</td>
    <td>${waits ? when(w.nextRunAt) : '-'}</td>
    <td>
      ${w.inDoubt ? html`<p class="in-doubt" data-in-doubt>In doubt: ${inDoubtText(w.handler, w.inDoubt)}.</p>` : ''}${w.reason ?? (w.inDoubt ? '' : '-')}${
        w.errors.length > 0
          ? html`<details>
              <summary>${w.errors.length} failed ${w.errors.length === 1 ? 'try' : 'tries'} of its job</summary>
              <ol>
                ${w.errors.map((e) => html`<li>${e}</li>`)}
              </ol>
            </details>`
          : ''
      }
    </td>
    <td><a href="${jobHref(queue, w.jobId)}">job in the queue view</a></td>
    <td>
      <form class="inline" method="post" action="${eventHref(eventId)}/replay">
        <input type="hidden" name="handler" value="${w.handler}" /> <button type="submit">Replay ${w.handler}</button>
      </form>
    </td>
  </tr>`;
}

function deadLetterRow(eventId: string, d: DeadLetterEntry): Html {
  const queue = d.handler === null ? INTAKE_QUEUE : handlerQueueName(d.handler);
  return html`<tr data-dead-letter="${d.id}">
    <td>${d.handler ?? '(decode)'}</td>
    <td>${d.attempts}</td>
    <td>${when(d.firstFailedAt)}</td>
    <td>${when(d.lastFailedAt)}</td>
    <td>
      ${d.reason}${
        d.stack
          ? html`<details>
              <summary>stack</summary>
              <pre>${d.stack}</pre>
            </details>`
          : ''
      }
    </td>
    <td><a href="${queueHref(queue, 'failed')}">dead letters of ${queue}</a></td>
    <td>
      <form class="inline" method="post" action="${eventHref(eventId)}/retry">
        <input type="hidden" name="id" value="${d.id}" /> <button type="submit">Retry</button>
      </form>
    </td>
  </tr>`;
}

function eventPage(r: EventReport, notice: { ok?: string; error?: string }): Html {
  const delivery = typeof r.delivery === 'string' ? r.delivery : JSON.stringify(r.delivery, null, 2);
  const handlersHandedTo = [...new Set(r.handlers.filter((h) => !h.replay).map((h) => h.handler))];
  return html` ${notice.ok ? html`<p class="notice" role="status">${notice.ok}</p>` : ''}
    ${notice.error ? html`<p class="error" role="alert">${notice.error}</p>` : ''}
    <h1>Event ${r.eventId}</h1>
    <p>${r.eventType ?? 'type unknown'}${r.source === 'archive' ? ' · from the PostgreSQL archive (Redis no longer holds it)' : ''}</p>
    <h2>Timeline</h2>
    <table>
      <tbody>
        <tr>
          <th>Received</th>
          <td>${when(r.receivedAt)}</td>
        </tr>
        <tr>
          <th>Decoded and fanned out</th>
          <td>
            ${
              r.intake
                ? html`<span class="state-${r.intake.state}">${r.intake.state}</span>
                    ${when(r.intake.finishedAt)}${r.intake.reason ? ` (${r.intake.reason})` : ''}`
                : 'gone (older than the delivery retention)'
            }
          </td>
        </tr>
      </tbody>
    </table>
    <h2>Handlers</h2>
    ${
      r.handlers.length === 0
        ? html`<p>No handler work for this event.</p>`
        : html`<table id="handlers">
            <thead>
              <tr>
                <th>Handler</th>
                <th>State</th>
                <th>Attempts</th>
                <th>Finished</th>
                <th>Next run</th>
                <th>Reason / last error</th>
                <th></th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              ${r.handlers.map((w) => handlerRow(r.eventId, w))}
            </tbody>
          </table>`
    }
    ${
      handlersHandedTo.length > 1
        ? html`<form method="post" action="${eventHref(r.eventId)}/replay">
            <input type="hidden" name="allHandlers" value="true" />
            <label
              ><input type="checkbox" name="confirm" value="yes" required /> Run every handler again (${handlersHandedTo.join(', ')}): the
              customer gets each side effect again</label
            >
            <button type="submit">Replay every handler</button>
          </form>`
        : ''
    }
    <h2>Dead letters</h2>
    ${
      r.deadLetters.length === 0
        ? html`<p>None.</p>`
        : html`<table id="dead-letters">
            <thead>
              <tr>
                <th>Handler</th>
                <th>Attempts</th>
                <th>First failed</th>
                <th>Last failed</th>
                <th>Reason</th>
                <th></th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              ${r.deadLetters.map((d) => deadLetterRow(r.eventId, d))}
            </tbody>
          </table>`
    }
    <h2>Delivery</h2>
    <pre id="delivery">${delivery}</pre>
    ${r.conflictingDuplicates.map(
      (c) =>
        html`<h3>Conflicting duplicate received ${when(c.receivedAt)}</h3>
          <p>Same event id, another body; answered 2XX, not processed.</p>
          <pre>${c.body}</pre>`,
    )}`;
}

const eventIdOf = (req: Request): string => {
  const value: unknown = req.params['eventId'];
  return typeof value === 'string' ? value : '';
};

const queryString = (value: unknown): string => (typeof value === 'string' ? value : '');

/** Everything a search box finds for one string: a customer (id, source id, e-mail), a code, a transaction, an event id. */
async function search(ops: Operations, q: string): Promise<FoundEvent[]> {
  const found = new Map<string, FoundEvent>();
  const byEventId = ops.showEvent(q).then(
    (report) => [foundEvent(report)],
    (err: unknown) => {
      if (err instanceof NotFoundError) return [];
      throw err;
    },
  );
  const lists = await Promise.all([
    byEventId,
    ops.findEvents({ customer: q }),
    ops.findEvents({ code: q }),
    ops.findEvents({ transaction: q }),
  ]);
  for (const e of lists.flat()) if (!found.has(e.eventId)) found.set(e.eventId, e);
  return [...found.values()].sort((a, b) => (b.receivedAt ?? 0) - (a.receivedAt ?? 0));
}

/** The event pages, to mount at `/dashboard/events` behind the admin guard. */
export function createEventPages(ops: Operations, logger: Logger): Router {
  const router = express.Router();
  router.use(express.urlencoded({ extended: false, limit: '4kb' }));
  const send = (res: Response, status: number, title: string, body: Html) =>
    res
      .status(status)
      .setHeader('Content-Security-Policy', CSP)
      // Its forms post back here: under the admin's default no-referrer the browser sends `Origin: null`, which the guard refuses.
      .setHeader('Referrer-Policy', 'same-origin')
      .setHeader('Cache-Control', 'no-store')
      .type('html')
      .send(page(title, body));
  const who = (req: Request) => req.headers[PRINCIPAL_HEADER];

  router.get('/', async (req, res) => {
    const q = queryString(req.query['q']).trim();
    if (q === '')
      return send(
        res,
        200,
        'Find events',
        html`<h1>Find events</h1>
          ${searchForm('')}`,
      );
    const rows = await search(ops, q);
    send(
      res,
      200,
      `Events for ${q}`,
      html`<h1>Find events</h1>
        ${searchForm(q)}
        <h2>Events for “${q}”</h2>
        ${resultsTable(rows)}`,
    );
  });

  router.get('/:eventId', async (req, res) => {
    const eventId = req.params['eventId'] ?? '';
    try {
      const report = await ops.showEvent(eventId);
      send(res, 200, `Event ${eventId}`, eventPage(report, { ok: queryString(req.query['ok']), error: queryString(req.query['error']) }));
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      send(
        res,
        404,
        'Event not found',
        html`<h1>Event ${eventId}</h1>
          <p class="error">${err.message}</p>
          ${searchForm(eventId)}`,
      );
    }
  });

  /** Back to the event page, saying what happened; the operator's own errors (unknown handler, conflict) are shown there too. */
  const act = async (req: Request, res: Response, run: () => Promise<string>) => {
    const eventId = eventIdOf(req);
    let outcome: string;
    try {
      outcome = `ok=${encodeURIComponent(await run())}`;
    } catch (err) {
      if (!(err instanceof NotFoundError || err instanceof ConflictError || err instanceof UsageError)) throw err;
      outcome = `error=${encodeURIComponent(coerceError(err).message)}`;
    }
    res.redirect(303, `${eventHref(eventId)}?${outcome}`);
  };

  router.post('/:eventId/retry', (req, res) =>
    act(req, res, async () => {
      const id = (req.body as Record<string, unknown>)['id'];
      if (typeof id !== 'string' || id === '') throw new UsageError('no dead letter given');
      const result = await ops.retryDeadLetters([id]);
      if (result.retried.length === 0) throw new NotFoundError(`${id} is not a dead letter any more`);
      logger.warn('dashboard action', { action: 'retry dead letter', id, by: who(req) });
      return `Retried ${id} with fresh attempts.`;
    }),
  );

  router.post('/:eventId/replay', (req, res) =>
    act(req, res, async () => {
      const body = req.body as Record<string, unknown>;
      const handler = typeof body['handler'] === 'string' && body['handler'] !== '' ? body['handler'] : undefined;
      const all = body['allHandlers'] === 'true' && body['confirm'] === 'yes';
      // As the API: one named handler, or every handler said out loud, never every handler by omission.
      if ((handler === undefined) === !all) throw new UsageError('say which handler to replay, or tick the box to replay every handler');
      const result = await ops.replay(eventIdOf(req), handler);
      logger.warn('dashboard action', {
        action: 'replay',
        eventId: result.eventId,
        handlers: result.jobs.map((j) => j.handler),
        by: who(req),
      });
      return `Replaying for ${result.jobs.map((j) => j.handler).join(', ')}.`;
    }),
  );

  return router;
}
