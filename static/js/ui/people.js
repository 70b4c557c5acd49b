// The people panel: everyone in the room with what they are doing
// (microphone, camera, presenting, connection), and renaming yourself.
//
// Why a module of its own: it answers "who is here and how are they?" in
// one list, where the tiles answer it only for whoever fits on screen, and
// it is where you change your own name during the call. It reads the call,
// your devices and the quality monitor; it changes only your name.

import { $, el, displayName, toast } from './dom.js';

const RATING_WORDS = { good: 'Good connection', fair: 'Fair connection', poor: 'Poor connection' };

/** The words for one person's state, in the order they are shown. */
export function stateWords({ audio, video, screen, rating }) {
  const words = [];
  if (audio === false) words.push('Muted');
  if (video === false) words.push('Camera off');
  if (screen) words.push('Presenting');
  if (RATING_WORDS[rating]) words.push(RATING_WORDS[rating]);
  return words;
}

export class PeoplePanel extends EventTarget {
  #call;
  #media;
  #monitor;
  #onRename;
  #panel = $('people-panel');
  #button = $('people-count');
  #list = $('people-list');
  #input = $('rename-input');

  /** onRename(name): you renamed yourself (to remember it for next time). */
  constructor({ call, media, monitor, onRename }) {
    super();
    this.#call = call;
    this.#media = media;
    this.#monitor = monitor;
    this.#onRename = onRename;
    this.#button.addEventListener('click', () => this.toggle());
    $('people-close').addEventListener('click', () => this.close());
    this.#panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.close();
    });
    $('rename-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const before = this.#call.name;
      if (!this.#call.rename(this.#input.value)) {
        toast('A name needs at least one letter and at most 64 characters.');
        return;
      }
      if (this.#call.name !== before) {
        this.#onRename(this.#call.name);
        toast(`The others now see you as ${this.#call.name}.`);
      }
      this.render();
    });
    monitor.addEventListener('sample', () => this.render());
  }

  get isOpen() {
    return !this.#panel.hidden;
  }

  open() {
    if (this.isOpen) return;
    this.#panel.hidden = false;
    this.#button.setAttribute('aria-expanded', 'true');
    this.#input.value = this.#call.name ?? '';
    this.render();
    this.#input.focus();
    this.dispatchEvent(new Event('toggle'));
  }

  close() {
    if (!this.isOpen) return;
    const hadFocus = this.#panel.contains(document.activeElement);
    this.#panel.hidden = true;
    this.#button.setAttribute('aria-expanded', 'false');
    if (hadFocus) this.#button.focus();
    this.dispatchEvent(new Event('toggle'));
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }

  /** Redraws the list (only while it is open). */
  render() {
    if (!this.isOpen) return;
    const media = this.#media;
    const rows = [
      this.#row(`${this.#call.name || 'Guest'} (you)`, stateWords({ audio: media.live('audio'), video: media.live('video'), screen: media.sharing })),
    ];
    for (const peer of this.#call.peers.values()) {
      const known = peer.remoteMedia ?? {};
      rows.push(
        this.#row(
          displayName(peer),
          stateWords({ audio: known.audio, video: known.video, screen: peer.sharing, rating: this.#monitor.latest(peer.id)?.rating }),
          peer.id,
        ),
      );
    }
    this.#list.replaceChildren(...rows);
  }

  #row(name, words, peerId) {
    const item = el('li', { class: 'person' }, [
      el('span', { class: 'person-name', text: name }),
      el('span', { class: 'person-state', text: words.length ? words.join(' · ') : 'Microphone and camera on' }),
    ]);
    if (peerId) item.dataset.peer = peerId;
    return item;
  }
}
