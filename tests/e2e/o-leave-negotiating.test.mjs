// (o) A member leaves in the middle of a negotiation. A and B are in a
// group call; B's page holds every offer it receives (a preload gate on its
// WebSocket, lib/paths.mjs; no hook in the product), so when C joins, C's
// offer to B stays unanswered: C's connection to B sits in
// 'have-local-offer'. Then B's tab closes, as a person closing it does.
// The server tells A and C that B left: both drop B's tile and peer
// connection, keep their call with each other (same connection, frames
// still rising), and no page logs an error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';
import * as p from './lib/paths.mjs';

test('a member who leaves while an offer to it is outstanding', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);
  const [a, b, c] = await h.launchPages(cleanup, url, ['A', 'B', 'C'], h.LIGHT_MEDIA);
  for (const page of [a, b, c]) await page.evaluateOnNewDocument(p.signalGate);
  const link = await h.hostRoom(a, url, 'Ada', { group: true });
  await h.joinRoom(b, link, 'Bob');
  await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);

  await p.setGate(b, { holdIn: true });
  await h.joinRoom(c, link, 'Cy');
  // C has two connections: the one to A answered and carrying media, the
  // one to B with its offer held at B.
  await h.until(
    async () => {
      const report = await h.mediaReport(c);
      const states = await c.evaluate(() => window.__parlorTest.pcs.map((pc) => pc.signalingState));
      const held = await p.gateHeld(b);
      return states.length === 2 && states.includes('have-local-offer') && held.in >= 1 &&
        report.peers.some((peer) => peer.framesDecoded > 0)
        ? { states, held }
        : null;
    },
    { timeout: 45_000, what: 'C: media from A and an offer to B outstanding' },
  );
  await h.waitForMedia(a, 2); // A decodes B and C
  const pcsBefore = { A: await p.pcCount(a), C: await p.pcCount(c) };
  assert.equal(await c.evaluate(() => window.__parlorTest.pcs.filter((pc) => pc.signalingState === 'have-local-offer').length), 1);

  await b.close();

  for (const [page, otherName] of [[a, 'Cy'], [c, 'Ada']]) {
    await h.until(async () => (await h.tileNames(page)).join() === otherName, {
      timeout: 30_000,
      what: `${page.label}: only ${otherName}'s tile left`,
    });
    const report = await h.waitForMedia(page, 1);
    assert.equal(report.peers.length, 1, `${page.label}: one live peer connection`);
    assert.equal(await p.pcCount(page), pcsBefore[page.label], `${page.label}: no new peer connection`);
    assert.equal(await h.screen(page), 'call-screen');
  }
  // C's connection to B is closed; its connection to A is the one it had.
  const cStates = await c.evaluate(() => window.__parlorTest.pcs.map((pc) => [pc.connectionState, pc.signalingState]));
  t.diagnostic(`C's peer connections: ${JSON.stringify(cStates)}`);
  assert.deepEqual(cStates.map(([s]) => s).sort(), ['closed', 'connected']);
  // A's connection to C keeps carrying media; so does C's to A.
  await h.waitForMoreFrames(a, await h.mediaReport(a));
  await h.waitForMoreFrames(c, await h.mediaReport(c));
  await h.waitForText(a, '#call-status', /Cy/);
  h.assertNoPageErrors(a, c);
});
