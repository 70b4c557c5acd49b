// (i) Screen sharing in a group room, three headless Chromium (Chromium's
// fake screen capture, picked at once). The screen goes on a transceiver of
// its own, so it coexists with the camera, and starting or stopping a share
// is replaceTrack on it, without renegotiating: B shares and A decodes B's
// screen, shown large; C, who joins while B shares, gets it too; B's camera
// off leaves the screen flowing; the browser's own "Stop sharing" (the
// track ends) stops it everywhere; two people can share at once; and the
// "Stop sharing" buttons work.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

/**
 * The screen frames each live peer connection of `page` has decoded so far,
 * by receiving track: the baseline of a new share, since the count goes on
 * from one share to the next on the same transceiver.
 */
async function screenFramesNow(page) {
  const report = await h.screenReport(page);
  return new Map(report.peers.map((p) => [p.trackId, p.framesDecoded]));
}

/**
 * Waits until `page` shows `count` remote screens, each decoding new frames
 * since `baseline` (from screenFramesNow before the share began; none: a
 * page that has seen no share yet).
 */
async function waitForScreens(page, count, baseline = new Map(), timeout = 30_000) {
  return h.until(
    async () => {
      const report = await h.screenReport(page);
      const remote = report.views.filter((v) => !v.own);
      const decoding = report.peers.filter((p) => p.framesDecoded - (baseline.get(p.trackId) ?? 0) > 2 && p.width > 0);
      return remote.length === count && remote.every((v) => v.width > 0) && decoding.length >= count && report.layout === 'present'
        ? report
        : { ok: false, ...report };
    },
    { timeout, interval: 250, what: `${page.label}: ${count} remote screen(s) decoding` },
  );
}

/** The SDP session version of each live peer connection: it goes up with every renegotiation. */
const sdpVersions = (page) =>
  page.evaluate(() =>
    window.__parlorTest.pcs
      .filter((pc) => pc.connectionState !== 'closed')
      .map((pc) => pc.localDescription.sdp.match(/^o=\S+ \S+ (\d+)/m)[1]),
  );

/** The decoded screen frames per peer connection, summed. */
const screenFrames = (report) => report.peers.reduce((sum, p) => sum + p.framesDecoded, 0);

test('screen sharing in a group call', { timeout: 240_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { pages, link } = await h.startCallWithLateJoiner(cleanup, ['Ada', 'Bob', 'Cy']);
  const [a, b, c] = pages;

  await t.test('B shares; A decodes the screen, shown large, and still sees B', async () => {
    assert.equal(await h.text(b, '#toggle-share .label'), 'Share screen');
    const versions = { a: await sdpVersions(a), b: await sdpVersions(b) };
    const framesBefore = await screenFramesNow(a);
    await b.click('#toggle-share');
    await h.waitForText(b, '#toggle-share .label', /^Stop sharing$/, 20_000);
    assert.equal(await b.$eval('#toggle-share', (n) => n.getAttribute('aria-pressed')), 'true');
    const own = await h.screenReport(b);
    assert.equal(own.layout, 'present');
    assert.deepEqual(own.views.map((v) => v.own), [true]);
    assert.match(await h.text(b, '#own-screen .own-note'), /You are sharing your screen with everyone/);
    assert.equal(own.peers[0].sending, 'live', 'B sends its screen');
    assert.equal(own.peers[0].direction, 'sendrecv');

    const report = await waitForScreens(a, 1, framesBefore);
    assert.equal(report.views[0].label, 'Bob’s screen');
    assert.ok(report.views[0].width >= 640, `a screen-sized picture (${report.views[0].width} px wide)`);
    await h.waitForMedia(a, 1); // B's camera tile too
    const bob = (await h.tileStates(a)).find((s) => s.name === 'Bob');
    assert.equal(bob.presenting, true);
    assert.equal(bob.noVideo, false);
    // The screen is the large one.
    const sizes = await a.evaluate(() => ({
      screen: document.querySelector('#presentation .screen-view').getBoundingClientRect().width,
      tile: document.querySelector('#tiles .tile').getBoundingClientRect().width,
    }));
    assert.ok(sizes.screen > 2.5 * sizes.tile, `screen larger than the tiles: ${JSON.stringify(sizes)}`);
    assert.deepEqual({ a: await sdpVersions(a), b: await sdpVersions(b) }, versions, 'no renegotiation');
    await h.waitForQuiet(a);
    await h.screenshot(a, 'screen-share.png');
  });

  await t.test('C joins while B shares (and A is muted), and learns both', async () => {
    await a.click('#toggle-mic');
    await h.joinRoom(c, link, 'Cy');
    await h.waitForMedia(c, 2, 60_000);
    const report = await waitForScreens(c, 1);
    assert.equal(report.views[0].label, 'Bob’s screen');
    // Each member tells a newcomer its state when it arrives.
    const ada = (await h.tileStates(c)).find((s) => s.name === 'Ada');
    assert.equal(ada.micOff, true, 'C sees that Ada is muted');
    assert.equal((await h.tileStates(c)).find((s) => s.name === 'Bob').presenting, true);
    await a.click('#toggle-mic');
    await h.until(async () => (await h.tileStates(c)).find((s) => s.name === 'Ada')?.micOff === false, {
      timeout: 10_000,
      what: 'C: Ada unmuted',
    });
  });

  await t.test('B turns its camera off: the screen keeps flowing', async () => {
    await b.click('#toggle-cam');
    for (const page of [a, c]) {
      await h.until(async () => (await h.tileStates(page)).find((s) => s.name === 'Bob')?.noVideo, {
        timeout: 10_000,
        what: `${page.label}: Bob's camera off`,
      });
      const before = screenFrames(await h.screenReport(page));
      await h.until(async () => screenFrames(await h.screenReport(page)) > before + 10, {
        timeout: 15_000,
        what: `${page.label}: Bob's screen still decoding`,
      });
      assert.equal((await h.screenReport(page)).views.length, 1);
    }
  });

  await t.test('the browser\'s own "Stop sharing" ends the share everywhere', async () => {
    // What the browser's bar does: the capture track ends.
    await b.evaluate(() => {
      const track = window.__parlorTest.displayTracks.at(-1);
      track.stop();
      track.dispatchEvent(new Event('ended'));
    });
    await h.waitForText(b, '#toggle-share .label', /^Share screen$/, 10_000);
    const own = await h.until(
      async () => {
        const r = await h.screenReport(b);
        return r.views.length === 0 && r.peers.every((p) => p.sending === null) ? r : null;
      },
      { timeout: 10_000, what: 'B: no screen sent any more' },
    );
    assert.equal(own.layout, 'grid');
    // The transceiver stays ready for the next share.
    assert.ok(own.peers.every((p) => p.direction === 'sendrecv'), JSON.stringify(own.peers));
    for (const page of [a, c]) {
      await h.until(
        async () => {
          const r = await h.screenReport(page);
          return r.views.length === 0 && r.layout === 'grid' ? r : null;
        },
        { timeout: 10_000, what: `${page.label}: back to the grid` },
      );
      const bob = (await h.tileStates(page)).find((s) => s.name === 'Bob');
      assert.equal(bob.presenting, false);
      assert.equal(bob.noVideo, true, 'Bob’s camera is still off');
    }
  });

  await t.test('two share at once; the Stop sharing buttons work', async () => {
    // Frames counted from here: B shared before on these connections.
    const [fromA, fromC] = await Promise.all([screenFramesNow(a), screenFramesNow(c)]);
    await b.click('#toggle-share');
    await a.click('#toggle-share');
    const report = await waitForScreens(c, 2, fromC);
    assert.deepEqual(report.views.map((v) => v.label).sort(), ['Ada’s screen', 'Bob’s screen']);
    // A sees Bob's screen and its own.
    const onA = await waitForScreens(a, 1, fromA);
    assert.equal(onA.views.filter((v) => v.own).length, 1);
    // B stops with the button on its own screen, A with the control.
    await b.click('#own-screen .btn.danger');
    await a.click('#toggle-share');
    for (const page of [a, b, c]) {
      await h.until(async () => (await h.screenReport(page)).views.length === 0, {
        timeout: 10_000,
        what: `${page.label}: no screens`,
      });
    }
    assert.equal(await h.text(a, '#toggle-share .label'), 'Share screen');
    assert.equal(await h.text(b, '#toggle-share .label'), 'Share screen');
  });

  await t.test('B turns its camera on again: everyone decodes everyone', async () => {
    await b.click('#toggle-cam');
    for (const page of [a, c]) {
      await h.until(async () => (await h.tileStates(page)).find((s) => s.name === 'Bob')?.noVideo === false, {
        timeout: 15_000,
        what: `${page.label}: Bob's camera back`,
      });
    }
    await Promise.all([a, b, c].map(async (page) => h.waitForMoreFrames(page, await h.waitForMedia(page, 2))));
    h.assertNoPageErrors(a, b, c);
  });
});
