// Entry point: picks the screen from the address and wires the modules.
//
// Why a module of its own: the other modules each do one thing and know
// nothing of each other's order; this is the only place that says "first
// look the room up, then ask for devices, then join, then show the call".

import { createRoom, roomStatus, roomFromInput, roomLink, isRoomId } from './network/api.js';
import { LocalMedia } from './media/local-media.js';
import { savedEffects } from './media/effects.js';
import { Call } from './call/call.js';
import { canJoinKind } from './network/room-kind.js';
import { Devices } from './media/devices.js';
import { AudioLevels } from './media/levels.js';
import { ProtocolError } from './network/signaling.js';
import { showMessage } from './ui/screens.js';
import { startPage } from './ui/start-page.js';
import { prejoin } from './ui/prejoin.js';
import { callView } from './ui/call-view.js';

const NAME_KEY = 'parlor.name';
/** Set by "Rejoin" on the "You left" page: the next load of this room joins at once. */
const REJOIN_KEY = 'parlor.rejoin';
const DEVICES_KEY = 'parlor.devices';

function savedName() {
  try {
    return localStorage.getItem(NAME_KEY) ?? '';
  } catch {
    return ''; // storage disabled
  }
}

function saveName(name) {
  try {
    if (name) localStorage.setItem(NAME_KEY, name);
    else localStorage.removeItem(NAME_KEY);
  } catch {
    // storage disabled: nothing to remember with
  }
}

function markRejoin(room) {
  try {
    sessionStorage.setItem(REJOIN_KEY, room);
  } catch {
    // storage disabled: Rejoin shows the pre-join, one click more
  }
}

/** Whether "Rejoin" was clicked for `room` (once: the mark goes). */
function takeRejoin(room) {
  try {
    const marked = sessionStorage.getItem(REJOIN_KEY);
    sessionStorage.removeItem(REJOIN_KEY);
    return marked === room;
  } catch {
    return false;
  }
}

/** The camera, microphone and speaker picked last time: {video, audio, speaker}. */
function savedDevices() {
  try {
    const saved = JSON.parse(localStorage.getItem(DEVICES_KEY) ?? '{}');
    return saved && typeof saved === 'object' ? saved : {};
  } catch {
    return {};
  }
}

function saveDevice(kind, id) {
  try {
    const saved = savedDevices();
    if (id) saved[kind] = id;
    else delete saved[kind];
    localStorage.setItem(DEVICES_KEY, JSON.stringify(saved));
  } catch {
    // storage disabled: the choice lasts for this page only
  }
}

/**
 * The camera we ask for: HD for one-to-one calls; smaller in group rooms,
 * where everyone sends to everyone (a mesh).
 */
function videoConstraints(capacity) {
  return capacity > 2
    ? { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24, max: 30 } }
    : { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } };
}

function homePage() {
  startPage({
    parse: roomFromInput,
    onCreate: async (capacity) => {
      const made = await createRoom(capacity);
      return { link: roomLink(made.room), capacity: made.capacity };
    },
    onJoin: (room) => location.assign(`/r/${encodeURIComponent(room)}`),
  });
}

const home = { label: 'Start a new room', href: '/' };

function notFound() {
  showMessage({ kind: 'room-not-found', actions: [home] });
}

function full(capacity) {
  showMessage({
    kind: 'room-full',
    text:
      capacity > 2
        ? `All ${capacity} places in this group call are taken. Try again later, or start a new room.`
        : 'This is a one-to-one call and two people are already in it. Try again later, or start a new room.',
    actions: [{ label: 'Try again', onClick: () => location.reload() }, home],
  });
}

/** A room of a kind this client cannot take part in (see network/room-kind.js). */
function unsupportedKind() {
  showMessage({
    kind: 'unsupported-room-kind',
    actions: [{ label: 'Try again', onClick: () => location.reload() }, home],
  });
}

async function roomPage(room) {
  if (!isRoomId(room)) return notFound();
  let info = null;
  try {
    info = await roomStatus(room);
  } catch (error) {
    if (error.code === 'room-not-found') return notFound();
    if (error.code === 'unreachable') {
      return showMessage({
        kind: 'unreachable',
        actions: [{ label: 'Try again', onClick: () => location.reload() }],
      });
    }
    // Anything else: carry on, the join itself will tell.
  }
  if (info && !canJoinKind(info.kind)) return unsupportedKind();
  if (info && info.members >= info.capacity) return full(info.capacity);

  const capacity = info?.capacity ?? 2;
  const saved = savedDevices();
  const { noiseSuppression } = savedEffects();
  const media = new LocalMedia({ video: videoConstraints(capacity), devices: saved, noiseSuppression });
  const devices = new Devices({ speaker: saved.speaker });
  const levels = new AudioLevels();
  const ready = media.start();
  // Device names are readable once the camera or microphone is allowed.
  devices.refresh();
  ready.then(() => devices.refresh());
  if (takeRejoin(room)) {
    // One click on "Rejoin": same name, same devices, no pre-join.
    await ready;
    joinCall({ room, kind: info?.kind, name: savedName(), media, devices, levels, capacity });
    return;
  }
  prejoin({
    info,
    media,
    devices,
    levels,
    name: savedName(),
    onDevicePicked: saveDevice,
    onJoin: async (name) => {
      saveName(name);
      await ready;
      joinCall({ room, kind: info?.kind, name, media, devices, levels, capacity });
    },
  });
}

async function joinCall({ room, kind, name, media, devices, levels, capacity }) {
  const call = new Call({ room, kind, name, media });
  const leave = () => {
    call.hangUp();
    media.stop();
    levels.close();
    showMessage({
      kind: 'left',
      actions: [
        {
          label: 'Rejoin',
          onClick: () => {
            markRejoin(room);
            location.reload();
          },
        },
        { label: 'Back to start', href: '/' },
      ],
    });
  };
  callView({
    call,
    media,
    devices,
    levels,
    capacity,
    link: roomLink(room),
    selfName: name,
    onLeave: leave,
    onDevicePicked: saveDevice,
    onRename: saveName,
  });
  call.addEventListener('fatal', (event) => {
    media.stop();
    if (event.detail.code === 'unsupported-room-kind') {
      unsupportedKind();
    } else if (event.detail.code === 'room-not-found') {
      showMessage({
        kind: 'lost',
        text: 'The server does not know this room any more (it may have restarted). Start a new room to talk again.',
        actions: [home],
      });
    } else {
      showMessage({ kind: 'lost', actions: [{ label: 'Rejoin', onClick: () => location.reload() }, home] });
    }
  });
  addEventListener('pagehide', () => call.hangUp());
  try {
    await call.start();
  } catch (error) {
    media.stop();
    const code = error instanceof ProtocolError ? error.code : 'error';
    if (code === 'room-full') full(capacity);
    else if (code === 'room-not-found') notFound();
    else if (code === 'unsupported-room-kind') unsupportedKind();
    else if (code === 'unreachable' || code === 'closed') {
      showMessage({ kind: 'unreachable', actions: [{ label: 'Try again', onClick: () => location.reload() }] });
    } else {
      showMessage({ kind: 'error', text: error.message, actions: [{ label: 'Try again', onClick: () => location.reload() }, home] });
    }
  }
}

const match = location.pathname.match(/^\/r\/([^/]+)\/?$/);
if (!('RTCPeerConnection' in window)) {
  // Said at once, not after the person has set up their devices and joined.
  showMessage({ kind: 'no-webrtc' });
} else if (match) {
  let room = '';
  try {
    room = decodeURIComponent(match[1]);
  } catch {
    // a broken %-escape: not a room
  }
  roomPage(room);
} else {
  homePage();
}
