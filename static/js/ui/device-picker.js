// The camera, microphone and speaker pickers, before and during the call.
//
// Why a module of its own: the same three <select>s appear on two screens
// (pre-join and the call's Devices dialog) and must follow the device list
// (media/devices.js) and the devices in use (media/local-media.js) as both
// change. devicePicker() draws them into a container and keeps them in step.

import { el } from './dom.js';
import { Devices } from '../media/devices.js';

const KINDS = [
  { kind: 'videoinput', media: 'video', label: 'Camera', fallback: 'Camera' },
  { kind: 'audioinput', media: 'audio', label: 'Microphone', fallback: 'Microphone' },
  { kind: 'audiooutput', media: 'speaker', label: 'Speaker', fallback: 'Speaker' },
];

/**
 * Draws the camera, microphone and speaker pickers into `container` and
 * keeps them in step with `devices` and `media`. onPicked(kind, deviceId)
 * is told of every choice that worked (to remember it); onFailed(kind)
 * of one that did not. Returns a function that removes them.
 */
export function devicePicker(container, { devices, media, idPrefix, onPicked = () => {}, onFailed = () => {} }) {
  const selects = {};
  /** Per role, the options last drawn ([value, text] pairs as JSON). */
  const drawn = {};
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
  };
  devices.addEventListener('change', render);
  media.addEventListener('change', render);
  render();
  return () => {
    devices.removeEventListener('change', render);
    media.removeEventListener('change', render);
  };
}
