// (x) Effects on your own sound: the noise suppression switch, before and
// during a call, in headless Chromium with its fake devices. On by
// default; switching it changes what the microphone track sending to the
// other side reports (getSettings().noiseSuppression), without
// renegotiating, and the other side keeps hearing sound (its inbound
// totalAudioEnergy grows); the choice is remembered for the next visit.
// The switch's screens pass axe. (Background blur is not offered: see
// docs/effects.md.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

/** B's one peer connection: the microphone track it sends and its negotiation state. */
function sentMicrophone(page) {
  return page.evaluate(() => {
    const pcs = window.__parlorTest.pcs.filter((pc) => pc.connectionState !== 'closed');
    const pc = pcs[0];
    const track = pc.getTransceivers()[0].sender.track;
    return {
      pcs: pcs.length,
      signalingState: pc.signalingState,
      // The SDP's session version goes up with every renegotiation.
      version: pc.localDescription.sdp.match(/^o=\S+ \S+ (\d+)/m)[1],
      track: track && { id: track.id, readyState: track.readyState, enabled: track.enabled, noiseSuppression: track.getSettings().noiseSuppression },
    };
  });
}

/** The switch `id`: whether it shows, is on and can be used. */
function noiseSwitch(page, id) {
  return page.$eval(`#${id}`, (box) => ({ shown: !box.closest('.effect-row').hidden, checked: box.checked, disabled: box.disabled }));
}

/** Waits until B sends a live microphone track with noise suppression `on`. */
function waitForSuppression(page, on) {
  return h.until(
    async () => {
      const s = await sentMicrophone(page);
      return s.track?.readyState === 'live' && s.track.noiseSuppression === on ? s : null;
    },
    { timeout: 10_000, what: `${page.label}: sending a microphone with noise suppression ${on ? 'on' : 'off'}` },
  );
}

test('noise suppression: on by default, switched during the call, remembered', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { pages, link } = await h.startCall(cleanup, ['Ada', 'Bob'], { join: 1, ...h.LIGHT_MEDIA });
  const [a, b] = pages;

  await t.test('before joining: the switch shows under the microphone, on', async () => {
    await h.open(b, link);
    await h.waitForScreen(b, 'prejoin-screen');
    await b.waitForSelector('#pre-noise:not([disabled])');
    assert.deepEqual(await noiseSwitch(b, 'pre-noise'), { shown: true, checked: true, disabled: false });
    assert.equal(await b.$eval('#pre-noise', (box) => box.closest('.effect-row').previousElementSibling.querySelector('select')?.id), 'pre-audio');
    await h.waitForText(b, '#preview-note', /./);
    await h.assertAccessible(b, 'pre-join with the noise suppression switch');
    await h.joinAs(b, 'Bob');
    await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);
    await waitForSuppression(b, true);
  });

  await t.test('during the call: off and on again, same connection, sound all along', async () => {
    const before = await sentMicrophone(b);
    await b.click('#open-settings');
    await b.waitForSelector('#settings-dialog[open]');
    assert.deepEqual(await noiseSwitch(b, 'call-noise'), { shown: true, checked: true, disabled: false });
    await h.assertAccessible(b, 'device settings with the noise suppression switch');

    await b.click('#call-noise');
    const off = await waitForSuppression(b, false);
    assert.equal(off.pcs, 1, 'same peer connection');
    assert.equal(off.version, before.version, 'no renegotiation');
    assert.equal(off.signalingState, 'stable');
    assert.equal(off.track.enabled, true);
    await b.waitForSelector('#call-noise:not([disabled])');
    assert.equal((await noiseSwitch(b, 'call-noise')).checked, false);
    await h.waitForSound(a);

    await b.click('#call-noise');
    const on = await waitForSuppression(b, true);
    assert.equal(on.version, before.version, 'no renegotiation');
    await h.waitForSound(a);
    await b.click('#call-noise');
    await waitForSuppression(b, false);
    await b.keyboard.press('Escape');
  });

  await t.test('the choice is remembered for the next visit', async () => {
    await b.click('#hang-up');
    await h.waitForScreen(b, 'message-screen');
    const again = await h.newPage(b.browser(), 'Bob again');
    await h.open(again, link);
    await h.waitForScreen(again, 'prejoin-screen');
    await again.waitForSelector('#pre-noise:not([disabled])');
    assert.deepEqual(await noiseSwitch(again, 'pre-noise'), { shown: true, checked: false, disabled: false });
    await h.joinAs(again, 'Bob');
    await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(again, 1)]);
    await waitForSuppression(again, false);
    await h.waitForSound(a);
    h.assertNoPageErrors(a, b, again);
  });
});
