// UI steps of the end-to-end tests, done the way a person does them: create
// a room on the start page, join as someone, start a whole call; and what
// a run leaves behind: screenshots and timings.

import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, REPO, startParlor } from './processes.mjs';
import { SMALL_CAMERA, launchPages, open } from './browsers.mjs';
import { waitForMedia } from './probes.mjs';

/**
 * Where screenshots go: artifacts/screenshots/ (not committed) unless
 * UPDATE_SCREENSHOTS=1, which writes the committed ones in docs/screenshots/.
 */
export const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
export const SCREENSHOTS = UPDATE_SCREENSHOTS ? join(REPO, 'docs', 'screenshots') : join(ARTIFACTS, 'screenshots');

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
 * The first member: opens the start page at `url`, creates a room (a group
 * room when `group`), enters it and joins as `name`. Returns the link.
 */
export async function hostRoom(page, url, name, { group = false } = {}) {
  await open(page, `${url}/`);
  const link = await createRoom(page, { group });
  await page.click('#enter-room');
  await joinAs(page, name);
  return link;
}

/** Another member: opens the room's link and joins as `name`. */
export async function joinRoom(page, link, name) {
  await open(page, link);
  await joinAs(page, name);
}

/**
 * Lighter media for calls with many browsers on a small machine: Chromium's
 * fake camera at 15 fps, asked for SMALL_CAMERA. Options of startCall.
 */
export const LIGHT_MEDIA = { chromium: { fakeDevices: 'fps=15' }, page: { camera: SMALL_CAMERA } };

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
  const pages = await launchPages(cleanup, url, names, { chromium, page });
  const link = await hostRoom(pages[0], url, names[0], { group });
  for (let i = 1; i < join; i += 1) await joinRoom(pages[i], link, names[i]);
  return { url, link, pages };
}

/**
 * A group call of all `names` but the last, with LIGHT_MEDIA, once its
 * members decode each other; the last has only a blank tab (to join later,
 * with joinRoom). Returns {url, link, pages}.
 */
export async function startCallWithLateJoiner(cleanup, names) {
  const call = await startCall(cleanup, names, { group: true, join: names.length - 1, ...LIGHT_MEDIA });
  const members = call.pages.slice(0, -1);
  await Promise.all(members.map((page) => waitForMedia(page, members.length - 1)));
  return call;
}

/** Waits for the toasts to fade, so screenshots are the same every run. */
export async function waitForQuiet(page) {
  await page.waitForFunction(() => document.querySelectorAll('#toasts .toast').length === 0, { timeout: 15_000 });
}

/* ------------------------------------------------------------ output */

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
