// How loud each person is, for the speaking indicators.
//
// Why a module of its own: it is the one user of Web Audio. One AudioContext
// for the page; per watched audio track an AnalyserNode that nothing plays
// (the sound itself comes out of the <video> elements), read a few times a
// second. It knows no page: watchers get a level from 0 to 1 and whether
// that counts as speaking, and only when either changes.

/** How often levels are read. */
const INTERVAL_MS = 100;
/** Quieter than this (dBFS) is silence; this loud or more is full scale. */
const FLOOR_DB = -62;
const CEILING_DB = -12;
/** A level above this is speech; speaking lasts this long after the last loud moment. */
const SPEAKING_LEVEL = 0.18;
const HOLD_MS = 700;

export class AudioLevels {
  #context = null;
  #watchers = new Set();
  #timer = 0;
  #buffer = null;

  /** Whether this browser has Web Audio at all. */
  static get supported() {
    return typeof window.AudioContext === 'function';
  }

  #ensureContext() {
    if (this.#context || !AudioLevels.supported) return this.#context;
    this.#context = new AudioContext();
    // Autoplay rules may start it suspended: the next click or key starts it.
    if (this.#context.state === 'suspended') {
      const resume = () => {
        this.#context?.resume().catch(() => {});
        if (this.#context?.state === 'running') off();
      };
      const off = () => {
        removeEventListener('pointerdown', resume, true);
        removeEventListener('keydown', resume, true);
      };
      addEventListener('pointerdown', resume, true);
      addEventListener('keydown', resume, true);
      this.#context.resume().catch(() => {});
    }
    return this.#context;
  }

  /**
   * Follows the loudness of `track` (an audio MediaStreamTrack) and calls
   * onChange(level, speaking) when it changes. Returns a function that
   * stops following.
   */
  watch(track, onChange) {
    const context = this.#ensureContext();
    if (!context || !track || track.kind !== 'audio') return () => {};
    let source;
    try {
      source = context.createMediaStreamSource(new MediaStream([track]));
    } catch {
      return () => {};
    }
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    analyser.smoothingTimeConstant = 0;
    source.connect(analyser);
    const watcher = { track, analyser, source, onChange, level: 0, shown: -1, speaking: false, loudAt: 0 };
    this.#watchers.add(watcher);
    this.#timer ||= setInterval(() => this.#read(), INTERVAL_MS);
    return () => {
      if (!this.#watchers.delete(watcher)) return;
      source.disconnect();
      if (this.#watchers.size === 0) {
        clearInterval(this.#timer);
        this.#timer = 0;
      }
    };
  }

  #read() {
    const now = performance.now();
    for (const watcher of this.#watchers) {
      const { analyser } = watcher;
      if (!this.#buffer || this.#buffer.length !== analyser.fftSize) this.#buffer = new Float32Array(analyser.fftSize);
      let level = 0;
      if (watcher.track.readyState === 'live' && watcher.track.enabled) {
        analyser.getFloatTimeDomainData(this.#buffer);
        let sum = 0;
        for (const sample of this.#buffer) sum += sample * sample;
        const rms = Math.sqrt(sum / this.#buffer.length);
        const db = rms > 0 ? 20 * Math.log10(rms) : -Infinity;
        level = Math.min(1, Math.max(0, (db - FLOOR_DB) / (CEILING_DB - FLOOR_DB)));
      }
      // Rise at once, fall slowly: easier on the eye.
      watcher.level = level >= watcher.level ? level : Math.max(level, watcher.level * 0.7);
      if (level >= SPEAKING_LEVEL) watcher.loudAt = now;
      const speaking = now - watcher.loudAt < HOLD_MS && watcher.loudAt > 0;
      const shown = Math.round(watcher.level * 20) / 20;
      if (shown !== watcher.shown || speaking !== watcher.speaking) {
        watcher.shown = shown;
        watcher.speaking = speaking;
        try {
          watcher.onChange(shown, speaking);
        } catch (error) {
          console.warn('[parlor] level watcher:', error);
        }
      }
    }
  }

  close() {
    for (const watcher of this.#watchers) watcher.source.disconnect();
    this.#watchers.clear();
    clearInterval(this.#timer);
    this.#timer = 0;
    this.#context?.close().catch(() => {});
    this.#context = null;
  }
}
