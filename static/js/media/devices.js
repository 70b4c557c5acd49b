// Picking the camera, microphone and speaker, before and during the call.
//
// Why a module of its own: the list of devices changes (plugged in, pulled
// out, labels that appear only once permission is given), speaker choice
// is a feature some browsers lack, and the same pickers appear on two
// screens. Devices keeps the list and the speaker; devicePicker() draws the
// three <select>s into a container and keeps them in step.

import { el } from '../ui/dom.js';

const KINDS = [
  { kind: 'videoinput', media: 'video', label: 'Camera', fallback: 'Camera' },
  { kind: 'audioinput', media: 'audio', label: 'Microphone', fallback: 'Microphone' },
  { kind: 'audiooutput', media: 'speaker', label: 'Speaker', fallback: 'Speaker' },
];

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

/**
 * Draws the camera, microphone and speaker pickers into `container` and
 * keeps them in step with `devices` and `media`. onPicked(kind, deviceId)
 * is told of every choice that worked (to remember it); onFailed(kind)
 * of one that did not. Returns a function that removes them.
 */
export function devicePicker(container, { devices, media, idPrefix, onPicked = () => {}, onFailed = () => {} }) {
  const selects = {};
  const rows = [];
  for (const { kind, media: role, label } of KINDS) {
    const id = `${idPrefix}-${role}`;
    const select = el('select', { id, 'data-kind': role });
    const row = el('div', { class: 'device-row' }, [el('label', { for: id, text: label }), select]);
    selects[role] = select;
    rows.push(row);
    select.addEventListener('change', async () => {
      const value = select.value;
      select.disabled = true;
      let ok;
      try {
        ok = role === 'speaker' ? await devices.setSpeaker(value) : await media.useDevice(role, value);
      } finally {
        select.disabled = false;
      }
      if (ok) onPicked(role, value);
      else onFailed(role);
      render();
    });
  }
  container.replaceChildren(...rows);

  const render = () => {
    for (const { kind, media: role, fallback } of KINDS) {
      const select = selects[role];
      const row = select.parentElement;
      const options = devices.list[kind];
      if (role === 'speaker' && (!Devices.canPickSpeaker || options.length === 0)) {
        row.hidden = true;
        continue;
      }
      const current = role === 'speaker' ? devices.speaker : media.deviceId(role);
      const children = options.map((device, i) =>
        el('option', { value: device.deviceId, text: device.label || `${fallback} ${i + 1}` }),
      );
      if (role === 'speaker' && !options.some((d) => d.deviceId === '' || d.deviceId === 'default')) {
        children.unshift(el('option', { value: '', text: 'System default' }));
      }
      if (children.length === 0) {
        children.push(el('option', { value: '', text: `No ${fallback.toLowerCase()} found` }));
      }
      const same =
        select.options.length === children.length &&
        children.every((option, i) => select.options[i].value === option.value && select.options[i].text === option.text);
      if (!same) select.replaceChildren(...children);
      const wanted = current ?? (role === 'speaker' ? '' : null);
      if (wanted !== null && [...select.options].some((o) => o.value === wanted)) select.value = wanted;
      else if (role === 'speaker' && [...select.options].some((o) => o.value === 'default')) select.value = 'default';
      row.hidden = false;
      // Blocked or missing devices cannot be switched.
      select.disabled = role !== 'speaker' && (options.length === 0 || !['ok', 'pending'].includes(media.status[role]));
    }
  };
  devices.addEventListener('change', render);
  media.addEventListener('change', render);
  render();
  return () => {
    devices.removeEventListener('change', render);
    media.removeEventListener('change', render);
  };
}
