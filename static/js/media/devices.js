// The cameras, microphones and speakers there are, and the speaker picked.
//
// Why a module of its own: the list of devices changes (plugged in, pulled
// out, labels that appear only once permission is given), and speaker
// choice is a feature some browsers lack. Devices keeps the list and plays
// the sound of attached elements on the speaker picked; it draws nothing
// (ui/device-picker.js draws the pickers from it).

export class Devices extends EventTarget {
  /** Per MediaDeviceInfo kind, the devices in the browser's order. */
  list = { videoinput: [], audioinput: [], audiooutput: [] };
  /** The speaker picked ('' is the system's default). */
  speaker = '';
  #sinks = new Set();
  #watching = false;

  constructor({ speaker = '' } = {}) {
    super();
    this.speaker = speaker || '';
  }

  /** Whether sound can be sent to a speaker of one's choice here. */
  static get canPickSpeaker() {
    return typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;
  }

  /** Reads the list again; fires "change". */
  async refresh() {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    if (!this.#watching) {
      this.#watching = true;
      navigator.mediaDevices.addEventListener?.('devicechange', () => this.refresh());
    }
    let all = [];
    try {
      all = await navigator.mediaDevices.enumerateDevices();
    } catch {
      return;
    }
    const list = { videoinput: [], audioinput: [], audiooutput: [] };
    for (const device of all) {
      // Without permission, browsers list devices with empty ids: useless to pick.
      if (list[device.kind] && device.deviceId) list[device.kind].push(device);
    }
    this.list = list;
    if (this.speaker && !list.audiooutput.some((d) => d.deviceId === this.speaker)) {
      // The picked speaker is gone: back to the default.
      this.speaker = '';
      this.#applySinks();
    }
    this.dispatchEvent(new Event('change'));
  }

  /** Plays `element`'s sound on the picked speaker from now on; returns a function to stop. */
  attach(element) {
    this.#sinks.add(element);
    if (this.speaker) this.#setSink(element);
    return () => this.#sinks.delete(element);
  }

  /** Picks the speaker for every attached element. Resolves to false if the browser refused. */
  async setSpeaker(deviceId) {
    if (!Devices.canPickSpeaker) return false;
    const previous = this.speaker;
    this.speaker = deviceId || '';
    const results = await this.#applySinks();
    if (results.some((ok) => !ok)) {
      this.speaker = previous;
      await this.#applySinks();
      this.dispatchEvent(new Event('change'));
      return false;
    }
    this.dispatchEvent(new Event('change'));
    return true;
  }

  #applySinks() {
    return Promise.all([...this.#sinks].map((element) => this.#setSink(element)));
  }

  async #setSink(element) {
    if (!Devices.canPickSpeaker) return false;
    try {
      if (element.sinkId !== this.speaker) await element.setSinkId(this.speaker);
      return true;
    } catch (error) {
      console.warn('[parlor] speaker:', error);
      return false;
    }
  }
}
