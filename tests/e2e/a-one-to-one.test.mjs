// (a) A one-to-one call between two separate headless Chromium processes,
// driven through the UI: A creates a room on the start page, B opens the
// link, types a name and joins. Both must decode each other's video and
// audio; mute, camera off/on and hang up must do what they say. Also takes
// the screenshots in docs/screenshots/ and measures the time from B's page
// load to B's first decoded remote video frame (artifacts/timings.json).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

test('one-to-one call between two Chromium browsers', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);
  const [a, b] = await h.launchPages(cleanup, url, ['A', 'B']);

  // A: start page, new one-to-one room, enter it, join as Ada.
  await h.open(a, `${url}/`);
  await a.waitForSelector('#start-screen:not([hidden])');
  await h.screenshot(a, 'start.png');
  const link = await h.createRoom(a);
  assert.match(await h.text(a, '#created-text'), /one-to-one room is ready/);
  // Copy link: onto the clipboard, or else selected for Ctrl+C.
  await a.click('#copy-link');
  const copied = await h.until(
    () =>
      a.evaluate(async () => {
        const input = document.getElementById('room-link');
        const selected = document.activeElement === input && input.selectionStart === 0 && input.selectionEnd === input.value.length;
        const label = document.querySelector('#copy-link span').textContent;
        let clipboard = null;
        try {
          clipboard = await navigator.clipboard.readText();
        } catch {
          // reading may be refused; the label still says whether it worked
        }
        return label === 'Copied' || selected ? { label, selected, clipboard } : null;
      }),
    { timeout: 5000, what: 'the link to be copied or selected' },
  );
  if (copied.label === 'Copied' && copied.clipboard !== null) assert.equal(copied.clipboard, link);
  t.diagnostic(`copy link: ${copied.label === 'Copied' ? 'clipboard' : 'selected for Ctrl+C'}`);
  await a.click('#enter-room');
  await h.joinAs(a, 'Ada');
  await h.waitForText(a, '#call-status', /Waiting for the other person to join/);

  // B: opens the link and sees its own preview (screenshot: prejoin.png).
  await h.open(b, link);
  await b.waitForSelector('#prejoin-screen:not([hidden])');
  assert.match(await h.text(b, '#room-info'), /One-to-one call\. 1 person is already in the call/);
  await b.waitForFunction(() => document.getElementById('preview').videoWidth > 0);
  await b.type('#name', 'Bob');
  await h.screenshot(b, 'prejoin.png');

  // Measured run: B opens the link afresh, types a name and joins.
  await h.joinRoom(b, link, 'Bob');

  await t.test('both decode video and audio from the other', async () => {
    const [reportB, reportA] = await Promise.all([h.waitForMedia(b, 1), h.waitForMedia(a, 1)]);
    assert.equal(reportA.peers[0].state, 'connected');
    assert.equal(reportB.peers[0].state, 'connected');
    assert.deepEqual(await h.tileNames(a), ['Bob']);
    assert.deepEqual(await h.tileNames(b), ['Ada']);
    await h.waitForText(a, '#call-status', /^Connected with Bob\.$/);
    await h.waitForText(b, '#call-status', /^Connected with Ada\.$/);
  });

  await t.test('time from page load to first remote frame', async () => {
    const times = await b.evaluate(() => ({
      firstFrameAt: window.__parlorTest.firstFrameAt,
      joinClickAt: window.__parlorTest.joinClickAt,
    }));
    assert.ok(times.firstFrameAt > 0, 'first frame time recorded');
    const entry = {
      browser: 'chromium',
      pageLoadToFirstRemoteFrameMs: Math.round(times.firstFrameAt),
      joinClickToFirstRemoteFrameMs: Math.round(times.firstFrameAt - times.joinClickAt),
      note: 'B opens the room link (navigation start = 0), types a name, clicks Join; first remote video frame decoded per getStats (20 ms polling).',
    };
    const file = h.recordTiming('chromium-one-to-one', entry);
    console.log(
      `TIMING page load -> first remote frame: ${entry.pageLoadToFirstRemoteFrameMs} ms ` +
        `(join click -> first frame: ${entry.joinClickToFirstRemoteFrameMs} ms), written to ${file}`,
    );
  });

  await t.test('screenshot of the call', async () => {
    await h.waitForQuiet(a);
    await h.sleep(300);
    await h.screenshot(a, 'call.png');
  });

  await t.test('mute and unmute the microphone', async () => {
    await b.click('#toggle-mic');
    const muted = await h.senders(b);
    const audio = muted[0].find((s) => s.kind === 'audio');
    assert.equal(audio.track.enabled, false, 'B sends a disabled (silent) audio track');
    assert.equal(await h.text(b, '#toggle-mic .label'), 'Unmute');
    await a.waitForSelector('#tiles .tile.mic-off', { timeout: 10_000 });

    await b.click('#toggle-mic');
    const unmuted = await h.senders(b);
    assert.equal(unmuted[0].find((s) => s.kind === 'audio').track.enabled, true);
    assert.equal(await h.text(b, '#toggle-mic .label'), 'Mute');
    await a.waitForSelector('#tiles .tile:not(.mic-off)', { timeout: 10_000 });
  });

  await t.test('camera off stops the track; camera on sends a new one', async () => {
    await b.click('#toggle-cam');
    await h.until(
      async () => {
        const video = (await h.senders(b))[0].find((s) => s.kind === 'video');
        return video.track === null && video.direction === 'sendrecv';
      },
      { timeout: 5000, what: 'B video sender without track' },
    );
    const live = await b.evaluate(() => document.getElementById('self-video').srcObject);
    assert.equal(live, null, 'self-view has no camera stream');
    assert.equal(await h.text(b, '#toggle-cam .label'), 'Start video');
    // A shows B's avatar, and no new frames arrive.
    await a.waitForSelector('#tiles .tile.no-video', { timeout: 10_000 });
    await h.sleep(700);
    const before = (await h.mediaReport(a)).peers[0].framesDecoded;
    await h.sleep(1500);
    const after = (await h.mediaReport(a)).peers[0].framesDecoded;
    assert.ok(after - before <= 2, `no video while the camera is off (${before} -> ${after} frames)`);

    await b.click('#toggle-cam');
    await h.until(
      async () => {
        const video = (await h.senders(b))[0].find((s) => s.kind === 'video');
        return video.track?.readyState === 'live';
      },
      { timeout: 10_000, what: 'B video sender with a live track' },
    );
    assert.equal(await h.text(b, '#toggle-cam .label'), 'Stop video');
    await h.until(
      async () => (await h.mediaReport(a)).peers[0].framesDecoded > after + 5,
      { timeout: 15_000, what: 'A decoding B again' },
    );
    await a.waitForSelector('#tiles .tile:not(.no-video)', { timeout: 10_000 });
  });

  await t.test('both renegotiate at the same moment (glare): perfect negotiation settles it', async (t) => {
    // Both pages restart ICE at the same wall-clock instant, so both make an
    // offer and the offers cross: the polite side (A, in the room first)
    // must roll back and answer, the impolite one (B) ignore A's offer.
    const ufrag = (page) =>
      page.evaluate(() => {
        const pc = window.__parlorTest.pcs.find((p) => p.connectionState !== 'closed');
        return pc.localDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1];
      });
    const before = { a: await ufrag(a), b: await ufrag(b) };
    const watch = (page) =>
      page.evaluate(() => {
        const pc = window.__parlorTest.pcs.find((p) => p.connectionState !== 'closed');
        window.__signalingStates = [];
        pc.addEventListener('signalingstatechange', () => window.__signalingStates.push(pc.signalingState));
      });
    await Promise.all([watch(a), watch(b)]);
    const at = Date.now() + 500;
    const restart = (page) =>
      page.evaluate(async (when) => {
        const pc = window.__parlorTest.pcs.find((p) => p.connectionState !== 'closed');
        while (Date.now() < when) await new Promise((resolve) => setTimeout(resolve, 1));
        pc.restartIce();
      }, at);
    await Promise.all([restart(a), restart(b)]);
    for (const page of [a, b]) {
      // Stable and connected again, with the new ICE credentials (so the
      // check cannot pass before the restart has even begun).
      await h.until(
        () =>
          page.evaluate((old) => {
            const pc = window.__parlorTest.pcs.find((p) => p.connectionState !== 'closed');
            const ufrag = pc.localDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1];
            return pc.signalingState === 'stable' && pc.connectionState === 'connected' && ufrag !== old;
          }, before[page === a ? 'a' : 'b']),
        { timeout: 15_000, what: `${page.label}: stable and connected after glare` },
      );
    }
    // Whether the offers really crossed depends on timing; say what happened.
    const states = await a.evaluate(() => window.__signalingStates.join(' > '));
    t.diagnostic(`A (polite) went ${states}${/have-local-offer > stable > have-remote-offer/.test(states) ? ': rolled back its offer (glare)' : ''}`);
    assert.notEqual(await ufrag(a), before.a, 'A restarted ICE');
    assert.notEqual(await ufrag(b), before.b, 'B restarted ICE');
    await Promise.all([h.waitForMoreFrames(a, await h.mediaReport(a)), h.waitForMoreFrames(b, await h.mediaReport(b))]);
  });

  await t.test('hang up: the other side is told the person left', async () => {
    await b.click('#hang-up');
    await h.waitForScreen(b, 'message-screen');
    assert.equal(await h.text(b, '#message-title'), 'You left the call');
    const open = await b.evaluate(() => window.__parlorTest.pcs.filter((pc) => pc.connectionState !== 'closed').length);
    assert.equal(open, 0, 'B closed its peer connection');

    await h.waitForText(a, '#call-status', /Bob left the call\. Waiting for the other person to join\./);
    assert.equal((await h.tileNames(a)).length, 0);
    assert.equal(await a.$eval('#waiting', (node) => node.hidden), false);
    h.assertNoPageErrors(a, b);
  });
});
