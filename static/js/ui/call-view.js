// The call screen.
//
// Why a module of its own: it puts the call's pieces on the page and wires
// them to the Call and your devices: the stage of tiles (tiles.js), the
// status line and notes (call-status.js), the controls (call-controls.js),
// the dialogs (call-dialogs.js), the chat (chat.js) and the call quality
// (quality.js). Each piece does its own drawing; this says when.

import { QualityMonitor } from '../media/stats.js';
import { showScreen } from './screens.js';
import { Stage } from './tiles.js';
import { ChatPanel } from './chat.js';
import { QualityView } from './quality.js';
import { CallStatus } from './call-status.js';
import { callControls } from './call-controls.js';
import { callDialogs } from './call-dialogs.js';

/**
 * The call screen. capacity: the room's; link: the room's link; devices,
 * levels: device lists and audio levels; onLeave(): the person hung up;
 * onDevicePicked(kind, id): a device was chosen.
 */
export function callView({ call, media, devices, levels, capacity, link, selfName, onLeave, onDevicePicked }) {
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
  // The stage changes size when the chat opens or closes.
  chat.addEventListener('toggle', () => stage.layout());

  const render = () => {
    status.render({ cameraStalled: stalled });
    stage.layout();
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
      stage.close();
    }
  });
  media.addEventListener('change', renderSelf);
  monitor.addEventListener('sample', () => {
    if (monitor.cameraStalled === stalled) return;
    stalled = monitor.cameraStalled;
    render();
  });

  renderSelf();
}
