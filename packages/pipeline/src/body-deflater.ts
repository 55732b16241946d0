import { Worker } from 'node:worker_threads';
import { deflateRawSync } from 'node:zlib';

/*
 * Deflating a kept delivery's body with the 16 KiB dictionary costs about as
 * much CPU as everything else BullMQ does for the job (zlib sets up a fresh
 * stream and loads the dictionary each time). A worker process spends that on
 * one thread of its own: the bodies of a turn go to it in one message and come
 * back in one transferred buffer, so the event loop pays a copy, not the
 * compression. Should the thread fail, the bodies are deflated inline: slower,
 * never lost.
 */

/** Deflates delivery bodies with the kept records' dictionary. */
export interface BodyDeflater {
  deflate(body: string): Promise<Buffer>;
  /** Ends the thread once the bodies already given are deflated. Safe to call twice. */
  close(): Promise<void>;
}

// CommonJS, evaluated: no file to resolve, the same from src/ (tsx) and dist/.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { deflateRawSync } = require('node:zlib');
const dictionary = Buffer.from(workerData.dictionary);
parentPort.on('message', ({ id, bodies }) => {
  try {
    const parts = bodies.map((b) => deflateRawSync(b, { dictionary }));
    const total = parts.reduce((n, p) => n + p.length, 0);
    // Its own ArrayBuffer (never the shared pool), so it can be transferred.
    const out = Buffer.allocUnsafeSlow(total);
    let at = 0;
    const lengths = parts.map((p) => { p.copy(out, at); at += p.length; return p.length; });
    parentPort.postMessage({ id, buffer: out.buffer, lengths }, [out.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});
`;

interface Batch {
  bodies: string[];
  resolve: Array<(b: Buffer) => void>;
}

type Reply = { id: number; buffer: ArrayBuffer; lengths: number[]; error?: undefined } | { id: number; error: string };

/** Deflates on a thread of its own, one message per event-loop turn. */
export function threadDeflater(dictionary: Buffer): BodyDeflater {
  const deflateInline = (batch: Batch) => batch.bodies.forEach((b, i) => batch.resolve[i]!(deflateRawSync(b, { dictionary })));
  let worker: Worker | undefined = new Worker(THREAD, { eval: true, workerData: { dictionary } });
  // Never what keeps a process alive: close() ends it in order, and an exit without close() must not wait on it.
  worker.unref();
  let next = 0;
  const waiting = new Map<number, Batch>();
  let current: Batch | undefined;
  // Told when the last batch sent came back (close() waits for it).
  let idle: (() => void) | undefined;
  const answered = (id: number) => {
    waiting.delete(id);
    if (waiting.size === 0 && !current) idle?.();
  };

  const fallBack = () => {
    worker = undefined;
    for (const [id, batch] of waiting) {
      deflateInline(batch);
      answered(id);
    }
  };
  worker.on('message', (reply: Reply) => {
    const batch = waiting.get(reply.id);
    if (!batch) return;
    if (reply.error !== undefined) deflateInline(batch);
    else {
      let at = 0;
      reply.lengths.forEach((len, i) => {
        batch.resolve[i]!(Buffer.from(reply.buffer, at, len));
        at += len;
      });
    }
    answered(reply.id);
  });
  worker.on('error', fallBack);
  worker.on('exit', fallBack);

  return {
    deflate(body) {
      if (!worker) return Promise.resolve(deflateRawSync(body, { dictionary }));
      return new Promise<Buffer>((resolve) => {
        if (!current) {
          const batch: Batch = (current = { bodies: [], resolve: [] });
          // After this turn's I/O callbacks: every delivery processed in this turn goes in one message.
          setImmediate(() => {
            current = undefined;
            if (!worker) {
              deflateInline(batch);
              if (waiting.size === 0) idle?.();
              return;
            }
            const id = next++;
            waiting.set(id, batch);
            worker.postMessage({ id, bodies: batch.bodies });
          });
        }
        current.bodies.push(body);
        current.resolve.push(resolve);
      });
    },
    async close() {
      const w = worker;
      if (!w) return;
      // Bodies handed over before close() still come back.
      if (waiting.size > 0 || current) await new Promise<void>((r) => (idle = r));
      worker = undefined;
      w.removeAllListeners('exit');
      await w.terminate();
    },
  };
}
