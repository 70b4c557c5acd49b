// (p) Firefox ESR on the paths test c does not walk, with one Firefox and
// two Chromium processes for the whole file (browser launches are the slow
// part). The pages reach parlor through a TCP proxy, so that it can restart
// behind the same address.
//  1. Firefox is the polite side of a real offer collision: F (Firefox)
//     was first in the room, A (Chromium) is the newcomer. A's next offer is
//     held in A's page (a preload gate on its WebSocket, lib/paths.mjs)
//     until F has made its own: the offers cross, A ignores F's, F rolls
//     back and answers A's. Both end stable, connected, with new ICE ufrags,
//     decoding.
//  2. A mixed group of three: B (Chromium) joins; everyone decodes both
//     others.
//  3. Screen sharing from headless Firefox: it has no screen to capture
//     (getDisplayMedia, called from a click, rejects with NotFoundError,
//     whatever the prefs:
//     media.navigator.streams.fake, media.navigator.permission.disabled or
//     .fake, media.getdisplaymedia.enabled were tried). So this checks the
//     failure path: the page says the screen could not be shared and the
//     call goes on. Chromium's share reaching Firefox is in test c.
//  4. The server is killed and restarted (same state directory): Firefox
//     and both Chromium keep their peer connections and take their seats
//     back, frames rising throughout (test l does this for Chromium only).
//  5. Firefox receive-only: B leaves; R, a second Firefox tab whose
//     getUserMedia is refused (a preload, as E2E_DENY_IN_PAGE in test e:
//     Firefox's permission prefs are per browser), joins and decodes F and
//     A, who show R as an avatar; R sends nothing.
//  6. Firefox relay-only through Parlor's TURN: new tabs in both browsers,
//     forced to iceTransportPolicy 'relay', call each other in a new room;
//     both decode, and each side's selected pair joins its relayed address
//     to the other's (relay to relay).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';
import * as p from './lib/paths.mjs';

const SERVER_ARGS = ['--turn-allowed-peers', '127.0.0.0/8'];

/** Restarts ICE on the page's first live peer connection (the app then offers). */
const restartIce = (page) =>
  page.evaluate(() => window.__parlorTest.pcs.find((pc) => pc.connectionState !== 'closed').restartIce());

const liveStates = (page) =>
  page.evaluate(() =>
    window.__parlorTest.pcs.filter((pc) => pc.connectionState !== 'closed').map((pc) => pc.signalingState),
  );

test('Firefox: polite in a collision, mixed group, no screen, server restart, receive-only, relay', { timeout: 300_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  let server = await h.startParlor(cleanup, SERVER_ARGS);
  const { stateDir } = server;
  const proxy = await h.startProxy(cleanup, server.url);
  const url = proxy.url;
  const [firefox, chromiumA, chromiumB] = await Promise.all([
    h.launchFirefox(cleanup),
    h.launchChromium(cleanup, { origin: url, ...h.LIGHT_MEDIA.chromium }),
    h.launchChromium(cleanup, { origin: url, ...h.LIGHT_MEDIA.chromium }),
  ]);
  const f = await h.newPage(firefox, 'F-firefox');
  const a = await h.newPage(chromiumA, 'A-chromium', h.LIGHT_MEDIA.page);
  const b = await h.newPage(chromiumB, 'B-chromium', h.LIGHT_MEDIA.page);
  await a.evaluateOnNewDocument(p.signalGate);
  const link = await h.hostRoom(f, url, 'Fox', { group: true });
  await h.joinRoom(a, link, 'Ada');
  await Promise.all([h.waitForMedia(f, 1, 60_000), h.waitForMedia(a, 1, 60_000)]);

  await t.test('Firefox is the polite side of crossing offers', async () => {
    const before = { f: await p.iceFacts(f), a: await p.iceFacts(a) };
    await p.logSignalingStates(f);
    await p.logSignalingStates(a);
    await p.setGate(a, { holdOut: true });
    await restartIce(a);
    await h.until(async () => (await p.gateHeld(a)).out === 1 && (await liveStates(a))[0] === 'have-local-offer', {
      timeout: 10_000,
      what: 'A: its offer made and held',
    });
    const signalsToA = () => a.evaluate(() => window.__parlorTest.received.filter((type) => type === 'signal').length);
    const signalsBefore = await signalsToA();
    await restartIce(f);
    await h.until(async () => (await liveStates(f))[0] === 'have-local-offer', { timeout: 10_000, what: 'F: its own offer made' });
    // F's offer reaches A while A has its own: A, impolite, ignores it.
    await h.until(async () => (await signalsToA()) > signalsBefore, { timeout: 10_000, what: 'A: F\'s offer received' });
    await p.setGate(a, {});
    await a.evaluate(() => window.__gate.releaseOut());
    for (const page of [f, a]) {
      await h.until(
        async () => {
          const [facts] = await p.iceFacts(page);
          const old = before[page === f ? 'f' : 'a'][0];
          return facts.signaling === 'stable' && facts.state === 'connected' && facts.localUfrag !== old.localUfrag && facts.remoteUfrag !== old.remoteUfrag;
        },
        { timeout: 30_000, what: `${page.label}: stable and connected with new ufrags` },
      );
    }
    const [fLog] = await p.signalingStates(f);
    const [aLog] = await p.signalingStates(a);
    t.diagnostic(`F signaling: ${fLog.join(' > ')}; A signaling: ${aLog.join(' > ')}`);
    const offered = fLog.indexOf('have-local-offer');
    assert.ok(offered >= 0, 'F made an offer');
    assert.ok(fLog.indexOf('have-remote-offer', offered) > offered, 'F then took A\'s offer (rolled its own back)');
    await Promise.all([h.waitForMoreFrames(f, await h.mediaReport(f)), h.waitForMoreFrames(a, await h.mediaReport(a))]);
    assert.equal(await p.pcCount(f), 1, 'F: the same peer connection');
  });

  await t.test('a group of three: Firefox and two Chromium decode each other', async () => {
    await h.joinRoom(b, link, 'Bob');
    await Promise.all([f, a, b].map((page) => h.waitForMedia(page, 2, 60_000)));
    assert.deepEqual((await h.tileNames(f)).sort(), ['Ada', 'Bob']);
    assert.deepEqual((await h.tileNames(b)).sort(), ['Ada', 'Fox']);
  });

  await t.test('headless Firefox cannot share a screen: the page says so and the call goes on', async () => {
    // Note how the app's own call fails (evaluate is no user gesture, the click is).
    await f.evaluate(() => {
      const devices = navigator.mediaDevices;
      const getDisplayMedia = devices.getDisplayMedia.bind(devices);
      devices.getDisplayMedia = (constraints) =>
        getDisplayMedia(constraints).catch((error) => {
          window.__displayError = error.name;
          throw error;
        });
    });
    await f.click('#toggle-share');
    await h.waitForText(f, '#toasts', /Your screen could not be shared/, 10_000);
    assert.equal(await f.evaluate(() => window.__displayError), 'NotFoundError', 'headless Firefox has no screen to capture');
    for (const page of [a, b]) assert.equal((await h.screenReport(page)).views.length, 0);
    await h.waitForMoreFrames(f, await h.mediaReport(f));
  });

  await t.test('the server restarts: Firefox and Chromium keep their connections and seats', async () => {
    const pcsBefore = await Promise.all([f, a, b].map(p.pcCount));
    await server.kill();
    for (const page of [f, a, b]) await h.waitForText(page, '#call-status', /Connection to the server lost/, 15_000);
    const down = await Promise.all([f, a, b].map(h.mediaReport));
    server = await h.startParlor(cleanup, SERVER_ARGS, { stateDir });
    proxy.retarget(server.url);
    for (const [i, page] of [f, a, b].entries()) {
      await h.waitForText(page, '#call-status', /^Connected with /, 30_000);
      await h.waitForMoreFrames(page, down[i]);
      assert.equal(await p.pcCount(page), pcsBefore[i], `${page.label}: no new peer connection`);
      assert.equal((await h.mediaReport(page)).peers.length, 2, `${page.label}: both connections live`);
    }
    // The browser logs each refused reconnection; those are the outage.
    for (const page of [f, a, b]) page.problems = page.problems.filter((line) => !/WebSocket|can.t establish a connection/i.test(line));
  });

  await t.test('Firefox receive-only joins and decodes a Firefox and a Chromium', async () => {
    await b.click('#hang-up');
    await h.until(async () => (await h.tileNames(f)).join() === 'Ada', { what: 'F: Bob gone' });
    const r = await h.newPage(firefox, 'R-firefox', { denyMedia: true });
    await h.joinRoom(r, link, 'Rex');
    await h.waitForMedia(r, 2, 60_000);
    assert.deepEqual((await h.tileNames(r)).sort(), ['Ada', 'Fox']);
    const sent = await r.evaluate(() => window.__parlorTest.pcs.flatMap((pc) => pc.getSenders().filter((s) => s.track)).length);
    assert.equal(sent, 0, 'R sends no track');
    for (const page of [f, a]) {
      await h.until(
        async () => {
          const tiles = await h.tileStates(page);
          return tiles.length === 2 && tiles.find((tile) => tile.name === 'Rex')?.noVideo;
        },
        { what: `${page.label}: Rex shown as an avatar` },
      );
    }
    for (const page of [r, f, a]) await page.click('#hang-up');
    h.assertNoPageErrors(f, a, b, r);
  });

  await t.test('Firefox relay-only through the built-in TURN server', async () => {
    const fr = await h.newPage(firefox, 'FR-firefox');
    const ar = await h.newPage(chromiumA, 'AR-chromium');
    for (const page of [fr, ar]) await page.evaluateOnNewDocument(h.forceRelayPolicy);
    const room = await h.hostRoom(ar, url, 'Ada');
    await h.joinRoom(fr, room, 'Fox');
    await Promise.all([h.waitForMedia(fr, 1, 60_000), h.waitForMedia(ar, 1, 60_000)]);
    const pairs = {};
    for (const page of [fr, ar]) {
      const [info] = await h.until(
        async () => {
          const pcs = await h.selectedPairs(page);
          return pcs.length === 1 && pcs[0].pair?.local && pcs[0].pair?.remote ? pcs : null;
        },
        { what: `${page.label}: a selected pair` },
      );
      t.diagnostic(`${page.label}: ${JSON.stringify(info.pair)}`);
      assert.equal(info.policy, 'relay');
      assert.equal(info.pair.local.type, 'relay', `${page.label}: local candidate`);
      pairs[page.label] = info.pair;
    }
    // Each side's remote candidate is the other's relayed address. Firefox
    // may know it as peer-reflexive: the check arrived before the trickled
    // candidate.
    const where = (c) => `${c.address}:${c.port}`;
    assert.equal(where(pairs['FR-firefox'].remote), where(pairs['AR-chromium'].local));
    assert.equal(where(pairs['AR-chromium'].remote), where(pairs['FR-firefox'].local));
    assert.ok((await h.metric(server.url, 'parlor_turn_allocations')) >= 2);
    h.assertNoPageErrors(fr, ar);
  });
});
