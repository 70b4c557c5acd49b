// Browsers for the end-to-end tests: headless Chromium or Firefox ESR, each
// its own process and profile, with fake camera, microphone and screen; and
// new pages with the preloads the tests read through (the recorder of
// RTCPeerConnections, WebSockets and captures; a denied or smaller camera;
// relay-only ICE).
//
// The page's RTCPeerConnections are reached without any hook in the product:
// a preload script (evaluateOnNewDocument) wraps window.RTCPeerConnection and
// records every instance in window.__parlorTest.pcs.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
import { WAIT_MS, withTimeout } from './processes.mjs';

const CHROMIUM_BIN = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const FIREFOX_BIN = process.env.FIREFOX_BIN ?? '/usr/bin/firefox-esr';

export const VIEWPORT = { width: 1280, height: 800 };
/**
 * A phone-sized viewport (an iPhone 14's CSS pixels). Not isMobile: changing
 * that on a page reloads it, which would end the call.
 */
export const PHONE_VIEWPORT = { width: 390, height: 844, deviceScaleFactor: 2 };
/** A small camera picture for tests with many browsers (see newPage's camera). */
export const SMALL_CAMERA = { width: 424, height: 240, frameRate: 15 };

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
 * args: more command-line flags, e.g. '--ignore-certificate-errors'.
 * acceptInsecureCerts: trust any certificate (a self-signed server).
 */
export async function launchChromium(cleanup, { media = 'fake', origin, fakeDevices = '', args: extra = [], acceptInsecureCerts = false } = {}) {
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
  args.push(...extra);
  const browser = await puppeteer.launch({
    browser: 'chrome',
    executablePath: CHROMIUM_BIN,
    headless: true,
    userDataDir: profileDir(cleanup, 'chromium'),
    args,
    defaultViewport: VIEWPORT,
    protocolTimeout: 60_000,
    timeout: 30_000,
    acceptInsecureCerts,
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

/**
 * Headless Firefox ESR over WebDriver BiDi, fake devices, its own profile.
 * acceptInsecureCerts: trust any certificate (a self-signed server).
 */
export async function launchFirefox(cleanup, { acceptInsecureCerts = false } = {}) {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_BIN,
    headless: true,
    userDataDir: profileDir(cleanup, 'firefox'),
    defaultViewport: VIEWPORT,
    protocolTimeout: 60_000,
    timeout: 60_000,
    acceptInsecureCerts,
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
 * getDisplayMedia returns (.displayTracks). It changes no behaviour of the
 * page, and polls nothing (the time to the first remote frame is measured
 * by tests/e2e/bench/first-frame.mjs, not here).
 */
function recordPeerConnections() {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__parlorTest) return;
  const test = { pcs: [], gumCalls: 0 };
  window.__parlorTest = test;
  window.RTCPeerConnection = new Proxy(Native, {
    construct(target, args, newTarget) {
      const pc = Reflect.construct(target, args, newTarget);
      test.pcs.push(pc);
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

/**
 * Preload: every RTCPeerConnection the page makes uses only relay
 * candidates, whatever configuration the app passes (also through
 * setConfiguration). With {transport: 'tcp'}, only the TURN URLs with
 * `?transport=tcp` are kept, so the browser reaches TURN over TCP; with
 * {scheme: 'turns'}, only the `turns:` URLs (TURN over TLS).
 * Register it after newPage's recorder.
 */
export function forceRelayPolicy({ transport, scheme } = {}) {
  const Current = window.RTCPeerConnection;
  if (!Current || window.__relayOnly) return;
  window.__relayOnly = true;
  const kept = (url) =>
    url.startsWith(`${scheme ?? 'turn'}:`) && (!transport || url.endsWith(`?transport=${transport}`));
  const only = (servers) =>
    (servers ?? [])
      .map((server) => ({ ...server, urls: [server.urls].flat().filter(kept) }))
      .filter((server) => server.urls.length > 0);
  const relay = (config) => ({
    ...(config ?? {}),
    ...(transport || scheme ? { iceServers: only(config?.iceServers) } : {}),
    iceTransportPolicy: 'relay',
  });
  window.RTCPeerConnection = new Proxy(Current, {
    construct(target, args, newTarget) {
      const [config, ...rest] = args;
      return Reflect.construct(target, [relay(config), ...rest], newTarget);
    },
  });
  const setConfiguration = Current.prototype.setConfiguration;
  Current.prototype.setConfiguration = function (config) {
    return setConfiguration.call(this, relay(config));
  };
}

/**
 * One headless Chromium per label (launched in parallel, permissions
 * granted for `url`), each with one new page so labelled. chromium: options
 * of launchChromium (besides origin); page: options of newPage. Resolves to
 * the pages, in the labels' order.
 */
export async function launchPages(cleanup, url, labels, { chromium = {}, page = {} } = {}) {
  const browsers = await Promise.all(labels.map(() => launchChromium(cleanup, { origin: url, ...chromium })));
  const pages = [];
  for (const [i, browser] of browsers.entries()) pages.push(await newPage(browser, labels[i], page));
  return pages;
}
