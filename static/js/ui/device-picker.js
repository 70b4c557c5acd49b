// The camera, microphone and speaker pickers, before and during the call.
//
// Why a module of its own: the same three <select>s appear on two screens
// (pre-join and the call's Devices dialog) and must follow the device list
// (media/devices.js) and the devices in use (media/local-media.js) as both
// change. devicePicker() draws them into a container and keeps them in step,
// with the noise suppression switch under the microphone (media/effects.js).

import { el } from './dom.js';
import { Devices } from '../media/devices.js';
import { saveEffect } from '../media/effects.js';

/** Whether this browser lets a page switch noise suppression at all. */
const canSuppressNoise = () => Boolean(navigator.mediaDevices?.getSupportedConstraints?.().noiseSuppression);

const KINDS = [
  { kind: 'videoinput', media: 'video', label: 'Camera', fallback: 'Camera' },
  { kind: 'audioinput', media: 'audio', label: 'Microphone', fallback: 'Microphone' },
  { kind: 'audiooutput', media: 'speaker', label: 'Speaker', fallback: 'Speaker' },
];

/**
 * Draws the camera, microphone and speaker pickers, and the noise
 * suppression switch, into `container` and keeps them in step with
 * `devices` and `media`. onPicked(kind, deviceId) is told of every device
 * choice that worked (to remember it); onFailed(kind) of one that did not
 * (kind 'noise' for the switch, whose choice is remembered here). Returns a
 * function that removes them.
 */
export function devicePicker(container, { devices, media, idPrefix, onPicked = () => {}, onFailed = () => {} }) {
  const selects = {};
  /** Per role, the options last drawn ([value, text] pairs as JSON). */
  const drawn = {};
  const rows = [];
  const noise = noiseSwitch(`${idPrefix}-noise`, media, onFailed);
  for (const { kind, media: role, label } of KINDS) {
    const id = `${idPrefix}-${role}`;
    const select = el('select', { id, 'data-kind': role });
    const row = el('div', { class: 'device-row' }, [el('label', { for: id, text: label }), select]);
    selects[role] = select;
    rows.push(row);
    if (role === 'audio') rows.push(noise.row);
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
      const entries = options.map((device, i) => [device.deviceId, device.label || `${fallback} ${i + 1}`]);
      if (role === 'speaker' && !options.some((d) => d.deviceId === '' || d.deviceId === 'default')) {
        entries.unshift(['', 'System default']);
      }
      if (entries.length === 0) entries.push(['', `No ${fallback.toLowerCase()} found`]);
      const key = JSON.stringify(entries);
      if (drawn[role] !== key) {
        drawn[role] = key;
        select.replaceChildren(...entries.map(([value, text]) => el('option', { value, text })));
      }
      const has = (value) => entries.some(([v]) => v === value);
      const wanted = current ?? (role === 'speaker' ? '' : null);
      if (wanted !== null && has(wanted)) select.value = wanted;
      else if (role === 'speaker' && has('default')) select.value = 'default';
      row.hidden = false;
      // Blocked or missing devices cannot be switched.
      select.disabled = role !== 'speaker' && (options.length === 0 || !['ok', 'pending'].includes(media.status[role]));
    }
    noise.render();
  };
  devices.addEventListener('change', render);
  media.addEventListener('change', render);
  render();
  return () => {
    devices.removeEventListener('change', render);
    media.removeEventListener('change', render);
  };
}

/**
 * The noise suppression checkbox: applies the choice to the microphone
 * (LocalMedia.setNoiseSuppression) and remembers it. Hidden where the
 * browser cannot switch it, disabled until the microphone is open.
 */
function noiseSwitch(id, media, onFailed) {
  const box = el('input', { type: 'checkbox', id, role: 'switch' });
  const row = el('div', { class: 'effect-row' }, [box, el('label', { for: id, text: 'Noise suppression' })]);
  let busy = false;
  box.addEventListener('change', async () => {
    const on = box.checked;
    busy = true;
    box.disabled = true;
    let ok;
    try {
      ok = await media.setNoiseSuppression(on);
    } finally {
      busy = false;
    }
    saveEffect('noiseSuppression', on);
    if (!ok) onFailed('noise');
    render();
  });
  const render = () => {
    row.hidden = !canSuppressNoise();
    if (busy) return;
    box.checked = media.noiseSuppression;
    // Not while the microphone is still opening: the choice could miss it.
    box.disabled = media.status.audio !== 'ok';
  };
  return { row, render };
}
