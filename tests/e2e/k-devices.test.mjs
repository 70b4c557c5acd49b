// (k) Picking the camera, microphone and speaker, before and during a call.
// Two headless Chromium with Chromium's fake devices (three cameras, three
// microphones, three speakers; the second fake camera is a depth camera,
// whose 16-bit frames WebRTC cannot send: picking it must warn the sender;
// otherwise the tests use the first and the third). B picks a camera before
// joining; during the
// call B switches camera and microphone (replaceTrack on the same peer
// connection: no renegotiation, A keeps decoding, mute is kept) and the
// speaker (setSinkId); a camera picked while it is off is used when it goes
// on; and the choices are remembered for the next visit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

/** The options of a device picker and the one selected. */
function picker(page, id) {
  return page.$eval(`#${id}`, (select) => ({
    options: [...select.options].map((o) => ({ value: o.value, label: o.textContent })),
    value: select.value,
    label: select.selectedOptions[0]?.textContent ?? null,
    disabled: select.disabled,
    shown: !select.closest('.device-row').hidden,
  }));
}

/** What B's one peer connection sends, and its negotiation state. */
function sending(page) {
  return page.evaluate(() => {
    const pcs = window.__parlorTest.pcs.filter((pc) => pc.connectionState !== 'closed');
    const pc = pcs[0];
    const tracks = pc.getTransceivers().map((t) => t.sender.track);
    const audio = tracks[0];
    const camera = tracks[1];
    return {
      pcs: pcs.length,
      signalingState: pc.signalingState,
      // The SDP's session version goes up with every renegotiation.
      version: pc.localDescription.sdp.match(/^o=\S+ \S+ (\d+)/m)[1],
      audio: audio ? { label: audio.label, enabled: audio.enabled, readyState: audio.readyState } : null,
      camera: camera ? { label: camera.label, readyState: camera.readyState } : null,
      selfView: document.getElementById('self-video').srcObject?.getVideoTracks()[0]?.label ?? null,
    };
  });
}

async function pick(page, id, label) {
  const { options } = await picker(page, id);
  const option = options.find((o) => o.label === label);
  assert.ok(option, `${id} offers ${label}: ${JSON.stringify(options)}`);
  await page.select(`#${id}`, option.value);
  return option.value;
}

test('choosing devices before and during a call', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { pages, link } = await h.startCall(cleanup, ['Ada', 'Bob'], {
    join: 1,
    chromium: { fakeDevices: 'device-count=3,fps=15' },
    page: { camera: h.SMALL_CAMERA },
  });
  const [a, b] = pages;

  await t.test('before joining: the pickers list the devices, and the picked camera is previewed', async () => {
    await h.open(b, link);
    await b.waitForSelector('#prejoin-screen:not([hidden])');
    await b.waitForSelector('#pre-cam:not([disabled])');
    const cameras = await h.until(async () => {
      const p = await picker(b, 'pre-video');
      return p.options.length === 3 && p.options.every((o) => o.label.startsWith('fake_device_')) ? p : null;
    }, { what: 'B: three cameras, with names' });
    assert.equal(cameras.label, 'fake_device_0', 'the camera in use is selected');
    const mics = await picker(b, 'pre-audio');
    assert.deepEqual(mics.options.map((o) => o.label), ['Fake Default Audio Input', 'Fake Audio Input 1', 'Fake Audio Input 2']);
    const speakers = await picker(b, 'pre-speaker');
    assert.equal(speakers.shown, true, 'Chromium can pick a speaker');
    assert.ok(speakers.options.length >= 2, JSON.stringify(speakers));

    await pick(b, 'pre-video', 'fake_device_2');
    await b.waitForFunction(() => document.getElementById('preview').srcObject?.getVideoTracks()[0]?.label === 'fake_device_2', { timeout: 10_000 });
    await b.waitForFunction(() => document.getElementById('preview').videoWidth > 0, { timeout: 10_000 });
    await h.joinAs(b, 'Bob');
    await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);
    assert.equal((await sending(b)).camera.label, 'fake_device_2', 'B sends the camera it picked');
  });

  await t.test('during the call: switching the camera keeps the call up, without renegotiating', async () => {
    const before = await sending(b);
    await b.click('#open-settings');
    await b.waitForSelector('#settings-dialog[open]');
    assert.equal((await picker(b, 'call-video')).label, 'fake_device_2');
    const report = await h.mediaReport(a);
    await pick(b, 'call-video', 'fake_device_0');
    const after = await h.until(async () => {
      const s = await sending(b);
      return s.camera?.label === 'fake_device_0' ? s : null;
    }, { timeout: 10_000, what: 'B: sending the other camera' });
    assert.equal(after.camera.readyState, 'live');
    assert.equal(after.selfView, 'fake_device_0', 'the self-view follows');
    assert.equal(after.pcs, 1, 'same peer connection');
    assert.equal(after.version, before.version, 'no renegotiation');
    assert.equal(after.signalingState, 'stable');
    await h.waitForMoreFrames(a, report);
    assert.equal((await picker(b, 'call-video')).label, 'fake_device_0');
  });

  await t.test('during the call: switching the microphone keeps it muted, and the sound flowing', async () => {
    const before = await sending(b);
    await b.keyboard.press('Escape');
    await b.waitForSelector('#settings-dialog:not([open])');
    await b.click('#toggle-mic');
    await a.waitForSelector('#tiles .tile.mic-off', { timeout: 10_000 });
    await b.click('#open-settings');
    await pick(b, 'call-audio', 'Fake Audio Input 1');
    const after = await h.until(async () => {
      const s = await sending(b);
      return s.audio?.label === 'Fake Audio Input 1' ? s : null;
    }, { timeout: 10_000, what: 'B: sending the other microphone' });
    assert.equal(after.audio.enabled, false, 'still muted');
    assert.equal(after.version, before.version, 'no renegotiation');
    assert.equal(await h.text(b, '#toggle-mic .label'), 'Unmute');
    await b.keyboard.press('Escape');
    await b.click('#toggle-mic');
    assert.equal((await sending(b)).audio.enabled, true);
    await a.waitForSelector('#tiles .tile:not(.mic-off)', { timeout: 10_000 });
    // Sound from the new microphone, not only packets (the fake one beeps).
    await h.waitForSound(a);
    await h.waitForMoreFrames(a, await h.mediaReport(a));
  });

  await t.test('the speaker: sound goes to the one picked', async () => {
    await b.click('#open-settings');
    const id = await pick(b, 'call-speaker', 'Fake Audio Output 1');
    await b.waitForFunction((wanted) => document.querySelector('#tiles .tile video').sinkId === wanted, { timeout: 10_000 }, id);
    assert.equal((await picker(b, 'call-speaker')).label, 'Fake Audio Output 1');
    await b.keyboard.press('Escape');
  });

  await t.test('a camera WebRTC cannot send: the sender is told, and the warning goes with it', async () => {
    const notice = () => b.$eval('#call-notice', (n) => (n.hidden ? '' : n.textContent));
    assert.doesNotMatch(await notice(), /sends no picture/);
    await b.click('#open-settings');
    await pick(b, 'call-video', 'fake_device_1');
    await b.keyboard.press('Escape');
    await b.waitForFunction(() => /Your camera sends no picture/.test(document.querySelector('#call-notice-text').textContent), { timeout: 20_000 });
    await b.click('#open-settings');
    await pick(b, 'call-video', 'fake_device_0');
    await b.keyboard.press('Escape');
    await b.waitForFunction(() => !/sends no picture/.test(document.querySelector('#call-notice-text').textContent), { timeout: 20_000 });
    await h.waitForMoreFrames(a, await h.mediaReport(a));
  });

  await t.test('a camera picked while it is off is used when it goes on', async () => {
    await b.click('#toggle-cam');
    await h.until(async () => (await sending(b)).camera === null, { timeout: 5000, what: 'B: camera off' });
    await b.click('#open-settings');
    await pick(b, 'call-video', 'fake_device_2');
    await b.keyboard.press('Escape');
    assert.equal((await sending(b)).camera, null, 'the camera stays off');
    await b.click('#toggle-cam');
    const s = await h.until(async () => {
      const now = await sending(b);
      return now.camera?.readyState === 'live' ? now : null;
    }, { timeout: 10_000, what: 'B: camera on' });
    assert.equal(s.camera.label, 'fake_device_2');
    const report = await h.mediaReport(a);
    await h.waitForMoreFrames(a, report);
  });

  await t.test('the choices are remembered for the next visit', async () => {
    await b.click('#hang-up');
    await h.waitForScreen(b, 'message-screen');
    await h.open(b, link);
    await b.waitForSelector('#pre-cam:not([disabled])');
    await b.waitForFunction(() => document.getElementById('preview').srcObject?.getVideoTracks()[0]?.label === 'fake_device_2', { timeout: 10_000 });
    assert.equal((await picker(b, 'pre-video')).label, 'fake_device_2');
    assert.equal((await picker(b, 'pre-audio')).label, 'Fake Audio Input 1');
    assert.equal((await picker(b, 'pre-speaker')).label, 'Fake Audio Output 1');
    h.assertNoPageErrors(a, b);
  });
});
