// Shared helpers for the end-to-end tests: start a Parlor server, launch
// headless Chromium or Firefox ESR (each its own process and profile), drive
// the app's UI like a person would, and read real media statistics.
//
// The page's RTCPeerConnections are reached without any hook in the product:
// a preload script (evaluateOnNewDocument) wraps window.RTCPeerConnection and
// records every instance in window.__parlorTest.pcs.

import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import puppeteer from 'puppeteer-core';

export const E2E_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const REPO = dirname(dirname(E2E_DIR));
export const ARTIFACTS = join(E2E_DIR, 'artifacts');
/**
 * Where screenshots go: artifacts/screenshots/ (not committed) unless
 * UPDATE_SCREENSHOTS=1, which writes the committed ones in docs/screenshots/.
 */
export const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
export const SCREENSHOTS = UPDATE_SCREENSHOTS ? join(REPO, 'docs', 'screenshots') : join(ARTIFACTS, 'screenshots');

const PARLOR_BIN = process.env.PARLOR_BIN ?? join(REPO, 'target', 'release', 'parlor');
const CHROMIUM_BIN = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const FIREFOX_BIN = process.env.FIREFOX_BIN ?? '/usr/bin/firefox-esr';

/** Default time allowed for one wait in a test. */
export const WAIT_MS = 30_000;

export const VIEWPORT = { width: 1280, height: 800 };
/** A phone-sized viewport (an iPhone 14's CSS pixels). */
/**
 * A phone-sized viewport (an iPhone 14's CSS pixels). Not isMobile: changing
 * that on a page reloads it, which would end the call.
 */
export const PHONE_VIEWPORT = { width: 390, height: 844, deviceScaleFactor: 2 };
/** A small camera picture for tests with many browsers (see newPage's camera). */
export const SMALL_CAMERA = { width: 424, height: 240, frameRate: 15 };

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

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/* ------------------------------------------------------------- server */

/**
 * Starts parlor on a free port; resolves to {url, turn, stderr, stop, kill}:
 * `turn` is the STUN/TURN address (null when it does not run), stop asks
 * parlor to shut down (SIGTERM), kill ends it at once (SIGKILL), as a crash.
 * By default the STUN/TURN server gets its own free port too (not the shared
 * default 3478), so that the welcome's iceServers are real and no two
 * servers collide; `ownTurnPort: false` leaves it on its default.
 */
export async function startParlor(cleanup, args = [], { ownTurnPort = true } = {}) {
  if (!existsSync(PARLOR_BIN)) {
    throw new Error(`no parlor binary at ${PARLOR_BIN}: build it (cargo build --release) or set PARLOR_BIN`);
  }
  const turnArgs = ownTurnPort ? ['--turn-listen', '127.0.0.1:0'] : [];
  const child = spawn(PARLOR_BIN, ['--listen', '127.0.0.1:0', ...turnArgs, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PARLOR_LOG: process.env.PARLOR_LOG ?? 'warn' },
  });
  const server = { url: null, turn: null, stderr: '' };
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
        const web = line.match(/Parlor is running at (http:\/\/\S+)/);
        if (web) {
          server.url = web[1].replace(/\/$/, '');
          // The STUN/TURN line follows at once when that server runs.
          setTimeout(resolve, 1000);
        }
        const relay = line.match(/Parlor STUN\/TURN is listening on (\S+)/);
        if (relay) {
          server.turn = relay[1];
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

/* ------------------------------------------------------------ browsers */

function profileDir(cleanup, prefix) {
  const dir = mkdtempSync(join(tmpdir(), `parlor-e2e-${prefix}-`));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function closeBrowser(browser) {
  const child = browser.process();
  try {
    await withTimeout(browser.close(), 10_000, 'browser.close');
  } catch {
    child?.kill('SIGKILL');
  }
}

/**
 * Headless Chromium, its own process and profile.
 * media: 'fake' (fake camera and microphone, permission granted; screen
 *        sharing picks a fake screen at once),
 *        'denied' (fake camera and microphone exist, but the permission
 *        for `origin` is refused: getUserMedia fails with NotAllowedError).
 * fakeDevices: options of Chromium's fake capture devices, e.g.
 *        'device-count=2' (two cameras) or 'fps=10' (a lighter camera).
 */
export async function launchChromium(cleanup, { media = 'fake', origin, fakeDevices = '' } = {}) {
  const args = [
    '--no-sandbox',
    '--autoplay-policy=no-user-gesture-required',
    '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-dev-shm-usage',
    '--disable-gpu',
    '--mute-audio',
    `--window-size=${VIEWPORT.width},${VIEWPORT.height}`,
  ];
  // Fake devices in both modes, so a refusal is a real permission denial
  // (NotAllowedError) and not merely "no camera found".
  args.push(`--use-fake-device-for-media-stream${fakeDevices ? `=${fakeDevices}` : ''}`);
  if (media === 'fake') args.push('--use-fake-ui-for-media-stream');
  const browser = await puppeteer.launch({
    browser: 'chrome',
    executablePath: CHROMIUM_BIN,
    headless: true,
    userDataDir: profileDir(cleanup, 'chromium'),
    args,
    defaultViewport: VIEWPORT,
    protocolTimeout: 60_000,
    timeout: 30_000,
  });
  cleanup.add(() => closeBrowser(browser));
  if (origin) {
    const state = media === 'denied' ? 'denied' : 'granted';
    await browser.setPermission(
      origin,
      { permission: { name: 'camera' }, state },
      { permission: { name: 'microphone' }, state },
    );
  }
  return browser;
}

/** Headless Firefox ESR over WebDriver BiDi, fake devices, its own profile. */
export async function launchFirefox(cleanup) {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_BIN,
    headless: true,
    userDataDir: profileDir(cleanup, 'firefox'),
    defaultViewport: VIEWPORT,
    protocolTimeout: 60_000,
    timeout: 60_000,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      'media.peerconnection.ice.loopback': true,
      'media.peerconnection.ice.obfuscate_host_addresses': false,
      'media.autoplay.default': 0,
      'permissions.default.camera': 1,
      'permissions.default.microphone': 1,
      'media.volume_scale': '0.0',
    },
  });
  cleanup.add(() => closeBrowser(browser));
  return browser;
}

/** Makes getUserMedia fail as if the person had clicked "Block". */
function denyMediaInPage() {
  const devices = navigator.mediaDevices;
  if (!devices) return;
  devices.getUserMedia = () =>
    Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
}

/**
 * Asks the camera for a smaller picture than the app does (tests with many
 * browsers on a small machine). Only the size and frame rate change.
 */
function smallCameraInPage(size) {
  const devices = navigator.mediaDevices;
  if (!devices?.getUserMedia) return;
  const getUserMedia = devices.getUserMedia.bind(devices);
  devices.getUserMedia = (constraints = {}) => {
    if (constraints.video) {
      const video = typeof constraints.video === 'object' ? constraints.video : {};
      constraints = {
        ...constraints,
        video: { ...video, width: { ideal: size.width }, height: { ideal: size.height }, frameRate: { ideal: size.frameRate, max: size.frameRate } },
      };
    }
    return getUserMedia(constraints);
  };
}

/* --------------------------------------------------------------- pages */

/**
 * Runs in the page before its own scripts. Records every RTCPeerConnection
 * (window.__parlorTest.pcs), every WebSocket (.sockets) and the type of
 * every WebSocket message received (.received), counts getUserMedia calls, keeps the screen tracks that
 * getDisplayMedia returns (.displayTracks), notes when #join was
 * clicked and when the first remote video frame was decoded (getStats polled
 * every 20 ms until then). It changes no behaviour of the page.
 */
function recordPeerConnections() {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__parlorTest) return;
  const test = { pcs: [], gumCalls: 0, joinClickAt: null, firstFrameAt: null };
  window.__parlorTest = test;
  const watchFirstFrame = async (pc) => {
    const started = performance.now();
    while (test.firstFrameAt === null && pc.connectionState !== 'closed' && performance.now() - started < 120_000) {
      try {
        const stats = await pc.getStats();
        stats.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0 && test.firstFrameAt === null) {
            test.firstFrameAt = performance.now();
          }
        });
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  window.RTCPeerConnection = new Proxy(Native, {
    construct(target, args, newTarget) {
      const pc = Reflect.construct(target, args, newTarget);
      test.pcs.push(pc);
      watchFirstFrame(pc);
      return pc;
    },
  });
  const NativeSocket = window.WebSocket;
  test.received = [];
  test.sockets = [];
  window.WebSocket = new Proxy(NativeSocket, {
    construct(target, args, newTarget) {
      const ws = Reflect.construct(target, args, newTarget);
      test.sockets.push(ws);
      ws.addEventListener('message', (event) => {
        try {
          test.received.push(JSON.parse(event.data).type);
        } catch {
          test.received.push('?');
        }
      });
      return ws;
    },
  });
  const devices = navigator.mediaDevices;
  if (devices?.getUserMedia) {
    const getUserMedia = devices.getUserMedia.bind(devices);
    devices.getUserMedia = (constraints) => {
      test.gumCalls += 1;
      return getUserMedia(constraints);
    };
  }
  // Screen captures handed to the page, so a test can end one the way the
  // browser's own "Stop sharing" does.
  test.displayTracks = [];
  if (devices?.getDisplayMedia) {
    const getDisplayMedia = devices.getDisplayMedia.bind(devices);
    devices.getDisplayMedia = async (constraints) => {
      const stream = await getDisplayMedia(constraints);
      test.displayTracks.push(...stream.getVideoTracks());
      return stream;
    };
  }
  document.addEventListener(
    'click',
    (event) => {
      if (event.target instanceof Element && event.target.closest('#join')) test.joinClickAt = performance.now();
    },
    true,
  );
}

/**
 * A new tab in `browser` with the recorder preloaded; page errors and
 * console errors are kept in page.problems for the assertions. denyMedia:
 * getUserMedia rejects with NotAllowedError (a stand-in for a real denial,
 * see e-receive-only.test.mjs). camera: {width, height, frameRate} asked
 * of the camera instead of the app's size (see smallCameraInPage).
 */
export async function newPage(browser, label, { denyMedia = false, camera = null } = {}) {
  const page = await browser.newPage();
  page.label = label;
  page.problems = [];
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (error) => page.problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (process.env.E2E_DEBUG) console.error(`[${label}] ${message.type()}: ${text}`);
    if (message.type() === 'error' && !/favicon|ERR_CONNECTION_REFUSED/.test(text)) {
      page.problems.push(`console: ${text}`);
    }
  });
  if (denyMedia) await page.evaluateOnNewDocument(denyMediaInPage);
  if (camera) await page.evaluateOnNewDocument(smallCameraInPage, camera);
  await page.evaluateOnNewDocument(recordPeerConnections);
  return page;
}

/** Navigates and waits for the DOM only: <video> may delay `load` forever. */
export async function open(page, url) {
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
}

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
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** The visible text of an element, or null. */
export function text(page, selector) {
  return page.$eval(selector, (node) => node.textContent.trim()).catch(() => null);
}

/** Waits until the element's text matches `pattern`; returns the text. */
export async function waitForText(page, selector, pattern, timeout = WAIT_MS) {
  return until(
    async () => {
      const value = await text(page, selector);
      return value !== null && pattern.test(value) ? value : null;
    },
    { timeout, what: `${page.label}: ${selector} to match ${pattern}` },
  );
}

/** Which screen is showing (start, prejoin, call, message). */
export function screen(page) {
  return page.evaluate(() => document.querySelector('.screen:not([hidden])')?.id ?? null);
}

export async function waitForScreen(page, id, timeout = WAIT_MS) {
  return until(async () => ((await screen(page)) === id ? id : null), {
    timeout,
    what: `${page.label}: screen #${id}`,
  });
}

/* ------------------------------------------------------- media checks */

/**
 * What the page receives: per live RTCPeerConnection, decoded video frames
 * and received audio packets (getStats); per remote tile, the <video> size.
 */
export function mediaReport(page) {
  return page.evaluate(async () => {
    const pcs = (window.__parlorTest?.pcs ?? []).filter((pc) => pc.connectionState !== 'closed');
    const peers = [];
    for (const pc of pcs) {
      const stats = await pc.getStats();
      let framesDecoded = 0;
      let audioPackets = 0;
      let videoPackets = 0;
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        const kind = s.kind ?? s.mediaType;
        if (kind === 'video') {
          framesDecoded += s.framesDecoded ?? 0;
          videoPackets += s.packetsReceived ?? 0;
        }
        if (kind === 'audio') audioPackets += s.packetsReceived ?? 0;
      });
      peers.push({ state: pc.connectionState, framesDecoded, videoPackets, audioPackets });
    }
    const tiles = [...document.querySelectorAll('#tiles .tile')].map((tile) => {
      const video = tile.querySelector('video');
      return {
        peer: tile.dataset.peer,
        name: tile.querySelector('.tile-name')?.textContent,
        width: video?.videoWidth ?? 0,
        height: video?.videoHeight ?? 0,
        showsVideo: !tile.classList.contains('no-video'),
      };
    });
    return { peers, tiles };
  });
}

/** True when every one of `count` remote peers is decoding video and audio. */
export function receivingFromAll(report, count) {
  return (
    report.peers.length === count &&
    report.peers.every((p) => p.framesDecoded > 0 && p.audioPackets > 0) &&
    report.tiles.length === count &&
    report.tiles.every((t) => t.width > 0)
  );
}

/** Waits until the page decodes video and audio from `count` peers. */
export async function waitForMedia(page, count, timeout = 45_000) {
  return until(
    async () => {
      const report = await mediaReport(page);
      return receivingFromAll(report, count) ? report : { ok: false, ...report };
    },
    { timeout, interval: 250, what: `${page.label}: media from ${count} peer(s)` },
  );
}

/** Waits until the decoded frame counts of every peer have grown. */
export async function waitForMoreFrames(page, before, timeout = 20_000) {
  return until(
    async () => {
      const now = await mediaReport(page);
      const grown =
        now.peers.length === before.peers.length &&
        now.peers.every((p, i) => p.framesDecoded > before.peers[i].framesDecoded && p.audioPackets > before.peers[i].audioPackets);
      return grown ? now : { ok: false, ...now };
    },
    { timeout, interval: 250, what: `${page.label}: media still flowing` },
  );
}

/* ------------------------------------------------------------ the app */

/** Start page: picks one-to-one or group, clicks New room; returns the link. */
export async function createRoom(page, { group = false } = {}) {
  await page.waitForSelector('#start-screen:not([hidden])');
  if (group) await page.click('input[name="capacity"][value="6"]');
  await page.click('#new-room');
  await page.waitForSelector('#room-created:not([hidden])');
  const link = await page.$eval('#room-link', (input) => input.value);
  if (!/\/r\/[A-Za-z0-9_-]+$/.test(link)) throw new Error(`unexpected room link ${link}`);
  return link;
}

/**
 * Pre-join: waits for the devices to settle, types a name and clicks Join.
 * beforeJoin(page) runs after typing (e.g. to take a screenshot).
 */
export async function joinAs(page, name, { beforeJoin } = {}) {
  await page.waitForSelector('#prejoin-screen:not([hidden])');
  await page.waitForSelector('#pre-cam:not([disabled])');
  const input = await page.$('#name');
  await input.click({ count: 3 });
  await page.keyboard.press('Backspace');
  await input.type(name);
  if (beforeJoin) await beforeJoin(page);
  await page.click('#join');
  await page.waitForSelector('#call-screen:not([hidden])');
}

/**
 * A call ready to test: starts parlor and one headless Chromium per name
 * (launched in parallel); the first page creates a room on the start page
 * (a group room when `group`, or when there are more than two names), and
 * the pages join one after the other. chromium: options of launchChromium
 * (besides origin); page: options of newPage. join: how many of the pages
 * join now (the others only open a tab). Returns {url, link, pages}.
 */
export async function startCall(cleanup, names, { group = names.length > 2, chromium = {}, page = {}, join = names.length, server = [] } = {}) {
  const { url } = await startParlor(cleanup, server);
  const browsers = await Promise.all(names.map(() => launchChromium(cleanup, { origin: url, ...chromium })));
  const pages = [];
  for (const [i, browser] of browsers.entries()) pages.push(await newPage(browser, names[i], page));
  await open(pages[0], `${url}/`);
  const link = await createRoom(pages[0], { group });
  await pages[0].click('#enter-room');
  await joinAs(pages[0], names[0]);
  for (let i = 1; i < join; i += 1) {
    await open(pages[i], link);
    await joinAs(pages[i], names[i]);
  }
  return { url, link, pages };
}

/**
 * What each remote tile shows: name, microphone off (and the icon's label
 * and visibility), camera off, speaking, the connection indicator's class.
 */
export function tileStates(page) {
  return page.$$eval('#tiles .tile', (nodes) =>
    nodes.map((tile) => {
      const icon = tile.querySelector('.muted-mic');
      return {
        peer: tile.dataset.peer,
        name: tile.querySelector('.tile-name')?.textContent,
        micOff: tile.classList.contains('mic-off'),
        mutedLabel: icon?.getAttribute('aria-label') ?? null,
        mutedShown: icon ? getComputedStyle(icon).display !== 'none' : false,
        noVideo: tile.classList.contains('no-video'),
        speaking: tile.classList.contains('speaking'),
        presenting: tile.classList.contains('presenting'),
        quality: tile.querySelector('.quality')?.className ?? null,
      };
    }),
  );
}

/** Names on the remote tiles, in order. */
export function tileNames(page) {
  return page.$$eval('#tiles .tile-name', (nodes) => nodes.map((n) => n.textContent));
}

/** What each live RTCPeerConnection sends: per transceiver, direction and track. */
export function senders(page) {
  return page.evaluate(() =>
    window.__parlorTest.pcs
      .filter((pc) => pc.connectionState !== 'closed')
      .map((pc) =>
        pc.getTransceivers().map((t) => ({
          kind: t.receiver.track.kind,
          direction: t.direction,
          track: t.sender.track ? { readyState: t.sender.track.readyState, enabled: t.sender.track.enabled } : null,
        })),
      ),
  );
}

/**
 * What each live RTCPeerConnection receives on its screen transceiver (the
 * second video one, see static/js/peer.js): decoded frames and picture
 * size; and per shown screen (.screen-view), whose it is and its size.
 */
export function screenReport(page) {
  return page.evaluate(async () => {
    const pcs = (window.__parlorTest?.pcs ?? []).filter((pc) => pc.connectionState !== 'closed');
    const peers = [];
    for (const pc of pcs) {
      const videos = pc.getTransceivers().filter((t) => t.receiver.track.kind === 'video');
      const screen = videos[1];
      let framesDecoded = 0;
      let width = 0;
      if (screen) {
        const stats = await pc.getStats();
        stats.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.trackIdentifier === screen.receiver.track.id) {
            framesDecoded = s.framesDecoded ?? 0;
            width = s.frameWidth ?? 0;
          }
        });
      }
      peers.push({
        state: pc.connectionState,
        framesDecoded,
        width,
        sending: screen?.sender.track ? screen.sender.track.readyState : null,
        direction: screen?.direction ?? null,
        currentDirection: screen?.currentDirection ?? null,
      });
    }
    const views = [...document.querySelectorAll('#presentation .screen-view')].map((view) => ({
      peer: view.dataset.peer ?? null,
      own: view.classList.contains('own'),
      label: view.querySelector('figcaption')?.textContent.trim() ?? null,
      width: view.querySelector('video')?.videoWidth ?? 0,
    }));
    const layout = document.getElementById('stage')?.dataset.layout ?? null;
    return { peers, views, layout };
  });
}

/** Waits for the toasts to fade, so screenshots are the same every run. */
export async function waitForQuiet(page) {
  await page.waitForFunction(() => document.querySelectorAll('#toasts .toast').length === 0, { timeout: 15_000 });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Saves a PNG screenshot of the page: in artifacts/screenshots/, or in
 * docs/screenshots/ with UPDATE_SCREENSHOTS=1.
 */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, name);
  await page.screenshot({ path, type: 'png' });
  return path;
}

/** Merges `entry` into artifacts/timings.json. */
export function recordTiming(key, entry) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, 'timings.json');
  let all = {};
  try {
    all = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    // first entry
  }
  all[key] = { ...entry, measuredAt: new Date().toISOString() };
  writeFileSync(path, `${JSON.stringify(all, null, 2)}\n`);
  return path;
}

/** Fails with the page's own errors, if any (uncaught exceptions, console errors). */
export function assertNoPageErrors(...pages) {
  const problems = pages.flatMap((page) => page.problems.map((p) => `${page.label}: ${p}`));
  if (problems.length) throw new Error(`errors in the page:\n${problems.join('\n')}`);
}
