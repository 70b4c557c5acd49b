// (d) A group room with three people, each in their own Chromium: A creates
// a group room through the UI, B and C join. It is a mesh: every page has
// one RTCPeerConnection per other person and decodes video and audio from
// both others. Then C leaves and A and B carry on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

test('three people in a group room all see and hear each other', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);
  const [a, b, c] = await h.launchPages(cleanup, url, ['A', 'B', 'C']);

  await h.open(a, `${url}/`);
  const link = await h.createRoom(a, { group: true });
  assert.match(await h.text(a, '#created-text'), /group room is ready \(up to 6 people\)/);
  await a.click('#enter-room');
  await h.joinAs(a, 'Ada');
  await h.waitForText(a, '#call-status', /Waiting for others to join/);

  await h.joinRoom(b, link, 'Bob');
  await h.joinRoom(c, link, 'Cy');

  await t.test('each decodes the two others', async () => {
    await Promise.all([a, b, c].map((page) => h.waitForMedia(page, 2, 60_000)));
    assert.deepEqual((await h.tileNames(a)).sort(), ['Bob', 'Cy']);
    assert.deepEqual((await h.tileNames(b)).sort(), ['Ada', 'Cy']);
    assert.deepEqual((await h.tileNames(c)).sort(), ['Ada', 'Bob']);
    await h.waitForText(a, '#call-status', /^Connected with (Bob and Cy|Cy and Bob)\.$/);
    await h.waitForText(c, '#call-status', /^Connected with (Ada and Bob|Bob and Ada)\.$/);
    assert.equal(await h.text(a, '#people-number'), '3');
  });

  await t.test('one leaves, the other two carry on', async () => {
    await c.click('#hang-up');
    await h.waitForScreen(c, 'message-screen');
    await h.waitForText(a, '#call-status', /^Connected with Bob\.$/);
    await h.waitForText(b, '#call-status', /^Connected with Ada\.$/);
    assert.deepEqual(await h.tileNames(a), ['Bob']);
    const report = await h.waitForMedia(a, 1);
    await h.waitForMoreFrames(a, report);
    h.assertNoPageErrors(a, b, c);
  });
});
