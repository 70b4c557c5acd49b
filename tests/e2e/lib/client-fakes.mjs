// Fakes of the browser pieces the web client's call logic touches, for its
// unit tests in Node (unit-peer.test.mjs, unit-call.test.mjs): small
// RTCPeerConnection, MediaStream and LocalMedia stand-ins that keep the
// signaling state machine of a real peer connection (offer, answer,
// implicit rollback, candidates needing a remote description,
// negotiationneeded) and record what was done to them, without any media;
// and a fake server connection for Call.

import { Peer } from '../../../static/js/call/peer.js';
import { Call } from '../../../static/js/call/call.js';
import { ProtocolError } from '../../../static/js/network/signaling.js';

/* -------------------------------------------------------------- fakes */

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Lets every pending promise and fake browser step run. */
export async function settle(rounds = 20) {
  for (let i = 0; i < rounds; i += 1) await tick();
}

export function event(type, fields = {}) {
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
export function sdpOf(kinds, { restart = false } = {}) {
  return [...kinds.map((kind) => `m=${kind}`), ...(restart ? ['a=ice-restart'] : [])].join('\n');
}

export const REMOTE_OFFER = { type: 'offer', sdp: sdpOf(['audio', 'video', 'video']) };

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
export function newPeer({ polite, media = new FakeMedia() }) {
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

export const descriptions = (sent, type) => sent.filter((d) => d.description?.type === type);

/** A newcomer's peer whose first offer was answered: both sides stable. */
export async function negotiatedNewcomer() {
  const side = newPeer({ polite: false });
  side.peer.start();
  await settle();
  await side.peer.handleSignal({ description: { type: 'answer', sdp: sdpOf(['audio', 'video', 'video']) } });
  await settle();
  side.sent.length = 0;
  return side;
}

/** An existing member's peer that answered the newcomer's first offer. */
export async function negotiatedMember() {
  const side = newPeer({ polite: true });
  await side.peer.handleSignal({ description: REMOTE_OFFER });
  await settle();
  side.sent.length = 0;
  return side;
}

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

export function welcome(fields = {}) {
  return { type: 'welcome', room: 'r1', id: 'me', peers: [], iceServers: [{ urls: 'stun:192.0.2.1' }], resume: 'seat-1', ...fields };
}

/** A Call on fakes; `connections` are its server connections, oldest first. */
export function newCall({ answers = [welcome()], kind } = {}) {
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
export async function runRetry(t, ms = 700) {
  t.mock.timers.tick(ms);
  await settle();
}
