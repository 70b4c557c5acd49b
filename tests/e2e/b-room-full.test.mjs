// (b) A third person and a full one-to-one room. C opens the link while A is
// alone (pre-join shows), B joins first, then C clicks Join: the server
// refuses (room-full) and C sees "This room is full". C tries again: the
// pre-join check now says so before asking for camera or microphone. A and
// B's call is untouched: still decoding, no new connection, no join or leave.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

test('a third person gets "room is full"; the call stays up', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);
  const [a, b, c] = await h.launchPages(cleanup, url, ['A', 'B', 'C']);
  const link = await h.hostRoom(a, url, 'Ada');

  // C arrives while there is still room, and lingers on the pre-join screen.
  await h.open(c, link);
  await c.waitForSelector('#prejoin-screen:not([hidden])');
  await c.waitForSelector('#pre-cam:not([disabled])');

  await h.joinRoom(b, link, 'Bob');
  await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);
  const before = await Promise.all([a, b].map((page) => page.evaluate(() => ({
    pcs: window.__parlorTest.pcs.length,
    received: window.__parlorTest.received.length,
  }))));
  const media = await Promise.all([h.mediaReport(a), h.mediaReport(b)]);

  await t.test('joining the full room is refused with a clear message', async () => {
    await c.type('#name', 'Cy');
    await c.click('#join');
    await h.waitForScreen(c, 'message-screen');
    assert.equal(await h.text(c, '#message-title'), 'This room is full');
    assert.match(await h.text(c, '#message-text'), /two people are already in it/);
    const received = await c.evaluate(() => window.__parlorTest.received);
    assert.ok(received.includes('error'), `C got an error from the server: ${received}`);
    assert.ok(!received.includes('welcome'));
    const live = await c.evaluate(() => window.__parlorTest.pcs.length);
    assert.equal(live, 0, 'C made no peer connection');
  });

  await t.test('trying again: the pre-join check says full before asking for devices', async () => {
    // Mark the refused page, so the check below cannot read it by mistake:
    // "Try again" loads the page anew.
    await c.evaluate(() => {
      window.__refusedPage = true;
    });
    await Promise.all([c.waitForNavigation({ waitUntil: 'domcontentloaded' }), c.click('#message-actions button')]);
    await h.waitForScreen(c, 'message-screen');
    assert.equal(await c.evaluate(() => window.__refusedPage ?? false), false, 'a new page, not the refused one');
    assert.equal(await h.text(c, '#message-title'), 'This room is full');
    const gumCalls = await c.evaluate(() => window.__parlorTest.gumCalls);
    assert.equal(gumCalls, 0, 'no camera or microphone asked for');
    assert.equal(await c.evaluate(() => window.__parlorTest.sockets.length), 0, 'no WebSocket opened');
    assert.equal(await c.evaluate(() => document.title), 'This room is full · Parlor');
  });

  await t.test('A and B are not disturbed', async () => {
    await Promise.all([h.waitForMoreFrames(a, media[0]), h.waitForMoreFrames(b, media[1])]);
    for (const [i, page] of [a, b].entries()) {
      const now = await page.evaluate(() => ({
        pcs: window.__parlorTest.pcs.length,
        received: window.__parlorTest.received.slice(),
      }));
      assert.equal(now.pcs, before[i].pcs, `${page.label} made no new peer connection`);
      const since = now.received.slice(before[i].received);
      assert.ok(
        !since.includes('peer-joined') && !since.includes('peer-left'),
        `${page.label} saw no join or leave: ${since}`,
      );
    }
    assert.deepEqual(await h.tileNames(a), ['Bob']);
    assert.deepEqual(await h.tileNames(b), ['Ada']);
    assert.equal(await h.text(a, '#call-status'), 'Connected with Bob.');
    assert.equal(await h.text(b, '#call-status'), 'Connected with Ada.');
    h.assertNoPageErrors(a, b);
  });
});
