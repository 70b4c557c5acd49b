// (n) The media path breaks and comes back: ICE restarts by itself. Two
// Chromium pages in a relay-only call through Parlor's own TURN server,
// whose UDP port they reach through a proxy the test holds (a preload
// rewrites the TURN URL of the welcome to it; no hook in the product).
// The proxy black-holes every datagram both ways, as a network that goes
// dark does, while the WebSocket (TCP, another path) stays up, so the
// pages can negotiate. Twice, in the same call:
//  1. A short outage: the pictures freeze, ICE goes 'disconnected', and
//     after 5 s of that a page restarts ICE (static/js/call/peer.js): a new
//     local ufrag while still dark. The path comes back while that restart
//     is under way.
//  2. A long one: the connections go 'failed'; the restarts each page makes
//     on failure run while the path is still dark, so they fail too, and
//     nothing changes state any more. The client must try again on a timer
//     (5 s, doubling to 30 s): a third restart in the dark is awaited.
//     (Before this test the client restarted once on failure and never
//     again: such a call stayed dead after the network came back.)
// Each time the call must recover with the same peer connections (nobody
// rejoins, no new RTCPeerConnection), new ufrags on both sides, still relay
// to relay, and frames rising again. (Chromium may keep its TURN allocation
// across a restart: one page kept its relayed port, the other got a new
// one, so the port is not asserted.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';
import * as p from './lib/paths.mjs';

/** The page's one live peer connection's facts, once `ready(facts)` holds. */
async function oneConnection(page, ready, what, timeout = 60_000) {
  const [facts] = await h.until(
    async () => {
      const all = await p.iceFacts(page);
      return all.length === 1 && ready(all[0]) ? all : { ok: false, all };
    },
    { timeout, interval: 250, what: `${page.label}: ${what}` },
  );
  return facts;
}

test('a relayed call whose media path breaks restarts ICE and recovers, after a short and a long outage', { timeout: 240_000 }, async (t) => {
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
  const pcs = { A: await p.pcCount(a), B: await p.pcCount(b) };

  /** Facts of both pages while connected through the relay. */
  const connected = async () => ({
    A: await oneConnection(a, (f) => f.state === 'connected' && f.local?.type === 'relay', 'connected through the relay'),
    B: await oneConnection(b, (f) => f.state === 'connected' && f.local?.type === 'relay', 'connected through the relay'),
  });

  /** The path comes back: the same connections recover with other ufrags than `dark`'s. */
  const recovers = async (t, dark) => {
    const frozen = { A: await h.mediaReport(a), B: await h.mediaReport(b) };
    proxy.block(false);
    for (const page of [a, b]) {
      const old = dark[page.label];
      const facts = await oneConnection(
        page,
        (f) => f.state === 'connected' && f.signaling === 'stable' && f.local?.type === 'relay' &&
          f.localUfrag !== old.localUfrag && f.remoteUfrag !== old.remoteUfrag,
        'connected again with new ufrags',
      );
      t.diagnostic(`${page.label}: dark ${JSON.stringify(old)} after ${JSON.stringify(facts)}`);
      assert.equal(await p.pcCount(page), pcs[page.label], `${page.label} made no new peer connection`);
      await h.waitForMoreFrames(page, frozen[page.label], 30_000);
    }
    await h.waitForText(a, '#call-status', /^Connected with Bob\.$/);
    await h.waitForText(b, '#call-status', /^Connected with Ada\.$/);
    assert.deepEqual(await h.tileNames(a), ['Bob']);
    assert.deepEqual(await h.tileNames(b), ['Ada']);
  };

  await t.test('a short outage: ICE restarts on a lasting disconnection, and the call recovers', async (t) => {
    const before = await connected();
    await Promise.all([p.logIceStates(a), p.logIceStates(b)]);
    proxy.block(true);
    await Promise.all([p.waitForFrozenVideo(a, h.mediaReport), p.waitForFrozenVideo(b, h.mediaReport)]);
    // Both notice; at least one restarts ICE (a new local ufrag) while dark.
    await h.until(
      async () => {
        const logs = [(await p.iceLogs(a))[0], (await p.iceLogs(b))[0]];
        const left = logs.every((log) => log.some((e) => e.ice === 'disconnected' || e.ice === 'failed'));
        const restarted = logs.some((log, i) => log.some((e) => e.ufrag !== [before.A, before.B][i].localUfrag));
        return left && restarted;
      },
      { timeout: 60_000, interval: 250, what: 'ICE to leave connected on both pages and restart on one' },
    );
    assert.ok(proxy.dropped() > 0, 'the proxy dropped datagrams');
    await recovers(t, before);
  });

  await t.test('a long outage: the restarts made on failure fail too, later ones mend the call', async (t) => {
    await connected();
    await Promise.all([p.logIceStates(a), p.logIceStates(b)]);
    proxy.block(true);
    // Both fail. On failure each page restarts ICE once (two restarts at
    // most); a third proves the client tries again while the path is dark.
    const restarts = await h.until(
      async () => {
        const [logA, logB] = [(await p.iceLogs(a))[0], (await p.iceLogs(b))[0]];
        const [ra, rb] = [p.restartsSinceFailure(logA), p.restartsSinceFailure(logB)];
        return ra.atFailure && rb.atFailure && ra.since.length >= 3 ? { A: ra, B: rb } : null;
      },
      { timeout: 90_000, interval: 100, what: 'both connections failed, then three ICE restarts in the dark' },
    );
    t.diagnostic(`restarts in the dark: ${JSON.stringify(restarts)}`);
    assert.equal((await p.iceFacts(a))[0].state, 'failed', 'none of them mended it in the dark');
    const atFailure = {
      A: { localUfrag: restarts.A.atFailure, remoteUfrag: restarts.B.atFailure },
      B: { localUfrag: restarts.B.atFailure, remoteUfrag: restarts.A.atFailure },
    };
    await recovers(t, atFailure);
  });

  h.assertNoPageErrors(a, b);
});
