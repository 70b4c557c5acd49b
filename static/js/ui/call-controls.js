// The call's controls: microphone, camera, screen share, copying the link,
// leaving, and the keyboard shortcuts that do the same.
//
// Why a module of its own: this is everything the person can do to the
// call from its bottom bar (and the keyboard), with the small rules each
// button has: a blocked microphone asks again, the screen picker can be
// cancelled or never answer, a link that cannot be copied is shown
// selected instead.

import { $, el, toast } from './dom.js';
import { LocalMedia } from '../media/local-media.js';
import { installShortcuts } from './shortcuts.js';
import { copy, flash, offerShare } from './clipboard.js';
import { deviceMessage } from './device-words.js';
import { syncToggle, micToggle, camToggle, toggleMic, withKey, shareToggle } from './toggles.js';

const SHARE_PROBLEMS = {
  timeout: 'The browser did not show its screen picker. Try again.',
  unsupported: 'This browser cannot share a screen.',
  error: 'Your screen could not be shared.',
};

/**
 * Wires the controls. link: the room's; waiting(): whether the waiting
 * card shows the link; onLeave(): the person hung up; onChat(), onHelp():
 * open the chat, the shortcuts; refresh(): redraw your own side of the
 * screen (after the screen picker closes). Returns {render}, which keeps
 * the buttons in step with your devices.
 */
export function callControls({ call, media, link, waiting, onLeave, onChat, onHelp, refresh }) {
  const micButton = $('toggle-mic');
  const camButton = $('toggle-cam');
  const shareButton = $('toggle-share');

  const render = () => {
    syncToggle(micButton, withKey(micToggle(media), 'M'));
    syncToggle(camButton, withKey(camToggle(media), 'V'));
    const share = shareToggle(media);
    syncToggle(shareButton, share);
    shareButton.setAttribute('aria-pressed', String(share.on));
    shareButton.classList.toggle('active', share.on);
    shareButton.classList.remove('off');
  };

  const clickMic = async () => {
    const ok = await toggleMic(media);
    // The whole truth: with the camera failing too, nobody sees us either.
    if (!ok) toast(deviceMessage(media.status) || 'The microphone could not be started.');
  };
  const clickCam = async () => {
    const ok = await call.setCamera(!media.videoTrack);
    if (!ok) toast(deviceMessage(media.status) || 'The camera could not be started.');
  };
  /** Whether the browser's screen picker is open. */
  let choosing = false;
  const clickShare = async () => {
    if (media.sharing) {
      call.stopScreen();
      return;
    }
    if (choosing) return;
    choosing = true;
    shareButton.setAttribute('aria-busy', 'true');
    shareButton.querySelector('.label').textContent = 'Choosing…';
    const result = await call.shareScreen();
    choosing = false;
    shareButton.removeAttribute('aria-busy');
    refresh();
    if (SHARE_PROBLEMS[result]) toast(SHARE_PROBLEMS[result]);
  };
  micButton.addEventListener('click', clickMic);
  camButton.addEventListener('click', clickCam);
  shareButton.hidden = !LocalMedia.canShareScreen;
  shareButton.addEventListener('click', clickShare);
  offerShare($('call-share'), link, toast);
  $('call-copy').addEventListener('click', async () => {
    const { copied, words } = await copy(link, $('call-link'));
    toast(words);
    if (copied) flash($('call-copy'), 'Copied');
  });
  $('invite').addEventListener('click', async () => {
    const input = waiting() ? $('call-link') : null;
    const { copied, words } = await copy(link, input);
    if (!input && !copied) {
      // Nothing on screen holds the link: show it, selected.
      const field = el('input', { type: 'text', readonly: true, value: link, 'aria-label': 'Link to this room' });
      toast(field, 15000);
      field.focus();
      field.select();
    }
    if (copied) flash($('invite'), 'Copied');
    toast(words);
  });
  $('hang-up').addEventListener('click', () => onLeave());

  // Keyboard: the same as clicking, and a word on screen (and for screen
  // readers) about what happened.
  const said = (words) => toast(words, 2500);
  installShortcuts({
    mic: async () => {
      await clickMic();
      said(media.live('audio') ? 'Microphone on' : 'Microphone off');
    },
    camera: async () => {
      await clickCam();
      said(media.videoTrack ? 'Camera on' : 'Camera off');
    },
    share: () => {
      if (!shareButton.hidden) clickShare();
    },
    chat: onChat,
    help: onHelp,
  });

  return { render };
}
