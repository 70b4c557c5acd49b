// The microphone, camera and screen-share buttons' look and labels.
//
// Why a module of its own: the pre-join preview and the call's controls
// have the same microphone and camera buttons; both keep them in step with
// LocalMedia through these functions, so they cannot disagree on what a
// button says or does.

/** Keeps a pair of mic/camera buttons in step with LocalMedia. */
export function syncToggle(button, { on, label, title }) {
  button.classList.toggle('off', !on);
  button.title = title;
  const text = button.querySelector('.label');
  // A visible label is the accessible name; icon-only buttons get one.
  if (text) text.textContent = label;
  else button.setAttribute('aria-label', title);
}

export function micToggle(media) {
  const usable = media.status.audio === 'ok';
  const on = usable && media.micOn && Boolean(media.audioTrack);
  return {
    on,
    label: !usable ? 'No mic' : on ? 'Mute' : 'Unmute',
    title: !usable
      ? 'Microphone unavailable: click to ask again'
      : on
        ? 'Turn off microphone'
        : 'Turn on microphone',
  };
}

export function camToggle(media) {
  const on = Boolean(media.videoTrack);
  const usable = media.status.video === 'ok';
  return {
    on,
    label: on ? 'Stop video' : usable ? 'Start video' : 'No camera',
    title: on ? 'Turn off camera' : usable ? 'Turn on camera' : 'Camera unavailable: click to ask again',
  };
}

export async function toggleMic(media) {
  if (media.status.audio !== 'ok' || !media.audioTrack) return media.retryMic();
  media.setMic(!media.micOn);
  return true;
}

/** A toggle's title with its keyboard shortcut, for the call screen. */
export function withKey(toggle, key) {
  return { ...toggle, title: `${toggle.title} (${key})` };
}

export function shareToggle(media) {
  const on = media.sharing;
  return {
    on,
    label: on ? 'Stop sharing' : 'Share screen',
    title: on ? 'Stop sharing your screen (S)' : 'Share your screen (S)',
  };
}
