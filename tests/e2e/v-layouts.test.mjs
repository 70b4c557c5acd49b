// (v) Layouts, in a group call of three Chromium (and one with Firefox):
// grid and speaker view, pinning a person, hiding your own picture, a tile
// and the whole call full screen, picture-in-picture, on a desktop and a
// phone, with axe-core finding nothing on each view; and "You are muted"
// when the (beeping) fake microphone is heard while muted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

/** The stage as the person sees it: the layout, and each tile's box. */
function stageView(page) {
  return page.evaluate(() => {
    const box = (node) => {
      const r = node.getBoundingClientRect();
      return { width: Math.round(r.width), height: Math.round(r.height) };
    };
    const stage = document.getElementById('stage');
    const self = document.getElementById('self');
    return {
      layout: stage.dataset.layout,
      focus: document.querySelector('#tiles .tile.focus .tile-name')?.textContent ?? null,
      tiles: [...document.querySelectorAll('#tiles .tile')].map((tile) => ({
        name: tile.querySelector('.tile-name').textContent,
        focus: tile.classList.contains('focus'),
        ...box(tile),
      })),
      self: getComputedStyle(self).display === 'none' ? null : box(self),
    };
  });
}

/** Clicks the pin button on `name`'s tile. */
async function clickPin(page, name) {
  await page.evaluate((who) => {
    const tile = [...document.querySelectorAll('#tiles .tile')].find((t) => t.querySelector('.tile-name').textContent === who);
    tile.querySelector('.pin').click();
  }, name);
}

const pressed = (page, id) => page.$eval(`#${id}`, (b) => b.getAttribute('aria-pressed'));

test('layouts in Chromium: speaker view, pin, self view, full screen, picture-in-picture', { timeout: 150_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { pages, link } = await h.startCall(cleanup, ['A', 'B', 'C'], { group: true, join: 2, ...h.LIGHT_MEDIA });
  const [a, b, c] = pages;
  // C is on a phone (set before the page loads: the emulation reloads it).
  await c.setViewport({ ...h.PHONE_VIEWPORT, isMobile: true, hasTouch: true });
  await h.joinRoom(c, link, 'C');
  await Promise.all(pages.map((page) => h.waitForMedia(page, 2)));
  await h.until(async () => (await h.tileNames(a)).length === 2, { what: 'A: two tiles' });
  const [bobName] = (await h.tileNames(a)).filter((n) => n !== 'A');

  await t.test('grid, then speaker view: one person large, the others in a strip', async () => {
    assert.equal((await stageView(a)).layout, 'grid');
    await a.click('#toggle-layout');
    assert.equal(await pressed(a, 'toggle-layout'), 'true');
    const view = await h.until(async () => {
      const v = await stageView(a);
      return v.layout === 'speaker' && v.focus ? v : null;
    }, { what: 'A: speaker view' });
    const big = view.tiles.find((tile) => tile.focus);
    const small = view.tiles.find((tile) => !tile.focus);
    assert.ok(big.width > 2.5 * small.width && big.height > small.height, `large and small: ${JSON.stringify(view)}`);
    assert.ok(view.self && view.self.width < big.width / 2, 'you are in the strip');
    await h.assertAccessible(a, 'speaker view');
    await h.waitForQuiet(a);
    await h.screenshot(a, 'layout-speaker.png');
  });

  await t.test('pin: that person stays large, in grid view too, until unpinned', async () => {
    await a.click('#toggle-layout'); // back to the grid
    assert.equal(await pressed(a, 'toggle-layout'), 'false');
    await clickPin(a, bobName);
    let view = await stageView(a);
    assert.equal(view.layout, 'speaker');
    assert.equal(view.focus, bobName);
    assert.equal(await a.$eval('#tiles .tile.pinned .pin', (p) => p.getAttribute('aria-label')), `Unpin ${bobName}`);
    await h.assertAccessible(a, 'someone pinned');
    await clickPin(a, bobName);
    view = await stageView(a);
    assert.equal(view.layout, 'grid');
    assert.equal(await a.$$eval('#tiles .tile.pinned', (n) => n.length), 0);
  });

  await t.test('hide self view, and show it again; the others still see you', async () => {
    await a.click('#toggle-self-view');
    assert.equal(await pressed(a, 'toggle-self-view'), 'true');
    let view = await stageView(a);
    assert.equal(view.self, null, 'your tile is gone');
    // The two others share the grid.
    assert.ok(view.tiles.every((tile) => tile.width > 300), JSON.stringify(view));
    const before = await h.mediaReport(b);
    await h.waitForMoreFrames(b, before);
    await a.click('#toggle-self-view');
    view = await stageView(a);
    assert.ok(view.self && view.self.width > 100, 'your tile is back');
  });

  await t.test('full screen: one person, then the whole call', async () => {
    await a.hover('#tiles .tile');
    await a.click('#tiles .tile .tile-btn[aria-label^="Show"]');
    await a.waitForFunction(() => document.fullscreenElement?.classList.contains('tile'));
    await a.evaluate(() => document.exitFullscreen());
    await a.waitForFunction(() => !document.fullscreenElement);
    await a.click('#toggle-fullscreen');
    await a.waitForFunction(() => document.fullscreenElement === document.documentElement);
    assert.equal(await pressed(a, 'toggle-fullscreen'), 'true');
    await a.click('#toggle-fullscreen');
    await a.waitForFunction(() => !document.fullscreenElement);
    assert.equal(await pressed(a, 'toggle-fullscreen'), 'false');
  });

  await t.test('picture-in-picture of the person in focus', async (t) => {
    const support = await a.evaluate(() => ({
      documentPip: 'documentPictureInPicture' in window,
      videoPip: Boolean(document.pictureInPictureEnabled),
    }));
    t.diagnostic(`picture-in-picture in headless Chromium: ${JSON.stringify(support)}`);
    if (!support.documentPip && !support.videoPip) return;
    await a.click('#toggle-pip');
    const opened = await a
      .waitForFunction(() => document.getElementById('toggle-pip').getAttribute('aria-pressed') === 'true', { timeout: 5_000 })
      .then(() => true, () => false);
    t.diagnostic(`the window opened on a click: ${opened}`);
    if (!opened) return;
    const shown = await a.evaluate(() => {
      const video = window.documentPictureInPicture?.window?.document.querySelector('video') ?? document.pictureInPictureElement;
      return { stream: Boolean(video?.srcObject), name: window.documentPictureInPicture?.window?.document.querySelector('p')?.textContent ?? null };
    });
    assert.ok(shown.stream, 'the window shows a picture');
    await a.click('#toggle-pip');
    await a.waitForFunction(() => document.getElementById('toggle-pip').getAttribute('aria-pressed') === 'false');
    // In the background (another tab in front): the browser may refuse a
    // window that no click asked for; the page must not break either way.
    const other = await a.browser().newPage();
    await other.bringToFront();
    const hidden = await a.waitForFunction(() => document.visibilityState === 'hidden', { timeout: 5_000 }).then(() => true, () => false);
    const auto = await a.$eval('#toggle-pip', (n) => n.getAttribute('aria-pressed'));
    t.diagnostic(`tab hidden by another tab in front: ${hidden}; picture-in-picture opened by itself: ${auto === 'true'}`);
    await a.bringToFront();
    await other.close();
    h.assertNoPageErrors(a);
  });

  await t.test('"You are muted" when you speak while muted, once', async () => {
    await a.click('#toggle-mic');
    await a.waitForFunction(() => [...document.querySelectorAll('#toasts .toast')].some((n) => /You are muted/.test(n.textContent)), { timeout: 20_000 });
    assert.equal(await a.$$eval('#toasts .muted-hint', (n) => n.length), 1);
    await a.click('#toggle-mic');
  });

  await t.test('on a phone: speaker view with the strip below', async () => {
    await c.click('#toggle-layout');
    const view = await h.until(async () => {
      const v = await stageView(c);
      return v.layout === 'speaker' && v.focus ? v : null;
    }, { what: 'C: speaker view on a phone' });
    const big = view.tiles.find((tile) => tile.focus);
    const small = view.tiles.find((tile) => !tile.focus);
    // Full width, in the picture's shape (landscape: no bars above and below).
    assert.ok(big.width > 300 && big.width > 1.8 * small.width && big.width > big.height, JSON.stringify(view));
    assert.equal(await c.$eval('#stage', (s) => s.dataset.orient), 'tall');
    await h.assertAccessible(c, 'speaker view on a phone');
    await h.waitForQuiet(c);
    await h.screenshot(c, 'layout-speaker-phone.png');
    await c.click('#toggle-layout');
    await h.waitForQuiet(c);
    await h.screenshot(c, 'layout-grid-phone.png');
  });
  h.assertNoPageErrors(a, b, c);
});

test('layouts in Firefox ESR: speaker view, pin, self view', { timeout: 150_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);
  const [chromium, firefox] = await Promise.all([h.launchChromium(cleanup, { origin: url, fakeDevices: 'fps=15' }), h.launchFirefox(cleanup)]);
  const a = await h.newPage(chromium, 'A', { camera: h.SMALL_CAMERA });
  const b = await h.newPage(await h.launchChromium(cleanup, { origin: url, fakeDevices: 'fps=15' }), 'B', { camera: h.SMALL_CAMERA });
  const f = await h.newPage(firefox, 'F-firefox');
  const link = await h.hostRoom(a, url, 'Ada', { group: true });
  await h.joinRoom(b, link, 'Bob');
  await h.joinRoom(f, link, 'Fox');
  await h.waitForMedia(f, 2, 60_000);

  await f.click('#toggle-layout');
  const view = await h.until(async () => {
    const v = await stageView(f);
    return v.layout === 'speaker' && v.focus ? v : null;
  }, { what: 'F: speaker view' });
  const big = view.tiles.find((tile) => tile.focus);
  const small = view.tiles.find((tile) => !tile.focus);
  assert.ok(big.width > 2.5 * small.width, JSON.stringify(view));
  await clickPin(f, 'Bob');
  assert.equal((await stageView(f)).focus, 'Bob');
  await f.click('#toggle-self-view');
  assert.equal((await stageView(f)).self, null);
  await h.assertAccessible(f, 'Firefox: speaker view, Bob pinned, self view hidden');
  await f.click('#toggle-self-view');
  await clickPin(f, 'Bob');
  await f.click('#toggle-layout');
  assert.equal((await stageView(f)).layout, 'grid');
  h.assertNoPageErrors(a, b, f);
});
