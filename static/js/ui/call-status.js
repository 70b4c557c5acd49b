// What is going on in the call, said in words: the status line at the top,
// the banner for problems that last, the number of people, the waiting
// card with the room's link, the page's title, and a brief note when
// someone joins, leaves or starts presenting.
//
// Why a module of its own: these all answer one question, "what is going
// on?", from the same facts (the call's phase, each peer's connection,
// your devices), and keeping them together keeps them from contradicting
// each other. It only tells; the controls and the tiles are elsewhere.

import { $, listNames, displayName, toast } from './dom.js';
import { deviceMessage } from './device-words.js';

const names = (peers) => listNames(peers.map(displayName));

/** The status line's words for each state of the call (see #line). */
const LINE_WORDS = {
  connecting: () => 'Connecting to the server…',
  reconnecting: () => 'Connection to the server lost. Reconnecting…',
  ended: () => 'The call has ended.',
  waiting: ({ group, left }) => {
    const wait = group ? 'Waiting for others to join.' : 'Waiting for the other person to join.';
    return left ? `${displayName(left)} left the call. ${wait}` : wait;
  },
  interrupted: ({ who }) => `Connection to ${names(who)} interrupted. Reconnecting…`,
  'connecting-peers': ({ who }) => `Connecting to ${names(who)}…`,
  connected: ({ who }) => `Connected with ${names(who)}.`,
};

export class CallStatus {
  #call;
  #media;
  #capacity;
  #status = $('call-status');
  #waiting = $('waiting');
  #notice = $('call-notice');
  /** The last person who left (a Peer), while nobody else is here. */
  #lastLeft = null;
  /** What the status line says now, as state and peer ids (not words). */
  #shownLine = null;
  /** Per peer id: whether they were presenting when last seen. */
  #sharing = new Map();
  /** Per peer: the listener that notices them start presenting. */
  #listeners = new Map();

  /** capacity: the room's; link: the room's link, for the waiting card. */
  constructor({ call, media, capacity, link }) {
    this.#call = call;
    this.#media = media;
    this.#capacity = capacity;
    $('call-link').value = link;
    $('waiting-title').textContent =
      capacity > 2 ? 'Waiting for others to join' : 'Waiting for the other person to join';
  }

  /** Whether the waiting card (with the room's link) is on screen. */
  get waiting() {
    return !this.#waiting.hidden;
  }

  /** Someone is here: say so, and say it when they start presenting. */
  peerAdded(peer) {
    const listener = () => {
      const now = peer.sharing;
      if (now && !this.#sharing.get(peer.id)) toast(`${displayName(peer)} is presenting.`);
      this.#sharing.set(peer.id, now);
    };
    this.#listeners.set(peer, listener);
    peer.addEventListener('media', listener);
    peer.addEventListener('tracks', listener);
    this.#lastLeft = null;
    if (this.#call.phase === 'joined' && peer.polite) toast(`${displayName(peer)} is joining.`);
  }

  /** Someone is gone; reason as in Call's "peer-removed". */
  peerRemoved(peer, reason) {
    const listener = this.#listeners.get(peer);
    peer.removeEventListener('media', listener);
    peer.removeEventListener('tracks', listener);
    this.#listeners.delete(peer);
    this.#sharing.delete(peer.id);
    if (reason === 'left') {
      this.#lastLeft = peer;
      if (this.#call.peers.size > 0) toast(`${displayName(peer)} left the call.`);
    }
  }

  /**
   * cameraStalled: our camera is on but sends no picture (see
   * QualityMonitor); connection: the warning about poor connections, if any.
   */
  render({ cameraStalled = false, connection = '' } = {}) {
    const call = this.#call;
    const media = this.#media;
    const peers = [...call.peers.values()];
    const count = peers.length;
    $('people-number').textContent = String(count + 1);
    // A link to a full room leads only to "this room is full".
    $('invite').hidden = count + 1 >= this.#capacity;
    this.#waiting.hidden = count > 0 || media.sharing || (call.phase !== 'joined' && call.phase !== 'connecting');

    // Rewritten only when it changes, so that screen readers hear it once.
    const line = this.#line(peers);
    const key = [line.state, line.left?.id ?? '', ...line.who.map((p) => p.id)].join(' ');
    if (this.#shownLine !== key) {
      this.#shownLine = key;
      this.#status.dataset.state = line.state;
      this.#status.textContent = LINE_WORDS[line.state](line);
    }
    document.title = `${count > 0 ? `(${count + 1}) ` : ''}Call · Parlor`;

    // Problems that last: devices, server connection.
    const problems = [];
    if (call.phase === 'reconnecting') {
      const live = peers.some((p) => p.state === 'connected');
      const forgotten = call.refusal === 'room-not-found';
      problems.push(
        live && forgotten
          ? 'The server no longer knows this room (it may have restarted). Your call goes on, but nobody new can join; Parlor keeps trying.'
          : live
            ? 'Connection to the server was lost. Your call goes on while Parlor reconnects… Nobody new can join until the server is back.'
            : 'Connection to the server was lost. Trying to reconnect…',
      );
    }
    const deviceProblem = deviceMessage(media.status, { short: true });
    if (deviceProblem) problems.push(deviceProblem);
    if (cameraStalled && media.videoTrack) {
      problems.push('Your camera sends no picture: the others see it frozen. Choose another camera in Devices, or turn it off.');
    }
    if (connection) problems.push(connection);
    $('call-notice-text').textContent = problems.join(' ');
    this.#notice.hidden = problems.length === 0;
    this.#notice.classList.toggle('danger', call.phase === 'reconnecting');
  }

  /**
   * The state of the call for the status line: a key of LINE_WORDS, the
   * peers it names (who), and the last one who left (left) while waiting.
   */
  #line(peers) {
    const phase = this.#call.phase;
    const line = { state: phase, who: [], left: null, group: this.#capacity > 2 };
    if (phase === 'connecting' || phase === 'reconnecting' || phase === 'ended') return line;
    if (peers.length === 0) return { ...line, state: 'waiting', left: this.#lastLeft };
    const trouble = peers.filter((p) => p.state === 'disconnected' || p.state === 'failed');
    const connecting = peers.filter((p) => p.state !== 'connected' && !trouble.includes(p));
    if (trouble.length) return { ...line, state: 'interrupted', who: trouble };
    if (connecting.length) return { ...line, state: 'connecting-peers', who: connecting };
    return { ...line, state: 'connected', who: peers };
  }
}
