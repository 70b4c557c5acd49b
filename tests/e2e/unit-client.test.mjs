// Unit tests of the web client's pure modules, run by Node without a
// browser: the grid geometry (static/js/ui/layout.js) and the call-quality
// arithmetic (static/js/media/stats.js) on hand-made getStats() reports,
// the remembered effects (static/js/media/effects.js), the connection
// warning and the muted hint's pacing (ui/warnings.js), and the people
// panel's words (ui/people.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestGrid } from '../../static/js/ui/layout.js';
import { summarize, rate, rateRecent, cameraStalled } from '../../static/js/media/stats.js';
import { deviceMessage, deviceWord } from '../../static/js/ui/device-words.js';
import { savedEffects, saveEffect } from '../../static/js/media/effects.js';
import { connectionWarning, HintPacer } from '../../static/js/ui/warnings.js';
import { stateWords } from '../../static/js/ui/people.js';

test('grid: the tiles fit the box, and the layout suits the screen', () => {
  for (const [count, width, height] of [[1, 800, 600], [3, 1248, 640], [4, 1248, 640], [6, 1248, 640], [4, 374, 700], [6, 374, 700], [5, 240, 640]]) {
    const grid = bestGrid(count, width, height, 10);
    assert.ok(grid.cols * grid.rows >= count, `${count} tiles have a place: ${JSON.stringify(grid)}`);
    assert.ok(grid.cols * grid.width + (grid.cols - 1) * 10 <= width, `fits the width: ${JSON.stringify(grid)}`);
    assert.ok(grid.rows * grid.height + (grid.rows - 1) * 10 <= height, `fits the height: ${JSON.stringify(grid)}`);
    assert.ok((grid.rows - 1) * grid.cols < count, `no empty row: ${JSON.stringify(grid)}`);
  }
  // A laptop: four people two by two, six three by two, landscape tiles.
  assert.deepEqual([bestGrid(4, 1248, 640).cols, bestGrid(4, 1248, 640).rows], [2, 2]);
  assert.deepEqual([bestGrid(6, 1248, 640).cols, bestGrid(6, 1248, 640).rows], [3, 2]);
  assert.ok(bestGrid(3, 1248, 640).width / bestGrid(3, 1248, 640).height >= 4 / 3);
  // A phone: tiles as wide as the screen allows.
  const phone = bestGrid(4, 374, 700);
  assert.ok(phone.width > 300, JSON.stringify(phone));
  // Nothing to place, or no room: nothing breaks.
  assert.deepEqual(bestGrid(0, 100, 100), { cols: 1, rows: 1, width: 0, height: 0 });
  assert.equal(bestGrid(3, 0, 100).width, 0);
});

/** A getStats() report: a Map of stats objects by id. */
function report(stats) {
  return new Map(stats.map((s) => [s.id, s]));
}

function call({ bytesIn, bytesOut, received, lost, remoteFraction = 0, rtt = 0.04, local = 'host', remote = 'srflx' }) {
  return report([
    { id: 'T', type: 'transport', selectedCandidatePairId: 'P' },
    { id: 'P', type: 'candidate-pair', localCandidateId: 'L', remoteCandidateId: 'R', currentRoundTripTime: rtt },
    { id: 'L', type: 'local-candidate', candidateType: local, protocol: 'udp' },
    { id: 'R', type: 'remote-candidate', candidateType: remote, protocol: 'udp' },
    { id: 'IA', type: 'inbound-rtp', kind: 'audio', bytesReceived: bytesIn / 4, packetsReceived: received / 2, packetsLost: lost / 2 },
    { id: 'IV', type: 'inbound-rtp', kind: 'video', trackIdentifier: 'cam', bytesReceived: (bytesIn * 3) / 4, packetsReceived: received / 2, packetsLost: lost / 2, framesDecoded: 100, frameWidth: 640, frameHeight: 360, framesPerSecond: 24 },
    { id: 'IS', type: 'inbound-rtp', kind: 'video', trackIdentifier: 'scr', bytesReceived: 0, packetsReceived: 0, packetsLost: 0, framesDecoded: 50, frameWidth: 1280, frameHeight: 800, framesPerSecond: 5 },
    { id: 'OV', type: 'outbound-rtp', kind: 'video', bytesSent: bytesOut, packetsSent: 1000, frameWidth: 640, frameHeight: 360, framesPerSecond: 24, qualityLimitationReason: 'none' },
    { id: 'RI', type: 'remote-inbound-rtp', kind: 'video', fractionLost: remoteFraction, roundTripTime: 0.05, packetsLost: 0 },
  ]);
}

test('quality: rates, loss, pictures and path from two reports', () => {
  const first = summarize(call({ bytesIn: 0, bytesOut: 0, received: 0, lost: 0 }), null, { screenTrackId: 'scr' });
  assert.equal(first.sample.bitrateIn, null, 'no rate from one report');
  assert.equal(first.sample.rttMs, 40);
  assert.deepEqual(first.sample.path, { local: 'host', remote: 'srflx', protocol: 'udp', relayed: false });
  assert.deepEqual(first.sample.camera, { width: 640, height: 360, fps: 24 }, 'the camera, not the larger screen');
  assert.deepEqual(first.sample.screen, { width: 1280, height: 800, fps: 5 });
  assert.equal(first.sample.lossOut, 0);

  // Two seconds later: 250 kB in, 125 kB out, 980 packets received and 20 lost.
  const before = { ...first.totals, at: first.totals.at - 2000 };
  const { sample } = summarize(call({ bytesIn: 250_000, bytesOut: 125_000, received: 980, lost: 20, remoteFraction: 0.05 }), before, { screenTrackId: 'scr' });
  assert.ok(Math.abs(sample.bitrateIn - 1000) < 20, `1 Mbit/s in (${sample.bitrateIn})`);
  assert.ok(Math.abs(sample.bitrateOut - 500) < 10, `500 kbit/s out (${sample.bitrateOut})`);
  assert.equal(sample.lossIn, 2, '20 of 1000 packets lost: 2 %');
  assert.equal(sample.lossOut, 5, 'the far end reports 5 % lost');

  // Relayed when either side is a relay candidate.
  const relayed = summarize(call({ bytesIn: 0, bytesOut: 0, received: 0, lost: 0, local: 'relay', remote: 'host' }), null);
  assert.equal(relayed.sample.path.relayed, true);
});

test('quality: what limits your picture is said only when it is made smaller', () => {
  const sent = (outbound, source) => {
    const stats = call({ bytesIn: 0, bytesOut: 0, received: 0, lost: 0 });
    stats.set('OV', { ...stats.get('OV'), mediaSourceId: 'S', ...outbound });
    if (source) stats.set('S', { id: 'S', type: 'media-source', kind: 'video', ...source });
    return summarize(stats, null).sample.sent;
  };
  const hd = { width: 1280, height: 720 };
  // The walkthrough's case: whole picture, the estimate still rising.
  assert.equal(sent({ frameWidth: 1280, frameHeight: 720, qualityLimitationReason: 'bandwidth' }, hd).limit, null);
  assert.equal(sent({ frameWidth: 640, frameHeight: 360, qualityLimitationReason: 'bandwidth' }, hd).limit, 'bandwidth');
  assert.equal(sent({ frameWidth: 640, frameHeight: 360, qualityLimitationReason: 'cpu' }, hd).limit, 'cpu');
  assert.equal(sent({ frameWidth: 640, frameHeight: 360, qualityLimitationReason: 'none' }, hd).limit, 'cap');
  assert.equal(sent({ frameWidth: 640, frameHeight: 360, qualityLimitationReason: 'bandwidth' }, null).limit, null, 'no source: nothing claimed');
});

test('quality: ratings, and one slow sample does not flip them', () => {
  const s = (rttMs, lossIn = 0, lossOut = 0) => ({ state: 'connected', rttMs, lossIn, lossOut });
  assert.equal(rate(s(30)), 'good');
  assert.equal(rate(s(300)), 'fair');
  assert.equal(rate(s(30, 3)), 'fair');
  assert.equal(rate(s(30, 0, 10)), 'poor');
  assert.equal(rate(s(900)), 'poor');
  assert.equal(rate({ ...s(30), state: 'connecting' }), 'unknown');
  assert.equal(rate({ state: 'connected', rttMs: null, lossIn: null, lossOut: null }), 'unknown');
  assert.equal(rateRecent([s(20), s(2000), s(25)]), 'good', 'the median round trip');
  assert.equal(rateRecent([s(20), s(20, 9), s(25)]), 'poor', 'the worst loss');
  assert.equal(rateRecent([]), 'unknown');
});

test('device words: one story for both devices, the same words everywhere', () => {
  assert.equal(deviceMessage({ audio: 'ok', video: 'ok' }), '');
  assert.equal(deviceMessage({ audio: 'pending', video: 'blocked' }), '');
  assert.match(deviceMessage({ audio: 'blocked', video: 'blocked' }, { short: true }), /camera and microphone are blocked.*cannot see or hear you/);
  const mixed = deviceMessage({ audio: 'blocked', video: 'missing' }, { short: true });
  assert.equal(mixed, 'No camera found, and microphone blocked. You can see and hear the others, but they cannot see or hear you.');
  assert.doesNotMatch(mixed, /will see you|will hear you/, 'never promises what cannot happen');
  assert.match(deviceMessage({ audio: 'blocked', video: 'ok' }), /see you but not hear you/);
  assert.equal(deviceWord('video', 'blocked'), 'Camera blocked');
  assert.equal(deviceWord('video', 'missing'), 'No camera found');
  assert.equal(deviceWord('audio', 'error'), 'Microphone unavailable');
});

test('quality: a camera that sends no frames is noticed, one that sends is not', () => {
  const withCamera = (framesEncoded) => {
    const stats = call({ bytesIn: 0, bytesOut: 0, received: 0, lost: 0 });
    stats.set('OV', { ...stats.get('OV'), mediaSourceId: 'S', framesEncoded });
    stats.set('S', { id: 'S', type: 'media-source', kind: 'video', trackIdentifier: 'my-cam' });
    return stats;
  };
  const first = summarize(withCamera(100), null, { cameraTrackId: 'my-cam' });
  assert.equal(first.sample.cameraFramesOut, null, 'unknown from one report');
  const moving = summarize(withCamera(130), first.totals, { cameraTrackId: 'my-cam' }).sample;
  assert.equal(moving.cameraFramesOut, 30);
  const other = summarize(withCamera(130), first.totals, { cameraTrackId: 'someone-else' }).sample;
  assert.equal(other.cameraFramesOut, null, 'frames of another track (a screen) do not count');
  const still = { state: 'connected', cameraFramesOut: 0 };
  const fine = { state: 'connected', cameraFramesOut: 30 };
  assert.equal(cameraStalled([fine, still, still]), true);
  assert.equal(cameraStalled([still, fine]), false);
  assert.equal(cameraStalled([still]), false, 'one sample is not enough');
  assert.equal(cameraStalled([{ ...still, state: 'connecting' }, still]), false, 'only while connected');
  assert.equal(cameraStalled([{ state: 'connected', cameraFramesOut: null }, still]), false, 'unknown is not stalled');
});

test('effects: noise suppression on unless switched off; bad storage changes nothing', (t) => {
  const store = new Map();
  globalThis.localStorage = {
    getItem: (key) => store.get(key) ?? null,
    setItem: (key, value) => store.set(key, String(value)),
  };
  t.after(() => delete globalThis.localStorage);
  assert.deepEqual(savedEffects(), { noiseSuppression: true });
  saveEffect('noiseSuppression', false);
  assert.deepEqual(savedEffects(), { noiseSuppression: false });
  assert.throws(() => saveEffect('blur', true), TypeError);
  assert.throws(() => saveEffect('noiseSuppression', 'no'), TypeError);
  assert.deepEqual(savedEffects(), { noiseSuppression: false });
  for (const garbled of ['{', 'null', '7', '{"noiseSuppression":"off"}']) {
    store.set('parlor.effects', garbled);
    assert.deepEqual(savedEffects(), { noiseSuppression: true }, garbled);
  }
  // Storage that refuses (private modes, disabled): the defaults, no throw.
  globalThis.localStorage = {
    getItem: () => {
      throw new Error('denied');
    },
    setItem: () => {
      throw new Error('denied');
    },
  };
  saveEffect('noiseSuppression', false);
  assert.deepEqual(savedEffects(), { noiseSuppression: true });
});

test('connection warning: yours when every connection is poor, theirs when only some are', () => {
  const r = (name, rating) => ({ name, rating });
  assert.equal(connectionWarning([]), '');
  assert.equal(connectionWarning([r('Bob', 'good'), r('Cy', 'fair')]), '');
  assert.match(connectionWarning([r('Bob', 'poor'), r('Cy', 'poor')]), /^Your connection is poor/);
  assert.match(connectionWarning([r('Bob', 'poor'), r('Cy', 'good')]), /^Bob’s connection is poor/);
  assert.match(connectionWarning([r('Bob', 'poor'), r('Cy', 'poor'), r('Dee', 'good')]), /^Bob’s and Cy’s connections are poor/);
  // With one other person, either side may be the cause.
  assert.match(connectionWarning([r('Bob', 'poor')]), /^The connection between you and Bob is poor/);
  // Not measured yet is not poor.
  assert.equal(connectionWarning([r('Bob', 'unknown'), r('Cy', 'unknown')]), '');
});

test('muted hint: not at once, then at most once in a while', () => {
  const pacer = new HintPacer({ everyMs: 30_000, quietMs: 1_000 });
  assert.equal(pacer.due(0), false, 'not muted: nothing to say');
  pacer.reset(0);
  assert.equal(pacer.due(500), false, 'just muted: a cough says nothing');
  assert.equal(pacer.due(1_500), true);
  assert.equal(pacer.due(2_000), false, 'said once, not again at once');
  assert.equal(pacer.due(20_000), false);
  assert.equal(pacer.due(31_600), true, 'again after a while');
  pacer.reset(null);
  assert.equal(pacer.due(100_000), false, 'unmuted: nothing to say');
});

test('people panel: each state in words', () => {
  assert.deepEqual(stateWords({ audio: true, video: true }), []);
  assert.deepEqual(stateWords({ audio: false, video: false, screen: true, rating: 'poor' }), ['Muted', 'Camera off', 'Presenting', 'Poor connection']);
  assert.deepEqual(stateWords({ audio: null, video: null, rating: 'unknown' }), [], 'unknown is not said');
});
