// The screens: start page, pre-join, call, and one-message pages.
//
// Why a module of its own: all DOM work happens here, so the other modules
// stay free of it. Each screen is a function that takes the objects it shows
// (LocalMedia, Call, ...) and callbacks for what the person asks for; it
// listens to their events and keeps the page in step, always saying in plain
// words what is going on.

const $ = (id) => document.getElementById(id);

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

function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children) node.append(child);
  return node;
}

function icon(name, className = 'icon') {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', className);
  svg.setAttribute('aria-hidden', 'true');
  const use = document.createElementNS('http://www.w3.org/2000/svg', 'use');
  use.setAttribute('href', `#i-${name}`);
  svg.append(use);
  return svg;
}

/** The first letter of a name, for avatars. */
function initial(name) {
  const letter = (name ?? '').trim().match(/\p{L}|\p{N}/u);
  return letter ? letter[0].toUpperCase() : '';
}

/** "Ada", "Ada and Bob", "Ada, Bob and Cy". */
function listNames(names) {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

function displayName(peer) {
  return peer.name || 'Guest';
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
 * is called once when the person clicks Join.
 */
export function prejoin({ info, media, name, onJoin }) {
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
  media.addEventListener('change', render);
  nameInput.addEventListener('input', render);
  render();

  micButton.addEventListener('click', () => toggleMic(media));
  camButton.addEventListener('click', () => media.setCamera(!media.videoTrack));

  const form = $('prejoin-form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (joinButton.disabled) return;
    joinButton.disabled = true;
    joinButton.querySelector('span').textContent = 'Joining…';
    media.removeEventListener('change', render);
    onJoin(nameInput.value.trim().slice(0, 64));
  });
  if (!nameInput.value) nameInput.focus();
  else joinButton.focus();
}

/* ----------------------------------------------------------------- call */

/** Shows a short message near the controls for a few seconds. */
function toast(content, ms = 5000) {
  const node = el('div', { class: 'toast' });
  node.append(content);
  $('toasts').append(node);
  setTimeout(() => node.remove(), ms);
  return node;
}

const STATE_WORDS = {
  new: 'Connecting…',
  connecting: 'Connecting…',
  checking: 'Connecting…',
  disconnected: 'Connection interrupted. Reconnecting…',
  failed: 'Connection failed. Retrying…',
};

/** One remote person's tile. Returns a function that removes it. */
function addTile(peer, onChange) {
  const video = el('video', { autoplay: true, playsinline: true });
  const avatar = el('span', { class: 'avatar', text: initial(peer.name) || '' });
  if (!initial(peer.name)) avatar.append(icon('person'));
  const stateText = el('p', { class: 'tile-state' });
  const mutedIcon = icon('mic-off', 'icon muted-mic');
  mutedIcon.setAttribute('role', 'img');
  mutedIcon.removeAttribute('aria-hidden');
  mutedIcon.setAttribute('aria-label', `${displayName(peer)}’s microphone is off`);
  const tile = el('figure', { class: 'tile', 'data-peer': peer.id }, [
    video,
    el('div', { class: 'tile-avatar' }, [avatar]),
    stateText,
    el('figcaption', {}, [el('span', { class: 'tile-name', text: displayName(peer) }), mutedIcon]),
  ]);
  $('tiles').append(tile);

  let soundButton = null;
  const play = () => {
    video.play().catch((error) => {
      if (error.name !== 'NotAllowedError' || soundButton) return;
      // Autoplay with sound was refused: one click on the page allows it.
      soundButton = el('button', { class: 'btn primary sound', type: 'button', text: `Click to hear ${displayName(peer)}` });
      soundButton.addEventListener('click', () => {
        video.play().then(() => {
          soundButton?.remove();
          soundButton = null;
        });
      });
      tile.append(soundButton);
    });
  };

  const render = () => {
    if (video.srcObject !== peer.stream) {
      video.srcObject = peer.stream;
      play();
    }
    const track = peer.remoteTrack('video');
    const showVideo = Boolean(track && !track.muted && peer.remoteMedia.video !== false);
    tile.classList.toggle('no-video', !showVideo);
    tile.classList.toggle('mic-off', peer.remoteMedia.audio === false);
    tile.dataset.state = peer.state;
    stateText.textContent = STATE_WORDS[peer.state] ?? '';
    stateText.hidden = !STATE_WORDS[peer.state];
  };
  // Fill the tile (cropping a little) when the picture has about the tile's
  // shape; show it whole, with bars, when it does not (portrait on landscape).
  const fit = () => {
    const { videoWidth: vw, videoHeight: vh } = video;
    const { clientWidth: tw, clientHeight: th } = tile;
    if (!vw || !vh || !tw || !th) return;
    const ratio = vw / vh / (tw / th);
    tile.classList.toggle('contain', ratio > 1.3 || ratio < 1 / 1.3);
  };
  video.addEventListener('resize', fit);
  const resizes = new ResizeObserver(fit);
  resizes.observe(tile);
  const onState = () => {
    render();
    onChange();
  };
  peer.addEventListener('tracks', render);
  peer.addEventListener('media', render);
  peer.addEventListener('state', onState);
  render();
  return () => {
    peer.removeEventListener('tracks', render);
    peer.removeEventListener('media', render);
    peer.removeEventListener('state', onState);
    resizes.disconnect();
    video.srcObject = null;
    tile.remove();
  };
}

/**
 * The call screen. capacity: the room's; link: the room's link;
 * onLeave(): the person hung up.
 */
export function callView({ call, media, capacity, link, selfName, onLeave }) {
  showScreen('call', 'Call');
  const status = $('call-status');
  const tiles = $('tiles');
  const waiting = $('waiting');
  const notice = $('call-notice');
  const micButton = $('toggle-mic');
  const camButton = $('toggle-cam');
  const selfVideo = $('self-video');
  const removers = new Map();
  let lastLeft = null;

  $('call-link').value = link;
  $('self-avatar').replaceChildren(initial(selfName) || icon('person'));
  $('waiting-title').textContent =
    capacity > 2 ? 'Waiting for others to join' : 'Waiting for the other person to join';

  const render = () => {
    const peers = [...call.peers.values()];
    const count = peers.length;
    tiles.dataset.count = String(count);
    $('stage').dataset.count = String(count);
    $('people-number').textContent = String(count + 1);
    waiting.hidden = count > 0 || (call.phase !== 'joined' && call.phase !== 'connecting');

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
    const devices = deviceMessage(media.status, { short: true });
    if (devices) problems.push(devices);
    $('call-notice-text').textContent = problems.join(' ');
    notice.hidden = problems.length === 0;
    notice.classList.toggle('danger', call.phase === 'reconnecting');
  };

  const renderSelf = () => {
    const track = media.videoTrack;
    if (track) {
      if (selfVideo.srcObject?.getVideoTracks()[0] !== track) selfVideo.srcObject = new MediaStream([track]);
    } else {
      selfVideo.srcObject = null;
    }
    $('self').classList.toggle('no-video', !track);
    $('self').classList.toggle('mic-off', !media.live('audio'));
    syncToggle(micButton, micToggle(media));
    syncToggle(camButton, camToggle(media));
    render();
  };

  call.addEventListener('peer-added', (event) => {
    const { peer } = event.detail;
    removers.set(peer.id, addTile(peer, render));
    lastLeft = null;
    if (call.phase === 'joined' && peer.polite) toast(`${displayName(peer)} is joining.`);
    render();
  });
  call.addEventListener('peer-removed', (event) => {
    const { peer, reason } = event.detail;
    removers.get(peer.id)?.();
    removers.delete(peer.id);
    if (reason === 'left') {
      lastLeft = displayName(peer);
      if (call.peers.size > 0) toast(`${lastLeft} left the call.`);
    }
    render();
  });
  call.addEventListener('phase', render);
  media.addEventListener('change', renderSelf);

  micButton.addEventListener('click', async () => {
    const ok = await toggleMic(media);
    if (!ok) toast(deviceMessage({ audio: media.status.audio, video: 'ok' }) || 'The microphone could not be started.');
  });
  camButton.addEventListener('click', async () => {
    const ok = await call.setCamera(!media.videoTrack);
    if (!ok) toast(deviceMessage({ audio: 'ok', video: media.status.video }) || 'The camera could not be started.');
  });
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
    toast(said);
  });
  $('hang-up').addEventListener('click', () => onLeave());

  renderSelf();
}
