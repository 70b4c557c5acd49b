// One RTCPeerConnection to one other person in the room.
//
// Why a module of its own: this is where WebRTC negotiation lives, and it is
// the part that must be exactly right. It follows the "perfect negotiation"
// pattern (MDN): either side may make an offer at any time; on a collision
// the polite side rolls back and takes the other's offer, the impolite side
// ignores the other's offer. In Parlor the member who was in the room first
// is polite, the newcomer impolite, and the newcomer makes the first offer.
//
// Three transceivers, always in this order (so both sides agree on them by
// m-line order): audio, camera video, screen video. Camera and screen are
// separate, so they coexist and a camera switched off does not touch a
// screen share. Each transceiver that can ever send is 'sendrecv' from the
// first negotiation on, carrying a track or none: switching a device, the
// camera on and off, and starting and stopping a screen share are all
// replaceTrack, with no renegotiation (so two people who start sharing at
// the same moment cause no offer collision, and a share starts at once).
//
// Signal data on the wire: {"description":{"type","sdp"}},
// {"candidate":RTCIceCandidateInit|null}, and one Parlor addition,
// {"media":{"audio":bool,"video":bool,"screen":bool,"screenMid":"<mid>"}}:
// whether the sender's microphone and camera are on and whether it shares a
// screen (and on which m-line, once negotiated), and optionally the name
// they renamed themselves to, so that the other side
// shows an avatar instead of a frozen picture and the screen large. Data
// with none of these keys is ignored. See docs/protocol.md.

/** The longest name, in characters (the protocol's limit for `join`). */
export const NAME_MAX = 64;

/** Our transceivers by role, and the media kind of each. */
const ROLES = ['audio', 'video', 'screen'];
/** How long a connection may stay 'disconnected' before ICE is restarted. */
const DISCONNECTED_RESTART_MS = 5000;
/**
 * While a connection stays 'failed' or 'disconnected' after a restart (the
 * path was still down when that restart ran, and a failed connection fires
 * no new state change), ICE is restarted again after this long, doubling
 * up to MAX_RESTART_MS, until it connects.
 */
const RETRY_RESTART_MS = 5000;
const MAX_RESTART_MS = 30_000;
const KIND_OF = { audio: 'audio', video: 'video', screen: 'video' };

export class Peer extends EventTarget {
  /** The remote microphone and camera, as one stream for a <video> element. */
  stream = new MediaStream();
  /** The remote screen share, as a stream of its own (empty when none). */
  screenStream = new MediaStream();
  /** pc.connectionState, kept here for the page. */
  state = 'new';
  /**
   * What the other side says about its microphone, camera and screen
   * (null: unknown), and the mid of its screen's m-line (null: unknown).
   */
  remoteMedia = { audio: null, video: null, screen: null, screenMid: null, unavailable: [] };

  #pc;
  #polite;
  #send;
  #media;
  #tx = { audio: null, video: null, screen: null };
  /** Only names our audio and video as one stream for the other side. */
  #msid = new MediaStream();
  /** Names our screen as a stream of its own for the other side. */
  #screenMsid = new MediaStream();
  #makingOffer = false;
  #ignoreOffer = false;
  #isSettingRemoteDescription = false;
  #pendingCandidates = [];
  /** Remote tracks whose mute/unmute/ended we follow. */
  #watched = new WeakSet();
  /** Transceivers on which the other side has sent a track. */
  #arrived = new Set();
  #inbox = Promise.resolve();
  #closed = false;
  /** The next ICE restart while the connection is down (see RETRY_RESTART_MS). */
  #restartTimer = 0;

  /**
   * id, name: the other person. polite: see above. iceServers: from welcome,
   * passed on as is. send(data): relays a signal to them. media: LocalMedia.
   * createPeerConnection(config): makes the RTCPeerConnection (a unit test
   * hands in a fake).
   */
  constructor({ id, name, polite, iceServers, send, media, createPeerConnection = (config) => new RTCPeerConnection(config) }) {
    super();
    this.id = id;
    this.name = name;
    this.#polite = polite;
    this.#send = send;
    this.#media = media;
    this.#pc = createPeerConnection({ iceServers: iceServers ?? [] });
    const pc = this.#pc;

    pc.addEventListener('negotiationneeded', () => this.#offer());
    pc.addEventListener('icecandidate', ({ candidate }) => {
      this.#send({ candidate: candidate ? candidate.toJSON() : null });
    });
    pc.addEventListener('track', ({ track, transceiver }) => this.#addRemoteTrack(track, transceiver));
    pc.addEventListener('connectionstatechange', () => this.#stateChanged());
    pc.addEventListener('iceconnectionstatechange', () => this.#stateChanged());
  }

  get polite() {
    return this.#polite;
  }

  /** The RTCPeerConnection's statistics (for the call-quality view). */
  getStats() {
    return this.#pc.getStats();
  }

  /**
   * As the newcomer: adds the audio, camera and screen transceivers, sending
   * what we have and receiving in any case. That fires negotiationneeded,
   * which makes the first offer. Missing kinds still get an m-line
   * (recvonly), so someone without camera or microphone still receives all.
   */
  start() {
    this.#syncTransceivers();
  }

  /** Handles the data of one signal from this peer, in arrival order. */
  handleSignal(data) {
    this.#inbox = this.#inbox.then(() => this.#process(data)).catch((error) => {
      console.warn(`[parlor] signal from ${this.id}:`, error);
    });
    return this.#inbox;
  }

  async #process(data) {
    if (this.#closed || !data || typeof data !== 'object') return;
    const pc = this.#pc;
    if (data.description) {
      const description = data.description;
      const readyForOffer =
        !this.#makingOffer && (pc.signalingState === 'stable' || this.#isSettingRemoteDescription);
      const offerCollision = description.type === 'offer' && !readyForOffer;
      this.#ignoreOffer = !this.#polite && offerCollision;
      if (this.#ignoreOffer) return;
      this.#isSettingRemoteDescription = description.type === 'answer';
      try {
        await pc.setRemoteDescription(description); // rolls back our offer on glare
      } finally {
        this.#isSettingRemoteDescription = false;
      }
      await this.#flushCandidates();
      if (description.type === 'offer') {
        // Put our tracks on the transceivers the offer created, so that this
        // one answer carries media both ways.
        await this.#syncTransceivers();
        await pc.setLocalDescription();
        this.#send({ description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
      }
      this.#sortRemoteTracks();
    } else if ('candidate' in data) {
      if (!pc.remoteDescription) {
        this.#pendingCandidates.push(data.candidate);
        return;
      }
      await this.#addCandidate(data.candidate);
    } else if (data.media && typeof data.media === 'object') {
      const flag = (value) => (typeof value === 'boolean' ? value : null);
      this.remoteMedia = {
        audio: flag(data.media.audio),
        video: flag(data.media.video),
        screen: flag(data.media.screen),
        screenMid: typeof data.media.screenMid === 'string' ? data.media.screenMid : null,
        unavailable: ['audio', 'video'].filter((kind) => [data.media.unavailable].flat().includes(kind)),
      };
      // A new name they gave themselves during the call (the server knows the old one).
      const name = typeof data.media.name === 'string' ? data.media.name.trim() : '';
      if (name && [...name].length <= NAME_MAX) this.name = name;
      this.#sortRemoteTracks();
      this.#emit('media');
    }
  }

  async #offer() {
    if (this.#closed) return;
    try {
      this.#makingOffer = true;
      await this.#pc.setLocalDescription();
      const { type, sdp } = this.#pc.localDescription;
      this.#send({ description: { type, sdp } });
    } catch (error) {
      console.warn(`[parlor] offer to ${this.id} failed:`, error);
    } finally {
      this.#makingOffer = false;
    }
  }

  async #flushCandidates() {
    const queued = this.#pendingCandidates;
    this.#pendingCandidates = [];
    for (const candidate of queued) await this.#addCandidate(candidate);
  }

  async #addCandidate(candidate) {
    try {
      if (candidate) await this.#pc.addIceCandidate(candidate);
      else await this.#pc.addIceCandidate(); // end of candidates
    } catch (error) {
      // Candidates of an offer we ignored fail; so may end-of-candidates in
      // some browsers. Neither matters.
      if (!this.#ignoreOffer && candidate) console.warn(`[parlor] candidate from ${this.id}:`, error);
    }
  }

  /**
   * Makes the transceivers match the local media: one per role (reusing
   * those a remote offer created, in m-line order), carrying the current
   * track or none (camera switched off, no screen shared). Audio and camera
   * are 'sendrecv' while we have that device, even switched off, so that
   * switching it on again needs no renegotiation, and 'recvonly' without
   * one; the screen is 'sendrecv' where this browser can share a screen and
   * 'recvonly' where it cannot (phones). Called on start,
   * when answering, and whenever the local media changes.
   */
  async #syncTransceivers() {
    if (this.#closed) return;
    const pc = this.#pc;
    const replacing = [];
    for (const role of ROLES) {
      const kind = KIND_OF[role];
      const direction = this.#media.canSend(role) ? 'sendrecv' : 'recvonly';
      let tr = this.#tx[role];
      if (!tr || tr.currentDirection === 'stopped' || tr.direction === 'stopped') {
        tr = pc.getTransceivers().find(
          (t) =>
            t.receiver.track.kind === kind &&
            t.direction !== 'stopped' &&
            t.currentDirection !== 'stopped' &&
            !ROLES.some((r) => this.#tx[r] === t),
        );
        // Before the first remote offer, an existing member adds nothing:
        // that would make it start an offer of its own.
        if (!tr && !this.#canAddTransceivers()) continue;
        const streams = role === 'screen' ? this.#screenMsid : this.#msid;
        if (tr) {
          // Adopted from a remote offer. Audio and video in one stream at
          // the far end keeps lips in sync.
          tr.sender.setStreams?.(streams);
        } else {
          tr = pc.addTransceiver(this.#media.track(role) ?? kind, { direction, streams: [streams] });
        }
        this.#tx[role] = tr;
      }
      if (tr.direction !== direction) tr.direction = direction;
      const track = this.#media.track(role);
      if (tr.sender.track !== track) replacing.push(tr.sender.replaceTrack(track));
    }
    await Promise.all(replacing);
    this.#sortRemoteTracks();
  }

  #canAddTransceivers() {
    // The newcomer (impolite) may add from the start; the existing member
    // only once a remote description exists (after the first offer).
    return !this.#polite || this.#pc.remoteDescription !== null;
  }

  /** Follows the local media: new camera track, camera off, ... */
  updateLocalMedia() {
    if (this.#closed) return Promise.resolve();
    if (!this.#polite || this.#pc.remoteDescription) {
      return this.#syncTransceivers().catch((error) => {
        console.warn(`[parlor] updating tracks for ${this.id}:`, error);
      });
    }
    return Promise.resolve();
  }

  /**
   * Tells the other side whether our microphone and camera are on and
   * whether we share a screen, with the mid of the screen's m-line once
   * it has one.
   */
  sendMediaState(media) {
    const state = { ...media };
    const mid = this.#tx.screen?.mid;
    if (state.screen && mid) state.screenMid = mid;
    this.#send({ media: state });
  }

  #addRemoteTrack(track, transceiver) {
    if (!this.#watched.has(track)) {
      this.#watched.add(track);
      track.addEventListener('mute', () => this.#emit('media'));
      track.addEventListener('unmute', () => this.#emit('media'));
      track.addEventListener('ended', () => this.#emit('media'));
    }
    this.#arrived.add(transceiver);
    this.#sortRemoteTracks();
  }

  /**
   * The role of a transceiver: ours when we have taken it already, else by
   * m-line order (the first video one is the camera, the second the screen),
   * which is the order both sides create them in. A `screenMid` from the
   * other side names the screen's m-line outright.
   */
  #roleOf(transceiver) {
    const mid = this.remoteMedia.screenMid;
    if (mid && transceiver.mid === mid) return 'screen';
    for (const role of ROLES) if (this.#tx[role] === transceiver) return role;
    const kind = transceiver.receiver.track.kind;
    if (kind === 'audio') return 'audio';
    const videos = this.#pc.getTransceivers().filter((t) => t.receiver.track.kind === 'video');
    return videos.indexOf(transceiver) === 1 ? 'screen' : 'video';
  }

  /**
   * Puts each remote track the other side has sent into the right stream:
   * microphone and camera in `stream`, the screen in `screenStream`. New
   * stream objects when they change, so <video> elements reload.
   */
  #sortRemoteTracks() {
    if (this.#closed) return;
    const camera = [];
    const screen = [];
    for (const transceiver of this.#arrived) {
      const track = transceiver.receiver.track;
      if (this.#roleOf(transceiver) === 'screen') {
        if (!screen.length) screen.push(track);
      } else if (!camera.some((t) => t.kind === track.kind)) {
        camera.push(track);
      }
    }
    const same = (stream, tracks) => {
      const now = stream.getTracks();
      return now.length === tracks.length && tracks.every((t) => now.includes(t));
    };
    let changed = false;
    if (!same(this.stream, camera)) {
      // Keep the order audio, video the way tracks arrived.
      this.stream = new MediaStream(camera);
      changed = true;
    }
    if (!same(this.screenStream, screen)) {
      this.screenStream = new MediaStream(screen);
      changed = true;
    }
    if (changed) this.#emit('tracks');
  }

  /** The remote track of `kind` ('audio' or 'video', the camera), or null. */
  remoteTrack(kind) {
    return this.stream.getTracks().find((t) => t.kind === kind && t.readyState === 'live') ?? null;
  }

  /** The remote screen track, or null. */
  screenTrack() {
    return this.screenStream.getVideoTracks().find((t) => t.readyState === 'live') ?? null;
  }

  /** Whether the other side shares a screen now: it says so, and its track is here. */
  get sharing() {
    const track = this.screenTrack();
    return this.remoteMedia.screen === true && Boolean(track);
  }

  #stateChanged() {
    const pc = this.#pc;
    // Fall back on the ICE state where connectionState is missing.
    const state = pc.connectionState ?? pc.iceConnectionState;
    if (state === this.state) return;
    this.state = state;
    clearTimeout(this.#restartTimer);
    if (this.#closed) {
      // Nothing to mend.
    } else if (state === 'failed') {
      // A new ICE round, negotiated like any renegotiation; again later if
      // the path is still down.
      pc.restartIce();
      this.#restartWhileDown(RETRY_RESTART_MS);
    } else if (state === 'disconnected') {
      // Often a blip that mends itself; if it lasts, restart ICE too.
      this.#restartWhileDown(DISCONNECTED_RESTART_MS);
    }
    this.#emit('state');
  }

  /** Restarts ICE in `delay` ms if the connection is still down, and so on. */
  #restartWhileDown(delay) {
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      const pc = this.#pc;
      const now = pc.connectionState ?? pc.iceConnectionState;
      if (this.#closed || (now !== 'failed' && now !== 'disconnected')) return;
      pc.restartIce();
      this.#restartWhileDown(Math.min(delay * 2, MAX_RESTART_MS));
    }, delay);
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    this.#pc.close();
    for (const track of [...this.stream.getTracks(), ...this.screenStream.getTracks()]) track.stop();
    this.#arrived.clear();
    this.state = 'closed';
    this.#emit('state');
  }

  #emit(type) {
    this.dispatchEvent(new Event(type));
  }
}
