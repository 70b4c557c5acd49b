// The call screen.
//
// Why a module of its own: it puts the call's pieces on the page (the
// stage of tiles, the chat, the call quality, the controls, the status
// line) and keeps them in step with the Call and your devices.

import { $, el, listNames, displayName, toast } from './dom.js';
import { LocalMedia } from '../media/local-media.js';
import { QualityMonitor } from '../media/stats.js';
import { Stage } from './tiles.js';
import { ChatPanel } from './chat.js';
import { QualityView } from './quality.js';
import { devicePicker } from './device-picker.js';
import { installShortcuts, renderShortcutHelp } from './shortcuts.js';
import { showScreen } from './screens.js';
import { copy, flash } from './clipboard.js';
import { deviceMessage } from './device-words.js';
import { syncToggle, micToggle, camToggle, toggleMic, withKey, shareToggle } from './toggles.js';

const SHARE_PROBLEMS = {
  timeout: 'The browser did not show its screen picker. Try again.',
  unsupported: 'This browser cannot share a screen.',
  error: 'Your screen could not be shared.',
};

/**
 * The call screen. capacity: the room's; link: the room's link; devices,
 * levels: device lists and audio levels; onLeave(): the person hung up;
 * onDevicePicked(kind, id): a device was chosen.
 */
export function callView({ call, media, devices, levels, capacity, link, selfName, onLeave, onDevicePicked }) {
  showScreen('call', 'Call');
  const status = $('call-status');
  const waiting = $('waiting');
  const notice = $('call-notice');
  const micButton = $('toggle-mic');
  const camButton = $('toggle-cam');
  const shareButton = $('toggle-share');
  let lastLeft = null;

  $('call-link').value = link;
  $('waiting-title').textContent =
    capacity > 2 ? 'Waiting for others to join' : 'Waiting for the other person to join';

  const monitor = new QualityMonitor();
  const quality = new QualityView({ monitor, call });
  const chat = new ChatPanel({ call });
  const stage = new Stage({
    call,
    media,
    levels,
    devices,
    quality,
    selfName,
    onStopShare: () => call.stopScreen(),
    onChange: () => render(),
  });
  // The stage changes size when the chat opens or closes.
  chat.addEventListener('toggle', () => stage.layout());

  const render = () => {
    const peers = [...call.peers.values()];
    const count = peers.length;
    $('people-number').textContent = String(count + 1);
    waiting.hidden = count > 0 || media.sharing || (call.phase !== 'joined' && call.phase !== 'connecting');

    let text;
    if (call.phase === 'connecting') {
      text = 'Connecting to the server…';
    } else if (call.phase === 'reconnecting') {
      text = 'Connection to the server lost. Reconnecting…';
    } else if (call.phase === 'ended') {
      text = 'The call has ended.';
    } else if (count === 0) {
      const wait = capacity > 2 ? 'Waiting for others to join.' : 'Waiting for the other person to join.';
      text = lastLeft ? `${lastLeft} left the call. ${wait}` : wait;
    } else {
      const trouble = peers.filter((p) => p.state === 'disconnected' || p.state === 'failed');
      const connecting = peers.filter((p) => p.state !== 'connected' && !trouble.includes(p));
      if (trouble.length) {
        text = `Connection to ${listNames(trouble.map(displayName))} interrupted. Reconnecting…`;
      } else if (connecting.length) {
        text = `Connecting to ${listNames(connecting.map(displayName))}…`;
      } else {
        text = `Connected with ${listNames(peers.map(displayName))}.`;
      }
    }
    if (status.textContent !== text) status.textContent = text;
    document.title = `${count > 0 ? `(${count + 1}) ` : ''}Call · Parlor`;

    // Problems that last: devices, server connection.
    const problems = [];
    if (call.phase === 'reconnecting') {
      const live = peers.some((p) => p.state === 'connected');
      problems.push(
        live
          ? 'Connection to the server was lost. Your call goes on while Parlor reconnects…'
          : 'Connection to the server was lost. Trying to reconnect…',
      );
    }
    const deviceProblem = deviceMessage(media.status, { short: true });
    if (deviceProblem) problems.push(deviceProblem);
    $('call-notice-text').textContent = problems.join(' ');
    notice.hidden = problems.length === 0;
    notice.classList.toggle('danger', call.phase === 'reconnecting');
    stage.layout();
  };

  const renderSelf = () => {
    stage.renderSelf();
    syncToggle(micButton, withKey(micToggle(media), 'M'));
    syncToggle(camButton, withKey(camToggle(media), 'V'));
    const share = shareToggle(media);
    syncToggle(shareButton, share);
    shareButton.setAttribute('aria-pressed', String(share.on));
    shareButton.classList.toggle('active', share.on);
    shareButton.classList.remove('off');
    render();
  };

  const sharing = new Map();
  const onPeerMedia = (peer) => () => {
    // Say it when someone starts presenting.
    const now = peer.sharing;
    if (now && !sharing.get(peer.id)) toast(`${displayName(peer)} is presenting.`);
    sharing.set(peer.id, now);
  };
  const peerListeners = new Map();
  call.addEventListener('peer-added', (event) => {
    const { peer } = event.detail;
    stage.addPeer(peer);
    monitor.add(peer);
    const listener = onPeerMedia(peer);
    peerListeners.set(peer, listener);
    peer.addEventListener('media', listener);
    peer.addEventListener('tracks', listener);
    lastLeft = null;
    if (call.phase === 'joined' && peer.polite) toast(`${displayName(peer)} is joining.`);
    render();
  });
  call.addEventListener('peer-removed', (event) => {
    const { peer, reason } = event.detail;
    stage.removePeer(peer);
    monitor.remove(peer);
    quality.peerGone(peer);
    const listener = peerListeners.get(peer);
    peer.removeEventListener('media', listener);
    peer.removeEventListener('tracks', listener);
    peerListeners.delete(peer);
    sharing.delete(peer.id);
    if (reason === 'left') {
      lastLeft = displayName(peer);
      if (call.peers.size > 0) toast(`${lastLeft} left the call.`);
    }
    render();
  });
  call.addEventListener('phase', () => {
    render();
    if (call.phase === 'ended') {
      monitor.stop();
      stage.close();
    }
  });
  media.addEventListener('change', renderSelf);

  const clickMic = async () => {
    const ok = await toggleMic(media);
    if (!ok) toast(deviceMessage({ audio: media.status.audio, video: 'ok' }) || 'The microphone could not be started.');
  };
  const clickCam = async () => {
    const ok = await call.setCamera(!media.videoTrack);
    if (!ok) toast(deviceMessage({ audio: 'ok', video: media.status.video }) || 'The camera could not be started.');
  };
  const clickShare = async () => {
    if (media.sharing) {
      call.stopScreen();
      return;
    }
    if (shareButton.getAttribute('aria-busy') === 'true') return;
    shareButton.setAttribute('aria-busy', 'true');
    shareButton.querySelector('.label').textContent = 'Choosing…';
    const result = await call.shareScreen();
    shareButton.removeAttribute('aria-busy');
    renderSelf();
    if (SHARE_PROBLEMS[result]) toast(SHARE_PROBLEMS[result]);
  };
  micButton.addEventListener('click', clickMic);
  camButton.addEventListener('click', clickCam);
  shareButton.hidden = !LocalMedia.canShareScreen;
  shareButton.addEventListener('click', clickShare);
  $('call-copy').addEventListener('click', async () => {
    const said = await copy(link, $('call-link'));
    toast(said);
    if (said.startsWith('Link copied')) flash($('call-copy'), 'Copied');
  });
  $('invite').addEventListener('click', async () => {
    const input = waiting.hidden ? null : $('call-link');
    let said = await copy(link, input);
    if (!input && !said.startsWith('Link copied')) {
      // Nothing on screen holds the link: show it, selected.
      const field = el('input', { type: 'text', readonly: true, value: link, 'aria-label': 'Link to this room' });
      toast(field, 15000);
      field.focus();
      field.select();
      said = 'Press Ctrl+C (or ⌘C) to copy the selected link.';
    }
    if (said.startsWith('Link copied')) flash($('invite'), 'Copied');
    toast(said);
  });
  $('hang-up').addEventListener('click', () => onLeave());

  // Devices: the same pickers as before joining, in a dialog.
  const settings = $('settings-dialog');
  devicePicker($('call-devices'), {
    devices,
    media,
    idPrefix: 'call',
    onPicked: onDevicePicked,
    onFailed: (kind) => toast(`Could not switch the ${kind === 'audio' ? 'microphone' : kind === 'video' ? 'camera' : 'speaker'}.`),
  });
  $('open-settings').addEventListener('click', () => {
    devices.refresh();
    settings.showModal();
  });

  const help = $('help-dialog');
  renderShortcutHelp();
  $('show-shortcuts').addEventListener('click', () => help.showModal());

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
    chat: () => chat.toggle(),
    help: () => help.showModal(),
  });

  renderSelf();
}
