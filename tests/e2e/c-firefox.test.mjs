// (c) Chromium and Firefox ESR in one call. A (Chromium) creates the room;
// F (Firefox, over WebDriver BiDi) joins and so makes the offer. Both decode
// each other. Then A leaves and rejoins, so that Chromium offers and Firefox
// answers: both negotiation roles are covered for each browser. Then, across
// the two browsers: Chromium's screen share (shown large), Firefox's mute
// and chat.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

test('Chromium and Firefox ESR call each other', { timeout: 240_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);
  const [chromium, firefox] = await Promise.all([h.launchChromium(cleanup, { origin: url }), h.launchFirefox(cleanup)]);
  const a = await h.newPage(chromium, 'A-chromium');
  const f = await h.newPage(firefox, 'F-firefox');

  const link = await h.hostRoom(a, url, 'Ada');

  await t.test('Firefox joins (offers); both decode video and hear each other', async (t) => {
    await h.joinRoom(f, link, 'Fox');
    await Promise.all([h.waitForMedia(a, 1, 60_000), h.waitForMedia(f, 1, 60_000)]);
    assert.deepEqual(await h.tileNames(a), ['Fox']);
    assert.deepEqual(await h.tileNames(f), ['Ada']);
    await h.waitForText(f, '#call-status', /^Connected with Ada\.$/);
    // Sound both ways, not only packets: Chromium's fake microphone beeps,
    // Firefox's plays a steady tone.
    const [heardByA, heardByF] = await Promise.all([h.waitForSound(a), h.waitForSound(f)]);
    t.diagnostic(`audio energy: A hears ${JSON.stringify(heardByA)}, F hears ${JSON.stringify(heardByF)}`);
  });

  await t.test('Chromium rejoins (offers, Firefox answers); both decode again', async () => {
    await a.click('#hang-up');
    await h.waitForScreen(a, 'message-screen');
    await h.waitForText(f, '#call-status', /Ada left the call/);
    // Rejoin is one click: the same name and devices, no pre-join.
    await Promise.all([a.waitForNavigation({ waitUntil: 'domcontentloaded' }), a.click('#message-actions button')]);
    await h.waitForScreen(a, 'call-screen');
    await Promise.all([h.waitForMedia(a, 1, 60_000), h.waitForMedia(f, 1, 60_000)]);
    await h.waitForText(a, '#call-status', /^Connected with Fox\.$/);
    await h.waitForText(f, '#call-status', /^Connected with Ada\.$/);
  });

  await t.test('across browsers: a screen share, mute state and chat', async () => {
    // Chromium shares (its fake screen); Firefox decodes it, shown large.
    await a.click('#toggle-share');
    const shown = await h.until(
      async () => {
        const r = await h.screenReport(f);
        return r.layout === 'present' && r.views.length === 1 && r.views[0].width > 0 && r.peers[0].framesDecoded > 0 ? r : null;
      },
      { timeout: 30_000, what: 'F: Ada\'s screen decoding' },
    );
    assert.equal(shown.views[0].label, 'Ada’s screen');
    // Shown large: the screen's box is several times the size of Ada's tile.
    const sizes = await f.evaluate(() => {
      const box = (selector) => {
        const r = document.querySelector(selector).getBoundingClientRect();
        return { width: r.width, height: r.height };
      };
      return { screen: box('#presentation .screen-view'), tile: box('#tiles .tile') };
    });
    assert.ok(
      sizes.screen.width > 2.5 * sizes.tile.width && sizes.screen.height > sizes.tile.height,
      `F shows the screen larger than the tile: ${JSON.stringify(sizes)}`,
    );
    await a.click('#toggle-share');
    await h.until(async () => (await h.screenReport(f)).views.length === 0, { timeout: 10_000, what: 'F: share over' });
    // Firefox mutes; Chromium shows it.
    await f.click('#toggle-mic');
    await a.waitForSelector('#tiles .tile.mic-off', { timeout: 10_000 });
    await f.click('#toggle-mic');
    // Firefox writes; Chromium reads, with the name.
    await f.click('#toggle-chat');
    await f.waitForSelector('#chat-panel:not([hidden])');
    await f.type('#chat-input', 'Hello from Firefox');
    await f.keyboard.press('Enter');
    await a.click('#toggle-chat');
    const message = await h.until(
      () => a.$eval('#chat-log', (log) => log.querySelector('.msg:last-child')?.innerText ?? null),
      { timeout: 10_000, what: 'A: the message from Fox' },
    );
    assert.match(message, /^Fox\s+\d{1,2}:\d{2}.*\n+Hello from Firefox$/s);
    h.assertNoPageErrors(a, f);
  });
});
