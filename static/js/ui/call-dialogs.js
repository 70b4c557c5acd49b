// The call screen's dialogs: Devices (camera, microphone, speaker) and
// Keyboard shortcuts. (Call quality has its own module, ui/quality.js.)
//
// Why a module of its own: both are opened from the call screen and live
// in <dialog>s of index.html, apart from the stage and the controls; this
// fills them and opens them.

import { $, toast } from './dom.js';
import { devicePicker } from './device-picker.js';
import { renderShortcutHelp } from './shortcuts.js';

const DEVICE_WORDS = { audio: 'microphone', video: 'camera', speaker: 'speaker' };

/**
 * Fills the dialogs and wires their buttons. onDevicePicked(kind, id): a
 * device was chosen. Returns {showHelp}.
 */
export function callDialogs({ devices, media, onDevicePicked }) {
  // Devices: the same pickers as before joining, in a dialog.
  const settings = $('settings-dialog');
  devicePicker($('call-devices'), {
    devices,
    media,
    idPrefix: 'call',
    onPicked: onDevicePicked,
    onFailed: (kind) =>
      toast(kind === 'noise' ? 'Could not change noise suppression.' : `Could not switch the ${DEVICE_WORDS[kind] ?? 'speaker'}.`),
  });
  $('open-settings').addEventListener('click', () => {
    devices.refresh();
    settings.showModal();
  });

  const help = $('help-dialog');
  renderShortcutHelp();
  const showHelp = () => help.showModal();
  $('show-shortcuts').addEventListener('click', showHelp);
  return { showHelp };
}
