import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from './redis-server.js';

export interface RedisCluster {
  /** The masters, each a private redis-server (its own port and data directory). */
  nodes: RedisServer[];
  /** `redis://127.0.0.1:<port>` of every node: the seed list for REDIS_URL with REDIS_CLUSTER=true. */
  urls: string[];
  /** Stops every node and removes their data directories. */
  stop(): Promise<void>;
}

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

async function clusterOk(port: number): Promise<boolean> {
  const probe = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  probe.on('error', () => {});
  try {
    await probe.connect();
    const info = String(await probe.call('CLUSTER', 'INFO'));
    return /cluster_state:ok/.test(info) && /cluster_slots_assigned:16384/.test(info);
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/**
 * Starts a Redis Cluster of `masters` masters (no replicas) on free loopback
 * ports with `redis-cli --cluster create`, and resolves once every node
 * reports `cluster_state:ok`. Needs redis-server and redis-cli on PATH.
 */
export async function startRedisCluster({ masters = 3, timeoutMs = 30_000 } = {}): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    // node-timeout stays at Redis's default (15 s): on a busy CI machine a CPU-starved node must not
    // be declared failed, which would take the cluster down (no replicas) and fail every command.
    for (let i = 0; i < masters; i++) {
      nodes.push(
        await startRedisServer({
          args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '15000', '--cluster-config-file', 'nodes.conf'],
        }),
      );
    }
    const created = await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes']);
    if (created.code !== 0) throw new Error(`redis-cli --cluster create failed (${created.code}):\n${created.output}`);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(nodes.map((n) => clusterOk(n.port)));
      if (states.every(Boolean)) break;
      if (Date.now() > until) throw new Error(`cluster not ok after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, urls: nodes.map((n) => n.url), stop };
}
