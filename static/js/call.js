// A call: one room, one signaling connection, one Peer per other person.
//
// Why a module of its own: it is the glue between the protocol (signaling.js),
// the negotiation (peer.js) and your devices (media.js), and it owns the
// rules of the room: who offers, who is polite, what happens when someone
// joins or leaves, and what to do when the server connection drops. It has
// no DOM; the page listens to its events:
//   "phase"         this.phase changed: connecting, joined, reconnecting, ended
//   "peer-added"    detail.peer (a Peer)
//   "peer-removed"  detail.peer, detail.reason ('left' or 'reconnect')
//   "fatal"         detail.code: the call cannot go on (room-full, ...)

import { Signaling, ProtocolError } from './signaling.js';
import { Peer } from './peer.js';

/** How long to keep retrying after the server connection was lost. */
const RECONNECT_FOR_MS = 90_000;

export class Call extends EventTarget {
  phase = 'idle';
  /** Our peer id in the room. */
  selfId = null;
  /** Other people in the room, by peer id, oldest first. */
  peers = new Map();

  #room;
  #name;
  #media;
  #url;
  #signaling = null;
  #iceServers = [];
  #lostAt = 0;
  #retryTimer = 0;
  #onMediaChange = () => this.#localMediaChanged();

  constructor({ room, name, media, url }) {
    super();
    this.#room = room;
    this.#name = name;
    this.#media = media;
    this.#url = url;
    media.addEventListener('change', this.#onMediaChange);
  }

  get room() {
    return this.#room;
  }

  /**
   * Connects and joins. Resolves once in the room; rejects with a
   * ProtocolError (room-full, room-not-found, unreachable, ...) otherwise.
   */
  async start() {
    this.#setPhase('connecting');
    try {
      await this.#connectAndJoin();
    } catch (error) {
      this.#signaling?.close();
      this.#signaling = null;
      this.#end();
      throw error;
    }
  }

  async #connectAndJoin() {
    const signaling = new Signaling(this.#url);
    this.#signaling = signaling;
    signaling.addEventListener('peer-joined', (e) => this.#peerJoined(e.detail.peer));
    signaling.addEventListener('peer-left', (e) => this.#peerLeft(e.detail.id));
    signaling.addEventListener('signal', (e) => this.#signal(e.detail.from, e.detail.data));
    signaling.addEventListener('error', (e) => {
      if (e.detail.ref !== 'join') console.warn('[parlor] server said:', e.detail);
    });
    signaling.addEventListener('close', (e) => {
      if (this.#signaling === signaling && !e.detail.expected) this.#lost();
    });
    await signaling.connect();
    const welcome = await signaling.join(this.#room, this.#name);
    if (this.#signaling !== signaling) return; // hung up meanwhile
    this.selfId = welcome.id;
    this.#iceServers = Array.isArray(welcome.iceServers) ? welcome.iceServers : [];
    this.#setPhase('joined');
    // We are the newcomer: impolite towards everyone already here, and the
    // one who makes the first offer to each of them.
    for (const info of welcome.peers ?? []) {
      const peer = this.#addPeer(info, { polite: false });
      peer.start();
    }
  }

  #addPeer(info, { polite }) {
    const id = info.id;
    const signaling = this.#signaling;
    const peer = new Peer({
      id,
      name: typeof info.name === 'string' && info.name.trim() ? info.name.trim() : null,
      polite,
      iceServers: this.#iceServers,
      media: this.#media,
      send: (data) => signaling.signal(id, data),
    });
    this.peers.set(id, peer);
    this.dispatchEvent(new CustomEvent('peer-added', { detail: { peer } }));
    peer.sendMediaState(this.mediaState());
    return peer;
  }

  #peerJoined(info) {
    if (!info?.id || this.peers.has(info.id)) return;
    // We were here first: polite, and we wait for the newcomer's offer.
    this.#addPeer(info, { polite: true });
  }

  #peerLeft(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    peer.close();
    this.dispatchEvent(new CustomEvent('peer-removed', { detail: { peer, reason: 'left' } }));
  }

  #signal(from, data) {
    let peer = this.peers.get(from);
    // The server announces everyone before they can signal us, so this is
    // only a safety net: treat the unknown sender as a newcomer.
    peer ??= this.#addPeer({ id: from }, { polite: true });
    peer.handleSignal(data);
  }

  /** What we tell the others about our microphone and camera. */
  mediaState() {
    return { audio: this.#media.live('audio'), video: this.#media.live('video') };
  }

  #localMediaChanged() {
    const state = this.mediaState();
    for (const peer of this.peers.values()) {
      peer.updateLocalMedia();
      peer.sendMediaState(state);
    }
  }

  /** The server connection dropped: the others have been told we left. */
  #lost() {
    this.#dropPeers('reconnect');
    this.#signaling = null;
    if (!this.#lostAt) this.#lostAt = Date.now();
    this.#setPhase('reconnecting');
    this.#scheduleRetry(1000);
  }

  #scheduleRetry(delay) {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#retry(delay), delay);
  }

  async #retry(lastDelay) {
    if (this.phase !== 'reconnecting') return;
    try {
      await this.#connectAndJoin();
      this.#lostAt = 0;
    } catch (error) {
      if (this.phase !== 'reconnecting') return;
      this.#signaling?.close();
      this.#signaling = null;
      const code = error instanceof ProtocolError ? error.code : 'error';
      const giveUp = Date.now() - this.#lostAt > RECONNECT_FOR_MS;
      // room-full right after a drop is usually our own old seat, which the
      // server frees once it notices; keep trying for a while.
      if (code === 'room-not-found' || (giveUp && code === 'room-full')) {
        this.#end();
        this.dispatchEvent(new CustomEvent('fatal', { detail: { code } }));
        return;
      }
      this.#scheduleRetry(Math.min(lastDelay * 2, 10_000));
    }
  }

  #dropPeers(reason) {
    for (const peer of this.peers.values()) {
      peer.close();
      this.dispatchEvent(new CustomEvent('peer-removed', { detail: { peer, reason } }));
    }
    this.peers.clear();
  }

  setMic(on) {
    this.#media.setMic(on);
  }

  setCamera(on) {
    return this.#media.setCamera(on);
  }

  /** Leaves the room, closes every connection and releases the devices. */
  hangUp() {
    const signaling = this.#signaling;
    this.#signaling = null;
    if (signaling) {
      signaling.leave();
      signaling.close();
    }
    this.#end();
  }

  #end() {
    clearTimeout(this.#retryTimer);
    this.#dropPeers('ended');
    this.#media.removeEventListener('change', this.#onMediaChange);
    this.#setPhase('ended');
  }

  #setPhase(phase) {
    if (this.phase === phase) return;
    this.phase = phase;
    this.dispatchEvent(new Event('phase'));
  }
}
