// A call: one room, one signaling connection, one Peer per other person.
//
// Why a module of its own: it is the glue between the protocol
// (network/signaling.js), the negotiation (peer.js) and your devices
// (media/local-media.js), and it owns the rules of the room: who offers,
// who is polite, what happens when someone joins or leaves, and what to do
// when the server connection drops. It has no DOM; the page listens to its
// events:
//   "phase"         this.phase (connecting, joined, reconnecting, ended)
//                   or this.refusal changed
//   "peer-added"    detail.peer (a Peer)
//   "peer-removed"  detail.peer, detail.reason ('left', 'reconnect', 'ended')
//   "chat"          detail: one chat message (see #chat), new or from history
//   "chat-error"    detail.code: a chat message was refused (bad-request, ...)
//   "fatal"         detail.code: the call cannot go on (room-not-found,
//                   unsupported-room-kind, lost)
//
// What touches the network is handed in, with the real thing as default:
// createSignaling(url) makes the server connection (a Signaling), and
// createPeerConnection(config) the RTCPeerConnections (see peer.js), so
// that a unit test can drive a Call with fakes of both.
//
// The room's kind (network/room-kind.js) comes with the welcome. This Call
// is a mesh: in a room of a kind it cannot take part in, it leaves at once
// and fails with the code unsupported-room-kind.
//
// When the server connection drops, media keeps flowing browser to browser.
// The call reconnects and, where the server offers it (docs/protocol.md,
// "Resuming"), sends the `resume` token of its last welcome to take its seat
// back; then nothing changes for anyone. A server that restarted has
// forgotten the seat but, given the token, gives us our peer id again: then
// every connection that carries media goes on as it is (the others keep
// theirs too when they hear we "joined" with an id they know), and only
// peers new to us, or whose connection is not up, are negotiated again. If
// the seat is gone for good (another id) it joins afresh and negotiates
// again with everyone.
//
// A call whose media flows never ends because the server is away, or
// because it refuses us (a server restarted without its key no longer knows
// the room): it keeps trying, with backoff, for as long as a peer connection
// is up, and `refusal` says why nobody new can join meanwhile.

import { Signaling, ProtocolError } from '../network/signaling.js';
import { roomKindOf, canJoinKind } from '../network/room-kind.js';
import { Peer, NAME_MAX } from './peer.js';

/** Longest wait between two reconnection attempts. */
const MAX_RETRY_MS = 10_000;
/** After this long without the server and without any live peer, give up. */
const GIVE_UP_MS = 90_000;
/** The longest chat message the server takes, in characters. */
export const CHAT_MAX = 2000;
/** Chat messages kept on the page (the server keeps the last 200 per room). */
const CHAT_KEEP = 500;
/**
 * Whether a Peer's connection carries media, or did a moment ago (ICE
 * mends 'disconnected' by itself or with a restart): one worth keeping.
 */
const carriesMedia = (peer) => peer.state === 'connected' || peer.state === 'disconnected';

/** Refusals on reconnecting that no later attempt can mend. */
const FATAL_CODES = ['room-not-found', 'unsupported-room-kind'];

export class Call extends EventTarget {
  phase = 'idle';
  /** Our peer id in the room. */
  selfId = null;
  /** Other people in the room, by peer id. */
  peers = new Map();
  /** The room's chat so far: {from, name, text, time, self, history}, oldest first. */
  messages = [];
  /**
   * While reconnecting: the code of the server's last refusal (e.g.
   * room-not-found), or null when it was merely out of reach.
   */
  refusal = null;

  #room;
  #kind;
  #name;
  /** Whether we renamed ourselves since joining (then the media state says so). */
  #renamed = false;
  #media;
  #url;
  #signaling = null;
  #createSignaling;
  #createPeerConnection;
  #iceServers = [];
  #resumeToken = null;
  /** Signals written while the server was away, sent if the seat resumes. */
  #outbox = [];
  #lostAt = 0;
  #retryTimer = 0;
  /**
   * Peers kept when a restarted server gave our seat back, whom it has not
   * announced again yet: one whose connection fails is taken as gone, since
   * no peer-left will ever come for it.
   */
  #unconfirmed = new Set();
  /** Keys of the chat messages shown, so that history sent again after a re-join is not shown twice. */
  #seen = new Set();
  #onMediaChange = () => this.#localMediaChanged();

  /**
   * room, name: where to join and as whom; kind: the room's kind, when
   * known before joining; media: LocalMedia; url: the server's WebSocket
   * URL (default: this page's server). createSignaling and
   * createPeerConnection: see above.
   */
  constructor({
    room,
    kind,
    name,
    media,
    url,
    createSignaling = (address) => new Signaling(address),
    createPeerConnection,
  }) {
    super();
    this.#room = room;
    this.#kind = roomKindOf({ kind });
    this.#name = name;
    this.#media = media;
    this.#url = url;
    this.#createSignaling = createSignaling;
    this.#createPeerConnection = createPeerConnection;
    media.addEventListener('change', this.#onMediaChange);
  }

  get room() {
    return this.#room;
  }

  /** The room's kind ("mesh"), as the last welcome said. */
  get kind() {
    return this.#kind;
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
    const signaling = this.#createSignaling(this.#url);
    this.#signaling = signaling;
    signaling.addEventListener('peer-joined', (e) => this.#peerJoined(e.detail.peer));
    signaling.addEventListener('peer-left', (e) => this.#peerLeft(e.detail.id));
    signaling.addEventListener('signal', (e) => this.#signal(e.detail.from, e.detail.data));
    signaling.addEventListener('chat', (e) => this.#chat(e.detail));
    signaling.addEventListener('error', (e) => {
      const { ref, code } = e.detail;
      if (ref === 'chat') this.dispatchEvent(new CustomEvent('chat-error', { detail: { code } }));
      else if (ref !== 'join') console.warn('[parlor] server said:', e.detail);
    });
    signaling.addEventListener('close', (e) => {
      if (this.#signaling === signaling && !e.detail.expected) this.#lost();
    });
    await signaling.connect();
    const extra = this.#resumeToken ? { resume: this.#resumeToken } : {};
    const welcome = await signaling.join(this.#room, this.#name, extra);
    if (this.#signaling !== signaling) return; // hung up meanwhile
    this.#kind = roomKindOf(welcome);
    if (!canJoinKind(this.#kind)) {
      // Not a room for a mesh: give the seat back rather than hold it.
      signaling.leave();
      throw new ProtocolError('unsupported-room-kind', `this page cannot join a room of kind "${this.#kind}"`);
    }
    this.#welcomed(welcome);
  }

  #welcomed(welcome) {
    const sameSeat = this.selfId !== null && welcome.id === this.selfId;
    this.selfId = welcome.id;
    this.#iceServers = Array.isArray(welcome.iceServers) ? welcome.iceServers : [];
    this.#resumeToken = typeof welcome.resume === 'string' ? welcome.resume : null;
    const others = (welcome.peers ?? []).filter((info) => info?.id && info.id !== welcome.id);
    if (welcome.resumed === true) {
      // Our seat was kept: the connections we have go on. Settle who left
      // or arrived meanwhile; newcomers offer to us, so we are polite.
      const present = new Set(others.map((info) => info.id));
      for (const id of [...this.peers.keys()]) if (!present.has(id)) this.#peerLeft(id);
      for (const info of others) if (!this.peers.has(info.id)) this.#addPeer(info, { polite: true });
      const queued = this.#outbox;
      this.#outbox = [];
      for (const { to, data } of queued) if (this.peers.has(to)) this.#signaling.signal(to, data);
      this.#setPhase('joined');
      return;
    }
    if (sameSeat) {
      this.#seatRebuilt(others);
      return;
    }
    // A fresh start: everyone here counts us as a newcomer.
    this.#outbox = [];
    this.#dropPeers('reconnect');
    this.#setPhase('joined');
    // We are the newcomer: impolite towards everyone already here, and the
    // one who makes the first offer to each of them.
    for (const info of others) {
      const peer = this.#addPeer(info, { polite: false });
      peer.start();
    }
  }

  /**
   * The server gave us our seat again with our old id, having forgotten it
   * (it restarted): the others here heard we joined. Connections that carry
   * media go on untouched, including those to peers not back yet (they will
   * be, with the id we know); the rest start over, with us as the newcomer.
   */
  #seatRebuilt(others) {
    const present = new Set(others.map((info) => info.id));
    const queued = this.#outbox;
    this.#outbox = [];
    this.#unconfirmed.clear();
    for (const [id, peer] of [...this.peers]) {
      if (carriesMedia(peer)) {
        if (!present.has(id)) this.#awaitReturn(id, peer);
        continue;
      }
      this.peers.delete(id);
      peer.close();
      this.dispatchEvent(new CustomEvent('peer-removed', { detail: { peer, reason: 'reconnect' } }));
    }
    this.#setPhase('joined');
    // What we wrote while away first, then our state now, which may be newer.
    for (const { to, data } of queued) if (present.has(to) && this.peers.has(to)) this.#signaling.signal(to, data);
    const state = this.mediaState();
    for (const info of others) {
      const kept = this.peers.get(info.id);
      if (kept) {
        kept.sendMediaState(state);
        continue;
      }
      const peer = this.#addPeer(info, { polite: false });
      peer.start();
    }
  }

  #awaitReturn(id, peer) {
    this.#unconfirmed.add(id);
    const check = () => {
      if (!this.#unconfirmed.has(id)) {
        peer.removeEventListener('state', check);
      } else if (peer.state === 'failed' || peer.state === 'closed') {
        peer.removeEventListener('state', check);
        this.#peerLeft(id);
      }
    };
    peer.addEventListener('state', check);
  }

  #send(to, data) {
    if (this.phase === 'joined' && this.#signaling?.open) this.#signaling.signal(to, data);
    else if (this.phase === 'reconnecting' && this.#outbox.length < 500) this.#outbox.push({ to, data });
  }

  #addPeer(info, { polite }) {
    const id = info.id;
    const peer = new Peer({
      id,
      name: typeof info.name === 'string' && info.name.trim() ? info.name.trim() : null,
      polite,
      iceServers: this.#iceServers,
      media: this.#media,
      send: (data) => this.#send(id, data),
      createPeerConnection: this.#createPeerConnection,
    });
    this.peers.set(id, peer);
    this.dispatchEvent(new CustomEvent('peer-added', { detail: { peer } }));
    peer.sendMediaState(this.mediaState());
    return peer;
  }

  #peerJoined(info) {
    if (!info?.id || info.id === this.selfId) return;
    const old = this.peers.get(info.id);
    this.#unconfirmed.delete(info.id);
    if (old && carriesMedia(old)) {
      // A known id whose connection to us carries media: its seat was given
      // back after the server forgot it (a restart), and it keeps its end of
      // the connection as we keep ours. Tell it our state in case it missed it.
      old.sendMediaState(this.mediaState());
      return;
    }
    // A known id joining again has started over (its seat was lost): so do we.
    if (old) {
      this.peers.delete(info.id);
      old.close();
      this.dispatchEvent(new CustomEvent('peer-removed', { detail: { peer: old, reason: 'reconnect' } }));
    }
    // We were here first: polite, and we wait for the newcomer's offer.
    this.#addPeer(info, { polite: true });
  }

  #peerLeft(id) {
    this.#unconfirmed.delete(id);
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

  /**
   * A chat message from the server: {"type":"chat","from","name","text",
   * "time","history"} (docs/protocol.md). History comes right after a
   * welcome; after a fresh re-join it repeats what we have, so messages are
   * kept once (same sender, time and text).
   */
  #chat(message) {
    const { from, name, text, time } = message;
    if (typeof text !== 'string' || typeof from !== 'string') return;
    const when = Number.isFinite(time) ? time : Date.now();
    const key = `${from}\u0000${when}\u0000${text}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    const entry = {
      from,
      name: typeof name === 'string' && name.trim() ? name.trim() : null,
      text,
      time: when,
      self: from === this.selfId,
      history: message.history === true,
    };
    // History is oldest first and precedes live messages; keep time order
    // in any case.
    let at = this.messages.length;
    while (at > 0 && this.messages[at - 1].time > entry.time) at -= 1;
    this.messages.splice(at, 0, entry);
    if (this.messages.length > CHAT_KEEP) {
      const dropped = this.messages.splice(0, this.messages.length - CHAT_KEEP);
      for (const old of dropped) this.#seen.delete(`${old.from}\u0000${old.time}\u0000${old.text}`);
    }
    this.dispatchEvent(new CustomEvent('chat', { detail: { message: entry, index: at } }));
  }

  /**
   * Sends a chat message to the room. Returns false when it cannot go now
   * (empty, too long, or no server connection); it shows up in `messages`
   * when the server hands it back.
   */
  sendChat(text) {
    const value = String(text ?? '').trim();
    if (!value || [...value].length > CHAT_MAX) return false;
    if (this.phase !== 'joined' || !this.#signaling?.open) return false;
    return this.#signaling.chat(value);
  }

  /** Our name now: the one we joined with, or the one we renamed ourselves to. */
  get name() {
    return this.#name;
  }

  /**
   * Renames us for the others, through the media state (the server keeps
   * the name we joined with; see docs/protocol.md). Returns false for a
   * name that is empty or longer than NAME_MAX characters (nothing changes).
   */
  rename(name) {
    const value = String(name ?? '').trim();
    if (!value || [...value].length > NAME_MAX) return false;
    this.#name = value;
    this.#renamed = true;
    this.#localMediaChanged();
    return true;
  }

  /** What we tell the others about our microphone, camera and screen (and our new name). */
  mediaState() {
    const state = {
      audio: this.#media.live('audio'),
      video: this.#media.live('video'),
      screen: this.#media.live('screen'),
    };
    if (this.#renamed) state.name = this.#name;
    // Devices that failed (blocked, missing, ...), so the others know why
    // they cannot see or hear us rather than wait for it.
    const unavailable = ['audio', 'video'].filter((kind) => !['ok', 'pending'].includes(this.#media.status?.[kind] ?? 'ok'));
    if (unavailable.length) state.unavailable = unavailable;
    return state;
  }

  #localMediaChanged() {
    const state = this.mediaState();
    for (const peer of this.peers.values()) {
      peer.updateLocalMedia();
      peer.sendMediaState(state);
    }
  }

  /** The server connection dropped. The peer connections carry on. */
  #lost() {
    this.#signaling = null;
    if (!this.#lostAt) this.#lostAt = Date.now();
    this.#setPhase('reconnecting');
    this.#scheduleRetry(500);
  }

  #scheduleRetry(delay) {
    clearTimeout(this.#retryTimer);
    // Jitter, so that the clients of a restarted server do not all come
    // back in the same instant.
    const jittered = delay * (0.75 + Math.random() * 0.5);
    this.#retryTimer = setTimeout(() => this.#retry(delay), jittered);
  }

  async #retry(lastDelay) {
    if (this.phase !== 'reconnecting') return;
    try {
      await this.#connectAndJoin();
      this.#lostAt = 0;
      this.refusal = null;
    } catch (error) {
      if (this.phase !== 'reconnecting') return;
      this.#signaling?.close();
      this.#signaling = null;
      const code = error instanceof ProtocolError ? error.code : 'error';
      if (code === 'bad-request' && this.#resumeToken) {
        // The server does not take our token (e.g. restarted with another
        // key): join afresh.
        this.#resumeToken = null;
        this.#scheduleRetry(0);
        return;
      }
      const live = [...this.peers.values()].some(carriesMedia);
      const longGone = Date.now() - this.#lostAt > GIVE_UP_MS;
      // A refusal ends only a call with nothing left to lose; room-full soon
      // after a drop is usually our own old seat, which the server frees
      // once it notices.
      const fatal = live ? null : FATAL_CODES.includes(code) ? code : longGone ? 'lost' : null;
      if (fatal) {
        this.#end();
        this.dispatchEvent(new CustomEvent('fatal', { detail: { code: fatal } }));
        return;
      }
      const refusal = FATAL_CODES.includes(code) ? code : null;
      if (refusal !== this.refusal) {
        this.refusal = refusal;
        this.dispatchEvent(new Event('phase'));
      }
      this.#scheduleRetry(Math.min(Math.max(lastDelay, 500) * 2, MAX_RETRY_MS));
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

  /** Starts sharing a screen; resolves like LocalMedia.startScreen. */
  shareScreen() {
    return this.#media.startScreen();
  }

  stopScreen() {
    this.#media.stopScreen();
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
