import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface Received {
  envelopeTo: string[];
  mail: ParsedMail;
}

export interface TestSmtp {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/**
 * A real SMTP server on loopback. Recipients at `greylisted.test` get a 451,
 * at `nowhere.test` a 550, like a real server that defers or refuses them.
 */
export async function startSmtp(): Promise<TestSmtp> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      const reject = (code: number, text: string) => callback(Object.assign(new Error(text), { responseCode: code }));
      if (address.address.endsWith('@greylisted.test')) return reject(451, '4.7.1 Greylisted, try again later');
      if (address.address.endsWith('@nowhere.test')) return reject(550, '5.1.1 No such user here');
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((mail) => {
          received.push({ envelopeTo: session.envelope.rcptTo.map((r) => r.address), mail });
          callback();
        })
        .catch(callback);
    },
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
