// (n) The media path breaks and comes back: ICE restarts by itself. Two
// Chromium pages in a relay-only call through Parlor's own TURN server,
// whose UDP port they reach through a proxy the test holds (a preload
// rewrites the TURN URL of the welcome to it; no hook in the product).
// The proxy black-holes every datagram both ways, as a network that goes
// dark does, while the WebSocket (TCP, another path) stays up, so the
// pages can negotiate. Then:
//  - the pictures freeze and ICE leaves 'connected' (disconnected or failed);
//  - a page restarts ICE by itself (static/js/call/peer.js: on 'failed',
//    or on 'disconnected' that lasts 5 s): its local ufrag changes;
//  - the path comes back; the call recovers with the same peer connections
//    (nobody rejoins, no new RTCPeerConnection), new ufrags on both sides,
//    still relay to relay, and frames rise again. (Chromium may keep its
//    TURN allocation across the restart: one page kept its relayed port,
//    the other got a new one, so the port is not asserted.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';
import * as p from './lib/paths.mjs';

test('a relayed call whose media path breaks restarts ICE and recovers', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const server = await h.startParlor(cleanup, ['--turn-allowed-peers', '127.0.0.0/8']);
  const proxy = await p.startUdpProxy(cleanup, server.turn);
  const [a, b] = await h.launchPages(cleanup, server.url, ['A', 'B']);
  for (const page of [a, b]) {
    await page.evaluateOnNewDocument(h.forceRelayPolicy);
    await page.evaluateOnNewDocument(p.turnThroughPort, proxy.port);
  }
  const link = await h.hostRoom(a, server.url, 'Ada');
  await h.joinRoom(b, link, 'Bob');
  await Promise.all([h.waitForMedia(a, 1, 60_000), h.waitForMedia(b, 1, 60_000)]);

  const before = {};
  for (const page of [a, b]) {
    const [facts] = await h.until(
      async () => {
        const all = await p.iceFacts(page);
        return all.length === 1 && all[0].local?.type === 'relay' ? all : null;
      },
      { what: `${page.label}: a relay pair` },
    );
    before[page.label] = facts;
    await p.logIceStates(page);
  }
  const pcs = { A: await p.pcCount(a), B: await p.pcCount(b) };

  await t.test('the path goes dark: video freezes, ICE leaves connected, a page restarts ICE', async () => {
    proxy.block(true);
    await Promise.all([p.waitForFrozenVideo(a, h.mediaReport), p.waitForFrozenVideo(b, h.mediaReport)]);
    // Both notice; at least one restarts ICE (a new local ufrag) while dark.
    await h.until(
      async () => {
        const logs = [await p.iceStates(a), await p.iceStates(b)];
        const left = logs.every(([states]) => states.some((s) => s === 'disconnected' || s === 'failed'));
        const facts = [...(await p.iceFacts(a)), ...(await p.iceFacts(b))];
        const restarted = facts.some((f, i) => f.localUfrag !== Object.values(before)[i].localUfrag);
        return left && restarted;
      },
      { timeout: 60_000, interval: 250, what: 'ICE to leave connected on both pages and restart on one' },
    );
    assert.ok(proxy.dropped() > 0, 'the proxy dropped datagrams');
  });

  await t.test('the path comes back: the same peer connections recover with new ICE credentials', async () => {
    const frozen = { A: await h.mediaReport(a), B: await h.mediaReport(b) };
    proxy.block(false);
    for (const page of [a, b]) {
      const [facts] = await h.until(
        async () => {
          const all = await p.iceFacts(page);
          const f = all[0];
          return all.length === 1 &&
            f.state === 'connected' &&
            f.signaling === 'stable' &&
            f.local?.type === 'relay' &&
            f.localUfrag !== before[page.label].localUfrag &&
            f.remoteUfrag !== before[page.label].remoteUfrag
            ? all
            : null;
        },
        { timeout: 60_000, interval: 250, what: `${page.label}: connected again with new ufrags` },
      );
      t.diagnostic(`${page.label}: before ${JSON.stringify(before[page.label])} after ${JSON.stringify(facts)}`);
      t.diagnostic(`${page.label}: ICE states ${JSON.stringify(await p.iceStates(page))}`);
      assert.equal(await p.pcCount(page), pcs[page.label], `${page.label} made no new peer connection`);
      await h.waitForMoreFrames(page, frozen[page.label], 30_000);
    }
    assert.equal(await h.screen(a), 'call-screen');
    assert.equal(await h.screen(b), 'call-screen');
    await h.waitForText(a, '#call-status', /^Connected with Bob\.$/);
    await h.waitForText(b, '#call-status', /^Connected with Ada\.$/);
    assert.deepEqual(await h.tileNames(a), ['Bob']);
    assert.deepEqual(await h.tileNames(b), ['Ada']);
  });

  h.assertNoPageErrors(a, b);
});
