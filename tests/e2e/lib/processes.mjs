// Processes of the end-to-end tests, and the time they may take: where
// things are, the Cleanup that ends everything a test started, deadlines
// and polling, parlor itself (started on a free port, its start-up lines
// read by parseStartupLine) and a TCP proxy in front of it.

import { spawn } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const E2E_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const REPO = dirname(dirname(E2E_DIR));
export const ARTIFACTS = join(E2E_DIR, 'artifacts');

const PARLOR_BIN = process.env.PARLOR_BIN ?? join(REPO, 'target', 'release', 'parlor');

/** Default time allowed for one wait in a test. */
export const WAIT_MS = 30_000;

const log = (...args) => {
  if (process.env.E2E_DEBUG) console.error('[e2e]', ...args);
};

/* ------------------------------------------------------------ cleanup */

/**
 * Collects things to close and closes them in reverse order; every test
 * creates one and calls run() in t.after, so nothing outlives its test.
 */
export class Cleanup {
  #tasks = [];
  add(task) {
    this.#tasks.push(task);
  }
  async run() {
    for (const task of this.#tasks.reverse()) {
      try {
        await withTimeout(Promise.resolve().then(task), 15_000, 'cleanup');
      } catch (error) {
        console.error('cleanup:', error.message);
      }
    }
    this.#tasks = [];
  }
}

/** A Cleanup that runs when the test `t` ends. */
export function cleanupAfter(t) {
  const cleanup = new Cleanup();
  t.after(() => cleanup.run());
  return cleanup;
}

/* ---------------------------------------------------------- deadlines */

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` (async, returns a value or a falsy one) until truthy. */
export async function until(check, { timeout = WAIT_MS, interval = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last && last.ok !== false) return last;
    } catch (error) {
      last = error.message;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    }
    await sleep(interval);
  }
}

/* ------------------------------------------------------------- server */

/**
 * What one line that parlor prints on stdout as it starts says (see
 * src/main.rs), or null for any other line:
 *   Parlor is running at http://ADDR/           -> {url: 'http://ADDR'}
 *   Parlor STUN/TURN is listening on ADDR (...) -> {turn: 'ADDR'}
 *   Self-signed certificate for A, B            -> {certificateNames: ['A', 'B']}
 *   Certificate SHA-256 fingerprint AB:CD:...   -> {fingerprint: 'AB:CD:...'}
 */
export function parseStartupLine(line) {
  const web = line.match(/Parlor is running at (https?:\/\/\S+)/);
  if (web) return { url: web[1].replace(/\/$/, '') };
  const relay = line.match(/Parlor STUN\/TURN is listening on (\S+)/);
  if (relay) return { turn: relay[1] };
  const names = line.match(/^Self-signed certificate for (.+)$/);
  if (names) return { certificateNames: names[1].split(', ') };
  const fingerprint = line.match(/^Certificate SHA-256 fingerprint (\S+)$/);
  if (fingerprint) return { fingerprint: fingerprint[1] };
  return null;
}

/**
 * Starts parlor on a free port; resolves to {url, turn, stderr, stop, kill}
 * (and `fingerprint`, the certificate's as printed, once it is printed):
 * `turn` is the STUN/TURN address (null when it does not run), stop asks
 * parlor to shut down (SIGTERM), kill ends it at once (SIGKILL), as a crash.
 * By default the STUN/TURN server gets its own free port too (not the shared
 * default 3478), so that the welcome's iceServers are real and no two
 * servers collide; `ownTurnPort: false` leaves it on its default.
 *
 * Each server gets a state directory of its own (keys, room list), made
 * for it and removed by `cleanup`, so that no test reads another's state or
 * the user's: `stateDir` names one instead, e.g. that of the server a test
 * restarts. It is passed as PARLOR_STATE_DIR, which a server that keeps no
 * state ignores. The result's `stateDir` says which it was. `host` is the
 * loopback address both listen on (a cluster puts each instance on its own).
 */
export async function startParlor(cleanup, args = [], { ownTurnPort = true, stateDir = null, host = '127.0.0.1' } = {}) {
  if (!stateDir) {
    stateDir = mkdtempSync(join(tmpdir(), 'parlor-e2e-state-'));
    const made = stateDir;
    cleanup.add(() => rmSync(made, { recursive: true, force: true }));
  }
  if (!existsSync(PARLOR_BIN)) {
    throw new Error(`no parlor binary at ${PARLOR_BIN}: build it (cargo build --release) or set PARLOR_BIN`);
  }
  const turnArgs = ownTurnPort ? ['--turn-listen', `${host}:0`] : [];
  const child = spawn(PARLOR_BIN, ['--listen', `${host}:0`, ...turnArgs, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PARLOR_LOG: process.env.PARLOR_LOG ?? 'warn', PARLOR_STATE_DIR: stateDir },
  });
  const server = { url: null, turn: null, stderr: '', stateDir };
  child.stderr.on('data', (chunk) => {
    server.stderr += chunk;
    if (process.env.E2E_DEBUG) process.stderr.write(chunk);
  });
  const signal = async (name, patience) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(name);
    await withTimeout(exited, patience, 'parlor to exit');
  };
  server.stop = () => signal('SIGTERM', 5000).catch(() => child.kill('SIGKILL'));
  server.kill = () => signal('SIGKILL', 5000);
  cleanup.add(server.stop);
  await withTimeout(
    new Promise((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        const said = parseStartupLine(line);
        if (said?.url) {
          server.url = said.url;
          // The STUN/TURN line follows at once when that server runs.
          setTimeout(resolve, 1000);
        }
        // Under --tls-self-signed: what the certificate should be.
        if (said?.fingerprint) server.fingerprint = said.fingerprint;
        if (said?.turn) {
          server.turn = said.turn;
          if (server.url) resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`parlor exited (${code}): ${server.stderr}`)));
      child.once('error', reject);
    }),
    15_000,
    'parlor to print its URL',
  );
  log('parlor at', server.url, 'STUN/TURN at', server.turn);
  return server;
}

/**
 * Starts `parlor --listen 127.0.0.1:0` with `args` and nothing else, so the
 * STUN/TURN server runs with its defaults (127.0.0.1:3478). Resolves to
 * {url, turn, stop} once both the web server and the TURN server are up.
 * If port 3478 is held by another process, Parlor runs without TURN; then
 * this waits and tries again (up to `patience` ms) before failing.
 */
export async function startParlorWithDefaultTurn(cleanup, args = [], { patience = 30_000 } = {}) {
  const deadline = Date.now() + patience;
  for (;;) {
    const started = await startParlor(cleanup, args, { ownTurnPort: false });
    if (started.turn) return started;
    await started.stop();
    if (Date.now() > deadline) {
      throw new Error(`parlor could not listen for TURN on its default port 3478 (another process holds it?): ${started.stderr}`);
    }
    await sleep(500);
  }
}

/** One sample of the server's /metrics, e.g. metric(url, 'parlor_rooms'); NaN when missing. */
export async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

/* -------------------------------------------------------------- proxy */

/**
 * A TCP proxy on 127.0.0.1 in front of a parlor, so a test can break the
 * browsers' connections to the server the way a network does (reset, no
 * close frame), refuse new ones for a while, or point at a restarted server.
 */
export async function startProxy(cleanup, targetUrl) {
  let target = new URL(targetUrl);
  let refusing = false;
  const pairs = new Set();
  const server = net.createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () =>
    new Promise((resolve) => {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      server.close(() => resolve());
    });
  cleanup.add(close);
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Resets every open connection, both ways, as a broken network does. */
    cut() {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
      pairs.clear();
    },
    /** While true, new connections are reset at once. */
    refuse(value) {
      refusing = value;
    },
    retarget(url) {
      target = new URL(url);
    },
  };
}
