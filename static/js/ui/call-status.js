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

export class CallStatus {
  #call;
  #media;
  #capacity;
  #status = $('call-status');
  #waiting = $('waiting');
  #notice = $('call-notice');
  /** The name of the last person who left, while nobody else is here. */
  #lastLeft = null;
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
      this.#lastLeft = displayName(peer);
      if (this.#call.peers.size > 0) toast(`${this.#lastLeft} left the call.`);
    }
  }

  render() {
    const call = this.#call;
    const media = this.#media;
    const peers = [...call.peers.values()];
    const count = peers.length;
    $('people-number').textContent = String(count + 1);
    this.#waiting.hidden = count > 0 || media.sharing || (call.phase !== 'joined' && call.phase !== 'connecting');

    let text;
    if (call.phase === 'connecting') {
      text = 'Connecting to the server…';
    } else if (call.phase === 'reconnecting') {
      text = 'Connection to the server lost. Reconnecting…';
    } else if (call.phase === 'ended') {
      text = 'The call has ended.';
    } else if (count === 0) {
      const wait = this.#capacity > 2 ? 'Waiting for others to join.' : 'Waiting for the other person to join.';
      text = this.#lastLeft ? `${this.#lastLeft} left the call. ${wait}` : wait;
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
    if (this.#status.textContent !== text) this.#status.textContent = text;
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
    this.#notice.hidden = problems.length === 0;
    this.#notice.classList.toggle('danger', call.phase === 'reconnecting');
  }
}
