// Unit tests of Peer (static/js/call/peer.js), the perfect negotiation
// with one other person, against a scripted remote side, run by Node on the
// fakes of lib/client-fakes.mjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  settle,
  event,
  sdpOf,
  REMOTE_OFFER,
  newPeer,
  descriptions,
  negotiatedNewcomer,
  negotiatedMember,
} from './lib/client-fakes.mjs';

/* ------------------------------------------------------ perfect negotiation */

test('peer: the newcomer offers audio, camera and screen at once, and takes the answer', async () => {
  const { peer, pc, sent, media } = newPeer({ polite: false });
  assert.equal(peer.polite, false);
  peer.start();
  await settle();
  const offers = descriptions(sent, 'offer');
  assert.equal(offers.length, 1, 'one offer for the three transceivers');
  assert.equal(offers[0].description.sdp, sdpOf(['audio', 'video', 'video']), 'audio, camera, screen in that order');
  const [audio, camera, screen] = pc.getTransceivers();
  assert.equal(audio.sender.track, media.tracks.audio);
  assert.equal(camera.sender.track, media.tracks.video);
  assert.equal(screen.sender.track, null, 'no screen shared yet, but the m-line is there');
  assert.deepEqual(pc.getTransceivers().map((tr) => tr.direction), ['sendrecv', 'sendrecv', 'sendrecv']);
  assert.equal(pc.signalingState, 'have-local-offer');

  await peer.handleSignal({ description: { type: 'answer', sdp: sdpOf(['audio', 'video', 'video']) } });
  await settle();
  assert.equal(pc.signalingState, 'stable');
  assert.deepEqual(pc.log, ['local offer', 'remote answer']);
  assert.equal(descriptions(sent, 'answer').length, 0, 'an answer is not answered');
});

test('peer: the member already there adds nothing before the first offer, then answers on its transceivers', async () => {
  const { peer, pc, sent, media } = newPeer({ polite: true });
  assert.equal(peer.polite, true);
  await peer.updateLocalMedia();
  await settle();
  assert.equal(pc.getTransceivers().length, 0, 'no transceiver, so no offer of its own');
  assert.equal(sent.length, 0);

  await peer.handleSignal({ description: REMOTE_OFFER });
  await settle();
  assert.deepEqual(pc.log, ['remote offer', 'local answer']);
  assert.equal(descriptions(sent, 'answer').length, 1);
  assert.equal(descriptions(sent, 'offer').length, 0, 'no offer of its own after answering');
  const transceivers = pc.getTransceivers();
  assert.equal(transceivers.length, 3, 'the offered transceivers are used, none added');
  assert.equal(transceivers[0].sender.track, media.tracks.audio, 'our microphone on the offered audio m-line');
  assert.equal(transceivers[1].sender.track, media.tracks.video, 'our camera on the first video m-line');
  assert.deepEqual(transceivers.map((tr) => tr.direction), ['sendrecv', 'sendrecv', 'sendrecv']);
  assert.equal(pc.signalingState, 'stable');
});

test('peer: on glare the polite side rolls its offer back, answers, and offers again', async () => {
  const { peer, pc, sent } = await negotiatedMember();
  // Our own renegotiation (an ICE restart) goes out...
  pc.setConnectionState('failed');
  await settle();
  assert.equal(descriptions(sent, 'offer').length, 1);
  assert.equal(pc.signalingState, 'have-local-offer');
  // ...and crosses the other side's offer.
  await peer.handleSignal({ description: REMOTE_OFFER });
  await settle();
  assert.deepEqual(pc.log, [
    'remote offer', 'local answer', // the first negotiation
    'local offer', 'rollback', 'remote offer', 'local answer', // glare: ours rolled back, theirs answered
    'local offer', // ours again
  ]);
  const answerAt = sent.findIndex((d) => d.description?.type === 'answer');
  assert.ok(answerAt > 0, 'the colliding offer is answered');
  // Its own change is not lost: once stable, it offers again.
  const offers = descriptions(sent, 'offer');
  assert.equal(offers.length, 2, 'a new offer after the answer');
  assert.ok(sent.indexOf(offers[1]) > answerAt);
  assert.match(offers[1].description.sdp, /a=ice-restart/);
  // Its connection is still 'failed': closing stops the restarts it would retry.
  peer.close();
});

test('peer: on glare the impolite side ignores the colliding offer and keeps its own', async () => {
  const { peer, pc, sent } = newPeer({ polite: false });
  peer.start();
  await settle();
  assert.equal(pc.signalingState, 'have-local-offer');
  await peer.handleSignal({ description: REMOTE_OFFER });
  await peer.handleSignal({ candidate: { candidate: 'candidate:1 1 udp 1 10.0.0.1 9 typ host', sdpMid: '0' } });
  await settle();
  assert.deepEqual(pc.log, ['local offer'], 'the other offer is not applied');
  assert.equal(pc.signalingState, 'have-local-offer');
  assert.equal(descriptions(sent, 'answer').length, 0, 'and not answered');
  // The polite side rolls back and answers ours.
  await peer.handleSignal({ description: { type: 'answer', sdp: sdpOf(['audio', 'video', 'video']) } });
  await settle();
  assert.deepEqual(pc.log, ['local offer', 'remote answer']);
  assert.equal(pc.signalingState, 'stable');
  assert.equal(descriptions(sent, 'offer').length, 1);
});

test('peer: candidates wait for the remote description, then go in order; ours are sent', async () => {
  const { peer, pc, sent } = newPeer({ polite: true });
  const first = { candidate: 'candidate:1 1 udp 9 192.0.2.1 5000 typ host', sdpMid: '0' };
  const second = { candidate: 'candidate:2 1 udp 8 192.0.2.1 5001 typ host', sdpMid: '1' };
  await peer.handleSignal({ candidate: first });
  await peer.handleSignal({ candidate: second });
  assert.deepEqual(pc.candidates, [], 'no remote description yet: queued');
  await peer.handleSignal({ description: REMOTE_OFFER });
  await settle();
  assert.deepEqual(pc.candidates, [first, second], 'added in arrival order once the offer is set');
  await peer.handleSignal({ candidate: null });
  assert.deepEqual(pc.candidates, [first, second, null], 'end of candidates');

  pc.dispatchEvent(event('icecandidate', { candidate: { toJSON: () => ({ candidate: 'candidate:3', sdpMid: '0' }) } }));
  pc.dispatchEvent(event('icecandidate', { candidate: null }));
  assert.deepEqual(sent.filter((d) => 'candidate' in d), [{ candidate: { candidate: 'candidate:3', sdpMid: '0' } }, { candidate: null }]);

  // Nonsense is ignored, and so is everything once closed.
  await peer.handleSignal('nonsense');
  await peer.handleSignal({ unknown: true });
  peer.close();
  await peer.handleSignal({ candidate: first });
  assert.equal(pc.candidates.length, 3);
  assert.equal(pc.closed, true);
  assert.equal(peer.state, 'closed');
});

test('peer: ICE restarts when the connection fails, and when it stays disconnected', async (t) => {
  const { peer, pc, sent } = await negotiatedNewcomer();
  pc.setConnectionState('connected');
  assert.equal(peer.state, 'connected');

  pc.setConnectionState('failed');
  await settle();
  assert.equal(pc.iceRestarts, 1);
  const restart = descriptions(sent, 'offer');
  assert.equal(restart.length, 1, 'the restart is negotiated');
  assert.match(restart[0].description.sdp, /a=ice-restart/);
  await peer.handleSignal({ description: { type: 'answer', sdp: sdpOf(['audio', 'video', 'video']) } });
  await settle();
  pc.setConnectionState('connected');

  t.mock.timers.enable({ apis: ['setTimeout'] });
  // A blip that mends itself restarts nothing...
  pc.setConnectionState('disconnected');
  t.mock.timers.tick(3000);
  pc.setConnectionState('connected');
  t.mock.timers.tick(5000);
  assert.equal(pc.iceRestarts, 1);
  // ...one that lasts five seconds does.
  pc.setConnectionState('disconnected');
  t.mock.timers.tick(4900);
  assert.equal(pc.iceRestarts, 1);
  t.mock.timers.tick(200);
  assert.equal(pc.iceRestarts, 2);
  // A closed peer restarts nothing.
  peer.close();
  pc.setConnectionState('failed');
  assert.equal(pc.iceRestarts, 2);
});

test('peer: while the connection stays failed, ICE restarts again, backing off, until it connects', async (t) => {
  // A restart that ran while the path was still down leaves the connection
  // 'failed' with no further state change: only a timer can try again.
  const { peer, pc } = await negotiatedNewcomer();
  pc.setConnectionState('connected');
  t.mock.timers.enable({ apis: ['setTimeout'] });
  pc.setConnectionState('failed');
  assert.equal(pc.iceRestarts, 1, 'at once');
  const counts = [];
  for (const ms of [5000, 10_000, 20_000, 30_000, 30_000]) {
    t.mock.timers.tick(ms - 1);
    counts.push(pc.iceRestarts);
    t.mock.timers.tick(1);
    counts.push(pc.iceRestarts);
  }
  assert.deepEqual(counts, [1, 2, 2, 3, 3, 4, 4, 5, 5, 6], 'after 5, 10, 20, 30, 30 s');
  pc.setConnectionState('connected');
  t.mock.timers.tick(120_000);
  assert.equal(pc.iceRestarts, 6, 'none once connected');
  // Down again: the backoff starts over; closing stops it.
  pc.setConnectionState('disconnected');
  t.mock.timers.tick(5000);
  assert.equal(pc.iceRestarts, 7);
  peer.close();
  t.mock.timers.tick(120_000);
  assert.equal(pc.iceRestarts, 7);
});

test('peer: media state both ways, and remote tracks sorted into camera and screen', async () => {
  const { peer, pc, sent } = await negotiatedNewcomer();
  peer.sendMediaState({ audio: true, video: false, screen: true });
  assert.deepEqual(sent.at(-1), { media: { audio: true, video: false, screen: true, screenMid: '2' } }, 'the screen m-line named');
  peer.sendMediaState({ audio: false, video: true, screen: false });
  assert.deepEqual(sent.at(-1), { media: { audio: false, video: true, screen: false } });

  let mediaEvents = 0;
  peer.addEventListener('media', () => (mediaEvents += 1));
  await peer.handleSignal({ media: { audio: false, video: 'yes', screen: true, screenMid: '2' } });
  assert.deepEqual(peer.remoteMedia, { audio: false, video: null, screen: true, screenMid: '2', unavailable: [] });
  assert.equal(mediaEvents, 1);
  await peer.handleSignal({ media: { audio: false, video: false, unavailable: ['video', 'audio', 'smell', 7] } });
  assert.deepEqual(peer.remoteMedia.unavailable, ['audio', 'video'], 'only known kinds, in one order');
  await peer.handleSignal({ media: { audio: false, video: 'yes', screen: true, screenMid: '2', unavailable: 'audio' } });
  assert.deepEqual(peer.remoteMedia.unavailable, ['audio']);

  pc.receiveTrack(0);
  pc.receiveTrack(1);
  pc.receiveTrack(2);
  const [audio, camera, screen] = pc.getTransceivers().map((tr) => tr.receiver.track);
  assert.deepEqual(peer.stream.getTracks(), [audio, camera]);
  assert.equal(peer.remoteTrack('video'), camera);
  assert.equal(peer.screenTrack(), screen);
  assert.equal(peer.sharing, true);
  peer.close();
  assert.equal(camera.readyState, 'ended', 'closing stops the remote tracks');
});

test('peer: a name in their media state replaces the join name; an empty or too long one is ignored', async () => {
  const { peer } = await negotiatedNewcomer();
  const before = peer.name;
  await peer.handleSignal({ media: { audio: true, video: true, name: '   ' } });
  assert.equal(peer.name, before);
  await peer.handleSignal({ media: { audio: true, video: true, name: 'y'.repeat(65) } });
  assert.equal(peer.name, before);
  await peer.handleSignal({ media: { audio: true, video: true, name: 7 } });
  assert.equal(peer.name, before);
  await peer.handleSignal({ media: { audio: true, video: true, name: ' Bobby ' } });
  assert.equal(peer.name, 'Bobby');
  await peer.handleSignal({ media: { audio: false, video: true } });
  assert.equal(peer.name, 'Bobby', 'a state without a name keeps the last one');
  peer.close();
});
