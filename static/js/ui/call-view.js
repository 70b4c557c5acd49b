// The call screen.
//
// Why a module of its own: it puts the call's pieces on the page and wires
// them to the Call and your devices: the stage of tiles (tiles.js), the
// status line and notes (call-status.js), the controls (call-controls.js),
// the dialogs (call-dialogs.js), the chat (chat.js) and the call quality
// (quality.js), the people panel (people.js), the view options
// (view-options.js) and the muted hint (muted-hint.js). Each piece does its
// own drawing; this says when.

import { QualityMonitor } from '../media/stats.js';
import { showScreen } from './screens.js';
import { Stage } from './tiles.js';
import { ChatPanel } from './chat.js';
import { QualityView } from './quality.js';
import { CallStatus } from './call-status.js';
import { callControls } from './call-controls.js';
import { callDialogs } from './call-dialogs.js';
import { viewOptions } from './view-options.js';
import { PeoplePanel } from './people.js';
import { mutedHint } from './muted-hint.js';
import { connectionWarning } from './warnings.js';
import { displayName } from './dom.js';

/**
 * The call screen. capacity: the room's; link: the room's link; devices,
 * levels: device lists and audio levels; onLeave(): the person hung up;
 * onDevicePicked(kind, id): a device was chosen.
 */
export function callView({ call, media, devices, levels, capacity, link, selfName, onLeave, onDevicePicked, onRename }) {
  showScreen('call', 'Call');
  const status = new CallStatus({ call, media, capacity, link });
  let stalled = false;
  const monitor = new QualityMonitor({ camera: () => media.videoTrack });
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
  const people = new PeoplePanel({
    call,
    media,
    monitor,
    onRename: (name) => {
      stage.setSelfName(name);
      onRename(name);
    },
  });
  // One side panel at a time; the stage changes size when one opens or closes.
  chat.addEventListener('toggle', () => {
    if (chat.isOpen) people.close();
    stage.layout();
  });
  people.addEventListener('toggle', () => {
    if (people.isOpen) chat.close();
    stage.layout();
  });
  const hint = mutedHint({ media, levels });
  /** The warning about poor connections now ('' for none). */
  let poorWarning = '';

  const view = viewOptions({ stage });
  const render = () => {
    status.render({ cameraStalled: stalled, connection: poorWarning });
    stage.layout();
    view.render();
    people.render();
  };

  const dialogs = callDialogs({ devices, media, onDevicePicked });
  const controls = callControls({
    call,
    media,
    link,
    waiting: () => status.waiting,
    onLeave,
    onChat: () => chat.toggle(),
    onHelp: dialogs.showHelp,
    refresh: () => renderSelf(),
  });

  const renderSelf = () => {
    stage.renderSelf();
    controls.render();
    render();
  };

  call.addEventListener('peer-added', (event) => {
    const { peer } = event.detail;
    stage.addPeer(peer);
    monitor.add(peer);
    peer.addEventListener('media', () => people.render());
    status.peerAdded(peer);
    render();
  });
  call.addEventListener('peer-removed', (event) => {
    const { peer, reason } = event.detail;
    stage.removePeer(peer);
    monitor.remove(peer);
    quality.peerGone(peer);
    status.peerRemoved(peer, reason);
    render();
  });
  call.addEventListener('phase', () => {
    render();
    if (call.phase === 'ended') {
      monitor.stop();
      view.close();
      hint.stop();
      stage.close();
    }
  });
  media.addEventListener('change', renderSelf);
  media.addEventListener('change', () => hint.update());
  monitor.addEventListener('sample', () => {
    const ratings = [...call.peers.values()]
      .filter((peer) => peer.state === 'connected')
      .map((peer) => ({ name: displayName(peer), rating: monitor.latest(peer.id)?.rating ?? 'unknown' }));
    const warning = connectionWarning(ratings);
    if (monitor.cameraStalled === stalled && warning === poorWarning) return;
    stalled = monitor.cameraStalled;
    poorWarning = warning;
    render();
  });

  renderSelf();
}
