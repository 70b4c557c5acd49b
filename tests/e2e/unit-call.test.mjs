// Unit tests of the web client's call logic, run by Node without a browser:
// Peer (static/js/call/peer.js), the perfect negotiation with one other
// person, against a scripted remote side; and Call (static/js/call/call.js),
// the rules of the room, against a fake signaling connection. Both run on
// small fakes of RTCPeerConnection, MediaStream and LocalMedia defined here:
// they keep the signaling state machine of a real peer connection (offer,
// answer, implicit rollback, candidates needing a remote description,
// negotiationneeded) and record what was done to them, without any media.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Peer } from '../../static/js/call/peer.js';
import { Call, CHAT_MAX } from '../../static/js/call/call.js';
import { ProtocolError } from '../../static/js/network/signaling.js';
import { roomKindOf, canJoinKind } from '../../static/js/network/room-kind.js';

/* -------------------------------------------------------------- fakes */

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Lets every pending promise and fake browser step run. */
async function settle(rounds = 20) {
  for (let i = 0; i < rounds; i += 1) await tick();
}

function event(type, fields = {}) {
  return Object.assign(new Event(type), fields);
}

let trackIds = 0;
class FakeTrack extends EventTarget {
  constructor(kind) {
    super();
    this.kind = kind;
    this.id = `${kind}-${(trackIds += 1)}`;
    this.readyState = 'live';
    this.muted = false;
    this.enabled = true;
  }
  stop() {
    this.readyState = 'ended';
  }
}

class FakeMediaStream {
  #tracks;
  constructor(tracks = []) {
    this.#tracks = [...tracks];
  }
  getTracks() {
    return [...this.#tracks];
  }
  getAudioTracks() {
    return this.#tracks.filter((t) => t.kind === 'audio');
  }
  getVideoTracks() {
    return this.#tracks.filter((t) => t.kind === 'video');
  }
}
globalThis.MediaStream ??= FakeMediaStream;

class FakeTransceiver {
  mid = null;
  currentDirection = null;
  constructor(kind, direction, track = null) {
    this.direction = direction;
    this.receiver = { track: new FakeTrack(kind) };
    this.sender = {
      track,
      streams: [],
      replaceTrack: async (next) => {
        this.sender.track = next;
      },
      setStreams: (...streams) => {
        this.sender.streams = streams;
      },
    };
  }
}

/** An SDP the fake understands: one "m=<kind>" line per transceiver. */
function sdpOf(kinds, { restart = false } = {}) {
  return [...kinds.map((kind) => `m=${kind}`), ...(restart ? ['a=ice-restart'] : [])].join('\n');
}

const REMOTE_OFFER = { type: 'offer', sdp: sdpOf(['audio', 'video', 'video']) };

/**
 * An RTCPeerConnection without media or network. `log` records every
 * description set ("local offer", "remote answer", "rollback", ...).
 */
class FakePeerConnection extends EventTarget {
  signalingState = 'stable';
  connectionState = 'new';
  iceConnectionState = 'new';
  localDescription = null;
  remoteDescription = null;
  /** Candidates added, in order (null: end of candidates). */
  candidates = [];
  log = [];
  iceRestarts = 0;
  closed = false;
  #transceivers = [];
  #needed = false;
  #restart = false;
  /** Whether our pending offer carries changes that a rollback would undo. */
  #offered = false;

  constructor(config) {
    super();
    this.config = config;
  }

  getTransceivers() {
    return [...this.#transceivers];
  }

  addTransceiver(trackOrKind, { direction = 'sendrecv' } = {}) {
    const track = typeof trackOrKind === 'string' ? null : trackOrKind;
    const transceiver = new FakeTransceiver(track?.kind ?? trackOrKind, direction, track);
    this.#transceivers.push(transceiver);
    this.#negotiationNeeded();
    return transceiver;
  }

  restartIce() {
    this.iceRestarts += 1;
    this.#restart = true;
    this.#negotiationNeeded();
  }

  async setLocalDescription(description) {
    await tick();
    this.#check();
    if (description?.type === 'rollback') return this.#rollback();
    this.#transceivers.forEach((t, i) => {
      t.mid ??= String(i);
    });
    const sdp = sdpOf(this.#transceivers.map((t) => t.receiver.track.kind), { restart: this.#restart });
    if (this.signalingState === 'have-remote-offer') {
      this.localDescription = { type: 'answer', sdp };
      this.log.push('local answer');
      this.#stable();
    } else {
      this.localDescription = { type: 'offer', sdp };
      this.log.push('local offer');
      this.signalingState = 'have-local-offer';
      this.#offered = true;
    }
  }

  async setRemoteDescription(description) {
    await tick();
    this.#check();
    if (description.type === 'offer') {
      // A remote offer while ours is out rolls ours back (implicit rollback).
      if (this.signalingState === 'have-local-offer') this.#rollback();
      description.sdp.match(/^m=\w+/gm).forEach((line, i) => {
        if (!this.#transceivers[i]) this.#transceivers.push(new FakeTransceiver(line.slice(2), 'recvonly'));
        this.#transceivers[i].mid ??= String(i);
      });
      this.remoteDescription = description;
      this.log.push('remote offer');
      this.signalingState = 'have-remote-offer';
    } else if (description.type === 'answer') {
      if (this.signalingState !== 'have-local-offer') throw new DOMException('no offer to answer', 'InvalidStateError');
      this.remoteDescription = description;
      this.log.push('remote answer');
      this.#stable();
    }
  }

  async addIceCandidate(candidate = null) {
    await tick();
    if (!this.remoteDescription) throw new DOMException('no remote description', 'InvalidStateError');
    this.candidates.push(candidate);
  }

  async getStats() {
    return new Map();
  }

  close() {
    this.closed = true;
    this.signalingState = 'closed';
    this.connectionState = 'closed';
  }

  /** As the browser would: the connection's state changes. */
  setConnectionState(state) {
    this.connectionState = state;
    this.iceConnectionState = state;
    this.dispatchEvent(new Event('connectionstatechange'));
  }

  /** As the browser would: the other side's track arrives on transceiver `index`. */
  receiveTrack(index) {
    const transceiver = this.#transceivers[index];
    this.dispatchEvent(event('track', { track: transceiver.receiver.track, transceiver }));
  }

  #check() {
    if (this.closed) throw new DOMException('closed', 'InvalidStateError');
  }

  #rollback() {
    this.log.push('rollback');
    this.localDescription = null;
    this.signalingState = 'stable';
    if (this.#offered) this.#needed = true;
    this.#offered = false;
    this.#fireIfNeeded();
  }

  #stable() {
    this.signalingState = 'stable';
    this.#offered = false;
    if (this.log.at(-1) === 'remote answer') this.#restart = false;
    for (const t of this.#transceivers) t.currentDirection = t.direction;
    this.#fireIfNeeded();
  }

  #negotiationNeeded() {
    this.#needed = true;
    this.#fireIfNeeded();
  }

  #fireIfNeeded() {
    setImmediate(() => {
      if (!this.#needed || this.closed || this.signalingState !== 'stable') return;
      this.#needed = false;
      this.dispatchEvent(new Event('negotiationneeded'));
    });
  }
}

/** LocalMedia as Call and Peer use it: a microphone and a camera, no screen. */
class FakeMedia extends EventTarget {
  tracks = { audio: new FakeTrack('audio'), video: new FakeTrack('video'), screen: null };
  micOn = true;
  canSend(role) {
    return role === 'screen' || Boolean(this.tracks[role]);
  }
  track(role) {
    return this.tracks[role];
  }
  live(kind) {
    const track = this.tracks[kind];
    return Boolean(track && track.readyState === 'live' && (kind !== 'audio' || this.micOn));
  }
  setMic(on) {
    this.micOn = on;
    this.dispatchEvent(new Event('change'));
  }
}

/** A Peer on a fake connection; `sent` collects what it signals to the other side. */
function newPeer({ polite, media = new FakeMedia() }) {
  const sent = [];
  let pc = null;
  const peer = new Peer({
    id: 'remote',
    name: 'Bob',
    polite,
    iceServers: [],
    media,
    send: (data) => sent.push(data),
    createPeerConnection: (config) => (pc = new FakePeerConnection(config)),
  });
  return { peer, pc, sent, media };
}

const descriptions = (sent, type) => sent.filter((d) => d.description?.type === type);

/** A newcomer's peer whose first offer was answered: both sides stable. */
async function negotiatedNewcomer() {
  const side = newPeer({ polite: false });
  side.peer.start();
  await settle();
  await side.peer.handleSignal({ description: { type: 'answer', sdp: sdpOf(['audio', 'video', 'video']) } });
  await settle();
  side.sent.length = 0;
  return side;
}

/** An existing member's peer that answered the newcomer's first offer. */
async function negotiatedMember() {
  const side = newPeer({ polite: true });
  await side.peer.handleSignal({ description: REMOTE_OFFER });
  await settle();
  side.sent.length = 0;
  return side;
}

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

test('peer: media state both ways, and remote tracks sorted into camera and screen', async () => {
  const { peer, pc, sent } = await negotiatedNewcomer();
  peer.sendMediaState({ audio: true, video: false, screen: true });
  assert.deepEqual(sent.at(-1), { media: { audio: true, video: false, screen: true, screenMid: '2' } }, 'the screen m-line named');
  peer.sendMediaState({ audio: false, video: true, screen: false });
  assert.deepEqual(sent.at(-1), { media: { audio: false, video: true, screen: false } });

  let mediaEvents = 0;
  peer.addEventListener('media', () => (mediaEvents += 1));
  await peer.handleSignal({ media: { audio: false, video: 'yes', screen: true, screenMid: '2' } });
  assert.deepEqual(peer.remoteMedia, { audio: false, video: null, screen: true, screenMid: '2' });
  assert.equal(mediaEvents, 1);

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

/* --------------------------------------------------------------- Call */

/**
 * A fake server connection. Each `join` takes the next of `answers`: a
 * welcome (an object), a ProtocolError to refuse with, or a function of
 * the join message returning either. `sent` has every message sent.
 */
class FakeSignaling extends EventTarget {
  sent = [];
  open = false;
  closed = false;
  #server;

  constructor(server) {
    super();
    this.#server = server;
  }

  async connect() {
    await tick();
    if (this.#server.unreachable) throw new ProtocolError('unreachable', 'could not reach the server');
    this.open = true;
  }

  async join(room, name, extra = {}) {
    const message = { type: 'join', room, name, ...extra };
    this.#record(message);
    await tick();
    let answer = this.#server.answers.shift();
    if (typeof answer === 'function') answer = answer(message);
    if (!answer) throw new ProtocolError('closed', 'no answer scripted');
    if (answer instanceof Error) throw answer;
    return answer;
  }

  signal(to, data) {
    return this.#record({ type: 'signal', to, data });
  }

  chat(text) {
    return this.#record({ type: 'chat', text });
  }

  leave() {
    return this.#record({ type: 'leave' });
  }

  close() {
    this.closed = true;
    const wasOpen = this.open;
    this.open = false;
    if (wasOpen) this.receive('close', { code: 1000, expected: true });
  }

  /** A frame from the server. */
  receive(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** The network drops the connection. */
  drop() {
    this.open = false;
    this.receive('close', { code: 1006, expected: false });
  }

  #record(message) {
    if (!this.open) return false;
    this.sent.push(message);
    return true;
  }
}

function welcome(fields = {}) {
  return { type: 'welcome', room: 'r1', id: 'me', peers: [], iceServers: [{ urls: 'stun:192.0.2.1' }], resume: 'seat-1', ...fields };
}

/** A Call on fakes; `connections` are its server connections, oldest first. */
function newCall({ answers = [welcome()], kind } = {}) {
  const server = { answers, unreachable: false };
  const connections = [];
  const pcs = [];
  const media = new FakeMedia();
  const call = new Call({
    room: 'r1',
    kind,
    name: 'Ada',
    media,
    createSignaling: () => {
      const signaling = new FakeSignaling(server);
      connections.push(signaling);
      return signaling;
    },
    createPeerConnection: (config) => {
      const pc = new FakePeerConnection(config);
      pcs.push(pc);
      return pc;
    },
  });
  const events = [];
  for (const type of ['peer-added', 'peer-removed', 'fatal', 'chat-error']) {
    call.addEventListener(type, (e) => events.push({ type, ...e.detail }));
  }
  const signals = (to, key) =>
    connections.flatMap((c) => c.sent).filter((m) => m.type === 'signal' && m.to === to && (!key || key in m.data));
  return { call, server, connections, pcs, media, events, signals };
}

/** Runs the Call's reconnection timers (500 ms at first, with jitter). */
async function runRetry(t, ms = 700) {
  t.mock.timers.tick(ms);
  await settle();
}

test('call: on welcome the newcomer offers to everyone listed, impolitely', async () => {
  const { call, connections, pcs, events, signals } = newCall({
    answers: [welcome({ peers: [{ id: 'a', name: ' Bob ' }, { id: 'b' }, { id: 'me' }] })],
  });
  const phases = [];
  call.addEventListener('phase', () => phases.push(call.phase));
  await call.start();
  await settle();
  assert.deepEqual(phases, ['connecting', 'joined']);
  assert.equal(call.selfId, 'me');
  assert.deepEqual(connections[0].sent[0], { type: 'join', room: 'r1', name: 'Ada' });
  assert.deepEqual([...call.peers.keys()], ['a', 'b'], 'everyone but us');
  assert.equal(call.peers.get('a').name, 'Bob');
  assert.equal(call.peers.get('b').name, null);
  assert.ok([...call.peers.values()].every((peer) => !peer.polite), 'the newcomer is impolite');
  assert.deepEqual(pcs[0].config, { iceServers: [{ urls: 'stun:192.0.2.1' }] }, 'the welcome’s ICE servers');
  for (const id of ['a', 'b']) {
    assert.equal(signals(id, 'description').length, 1, `an offer to ${id}`);
    assert.equal(signals(id, 'description')[0].data.description.type, 'offer');
    assert.deepEqual(signals(id, 'media')[0].data.media, { audio: true, video: true, screen: false }, 'our media state');
  }
  assert.deepEqual(events.map((e) => e.type), ['peer-added', 'peer-added']);
  // Our media changes reach everyone.
  call.setMic(false);
  assert.deepEqual(signals('a', 'media').at(-1).data.media, { audio: false, video: true, screen: false });
  assert.deepEqual(signals('b', 'media').at(-1).data.media, { audio: false, video: true, screen: false });
});

test('call: peer-joined, peer-left, a known id joining again, and signals to the right peer', async () => {
  const { call, connections, pcs, events, signals } = newCall();
  await call.start();
  const server = connections[0];
  server.receive('peer-joined', { peer: { id: 'c', name: 'Cy' } });
  server.receive('peer-joined', { peer: { id: 'me' } });
  await settle();
  assert.deepEqual([...call.peers.keys()], ['c'], 'our own id is not a peer');
  const cy = call.peers.get('c');
  assert.equal(cy.polite, true, 'who was here first is polite');
  assert.equal(signals('c', 'description').length, 0, 'and waits for the newcomer’s offer');
  assert.equal(signals('c', 'media').length, 1);

  server.receive('signal', { from: 'c', data: { description: REMOTE_OFFER } });
  await settle();
  assert.equal(signals('c', 'description')[0].data.description.type, 'answer', 'the offer is answered to its sender');

  // The same id joining again has started over: so do we.
  server.receive('peer-joined', { peer: { id: 'c', name: 'Cy' } });
  assert.notEqual(call.peers.get('c'), cy);
  assert.equal(pcs[0].closed, true);
  assert.deepEqual(events.slice(-2).map((e) => [e.type, e.reason]), [['peer-removed', 'reconnect'], ['peer-added', undefined]]);

  server.receive('peer-left', { id: 'c' });
  server.receive('peer-left', { id: 'nobody' });
  assert.equal(call.peers.size, 0);
  assert.equal(pcs[1].closed, true);
  assert.deepEqual([events.at(-1).type, events.at(-1).reason], ['peer-removed', 'left']);

  // A signal from someone never announced: taken as a newcomer.
  server.receive('signal', { from: 'd', data: { description: REMOTE_OFFER } });
  await settle();
  assert.equal(call.peers.get('d').polite, true);
  assert.equal(signals('d', 'description')[0].data.description.type, 'answer');
});

test('call: chat history and live messages, once each and in time order; sending and refusals', async () => {
  const { call, connections, events } = newCall();
  await call.start();
  const server = connections[0];
  const shown = [];
  call.addEventListener('chat', (e) => shown.push(e.detail));
  server.receive('chat', { from: 'a', name: 'Bob', text: 'first', time: 1000, history: true });
  server.receive('chat', { from: 'me', name: 'Ada', text: 'mine', time: 3000 });
  server.receive('chat', { from: 'a', name: ' ', text: 'late', time: 2000 });
  server.receive('chat', { from: 'a', name: 'Bob', text: 'first', time: 1000, history: true });
  server.receive('chat', { from: 'a', text: 42, time: 4000 });
  assert.deepEqual(call.messages.map((m) => m.text), ['first', 'late', 'mine']);
  assert.deepEqual(shown.map((s) => [s.message.text, s.index]), [['first', 0], ['mine', 1], ['late', 1]]);
  assert.deepEqual(call.messages.map((m) => [m.self, m.history, m.name]), [[false, true, 'Bob'], [false, false, null], [true, false, 'Ada']]);

  assert.equal(call.sendChat('   '), false, 'only white space');
  assert.equal(call.sendChat('x'.repeat(CHAT_MAX + 1)), false, 'too long');
  assert.equal(call.sendChat(`  ${'y'.repeat(CHAT_MAX)} `), true);
  assert.deepEqual(server.sent.at(-1), { type: 'chat', text: 'y'.repeat(CHAT_MAX) }, 'trimmed');
  server.receive('error', { ref: 'chat', code: 'rate-limited' });
  server.receive('error', { ref: 'join', code: 'room-full' });
  assert.deepEqual(events.filter((e) => e.type === 'chat-error'), [{ type: 'chat-error', code: 'rate-limited' }]);

  server.drop();
  assert.equal(call.sendChat('while away'), false, 'no server, no chat');
  call.hangUp();
});

test('call: after a dropped connection it resumes its seat with the token; peers and their connections stay', async (t) => {
  const { call, server, connections, pcs, events, signals } = newCall({
    answers: [welcome({ peers: [{ id: 'a', name: 'Bob' }, { id: 'b', name: 'Cy' }] })],
  });
  await call.start();
  await settle();
  const bob = call.peers.get('a');
  t.mock.timers.enable({ apis: ['setTimeout'] });

  connections[0].drop();
  assert.equal(call.phase, 'reconnecting');
  assert.equal(call.peers.get('a'), bob, 'the peers stay while the server is away');
  assert.equal(pcs[0].closed, false);
  // What we signal meanwhile waits for the seat.
  pcs[0].dispatchEvent(event('icecandidate', { candidate: { toJSON: () => ({ candidate: 'candidate:away' }) } }));
  assert.equal(signals('a', 'candidate').length, 0);

  server.answers.push((join) => {
    assert.equal(join.resume, 'seat-1', 'the token of the last welcome');
    return welcome({ resumed: true, resume: 'seat-2', peers: [{ id: 'a', name: 'Bob' }, { id: 'd', name: 'Dee' }] });
  });
  await runRetry(t);
  assert.equal(connections.length, 2);
  assert.equal(call.phase, 'joined');
  assert.equal(call.peers.get('a'), bob, 'the same Peer, the same connection');
  assert.equal(pcs[0].closed, false);
  assert.deepEqual(connections[1].sent.filter((m) => m.type === 'signal' && 'candidate' in m.data).map((m) => m.to), ['a'], 'the queued signal is sent');
  assert.equal(call.peers.has('b'), false, 'who left meanwhile is gone');
  assert.equal(pcs[1].closed, true);
  assert.equal(call.peers.get('d').polite, true, 'who came meanwhile offers to us');
  assert.deepEqual(
    events.filter((e) => e.type === 'peer-removed').map((e) => [e.peer.id, e.reason]),
    [['b', 'left']],
    'nobody else is removed',
  );

  // The next drop uses the newest token.
  server.answers.push(welcome({ resumed: true, peers: [{ id: 'a' }, { id: 'd' }] }));
  connections[1].drop();
  await runRetry(t);
  assert.equal(connections[2].sent[0].resume, 'seat-2');
  assert.equal(call.phase, 'joined');
  assert.equal(call.peers.get('a'), bob);
  call.hangUp();
});

test('call: when the seat is gone it joins afresh and negotiates again with everyone', async (t) => {
  const { call, server, connections, pcs, events, signals } = newCall({
    answers: [welcome({ peers: [{ id: 'a', name: 'Bob' }] })],
  });
  await call.start();
  await settle();
  const bob = call.peers.get('a');
  t.mock.timers.enable({ apis: ['setTimeout'] });
  connections[0].drop();
  // The server does not take the token (restarted with another key)...
  server.answers.push(new ProtocolError('bad-request', 'not a genuine token'));
  // ...so the next attempt has none, and gets a fresh seat.
  server.answers.push(welcome({ id: 'me2', peers: [{ id: 'a', name: 'Bob' }] }));
  await runRetry(t);
  await runRetry(t, 10);
  assert.equal(connections.length, 3);
  assert.deepEqual(connections.map((c) => c.sent[0].resume), [undefined, 'seat-1', undefined]);
  assert.equal(call.phase, 'joined');
  assert.equal(call.selfId, 'me2');
  const again = call.peers.get('a');
  assert.notEqual(again, bob, 'a new connection to everyone');
  assert.equal(pcs[0].closed, true);
  assert.equal(again.polite, false, 'as the newcomer');
  assert.deepEqual(events.filter((e) => e.type === 'peer-removed').map((e) => e.reason), ['reconnect']);
  await settle();
  assert.equal(signals('a', 'description').at(-1).data.description.type, 'offer');
  call.hangUp();
});

test('call: a restarted server gives our seat back with our id: connections that carry media stay, the rest start over', async (t) => {
  const { call, server, connections, pcs, events, signals } = newCall({
    answers: [welcome({ peers: [{ id: 'a', name: 'Bob' }, { id: 'b', name: 'Cy' }, { id: 'c', name: 'Dee' }] })],
  });
  await call.start();
  await settle();
  const [bob, cy, dee] = ['a', 'b', 'c'].map((id) => call.peers.get(id));
  pcs[0].setConnectionState('connected');
  pcs[1].setConnectionState('disconnected');
  pcs[2].setConnectionState('failed');
  const offers = (id) => signals(id, 'description').filter((m) => m.data.description.type === 'offer').length;
  const before = { a: offers('a'), b: offers('b'), c: offers('c') };
  t.mock.timers.enable({ apis: ['setTimeout'] });
  connections[0].drop();
  call.setMic(false); // written while away
  // The server restarted: it takes the token, makes the room again and
  // seats us with our id, as a join (no "resumed"). Bob is not back yet.
  server.answers.push(welcome({ resume: 'seat-2', peers: [{ id: 'b', name: 'Cy' }, { id: 'c', name: 'Dee' }, { id: 'e', name: 'Eve' }] }));
  await runRetry(t);
  assert.equal(call.phase, 'joined');
  assert.equal(call.peers.get('a'), bob, 'media flows to Bob: kept, though he is not back yet');
  assert.equal(call.peers.get('b'), cy, 'a connection that blinked is kept too');
  assert.notEqual(call.peers.get('c'), dee, 'a failed one starts over');
  assert.equal(call.peers.get('c').polite, false, 'with us as the newcomer');
  assert.equal(call.peers.get('e').polite, false, 'and so does someone new');
  assert.deepEqual([pcs[0].closed, pcs[1].closed, pcs[2].closed], [false, false, true]);
  assert.deepEqual(
    events.filter((e) => e.type === 'peer-removed').map((e) => [e.peer.id, e.reason]),
    [['c', 'reconnect']],
  );
  await settle();
  assert.equal(offers('a'), before.a, 'no renegotiation with Bob');
  assert.equal(offers('b'), before.b, 'nor with Cy');
  assert.equal(offers('c'), before.c + 1);
  assert.equal(offers('e'), 1);
  assert.deepEqual(connections[1].sent.filter((m) => m.to === 'b' && 'media' in m.data).at(-1).data.media.audio, false, 'Cy hears our state now');

  // Bob comes back with his id: his connection goes on, he hears our state.
  const removed = events.filter((e) => e.type === 'peer-removed').length;
  connections[1].receive('peer-joined', { peer: { id: 'a', name: 'Bob' } });
  await settle();
  assert.equal(call.peers.get('a'), bob);
  assert.equal(pcs[0].closed, false);
  assert.equal(events.filter((e) => e.type === 'peer-removed').length, removed);
  assert.equal(signals('a', 'media').at(-1).data.media.audio, false);
  assert.equal(offers('a'), before.a);
  call.hangUp();
});

test('call: a peer kept across a restart that never comes back is gone once its connection fails', async (t) => {
  const { call, server, connections, pcs, events } = newCall({
    answers: [welcome({ peers: [{ id: 'a', name: 'Bob' }, { id: 'b', name: 'Cy' }] })],
  });
  await call.start();
  await settle();
  pcs[0].setConnectionState('connected');
  pcs[1].setConnectionState('connected');
  t.mock.timers.enable({ apis: ['setTimeout'] });
  connections[0].drop();
  server.answers.push(welcome({ peers: [] }));
  await runRetry(t);
  assert.deepEqual([...call.peers.keys()], ['a', 'b'], 'both kept while media flows');
  // Cy comes back; Bob closed his tab while the server was down.
  connections[1].receive('peer-joined', { peer: { id: 'b', name: 'Cy' } });
  pcs[1].setConnectionState('failed');
  assert.equal(call.peers.has('b'), true, 'one who came back is mended by an ICE restart, not dropped');
  pcs[0].setConnectionState('disconnected');
  assert.equal(call.peers.has('a'), true);
  pcs[0].setConnectionState('failed');
  assert.equal(call.peers.has('a'), false);
  assert.deepEqual(
    events.filter((e) => e.type === 'peer-removed').map((e) => [e.peer.id, e.reason]),
    [['a', 'left']],
  );
  call.hangUp();
});

test('call: a known id joining again keeps its connection while it carries media', async () => {
  const { call, connections, pcs, events } = newCall();
  await call.start();
  connections[0].receive('peer-joined', { peer: { id: 'c', name: 'Cy' } });
  const cy = call.peers.get('c');
  pcs[0].setConnectionState('connected');
  connections[0].receive('peer-joined', { peer: { id: 'c', name: 'Cy' } });
  assert.equal(call.peers.get('c'), cy);
  assert.equal(pcs[0].closed, false);
  assert.deepEqual(events.map((e) => e.type), ['peer-added']);
  call.hangUp();
});

test('call: refusals at the start end the call (room full, unreachable)', async () => {
  const full = newCall({ answers: [new ProtocolError('room-full', 'the room is full')] });
  await assert.rejects(full.call.start(), (error) => error.code === 'room-full');
  assert.equal(full.call.phase, 'ended');
  assert.equal(full.connections[0].closed, true);
  assert.equal(full.call.peers.size, 0);

  const away = newCall();
  away.server.unreachable = true;
  await assert.rejects(away.call.start(), (error) => error.code === 'unreachable');
  assert.equal(away.call.phase, 'ended');
});

test('call: a room gone while reconnecting is fatal; other refusals are retried', async (t) => {
  const { call, server, connections, pcs, events } = newCall({ answers: [welcome({ peers: [{ id: 'a' }] })] });
  await call.start();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  connections[0].drop();
  // Our old seat may still be held for a moment: room-full is tried again.
  server.answers.push(new ProtocolError('room-full', 'the room is full'));
  await runRetry(t);
  assert.equal(call.phase, 'reconnecting');
  server.unreachable = true;
  await runRetry(t, 1500);
  assert.equal(call.phase, 'reconnecting');
  server.unreachable = false;
  server.answers.push(new ProtocolError('room-not-found', 'no such room'));
  await runRetry(t, 3000);
  assert.equal(call.phase, 'ended');
  assert.deepEqual(events.filter((e) => e.type === 'fatal'), [{ type: 'fatal', code: 'room-not-found' }]);
  assert.equal(pcs[0].closed, true);
  assert.equal(call.peers.size, 0);
  const attempts = connections.length;
  await runRetry(t, 20_000);
  assert.equal(connections.length, attempts, 'no more attempts once ended');
});

test('call: the room kind is mesh unless named; a kind it cannot join is refused and the seat given back', async (t) => {
  assert.equal(roomKindOf({}), 'mesh');
  assert.equal(roomKindOf(null), 'mesh');
  assert.equal(roomKindOf({ kind: 'sfu' }), 'sfu');
  assert.equal(canJoinKind('mesh'), true);
  assert.equal(canJoinKind('sfu'), false);

  const plain = newCall();
  assert.equal(plain.call.kind, 'mesh', 'before the welcome');
  await plain.call.start();
  assert.equal(plain.call.kind, 'mesh', 'a welcome without kind');
  plain.call.hangUp();

  const named = newCall({ kind: 'mesh', answers: [welcome({ kind: 'mesh' })] });
  await named.call.start();
  assert.equal(named.call.kind, 'mesh');
  named.call.hangUp();

  const sfu = newCall({ answers: [welcome({ kind: 'sfu', peers: [{ id: 'a' }] })] });
  await assert.rejects(sfu.call.start(), (error) => error instanceof ProtocolError && error.code === 'unsupported-room-kind');
  assert.equal(sfu.call.kind, 'sfu');
  assert.equal(sfu.call.phase, 'ended');
  assert.equal(sfu.call.peers.size, 0, 'no mesh is tried');
  assert.equal(sfu.pcs.length, 0);
  assert.deepEqual(sfu.connections[0].sent.map((m) => m.type), ['join', 'leave']);

  // The same while reconnecting: fatal.
  const later = newCall({ answers: [welcome({ peers: [{ id: 'a' }] })] });
  await later.call.start();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  later.connections[0].drop();
  later.server.answers.push(welcome({ kind: 'sfu' }));
  await runRetry(t);
  assert.equal(later.call.phase, 'ended');
  assert.deepEqual(later.events.filter((e) => e.type === 'fatal'), [{ type: 'fatal', code: 'unsupported-room-kind' }]);
});

test('call: hanging up leaves, closes every connection, and does not reconnect', async (t) => {
  const { call, connections, pcs, events, media } = newCall({ answers: [welcome({ peers: [{ id: 'a' }, { id: 'b' }] })] });
  await call.start();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  call.hangUp();
  assert.equal(call.phase, 'ended');
  assert.deepEqual(connections[0].sent.at(-1), { type: 'leave' });
  assert.equal(connections[0].closed, true);
  assert.ok(pcs.every((pc) => pc.closed));
  assert.deepEqual(events.filter((e) => e.type === 'peer-removed').map((e) => e.reason), ['ended', 'ended']);
  await runRetry(t, 20_000);
  assert.equal(connections.length, 1, 'an expected close is not a lost connection');
  // Media changes after the call reach nobody.
  media.setMic(false);
  assert.equal(connections[0].sent.at(-1).type, 'leave');
});
