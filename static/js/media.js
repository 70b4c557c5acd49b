// Your own camera and microphone.
//
// Why a module of its own: asking for devices has many outcomes (granted,
// blocked, missing, busy) and each kind can fail alone. This module asks with
// fallbacks, remembers what happened per kind, and turns the microphone and
// camera off and on. It knows no peers and no page; it fires "change" and the
// call and the screens follow.

const KINDS = ['audio', 'video'];

/** Turns a getUserMedia error into one word the page can explain. */
function reason(error) {
  switch (error?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'blocked';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'missing';
    case 'NotReadableError':
    case 'AbortError':
      return 'busy';
    default:
      return 'error';
  }
}

export class LocalMedia extends EventTarget {
  /** Per kind: 'pending', 'ok', 'blocked', 'missing', 'busy', 'error' or 'unsupported'. */
  status = { audio: 'pending', video: 'pending' };
  /** What the person wants: the microphone open, the camera on. */
  micOn = true;
  cameraOn = true;
  #tracks = { audio: null, video: null };
  #constraints;
  #stopped = false;
  #ready = null;

  /** `video` is the getUserMedia constraint used for the camera. */
  constructor({ video = true } = {}) {
    super();
    this.#constraints = { audio: { echoCancellation: true, noiseSuppression: true }, video };
  }

  get audioTrack() {
    return this.#tracks.audio;
  }

  get videoTrack() {
    return this.#tracks.video;
  }

  /** The live track of `kind` to send, or null (off, blocked or missing). */
  track(kind) {
    return this.#tracks[kind];
  }

  /**
   * Whether this side should offer to send `kind`: true while the device is
   * usable, even while it is switched off, so that switching it on again
   * needs no renegotiation.
   */
  canSend(kind) {
    return this.status[kind] === 'ok';
  }

  /** Whether the others currently get sound or picture of `kind` from us. */
  live(kind) {
    const track = this.#tracks[kind];
    return Boolean(track && track.readyState === 'live' && (kind === 'video' || this.micOn));
  }

  /** Asks for camera and microphone; resolves when every kind is settled. */
  start() {
    this.#ready ??= this.#acquire();
    return this.#ready;
  }

  async #acquire() {
    if (!navigator.mediaDevices?.getUserMedia) {
      // Plain http on another machine than localhost is not a secure context.
      this.status = { audio: 'unsupported', video: 'unsupported' };
      this.#changed();
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia(this.#constraints);
      this.#take(stream);
      for (const kind of KINDS) this.status[kind] = this.#tracks[kind] ? 'ok' : 'missing';
    } catch {
      // One kind may work without the other (no camera, mic blocked, ...):
      // ask for each on its own to learn which.
      for (const kind of KINDS) {
        try {
          const stream = await navigator.mediaDevices.getUserMedia({ [kind]: this.#constraints[kind] });
          this.#take(stream);
          this.status[kind] = this.#tracks[kind] ? 'ok' : 'missing';
        } catch (error) {
          this.status[kind] = reason(error);
        }
      }
    }
    if (this.#tracks.audio) this.#tracks.audio.enabled = this.micOn;
    if (!this.cameraOn) this.#dropVideo();
    this.#changed();
  }

  #take(stream) {
    for (const track of stream.getTracks()) {
      if (this.#stopped || this.#tracks[track.kind]) {
        track.stop();
        continue;
      }
      this.#tracks[track.kind] = track;
      // A device unplugged or revoked mid-call ends its track.
      track.addEventListener('ended', () => {
        if (this.#tracks[track.kind] !== track) return;
        this.#tracks[track.kind] = null;
        if (track.kind === 'video') this.cameraOn = false;
        this.#changed();
      });
    }
  }

  setMic(on) {
    this.micOn = on;
    if (this.#tracks.audio) this.#tracks.audio.enabled = on;
    this.#changed();
  }

  /**
   * Camera off stops the track, so the camera light goes off; camera on asks
   * for a new one. Resolves to true when the camera is in the wanted state.
   */
  async setCamera(on) {
    this.cameraOn = on;
    if (!on) {
      this.#dropVideo();
      this.#changed();
      return true;
    }
    if (this.#tracks.video) return true;
    if (!navigator.mediaDevices?.getUserMedia) return false;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: this.#constraints.video });
      if (!this.cameraOn || this.#stopped) {
        for (const track of stream.getTracks()) track.stop();
        return false;
      }
      this.#take(stream);
      this.status.video = 'ok';
      this.#changed();
      return true;
    } catch (error) {
      this.cameraOn = false;
      this.status.video = reason(error);
      this.#changed();
      return false;
    }
  }

  /** Asks for the microphone again (after it was blocked or missing). */
  async retryMic() {
    if (this.#tracks.audio || !navigator.mediaDevices?.getUserMedia) return Boolean(this.#tracks.audio);
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: this.#constraints.audio });
      if (this.#stopped) {
        for (const track of stream.getTracks()) track.stop();
        return false;
      }
      this.#take(stream);
      this.status.audio = 'ok';
      this.micOn = true;
      this.#changed();
      return true;
    } catch (error) {
      this.status.audio = reason(error);
      this.#changed();
      return false;
    }
  }

  #dropVideo() {
    const track = this.#tracks.video;
    this.#tracks.video = null;
    track?.stop();
  }

  /** Releases every device (hang up, room full, leaving the page). */
  stop() {
    this.#stopped = true;
    for (const kind of KINDS) {
      this.#tracks[kind]?.stop();
      this.#tracks[kind] = null;
    }
    this.#changed();
  }

  #changed() {
    this.dispatchEvent(new Event('change'));
  }
}
