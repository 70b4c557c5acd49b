// Your own camera, microphone and screen share.
//
// Why a module of its own: asking for devices has many outcomes (granted,
// blocked, missing, busy) and each kind can fail alone. This module asks with
// fallbacks, remembers what happened per kind, turns the microphone and
// camera off and on, switches to another camera or microphone, switches
// the browser's noise suppression, and shares the screen. It knows no peers
// and no page; it fires "change" and the call and the screens follow (each
// peer puts the new track on its senders with replaceTrack, so switching a
// device never renegotiates).

const KINDS = ['audio', 'video'];

/** How long the browser's screen picker may stay open before we give up. */
const SCREEN_PICKER_MS = 120_000;

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
  #tracks = { audio: null, video: null, screen: null };
  #constraints;
  /** The device ids the person picked, per kind (null: the default). */
  #preferred = { audio: null, video: null };
  /** Counts device switches per kind, so that a slow one cannot win over a later one. */
  #switches = { audio: 0, video: 0 };
  #screenPending = null;
  #stopped = false;
  #ready = null;

  /**
   * `video` is the getUserMedia constraint used for the camera; `devices`
   * the device ids picked earlier ({audio, video}), tried first;
   * `noiseSuppression` whether the browser cleans up the microphone's sound.
   */
  constructor({ video = true, devices = {}, noiseSuppression = true } = {}) {
    super();
    this.#constraints = { audio: { echoCancellation: true, noiseSuppression: Boolean(noiseSuppression) }, video };
    for (const kind of KINDS) {
      if (typeof devices[kind] === 'string' && devices[kind]) this.#preferred[kind] = devices[kind];
    }
  }

  /** The constraint for `kind`, asking for the picked device if there is one. */
  #constraint(kind, picked = true) {
    const base = this.#constraints[kind];
    const id = this.#preferred[kind];
    if (!id || !picked) return base;
    return { ...(base === true ? {} : base), deviceId: { exact: id } };
  }

  /**
   * getUserMedia for `kinds`, asking for the picked devices, and for any
   * device when a picked one is gone (browsers do not honour a device id
   * that is only "ideal", so it is asked for exactly).
   */
  async #ask(kinds) {
    const constraints = (picked) => Object.fromEntries(kinds.map((kind) => [kind, this.#constraint(kind, picked)]));
    try {
      return await navigator.mediaDevices.getUserMedia(constraints(true));
    } catch (error) {
      const picked = kinds.some((kind) => this.#preferred[kind]);
      if (!picked || !['OverconstrainedError', 'NotFoundError'].includes(error?.name)) throw error;
      return navigator.mediaDevices.getUserMedia(constraints(false));
    }
  }

  get audioTrack() {
    return this.#tracks.audio;
  }

  get videoTrack() {
    return this.#tracks.video;
  }

  /** The screen being shared, or null. */
  get screenTrack() {
    return this.#tracks.screen;
  }

  get sharing() {
    return Boolean(this.#tracks.screen);
  }

  /** Whether this browser can share a screen at all (phones cannot). */
  static get canShareScreen() {
    return typeof navigator.mediaDevices?.getDisplayMedia === 'function';
  }

  /**
   * The live track of `kind` ('audio', 'video' or 'screen') to send, or
   * null (off, blocked, missing, not sharing).
   */
  track(kind) {
    return this.#tracks[kind];
  }

  /** The id of the device in use for `kind`, else the one picked, else null. */
  deviceId(kind) {
    const track = this.#tracks[kind];
    return track?.getSettings?.().deviceId || this.#preferred[kind] || null;
  }

  /**
   * Whether this side should offer to send `kind`: true while the device is
   * usable, even while it is switched off, so that switching it on again
   * needs no renegotiation; for 'screen', whenever this browser can share a
   * screen, shared now or not.
   */
  canSend(kind) {
    if (kind === 'screen') return LocalMedia.canShareScreen;
    return this.status[kind] === 'ok';
  }

  /** Whether the others currently get sound or picture of `kind` from us. */
  live(kind) {
    const track = this.#tracks[kind];
    return Boolean(track && track.readyState === 'live' && (kind !== 'audio' || this.micOn));
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
      const stream = await this.#ask(KINDS);
      this.#take(stream);
      for (const kind of KINDS) this.status[kind] = this.#tracks[kind] ? 'ok' : 'missing';
    } catch {
      // One kind may work without the other (no camera, mic blocked, ...):
      // ask for each on its own to learn which.
      for (const kind of KINDS) {
        try {
          const stream = await this.#ask([kind]);
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
      const stream = await this.#ask(['video']);
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
      const stream = await this.#ask(['audio']);
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

  /**
   * Switches `kind` ('audio' or 'video') to the device `deviceId`. The new
   * track replaces the old one, which is then stopped; the call puts it on
   * every sender with replaceTrack (no renegotiation). With the camera off,
   * the choice is kept for when it goes on. Resolves to true on success; on
   * failure the old device stays in use where it can.
   */
  async useDevice(kind, deviceId) {
    if (!KINDS.includes(kind)) throw new TypeError(`no device kind ${kind}`);
    const previousChoice = this.#preferred[kind];
    this.#preferred[kind] = deviceId || null;
    const current = this.#tracks[kind];
    if (current && deviceId && current.getSettings?.().deviceId === deviceId) return true;
    if ((kind === 'video' && !this.cameraOn) || !navigator.mediaDevices?.getUserMedia) {
      this.#changed();
      return kind === 'video';
    }
    const turn = ++this.#switches[kind];
    const ask = () => navigator.mediaDevices.getUserMedia({ [kind]: this.#constraint(kind) });
    let stream;
    try {
      stream = await ask();
    } catch (error) {
      if (!current || !['NotReadableError', 'AbortError'].includes(error.name) || turn !== this.#switches[kind]) {
        // The old device stays in use.
        this.#preferred[kind] = previousChoice;
        this.#changed();
        return false;
      }
      // Some devices (phone cameras) cannot be open twice: free the old one first.
      this.#tracks[kind] = null;
      current.stop();
      try {
        stream = await ask();
      } catch (again) {
        this.status[kind] = reason(again);
        if (kind === 'video') this.cameraOn = false;
        this.#changed();
        return false;
      }
    }
    if (this.#stopped || turn !== this.#switches[kind] || (kind === 'video' && !this.cameraOn)) {
      for (const track of stream.getTracks()) track.stop();
      return false;
    }
    return this.#install(kind, stream);
  }

  /** Puts the track of `kind` from `stream` in place of the current one, which stops. */
  #install(kind, stream) {
    const old = this.#tracks[kind];
    this.#tracks[kind] = null;
    this.#take(stream);
    old?.stop();
    if (kind === 'audio' && this.#tracks.audio) this.#tracks.audio.enabled = this.micOn;
    this.status[kind] = this.#tracks[kind] ? 'ok' : 'missing';
    this.#changed();
    return Boolean(this.#tracks[kind]);
  }

  /** Whether the browser is asked to take background noise out of the microphone's sound. */
  get noiseSuppression() {
    return this.#constraints.audio.noiseSuppression;
  }

  /**
   * Turns the browser's noise suppression on or off, for the microphone in
   * use and any opened later. Resolves to true when the track in use
   * follows. applyConstraints is tried first; Chromium accepts it but keeps
   * the processing a device was opened with, and shares one opened device
   * between tracks, so there the microphone is closed and opened again
   * with the new setting (a new track, which the call puts on its senders
   * with replaceTrack: no renegotiation).
   */
  async setNoiseSuppression(on) {
    const wanted = Boolean(on);
    this.#constraints.audio = { ...this.#constraints.audio, noiseSuppression: wanted };
    const current = this.#tracks.audio;
    if (!current) {
      this.#changed();
      return true;
    }
    const follows = () => this.#tracks.audio?.getSettings?.().noiseSuppression === wanted;
    try {
      await current.applyConstraints(this.#constraints.audio);
    } catch {
      // Refused: opening the microphone again below may still work.
    }
    if (follows()) {
      this.#changed();
      return true;
    }
    if (this.#tracks.audio !== current || this.#stopped) return follows();
    const turn = ++this.#switches.audio;
    this.#tracks.audio = null;
    current.stop();
    let stream;
    try {
      stream = await this.#ask(['audio']);
    } catch (error) {
      this.status.audio = reason(error);
      this.#changed();
      return false;
    }
    if (this.#stopped || turn !== this.#switches.audio) {
      for (const track of stream.getTracks()) track.stop();
      return false;
    }
    this.#install('audio', stream);
    return follows();
  }

  /**
   * Shares a screen, window or tab (the browser asks which). Resolves to
   * 'ok', 'cancelled' (the person closed the picker or refused), 'timeout'
   * (no answer from the picker in time), 'unsupported' or 'error'. When the
   * browser's own "Stop sharing" ends the track, sharing stops here too.
   */
  startScreen({ timeout = SCREEN_PICKER_MS } = {}) {
    if (this.#tracks.screen) return Promise.resolve('ok');
    if (!LocalMedia.canShareScreen) return Promise.resolve('unsupported');
    this.#screenPending ??= this.#pickScreen(timeout).finally(() => {
      this.#screenPending = null;
    });
    return this.#screenPending;
  }

  async #pickScreen(timeout) {
    const request = navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: 15, max: 30 } },
      audio: false,
    });
    let timer;
    const late = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), timeout);
    });
    let stream;
    try {
      stream = await Promise.race([request, late]);
    } catch (error) {
      return error?.name === 'NotAllowedError' || error?.name === 'AbortError' ? 'cancelled' : 'error';
    } finally {
      clearTimeout(timer);
    }
    if (!stream) {
      // A picker that never answers (seen in headless browsers): give up,
      // and let go of whatever it may still hand over.
      request.then((s) => s.getTracks().forEach((t) => t.stop()), () => {});
      return 'timeout';
    }
    const track = stream.getVideoTracks()[0];
    for (const other of stream.getTracks()) if (other !== track) other.stop();
    if (!track || this.#stopped) {
      track?.stop();
      return this.#stopped ? 'cancelled' : 'error';
    }
    // Text and lines stay sharp; the frame rate gives way first.
    if ('contentHint' in track) track.contentHint = 'detail';
    track.addEventListener('ended', () => {
      if (this.#tracks.screen === track) this.stopScreen();
    });
    this.#tracks.screen = track;
    this.#changed();
    return 'ok';
  }

  stopScreen() {
    const track = this.#tracks.screen;
    if (!track) return;
    this.#tracks.screen = null;
    track.stop();
    this.#changed();
  }

  #dropVideo() {
    const track = this.#tracks.video;
    this.#tracks.video = null;
    track?.stop();
  }

  /** Releases every device (hang up, room full, leaving the page). */
  stop() {
    this.#stopped = true;
    for (const kind of [...KINDS, 'screen']) {
      this.#tracks[kind]?.stop();
      this.#tracks[kind] = null;
    }
    this.#changed();
  }

  #changed() {
    this.dispatchEvent(new Event('change'));
  }
}
