// Several Parlor instances sharing rooms through Redis, as an operator runs
// them and as tests/cluster.rs starts them: a real redis-server keeping its
// data in an append-only file (so one killed and started again knows what it
// knew), three `parlor --redis --secret` on 127.0.0.2, .3 and .4 (each with
// its own STUN/TURN), and HAProxy on 127.0.0.1 in front of them, run with
// deploy/haproxy.cfg (the one docs/deployment.md shows) pointed at them.

import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, startParlor, until, withTimeout, metric } from './processes.mjs';

/** A free TCP port on 127.0.0.1. */
async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves true when something accepts TCP connections on port, else false. */
function accepts(port, send = null, expect = null) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(false));
    socket.on('connect', () => {
      if (!send) {
        socket.destroy();
        resolve(true);
      } else socket.write(send);
    });
    socket.on('data', (chunk) => {
      got += chunk;
      if (got.includes(expect)) {
        socket.destroy();
        resolve(true);
      }
    });
  });
}

/** Spawns a child that ends (SIGKILL) when `stop` is called or the test ends. */
function spawnKillable(cleanup, command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('error', (error) => (stderr += `${error.message}\n`));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await withTimeout(exited, 5000, `${command} to exit`);
  };
  cleanup.add(stop);
  return { stop, stderr: () => stderr };
}

/**
 * A redis-server on a free port with appendonly and fsync on every write;
 * `kill()` ends it at once (SIGKILL) and `restart()` starts it again on the
 * same port with its data.
 */
export async function startRedis(cleanup) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'parlor-e2e-redis-'));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  const redis = { url: `redis://127.0.0.1:${port}`, port, process: null };
  redis.restart = async () => {
    if (redis.process) await redis.process.stop();
    const args = ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
    redis.process = spawnKillable(cleanup, 'redis-server', args);
    await until(() => accepts(port, 'PING\r\n', '+PONG'), { timeout: 10_000, interval: 50, what: 'redis-server to answer' });
  };
  redis.kill = () => redis.process.stop();
  await redis.restart();
  return redis;
}

/**
 * deploy/haproxy.cfg, the configuration docs/deployment.md shows, with its
 * `bind` address made `front` and its servers' the instances' (host:port).
 */
export function haproxyConfig(front, servers) {
  const text = readFileSync(join(REPO, 'deploy', 'haproxy.cfg'), 'utf8');
  let n = 0;
  const config = text
    .replace(/^(\s*)bind :80$/m, `$1bind ${front}`)
    .replace(/^(\s*server \S+ )\S+/gm, (_, head) => `${head}${servers[n++]}`);
  if (!config.includes(`bind ${front}`) || n !== servers.length) {
    throw new Error(`deploy/haproxy.cfg should have one \`bind :80\` and ${servers.length} servers`);
  }
  return config;
}

/**
 * Redis, three instances (`args` added to each, e.g. --resume-grace) and
 * HAProxy. Resolves to {redis, instances, url}: `url` is the load
 * balancer's, where pages go; each instance is a startParlor result.
 */
export async function startCluster(cleanup, { secret, args = [] }) {
  const redis = await startRedis(cleanup);
  const instances = [];
  for (const host of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
    instances.push(await startParlor(cleanup, ['--redis', redis.url, '--secret', secret, ...args], { host }));
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'parlor-e2e-haproxy-'));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, haproxyConfig(`127.0.0.1:${port}`, instances.map((i) => new URL(i.url).host)));
  const haproxy = spawnKillable(cleanup, 'haproxy', ['-db', '-f', config]);
  await until(() => accepts(port), { timeout: 10_000, interval: 50, what: 'HAProxy to listen' }).catch((error) => {
    throw new Error(`${error.message}: ${haproxy.stderr()}`);
  });
  return { redis, instances, url: `http://127.0.0.1:${port}` };
}

/** Each instance's open WebSocket connections (NaN for one that is down). */
export function connectionsPerInstance(cluster) {
  return Promise.all(cluster.instances.map((i) => metric(i.url, 'parlor_connections').catch(() => NaN)));
}
