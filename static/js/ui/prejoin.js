// The pre-join screen: your own preview, your name, the device pickers,
// then Join.
//
// Why a module of its own: it is the screen between the link and the call,
// and the first place devices are asked for, so it says plainly what works
// (camera, microphone) and what does not before anyone joins.

import { $, icon, initial } from './dom.js';
import { showScreen } from './screens.js';
import { deviceMessage, deviceWord } from './device-words.js';
import { syncToggle, micToggle, camToggle, toggleMic } from './toggles.js';
import { devicePicker } from './device-picker.js';

/** Room sizes in words. */
function roomSize(capacity) {
  return capacity > 2 ? `group call for up to ${capacity} people` : 'one-to-one call';
}

/**
 * The pre-join screen. info: {capacity, members} or null; onJoin(name)
 * is called once when the person clicks Join. devices, levels: the device
 * lists and audio levels (optional), for the pickers and the microphone
 * meter; onDevicePicked(kind, id) is told of a device chosen.
 */
export function prejoin({ info, media, name, devices, levels, onDevicePicked, onJoin }) {
  showScreen('prejoin', 'Join call');
  const video = $('preview');
  const placeholder = $('preview-placeholder');
  const note = $('preview-note');
  const avatar = $('preview-avatar');
  const nameInput = $('name');
  const status = $('device-status');
  const micButton = $('pre-mic');
  const camButton = $('pre-cam');
  const joinButton = $('join');
  nameInput.value = name ?? '';

  if (info) {
    const here =
      info.members === 0
        ? 'Nobody else is here yet.'
        : info.members === 1
          ? '1 person is already in the call.'
          : `${info.members} people are already in the call.`;
    const kind = roomSize(info.capacity);
    $('room-info').textContent = `${kind[0].toUpperCase()}${kind.slice(1)}. ${here}`;
  } else {
    $('room-info').textContent = '';
  }

  const render = () => {
    const track = media.videoTrack;
    if (track) {
      if (video.srcObject?.getVideoTracks()[0] !== track) video.srcObject = new MediaStream([track]);
    } else {
      video.srcObject = null;
    }
    $('preview-box').classList.toggle('no-video', !track);
    placeholder.hidden = Boolean(track);
    note.textContent =
      media.status.video === 'pending'
        ? 'Starting camera…'
        : media.status.video !== 'ok'
          ? deviceWord('video', media.status.video)
          : 'Camera is off';
    avatar.replaceChildren(initial(nameInput.value) || icon('person'));
    avatar.hidden = media.status.video === 'pending';
    syncToggle(micButton, micToggle(media));
    syncToggle(camButton, camToggle(media));
    micButton.disabled = camButton.disabled = media.status.audio === 'pending' || media.status.video === 'pending';
    const problem = deviceMessage(media.status);
    status.textContent =
      media.status.audio === 'pending' || media.status.video === 'pending'
        ? 'Asking for your camera and microphone…'
        : problem;
    status.classList.toggle('warn', Boolean(problem));
  };
  // The microphone button glows with your voice, so you can tell it works.
  let meter = { track: null, stop: () => {} };
  const renderMeter = () => {
    const track = media.audioTrack;
    if (!levels || track === meter.track) return;
    meter.stop();
    meter = { track, stop: levels.watch(track, (level) => micButton.style.setProperty('--level', String(level))) };
  };
  media.addEventListener('change', render);
  media.addEventListener('change', renderMeter);
  nameInput.addEventListener('input', render);
  render();
  renderMeter();
  const removePicker = devices
    ? devicePicker($('prejoin-devices'), { devices, media, idPrefix: 'pre', onPicked: onDevicePicked })
    : () => {};

  micButton.addEventListener('click', () => toggleMic(media));
  camButton.addEventListener('click', () => media.setCamera(!media.videoTrack));

  const form = $('prejoin-form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (joinButton.disabled) return;
    joinButton.disabled = true;
    joinButton.querySelector('span').textContent = 'Joining…';
    media.removeEventListener('change', render);
    media.removeEventListener('change', renderMeter);
    meter.stop();
    removePicker();
    onJoin(nameInput.value.trim().slice(0, 64));
  });
  if (!nameInput.value) nameInput.focus();
  else joinButton.focus();
}
