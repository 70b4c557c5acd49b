// One RTCPeerConnection to one other person in the room.
//
// Why a module of its own: this is where WebRTC negotiation lives, and it is
// the part that must be exactly right. It follows the "perfect negotiation"
// pattern (MDN): either side may make an offer at any time; on a collision
// the polite side rolls back and takes the other's offer, the impolite side
// ignores the other's offer. In Parlor the member who was in the room first
// is polite, the newcomer impolite, and the newcomer makes the first offer.
//
// Signal data on the wire: {"description":{"type","sdp"}},
// {"candidate":RTCIceCandidateInit|null}, and one Parlor addition,
// {"media":{"audio":bool,"video":bool}}: whether the sender's microphone and
// camera are on, so the other side can show an avatar instead of a frozen
// picture. Data with none of these keys is ignored.

const KINDS = ['audio', 'video'];

export class Peer extends EventTarget {
  /** The remote tracks, as one stream for a <video> element. */
  stream = new MediaStream();
  /** pc.connectionState, kept here for the page. */
  state = 'new';
  /** What the other side says about its microphone and camera (null: unknown). */
  remoteMedia = { audio: null, video: null };

  #pc;
  #polite;
  #send;
  #media;
  #tx = { audio: null, video: null };
  /** Only names our audio and video as one stream for the other side. */
  #msid = new MediaStream();
  #makingOffer = false;
  #ignoreOffer = false;
  #isSettingRemoteDescription = false;
  #pendingCandidates = [];
  #inbox = Promise.resolve();
  #closed = false;

  /**
   * id, name: the other person. polite: see above. iceServers: from welcome,
   * passed on as is. send(data): relays a signal to them. media: LocalMedia.
   */
  constructor({ id, name, polite, iceServers, send, media }) {
    super();
    this.id = id;
    this.name = name;
    this.#polite = polite;
    this.#send = send;
    this.#media = media;
    this.#pc = new RTCPeerConnection({ iceServers: iceServers ?? [] });
    const pc = this.#pc;

    pc.addEventListener('negotiationneeded', () => this.#offer());
    pc.addEventListener('icecandidate', ({ candidate }) => {
      this.#send({ candidate: candidate ? candidate.toJSON() : null });
    });
    pc.addEventListener('track', ({ track }) => this.#addRemoteTrack(track));
    pc.addEventListener('connectionstatechange', () => this.#stateChanged());
    pc.addEventListener('iceconnectionstatechange', () => this.#stateChanged());
  }

  get polite() {
    return this.#polite;
  }

  /**
   * As the newcomer: adds one audio and one video transceiver, sending what
   * we have and receiving in any case. That fires negotiationneeded, which
   * makes the first offer. Missing kinds still get an m-line (recvonly), so
   * someone without camera or microphone still receives both.
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
    } else if ('candidate' in data) {
      if (!pc.remoteDescription) {
        this.#pendingCandidates.push(data.candidate);
        return;
      }
      await this.#addCandidate(data.candidate);
    } else if (data.media && typeof data.media === 'object') {
      this.remoteMedia = {
        audio: typeof data.media.audio === 'boolean' ? data.media.audio : null,
        video: typeof data.media.video === 'boolean' ? data.media.video : null,
      };
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
   * Makes the audio and video transceivers match the local media: one per
   * kind (reusing those a remote offer created), 'sendrecv' while we have
   * that device, 'recvonly' otherwise, carrying the current track or none
   * (camera switched off). Called on start, when answering, and whenever
   * the local media changes.
   */
  async #syncTransceivers() {
    if (this.#closed) return;
    const pc = this.#pc;
    const replacing = [];
    for (const kind of KINDS) {
      let tr = this.#tx[kind];
      if (!tr || tr.currentDirection === 'stopped' || tr.direction === 'stopped') {
        tr = pc.getTransceivers().find(
          (t) =>
            t.receiver.track.kind === kind &&
            t.direction !== 'stopped' &&
            t.currentDirection !== 'stopped' &&
            !KINDS.some((k) => this.#tx[k] === t),
        );
        // Before the first remote offer, an existing member adds nothing:
        // that would make it start an offer of its own.
        if (!tr && !this.#canAddTransceivers()) continue;
        if (tr) {
          // Adopted from a remote offer. Audio and video in one stream at
          // the far end keeps lips in sync.
          tr.sender.setStreams?.(this.#msid);
        } else {
          const direction = this.#media.canSend(kind) ? 'sendrecv' : 'recvonly';
          tr = pc.addTransceiver(this.#media.track(kind) ?? kind, { direction, streams: [this.#msid] });
        }
        this.#tx[kind] = tr;
      }
      const direction = this.#media.canSend(kind) ? 'sendrecv' : 'recvonly';
      if (tr.direction !== direction) tr.direction = direction;
      const track = this.#media.track(kind);
      if (tr.sender.track !== track) replacing.push(tr.sender.replaceTrack(track));
    }
    await Promise.all(replacing);
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

  /** Tells the other side whether our microphone and camera are on. */
  sendMediaState(media) {
    this.#send({ media });
  }

  #addRemoteTrack(track) {
    if (!this.stream.getTracks().includes(track)) {
      // A new stream object, so <video> elements reload with every track.
      this.stream = new MediaStream([...this.stream.getTracks(), track]);
    }
    track.addEventListener('mute', () => this.#emit('media'));
    track.addEventListener('unmute', () => this.#emit('media'));
    track.addEventListener('ended', () => this.#emit('media'));
    this.#emit('tracks');
  }

  /** The remote track of `kind`, or null. */
  remoteTrack(kind) {
    return this.stream.getTracks().find((t) => t.kind === kind && t.readyState === 'live') ?? null;
  }

  #stateChanged() {
    const pc = this.#pc;
    // Fall back on the ICE state where connectionState is missing.
    const state = pc.connectionState ?? pc.iceConnectionState;
    if (state === this.state) return;
    this.state = state;
    if (state === 'failed' && !this.#closed) {
      // A new ICE round, negotiated like any renegotiation.
      pc.restartIce();
    }
    this.#emit('state');
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#pc.close();
    for (const track of this.stream.getTracks()) track.stop();
    this.state = 'closed';
    this.#emit('state');
  }

  #emit(type) {
    this.dispatchEvent(new Event(type));
  }
}
