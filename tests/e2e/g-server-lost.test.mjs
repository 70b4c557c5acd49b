// (g) The connection to the server is lost mid-call. Media flows browser to
// browser, so the call must go on while the page says what is happening,
// and signaling must come back by itself:
//  1. the network resets both WebSockets and refuses new ones for a while:
//     both pages say "Connection to the server lost", keep decoding, then
//     reconnect and resume their seats (no one sees a leave or a join);
//  2. the server is killed (SIGKILL, as in a crash): media keeps flowing
//     while it is down; it restarts (same --secret), both pages reconnect
//     (a new welcome with their old ids) and keep the peer connection they
//     have: it still carries media, so it is not negotiated again (same
//     local and remote descriptions; see static/js/call/call.js);
//  3. the server restarts with another key, so it knows neither the tokens
//     nor the room: media still flows, so both pages keep the call and say
//     that nobody new can join.
// A TCP proxy in front of parlor plays the network.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

const SECRET = 'e2e-resume-secret-0123456789abcdef';

test('losing the server connection: the call goes on and recovers', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  let server = await h.startParlor(cleanup, ['--secret', SECRET]);
  const proxy = await h.startProxy(cleanup, server.url);
  const url = proxy.url;
  const [a, b] = await h.launchPages(cleanup, url, ['A', 'B']);
  const link = await h.hostRoom(a, url, 'Ada');
  await h.joinRoom(b, link, 'Bob');
  await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);

  const received = (page) => page.evaluate(() => window.__parlorTest.received.slice());
  const pcCount = (page) => page.evaluate(() => window.__parlorTest.pcs.length);
  /** The page's peer connections: state and SDP session versions (they go up with every negotiation). */
  const negotiation = (page) =>
    page.evaluate(() =>
      window.__parlorTest.pcs.map((pc) => ({
        state: pc.connectionState,
        local: pc.localDescription?.sdp.match(/^o=\S+ \S+ (\d+)/m)[1] ?? null,
        remote: pc.remoteDescription?.sdp.match(/^o=\S+ \S+ (\d+)/m)[1] ?? null,
      })),
    );

  await t.test('network cut: the pages say so, media goes on, seats resume', async () => {
    const before = await Promise.all([received(a), received(b)]);
    const outage = [a.problems.length, b.problems.length];
    proxy.refuse(true);
    proxy.cut();
    for (const page of [a, b]) {
      await h.waitForText(page, '#call-status', /Connection to the server lost\. Reconnecting/, 10_000);
      assert.match(await h.text(page, '#call-notice-text'), /Your call goes on while Parlor reconnects/);
    }
    const during = await Promise.all([h.mediaReport(a), h.mediaReport(b)]);
    await Promise.all([h.waitForMoreFrames(a, during[0]), h.waitForMoreFrames(b, during[1])]);

    proxy.refuse(false);
    await h.waitForText(a, '#call-status', /^Connected with Bob\.$/, 20_000);
    await h.waitForText(b, '#call-status', /^Connected with Ada\.$/, 20_000);
    // The browser logs the connections the network reset or refused.
    h.forgiveOutageErrors(a, outage[0]);
    h.forgiveOutageErrors(b, outage[1]);
    assert.equal(await a.$eval('#call-notice', (node) => node.hidden), true, 'the warning is gone');
    for (const [i, page] of [a, b].entries()) {
      const since = (await received(page)).slice(before[i].length);
      assert.ok(since.includes('welcome'), `${page.label} joined again: ${since}`);
      assert.ok(!since.includes('peer-left') && !since.includes('peer-joined'), `${page.label}: ${since}`);
      assert.equal(await pcCount(page), 1, `${page.label} kept its peer connection`);
    }
    await Promise.all([h.waitForMoreFrames(a, await h.mediaReport(a)), h.waitForMoreFrames(b, await h.mediaReport(b))]);
  });

  await t.test('server killed and restarted: media goes on; the pages take their seats back and keep their connection', async () => {
    const before = await Promise.all([received(a), received(b)]);
    const negotiated = await Promise.all([negotiation(a), negotiation(b)]);
    const outage = [a.problems.length, b.problems.length];
    await server.kill();
    for (const page of [a, b]) {
      await h.waitForText(page, '#call-status', /Connection to the server lost/, 10_000);
    }
    // Browser to browser, the call does not need the server.
    const down = await Promise.all([h.mediaReport(a), h.mediaReport(b)]);
    await Promise.all([h.waitForMoreFrames(a, down[0]), h.waitForMoreFrames(b, down[1])]);
    server = await h.startParlor(cleanup, ['--secret', SECRET]);
    proxy.retarget(server.url);
    await h.waitForText(a, '#call-status', /^Connected with Bob\.$/, 40_000);
    await h.waitForText(b, '#call-status', /^Connected with Ada\.$/, 40_000);
    h.forgiveOutageErrors(a, outage[0]);
    h.forgiveOutageErrors(b, outage[1]);
    for (const [i, page] of [a, b].entries()) {
      const since = (await received(page)).slice(before[i].length);
      assert.ok(since.includes('welcome'), `${page.label} reconnected: ${since}`);
      // The one connection goes on, not negotiated again: it carries media.
      assert.deepEqual(await negotiation(page), negotiated[i], `${page.label} kept its connection as it was`);
    }
    await Promise.all([h.waitForMoreFrames(a, await h.mediaReport(a)), h.waitForMoreFrames(b, await h.mediaReport(b))]);
    assert.deepEqual(await h.tileNames(a), ['Bob']);
    assert.deepEqual(await h.tileNames(b), ['Ada']);
    h.assertNoPageErrors(a, b);
  });

  await t.test('server restart with another key: the room is gone, the call goes on, and the pages say so', async () => {
    await server.stop();
    server = await h.startParlor(cleanup, ['--secret', `${SECRET}-other`]);
    proxy.retarget(server.url);
    for (const page of [a, b]) {
      await h.waitForText(page, '#call-notice-text', /no longer knows this room.*Your call goes on, but nobody new can join/, 40_000);
      assert.equal(await h.screen(page), 'call-screen', `${page.label} is still in the call`);
      const live = await page.evaluate(() => window.__parlorTest.pcs.filter((pc) => pc.connectionState === 'connected').length);
      assert.equal(live, 1, `${page.label} kept its peer connection`);
    }
    await Promise.all([h.waitForMoreFrames(a, await h.mediaReport(a)), h.waitForMoreFrames(b, await h.mediaReport(b))]);
  });
});
