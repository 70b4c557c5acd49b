// (a) A one-to-one call between two separate headless Chromium processes,
// driven through the UI: A creates a room on the start page, B opens the
// link, types a name and joins. Both must decode each other's video and
// audio; mute, camera off/on and hang up must do what they say. Also takes
// the screenshots in docs/screenshots/. (The time from page load to the
// first remote frame is a benchmark: scripts/bench-first-frame.sh.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

/**
 * Waits until `sample(page)` (a number) has not moved by more than
 * `tolerance` while 100 more audio packets (2 s of Opus at 20 ms a packet)
 * arrived from the one peer: the audio packets are the clock, so this
 * waits on media, not on time. Resolves to the value.
 */
async function standsStill(page, what, sample, tolerance = 0) {
  let since = null;
  return h.until(
    async () => {
      const value = await sample(page);
      const packets = (await h.mediaReport(page)).peers[0].audioPackets;
      if (!since || Math.abs(value - since.value) > tolerance) since = { value, packets };
      return packets - since.packets >= 100 ? { value } : null;
    },
    { timeout: 15_000, what: `${page.label}: ${what} standing still while audio packets arrive` },
  ).then(({ value }) => value);
}

/** The ICE ufrag of the page's live peer connection's local description. */
const ufrag = (page) => page.evaluate(() => window.__parlorTest.pcs.find((p) => p.connectionState !== 'closed').localDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]);

/** Records the live peer connection's signaling states from now on (window.__signalingStates). */
const watchSignalingStates = (page) =>
  page.evaluate(() => {
    const pc = window.__parlorTest.pcs.find((p) => p.connectionState !== 'closed');
    window.__signalingStates = [];
    pc.addEventListener('signalingstatechange', () => window.__signalingStates.push(pc.signalingState));
  });

const restartIce = (page) => page.evaluate(() => window.__parlorTest.pcs.find((p) => p.connectionState !== 'closed').restartIce());

/**
 * From now on the page's WebSocket holds every `signal` it would send, in
 * order (window.__heldSignals), until window.__releaseSignals() sends them
 * and stops holding; it returns how many there were.
 */
const holdSignals = (page) =>
  page.evaluate(() => {
    const ws = window.__parlorTest.sockets.at(-1);
    const send = ws.send.bind(ws);
    window.__heldSignals = [];
    ws.send = (text) => {
      if (window.__heldSignals && JSON.parse(text).type === 'signal') window.__heldSignals.push(text);
      else send(text);
    };
    window.__releaseSignals = () => {
      const held = window.__heldSignals;
      window.__heldSignals = null;
      for (const text of held) send(text);
      return held.length;
    };
  });

const framesDecoded = async (page) => (await h.mediaReport(page)).peers[0].framesDecoded;
const soundEnergy = async (page) => (await h.audioEnergy(page))[0].energy;

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

  // B opens the link afresh, types a name and joins.
  await h.joinRoom(b, link, 'Bob');

  await t.test('both decode video and audio from the other', async () => {
    const [reportB, reportA] = await Promise.all([h.waitForMedia(b, 1), h.waitForMedia(a, 1)]);
    // Sound, not only packets: the fake microphones beep.
    await Promise.all([h.waitForSound(a), h.waitForSound(b)]);
    assert.equal(reportA.peers[0].state, 'connected');
    assert.equal(reportB.peers[0].state, 'connected');
    assert.deepEqual(await h.tileNames(a), ['Bob']);
    assert.deepEqual(await h.tileNames(b), ['Ada']);
    await h.waitForText(a, '#call-status', /^Connected with Bob\.$/);
    await h.waitForText(b, '#call-status', /^Connected with Ada\.$/);
  });

  await t.test('screenshot of the call', async () => {
    await h.waitForQuiet(a);
    await h.waitForVideoFrames(a);
    await h.screenshot(a, 'call.png');
  });

  await t.test('mute and unmute the microphone', async () => {
    await b.click('#toggle-mic');
    const muted = await h.senders(b);
    const audio = muted[0].find((s) => s.kind === 'audio');
    assert.equal(audio.track.enabled, false, 'B sends a disabled (silent) audio track');
    assert.equal(await h.text(b, '#toggle-mic .label'), 'Unmute');
    await a.waitForSelector('#tiles .tile.mic-off', { timeout: 10_000 });
    // Silence: packets go on, the sound A receives does not grow.
    // (Less than 1e-6: a hundredth of what waitForSound counts as sound.)
    await standsStill(a, 'audio energy', soundEnergy, 1e-6);

    await b.click('#toggle-mic');
    const unmuted = await h.senders(b);
    assert.equal(unmuted[0].find((s) => s.kind === 'audio').track.enabled, true);
    assert.equal(await h.text(b, '#toggle-mic .label'), 'Mute');
    await a.waitForSelector('#tiles .tile:not(.mic-off)', { timeout: 10_000 });
    await h.waitForSound(a);
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
    // No new frames while audio goes on: A's decoded frame count stands
    // still over 100 audio packets (2 s of Opus at 20 ms a packet).
    const after = await standsStill(a, 'decoded video frames', framesDecoded);

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

  await t.test('offers cross (glare): the polite side rolls back, and the call goes on', async (t) => {
    // The collision is forced, not left to timing: B's outgoing signals
    // are held in its WebSocket (holdSignals) while B and then A restart
    // ICE, so each has its own offer out when B's is let go. A (polite,
    // in the room first) must roll its offer back and answer B's; B
    // (impolite) must ignore A's.
    const before = { a: await ufrag(a), b: await ufrag(b) };
    await Promise.all([watchSignalingStates(a), watchSignalingStates(b)]);
    await holdSignals(b);
    await restartIce(b);
    await h.until(() => b.evaluate(() => window.__parlorTest.pcs.find((p) => p.connectionState !== 'closed').signalingState === 'have-local-offer' && window.__heldSignals.length > 0), {
      timeout: 10_000,
      what: 'B: its offer made and held',
    });
    await restartIce(a);
    await h.until(() => a.evaluate(() => window.__parlorTest.pcs.find((p) => p.connectionState !== 'closed').signalingState === 'have-local-offer'), {
      timeout: 10_000,
      what: 'A: its own offer made',
    });
    const released = await b.evaluate(() => window.__releaseSignals());
    assert.ok(released > 0, 'B\'s held offer went out');
    for (const page of [a, b]) {
      // Stable and connected again, with the new ICE credentials.
      await h.until(
        () =>
          page.evaluate((old) => {
            const pc = window.__parlorTest.pcs.find((p) => p.connectionState !== 'closed');
            const ufrag = pc.localDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1];
            return pc.signalingState === 'stable' && pc.connectionState === 'connected' && ufrag !== old;
          }, before[page === a ? 'a' : 'b']),
        { timeout: 20_000, what: `${page.label}: stable and connected after glare` },
      );
    }
    const states = {
      a: await a.evaluate(() => window.__signalingStates.join(' > ')),
      b: await b.evaluate(() => window.__signalingStates.join(' > ')),
    };
    t.diagnostic(`A (polite): ${states.a}; B (impolite): ${states.b}`);
    // A went from its own offer to B's offer: only a rollback does that.
    assert.match(states.a, /^have-local-offer > (stable > )?have-remote-offer > stable/, `A rolled back its offer: ${states.a}`);
    // B kept its offer and got A's answer to it, never taking A's offer.
    assert.match(states.b, /^have-local-offer > stable/, `B ignored A's offer: ${states.b}`);
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
