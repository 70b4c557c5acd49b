// (c) Chromium and Firefox ESR in one call. A (Chromium) creates the room;
// F (Firefox, over WebDriver BiDi) joins and so makes the offer. Both decode
// each other. Then A leaves and rejoins, so that Chromium offers and Firefox
// answers: both negotiation roles are covered for each browser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

test('Chromium and Firefox ESR call each other', { timeout: 240_000 }, async (t) => {
  const cleanup = new h.Cleanup();
  t.after(() => cleanup.run());
  const { url } = await h.startParlor(cleanup);
  const [chromium, firefox] = await Promise.all([h.launchChromium(cleanup, { origin: url }), h.launchFirefox(cleanup)]);
  const a = await h.newPage(chromium, 'A-chromium');
  const f = await h.newPage(firefox, 'F-firefox');

  await h.open(a, `${url}/`);
  const link = await h.createRoom(a);
  await a.click('#enter-room');
  await h.joinAs(a, 'Ada');

  await t.test('Firefox joins (offers); both decode video and audio', async () => {
    await h.open(f, link);
    await h.joinAs(f, 'Fox');
    await Promise.all([h.waitForMedia(a, 1, 60_000), h.waitForMedia(f, 1, 60_000)]);
    assert.deepEqual(await h.tileNames(a), ['Fox']);
    assert.deepEqual(await h.tileNames(f), ['Ada']);
    await h.waitForText(f, '#call-status', /^Connected with Ada\.$/);
    const times = await f.evaluate(() => ({
      firstFrameAt: window.__parlorTest.firstFrameAt,
      joinClickAt: window.__parlorTest.joinClickAt,
    }));
    const entry = {
      browser: 'firefox',
      pageLoadToFirstRemoteFrameMs: Math.round(times.firstFrameAt),
      joinClickToFirstRemoteFrameMs: Math.round(times.firstFrameAt - times.joinClickAt),
    };
    h.recordTiming('firefox-joins-chromium', entry);
    console.log(
      `TIMING (Firefox) page load -> first remote frame: ${entry.pageLoadToFirstRemoteFrameMs} ms ` +
        `(join click -> first frame: ${entry.joinClickToFirstRemoteFrameMs} ms)`,
    );
  });

  await t.test('Chromium rejoins (offers, Firefox answers); both decode again', async () => {
    await a.click('#hang-up');
    await h.waitForScreen(a, 'message-screen');
    await h.waitForText(f, '#call-status', /Ada left the call/);
    await Promise.all([a.waitForNavigation({ waitUntil: 'domcontentloaded' }), a.click('#message-actions button')]);
    await h.joinAs(a, 'Ada');
    await Promise.all([h.waitForMedia(a, 1, 60_000), h.waitForMedia(f, 1, 60_000)]);
    await h.waitForText(a, '#call-status', /^Connected with Fox\.$/);
    await h.waitForText(f, '#call-status', /^Connected with Ada\.$/);
    h.assertNoPageErrors(a, f);
  });
});
