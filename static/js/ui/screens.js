// The screens: start page, pre-join, call, and one-message pages.
//
// Why a module of its own: all DOM work happens here, so the other modules
// stay free of it. Each screen is a function that takes the objects it shows
// (LocalMedia, Call, ...) and callbacks for what the person asks for; it
// listens to their events and keeps the page in step, always saying in plain
// words what is going on.

import { $, el, icon, initial, listNames, displayName, toast } from './dom.js';
import { LocalMedia } from '../media/local-media.js';
import { Stage } from './tiles.js';
import { ChatPanel } from './chat.js';
import { QualityView } from './quality.js';
import { QualityMonitor } from '../media/stats.js';
import { devicePicker } from './device-picker.js';
import { installShortcuts, renderShortcutHelp } from './shortcuts.js';

/** Shows one screen, hides the others, and moves focus to its heading. */
export function showScreen(name, title) {
  for (const screen of document.querySelectorAll('.screen')) {
    screen.hidden = screen.id !== `${name}-screen`;
  }
  document.title = title ? `${title} · Parlor` : 'Parlor';
  document.body.dataset.screen = name;
  const heading = $(`${name}-screen`).querySelector('h1');
  heading?.focus({ preventScroll: true });
}

/**
 * Copies `text`; if the clipboard is not available, selects it in `input`
 * so that Ctrl+C (or ⌘C) does it. Returns a sentence saying which happened.
 */
async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return 'Link copied. Paste it into a message to invite someone.';
  } catch {
    if (input) {
      input.focus();
      input.select();
    }
    return 'Press Ctrl+C (or ⌘C) to copy the selected link.';
  }
}

function flash(button, text) {
  const label = button.querySelector('span');
  if (!label) return;
  clearTimeout(button.flashTimer);
  button.dataset.label ??= label.textContent;
  label.textContent = text;
  button.flashTimer = setTimeout(() => {
    label.textContent = button.dataset.label;
  }, 2000);
}

/* ---------------------------------------------------------------- start */

/**
 * onCreate(capacity) resolves to {room, link}; onJoin(room) is called with
 * a room id read from a pasted link; parse(text) reads it.
 */
export function startPage({ onCreate, onJoin, parse }) {
  showScreen('start');
  const form = $('new-room-form');
  const status = $('start-status');
  const button = $('new-room');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const capacity = Number(new FormData(form).get('capacity')) || 2;
    button.disabled = true;
    status.classList.add('quiet');
    status.classList.remove('hint');
    status.textContent = 'Creating a room…';
    try {
      const { link, capacity: made } = await onCreate(capacity);
      $('room-link').value = link;
      $('enter-room').href = new URL(link).pathname;
      $('created-text').textContent =
        made > 2 ? `Your group room is ready (up to ${made} people).` : 'Your one-to-one room is ready.';
      $('room-created').hidden = false;
      status.textContent = 'Room created. Copy the link, then enter the room.';
      // The next step is entering the room: that becomes the main button.
      button.classList.remove('primary');
      button.querySelector('span').textContent = 'Another room';
      $('copy-link').focus();
    } catch (error) {
      status.classList.remove('quiet');
      status.textContent =
        error.code === 'unreachable'
          ? 'Could not reach the server. Check your connection and try again.'
          : `Could not create a room: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  $('copy-link').addEventListener('click', async () => {
    const input = $('room-link');
    const said = await copy(input.value, input);
    const copied = said.startsWith('Link copied');
    status.classList.toggle('quiet', copied);
    status.classList.toggle('hint', !copied);
    status.textContent = said;
    if (copied) flash($('copy-link'), 'Copied');
  });
  $('room-link').addEventListener('focus', (event) => event.target.select());

  const join = $('join-form');
  const input = $('join-input');
  const error = $('join-error');
  input.addEventListener('input', () => {
    error.textContent = '';
    input.removeAttribute('aria-invalid');
  });
  join.addEventListener('submit', (event) => {
    event.preventDefault();
    const room = parse(input.value);
    if (!room) {
      error.textContent = input.value.trim()
        ? 'That does not look like a Parlor link or room id.'
        : 'Paste the link you were sent, or its room id.';
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    onJoin(room);
  });
}

/* ------------------------------------------------------------- messages */

const MESSAGES = {
  'room-not-found': {
    icon: 'search-off',
    title: 'This room does not exist',
    text: 'Check the link you were sent: it may be incomplete or mistyped, or the room may have expired.',
  },
  'room-full': {
    icon: 'block',
    title: 'This room is full',
  },
  left: { icon: 'wave', title: 'You left the call', text: 'Your camera and microphone are off.' },
  unreachable: {
    icon: 'cloud-off',
    title: 'Cannot reach the server',
    text: 'Check your internet connection, then try again.',
  },
  lost: {
    icon: 'cloud-off',
    title: 'Connection to the server lost',
    text: 'The call ended because this page could not reach the Parlor server again.',
  },
  error: { icon: 'info', title: 'Something went wrong' },
};

/**
 * A page with one message. kind: a key of MESSAGES; text overrides its
 * text; actions: [{label, href} or {label, onClick}], the first is primary.
 */
export function showMessage({ kind, text, actions = [] }) {
  const message = MESSAGES[kind] ?? MESSAGES.error;
  // Nothing of the call stays on top of the message.
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  $('chat-panel').hidden = true;
  $('message-screen').dataset.kind = kind;
  $('message-icon').setAttribute('href', `#i-${message.icon}`);
  $('message-title').textContent = message.title;
  $('message-text').textContent = text ?? message.text ?? '';
  const box = $('message-actions');
  box.replaceChildren();
  actions.forEach((action, index) => {
    const className = `btn${index === 0 ? ' primary' : ''}`;
    const node = action.href
      ? el('a', { class: className, href: action.href, text: action.label })
      : el('button', { class: className, type: 'button', text: action.label });
    if (action.onClick) node.addEventListener('click', action.onClick);
    box.append(node);
  });
  showScreen('message', message.title);
}

/** Room sizes in words. */
export function roomKind(capacity) {
  return capacity > 2 ? `group call for up to ${capacity} people` : 'one-to-one call';
}

/* -------------------------------------------------------------- devices */

const KIND_WORDS = { audio: 'microphone', video: 'camera' };

/**
 * What to tell the person about their devices, or '' when all is well.
 * `short` gives the one-line version for the call screen.
 */
export function deviceMessage(status, { short = false } = {}) {
  const { audio, video } = status;
  if (audio === 'pending' || video === 'pending') return '';
  if (audio === 'ok' && video === 'ok') return '';
  if (audio === video) {
    const what = 'camera and microphone';
    const lead = {
      blocked: `Your ${what} are blocked.`,
      missing: 'No camera or microphone was found.',
      busy: `Your ${what} are in use by another app.`,
      unsupported: `This page cannot use a ${what} (it needs a secure https:// link).`,
      error: `Your ${what} could not be started.`,
    }[audio];
    if (short) return `${lead} You can see and hear the others, but they cannot see or hear you.`;
    const fix = audio === 'blocked' ? ' To be seen and heard, allow them in your browser’s site settings and reload.' : '';
    return `${lead} You can still join: you will see and hear the others, but they will not see or hear you.${fix}`;
  }
  const parts = [];
  for (const kind of ['video', 'audio']) {
    const word = KIND_WORDS[kind];
    const state = status[kind];
    if (state === 'ok') continue;
    const lead = {
      blocked: `Your ${word} is blocked`,
      missing: `No ${word} was found`,
      busy: `Your ${word} is in use by another app`,
      unsupported: `This page cannot use a ${word}`,
      error: `Your ${word} could not be started`,
    }[state];
    const effect = kind === 'video' ? 'the others will hear you but not see you' : 'the others will see you but not hear you';
    parts.push(`${lead}, so ${effect}.`);
  }
  return parts.join(' ');
}

/** Keeps a pair of mic/camera buttons in step with LocalMedia. */
function syncToggle(button, { on, label, title }) {
  button.classList.toggle('off', !on);
  button.title = title;
  const text = button.querySelector('.label');
  // A visible label is the accessible name; icon-only buttons get one.
  if (text) text.textContent = label;
  else button.setAttribute('aria-label', title);
}

function micToggle(media) {
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

function camToggle(media) {
  const on = Boolean(media.videoTrack);
  const usable = media.status.video === 'ok';
  return {
    on,
    label: on ? 'Stop video' : usable ? 'Start video' : 'No camera',
    title: on ? 'Turn off camera' : usable ? 'Turn on camera' : 'Camera unavailable: click to ask again',
  };
}

async function toggleMic(media) {
  if (media.status.audio !== 'ok' || !media.audioTrack) return media.retryMic();
  media.setMic(!media.micOn);
  return true;
}

/* -------------------------------------------------------------- prejoin */

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
    const kind = roomKind(info.capacity);
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
        : media.status.video === 'blocked'
          ? 'Camera blocked'
          : media.status.video === 'missing'
            ? 'No camera found'
            : media.status.video !== 'ok'
              ? 'Camera unavailable'
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

/* ----------------------------------------------------------------- call */

/** A toggle's title with its keyboard shortcut, for the call screen. */
function withKey(toggle, key) {
  return { ...toggle, title: `${toggle.title} (${key})` };
}

function shareToggle(media) {
  const on = media.sharing;
  return {
    on,
    label: on ? 'Stop sharing' : 'Share screen',
    title: on ? 'Stop sharing your screen (S)' : 'Share your screen (S)',
  };
}

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
