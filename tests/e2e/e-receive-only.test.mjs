// (e) Someone whose camera and microphone are blocked. D is a Chromium with
// (fake) devices whose camera and microphone permissions are denied for the
// site: a real NotAllowedError from getUserMedia. D sees the "blocked" message,
// joins anyway receive-only, and decodes video and audio from A and B; its
// offer still carries audio and video m-lines (recvonly). A and B keep
// decoding each other and show D as an avatar.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

test('blocked camera and microphone: receive-only participant', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);
  // Chromium without media permission gathers ICE candidates on the default
  // route only; with nothing but loopback it still connects through the srflx
  // candidate from Parlor's built-in STUN server (seen in a loopback-only
  // network namespace). E2E_DENY_IN_PAGE=1 swaps the real denial for a
  // preload that rejects getUserMedia, for servers run without STUN.
  const realDenial = !process.env.E2E_DENY_IN_PAGE;
  t.diagnostic(realDenial ? 'D: camera and microphone permission denied' : 'D: getUserMedia rejected in the page');
  const [browserA, browserB, browserD] = await Promise.all([
    h.launchChromium(cleanup, { origin: url }),
    h.launchChromium(cleanup, { origin: url }),
    h.launchChromium(cleanup, { origin: url, media: realDenial ? 'denied' : 'fake' }),
  ]);
  const a = await h.newPage(browserA, 'A');
  const b = await h.newPage(browserB, 'B');
  const d = await h.newPage(browserD, 'D', { denyMedia: !realDenial });

  const link = await h.hostRoom(a, url, 'Ada', { group: true });
  await h.joinRoom(b, link, 'Bob');
  await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);

  await t.test('the pre-join screen says the devices are blocked', async () => {
    await h.open(d, link);
    await d.waitForSelector('#prejoin-screen:not([hidden])');
    const status = await h.waitForText(d, '#device-status', /blocked/);
    assert.match(status, /camera and microphone are blocked/i);
    assert.match(status, /You can still join/);
    assert.equal(await h.text(d, '#preview-note'), 'Camera blocked');
  });

  await t.test('D joins receive-only and decodes both others', async () => {
    await h.joinAs(d, 'Dee');
    assert.match(await h.text(d, '#call-notice-text'), /blocked/);
    assert.equal(await d.$eval('#call-notice', (node) => node.hidden), false);
    await h.waitForMedia(d, 2, 60_000);
    assert.deepEqual((await h.tileNames(d)).sort(), ['Ada', 'Bob']);
    const offers = await d.evaluate(() =>
      window.__parlorTest.pcs.map((pc) => pc.localDescription?.sdp ?? ''),
    );
    for (const sdp of offers) {
      // Audio, camera and screen m-lines (static/js/call/peer.js): D has neither
      // microphone nor camera, so those two only receive; the screen one
      // may send, as blocked devices do not stop D from sharing a screen.
      const [audio, camera, screen] = sdp.split(/^(?=m=)/m).slice(1);
      assert.match(audio, /^m=audio[^]*a=recvonly/);
      assert.match(camera, /^m=video[^]*a=recvonly/);
      assert.match(screen, /^m=video/);
      assert.doesNotMatch(`${audio}${camera}`, /a=sendrecv|a=sendonly/, 'D sends no sound and no camera');
    }
    // And nothing goes out: no track on any sender, no RTP sent.
    const sent = await d.evaluate(async () => {
      let packets = 0;
      let tracks = 0;
      for (const pc of window.__parlorTest.pcs) {
        tracks += pc.getSenders().filter((sender) => sender.track).length;
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'outbound-rtp') packets += s.packetsSent ?? 0;
        });
      }
      return { packets, tracks };
    });
    assert.deepEqual(sent, { packets: 0, tracks: 0 }, 'D sends nothing');
  });

  await t.test('A and B keep decoding each other and show D as an avatar', async () => {
    for (const page of [a, b]) {
      const report = await h.until(
        async () => {
          const r = await h.mediaReport(page);
          const decoding = r.peers.filter((p) => p.framesDecoded > 0 && p.audioPackets > 0);
          return r.peers.length === 2 && decoding.length === 1 && r.tiles.length === 2 ? r : null;
        },
        { what: `${page.label}: one peer decoding, one receive-only` },
      );
      const dee = report.tiles.find((tile) => tile.name === 'Dee');
      assert.equal(dee.showsVideo, false, `${page.label} shows Dee as an avatar`);
      const other = report.tiles.find((tile) => tile.name !== 'Dee');
      assert.ok(other.width > 0, `${page.label} shows the other's video`);
      // Frames from the sending peer keep coming.
      const most = (r) => Math.max(...r.peers.map((p) => p.framesDecoded));
      await h.until(async () => most(await h.mediaReport(page)) > most(report) + 5, {
        timeout: 10_000,
        what: `${page.label}: still decoding the other sender`,
      });
    }
    h.assertNoPageErrors(a, b);
  });
});
