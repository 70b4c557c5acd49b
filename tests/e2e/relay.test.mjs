// A call forced through Parlor's own TURN server. Parlor starts with only
// `--listen 127.0.0.1:0 --turn-allowed-peers 127.0.0.0/8`: TURN is on by
// default (127.0.0.1:3478), and the allow-list lets the relay reach
// loopback peers, which it refuses otherwise. Both headless Chromium pages
// are forced to iceTransportPolicy 'relay' by a preload (no hook in the
// product), so host candidates are never used. Both must decode video and
// audio, and the selected candidate pair must be relay to relay (the page's
// call-quality view says so too), and frames keep rising. Parlor's /metrics
// must show the allocations and relayed bytes growing. No check here
// depends on how fast the machine is (bitrates, loss, round trips): under
// load those move, and what matters is that media goes through the relay.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

const TCP_ONLY = { transport: 'tcp' };

/**
 * Parlor with TURN on its default port and loopback peers allowed, and A
 * (Ada) and B (Bob) in a call, both pages forced to relay (`relay`: the
 * options of forceRelayPolicy). Returns {url, turn, a, b}.
 */
async function relayCall(t, relay = {}) {
  const cleanup = h.cleanupAfter(t);
  const { url, turn } = await h.startParlorWithDefaultTurn(cleanup, ['--turn-allowed-peers', '127.0.0.0/8']);
  const [a, b] = await h.launchPages(cleanup, url, ['A', 'B']);
  for (const page of [a, b]) await page.evaluateOnNewDocument(h.forceRelayPolicy, relay);
  const link = await h.hostRoom(a, url, 'Ada');
  await h.joinRoom(b, link, 'Bob');
  return { url, turn, a, b };
}

/**
 * The page's one live peer connection (see h.selectedPairs), once it is
 * connected, its selected candidate pair has succeeded and `complete(pair)`
 * holds.
 */
async function selectedPair(page, complete) {
  const [info] = await h.until(
    async () => {
      const pcs = await h.selectedPairs(page);
      const [pc] = pcs;
      return pcs.length === 1 && pc.state === 'connected' && pc.pair?.state === 'succeeded' && complete(pc.pair) ? pcs : null;
    },
    { timeout: 45_000, what: `${page.label}: connected, with a selected, succeeded candidate pair` },
  );
  return info;
}

test('relay-only call through the built-in TURN server', { timeout: 180_000 }, async (t) => {
  const { url, turn, a, b } = await relayCall(t);
  assert.equal(turn, '127.0.0.1:3478', 'TURN listens on its default address');

  await t.test('both decode video and audio', async () => {
    await Promise.all([h.waitForMedia(a, 1, 60_000), h.waitForMedia(b, 1, 60_000)]);
  });

  await t.test('the selected candidate pair is relay on both sides', async (t) => {
    for (const page of [a, b]) {
      const info = await selectedPair(page, (pair) => pair.local && pair.remote);
      t.diagnostic(`${page.label}: ${JSON.stringify(info.pair)}`);
      assert.equal(info.policy, 'relay', `${page.label} runs relay-only`);
      assert.equal(info.state, 'connected');
      assert.equal(info.pair.local.type, 'relay', `${page.label}: local candidate`);
      assert.equal(info.pair.remote.type, 'relay', `${page.label}: remote candidate`);
      assert.equal(info.pair.local.address, '127.0.0.1');
      // The TURN entry came from the welcome: Parlor's own server, with
      // per-member REST credentials.
      const turnServer = info.iceServers.find((s) => [s.urls].flat().some((u) => u.startsWith('turn:')));
      assert.ok(turnServer, 'a TURN server in iceServers');
      assert.ok([turnServer.urls].flat().includes('turn:127.0.0.1:3478?transport=udp'), JSON.stringify(turnServer));
      assert.match(turnServer.username, /^\d+:[A-Za-z0-9_-]+$/);
    }
  });

  await t.test('the call-quality view says the path is relayed', async () => {
    await a.click('#tiles .tile .quality');
    await a.waitForSelector('#quality-dialog[open]');
    await h.waitForText(a, '#quality-facts', /Path\s*Relayed by a TURN server \(UDP, relay ↔ relay\)/);
    await a.keyboard.press('Escape');
  });

  await t.test('media keeps flowing through the relay, and the server counts it', async () => {
    const relayed = async () => ({
      toClient: await h.metric(url, 'parlor_turn_relayed_bytes_total{direction="to_client"}'),
      toPeer: await h.metric(url, 'parlor_turn_relayed_bytes_total{direction="to_peer"}'),
    });
    const before = await relayed();
    assert.ok(before.toClient > 0 && before.toPeer > 0, `bytes relayed both ways: ${JSON.stringify(before)}`);
    await Promise.all([h.waitForMoreFrames(a, await h.mediaReport(a)), h.waitForMoreFrames(b, await h.mediaReport(b))]);
    // The frames that arrived since came through the relay.
    const after = await relayed();
    assert.ok(after.toClient > before.toClient && after.toPeer > before.toPeer, `relayed bytes grew: ${JSON.stringify({ before, after })}`);
    assert.ok((await h.metric(url, 'parlor_turn_allocations')) >= 2, 'at least one allocation per browser');
    assert.equal(await h.metric(url, 'parlor_turn_auth_failures_total'), 0);
  });

  h.assertNoPageErrors(a, b);
});

// The same with the browsers reaching TURN over TCP only (the way through
// firewalls that block UDP): RFC 8656 framing on a stream, UDP relays.
test('relay-only call with TURN over TCP', { timeout: 180_000 }, async (t) => {
  const { a, b } = await relayCall(t, TCP_ONLY);
  await Promise.all([h.waitForMedia(a, 1, 60_000), h.waitForMedia(b, 1, 60_000)]);
  for (const page of [a, b]) {
    const info = await selectedPair(page, (pair) => pair.local);
    t.diagnostic(`${page.label}: ${JSON.stringify(info.pair)}`);
    assert.equal(info.pair.local.type, 'relay');
    assert.equal(info.pair.local.relayProtocol, 'tcp', `${page.label} reaches TURN over TCP`);
    assert.equal(info.pair.remote.type, 'relay');
  }
  await a.click('#tiles .tile .quality');
  await h.waitForText(a, '#quality-facts', /Path\s*Relayed by a TURN server \(TCP, relay ↔ relay\)/);
  await a.keyboard.press('Escape');
  await Promise.all([h.waitForMoreFrames(a, await h.mediaReport(a)), h.waitForMoreFrames(b, await h.mediaReport(b))]);
  h.assertNoPageErrors(a, b);
});
