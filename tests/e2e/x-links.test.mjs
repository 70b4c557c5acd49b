// (x) The room's link, a one-to-one call on a phone, leaving and rejoining:
// - the link on the start page (a phone) and the waiting card is shown
//   whole (it wraps, nothing cut off); Share opens the system share sheet
//   where the browser has one (Linux Chromium has none: a preload stands
//   in for navigator.share and records what it is given);
// - on a phone, the other person's landscape picture and your own preview
//   fill tiles of their own shape (no bars: the tile's shape is the
//   picture's, the picture is not shown "contain");
// - Leave asks nothing; "Rejoin" on the "You left" page is one click back
//   into the call, with the same name.
// axe-core finds nothing on these screens.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

/** Preload: a share sheet that records what it is asked to share. */
function fakeShareSheet() {
  window.__shared = [];
  navigator.share = async (data) => {
    window.__shared.push(data);
  };
  navigator.canShare = (data) => Boolean(data?.url);
}

/** Whether the link field shows all of its text (nothing scrolled away). */
function linkShownWhole(page, selector) {
  return page.$eval(selector, (field) => ({
    value: field.value,
    whole: field.scrollHeight <= field.clientHeight + 1 && field.scrollWidth <= field.clientWidth + 1,
    height: field.clientHeight,
  }));
}

/** A tile's box and its picture's shape. */
function tileShape(page, selector) {
  return page.$eval(selector, (tile) => {
    const video = tile.querySelector('video');
    const r = tile.getBoundingClientRect();
    return {
      tile: r.width / r.height,
      picture: video.videoWidth / video.videoHeight,
      contain: tile.classList.contains('contain'),
      width: Math.round(r.width),
      height: Math.round(r.height),
    };
  });
}

test('the room link, a call on a phone, leave and rejoin', { timeout: 120_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);
  const [a, b] = await h.launchPages(cleanup, url, ['A', 'B']);
  await b.evaluateOnNewDocument(fakeShareSheet);
  await b.setViewport({ ...h.PHONE_VIEWPORT, isMobile: true, hasTouch: true });
  let link;

  await t.test('the link, whole, on a phone; Share where there is a share sheet', async () => {
    await h.open(b, url);
    link = await h.createRoom(b);
    const shown = await linkShownWhole(b, '#room-link');
    assert.equal(shown.value, link);
    assert.ok(shown.whole && shown.height < 100, `the whole link is in view, in a few lines: ${JSON.stringify(shown)}`);
    await b.waitForSelector('#share-link:not([hidden])');
    await b.click('#share-link');
    const shared = await b.evaluate(() => window.__shared);
    assert.equal(shared.length, 1);
    assert.equal(shared[0].url, link);
    await h.assertAccessible(b, 'start page with a new room, on a phone');
    await h.screenshot(b, 'link-phone.png');
  });

  await t.test('the waiting card shows the link whole; no Share without a share sheet', async () => {
    await h.open(a, link);
    await h.joinAs(a, 'Ada');
    await a.waitForSelector('#waiting:not([hidden])');
    const shown = await linkShownWhole(a, '#call-link');
    assert.equal(shown.value, link);
    assert.ok(shown.whole && shown.height < 100, JSON.stringify(shown));
    assert.equal(await a.$eval('#call-share', (n) => n.hidden), true);
    await h.assertAccessible(a, 'waiting, with the link');
    await h.waitForQuiet(a);
    await h.screenshot(a, 'link-waiting.png');
  });

  await t.test('on a phone, pictures fill tiles of their own shape', async () => {
    await h.joinRoom(b, link, 'Bob');
    await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);
    const other = await h.until(async () => {
      const s = await tileShape(b, '#tiles .tile');
      return s.picture > 0 && Math.abs(s.tile / s.picture - 1) < 0.06 ? s : null;
    }, { what: 'B: the tile takes the picture’s shape' });
    assert.ok(other.picture > 1, `a landscape picture: ${JSON.stringify(other)}`);
    assert.equal(other.contain, false, 'no bars');
    assert.ok(other.width > 350, 'the width of the phone');
    const self = await h.until(async () => {
      const s = await tileShape(b, '#self');
      return s.picture > 0 && Math.abs(s.tile / s.picture - 1) < 0.06 ? s : null;
    }, { what: 'B: your preview in its own shape' });
    assert.equal(self.contain, false);
    await h.assertAccessible(b, 'one-to-one on a phone');
    await h.waitForQuiet(b);
    await h.screenshot(b, 'pair-phone.png');
  });

  await t.test('Leave asks nothing; Rejoin is one click back into the call', async () => {
    let asked = false;
    b.on('dialog', async (dialog) => {
      asked = true;
      await dialog.dismiss();
    });
    await b.click('#hang-up');
    await h.waitForScreen(b, 'message-screen');
    assert.equal(asked, false, 'no confirmation');
    assert.equal(await h.text(b, '#message-actions button'), 'Rejoin');
    await Promise.all([b.waitForNavigation({ waitUntil: 'domcontentloaded' }), b.click('#message-actions button')]);
    await h.waitForScreen(b, 'call-screen');
    await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);
    await h.until(async () => (await h.tileNames(a)).join() === 'Bob', { what: 'A: Bob is back' });
  });
  h.assertNoPageErrors(a, b);
});
