// The chat panel: messages to everyone in the room, with names and times.
//
// Why a module of its own: the chat has its own small life (unread count,
// history on arrival, links, a box that grows as you type) that the rest of
// the call screen need not know. Messages come from Call ("chat" events,
// history first); sending goes through call.sendChat, and a message shows
// up when the server hands it back, so everyone sees the same order.

import { $, el, toast } from './dom.js';
import { CHAT_MAX } from '../call/call.js';

/** Messages from one sender this close together share one heading. */
const GROUP_MS = 3 * 60_000;
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/gi;

function clock(time) {
  return new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Text with its web links made clickable (as DOM nodes, never as HTML). */
function linkified(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    if (match.index > last) nodes.push(text.slice(last, match.index));
    nodes.push(el('a', { href: match[0], target: '_blank', rel: 'noopener noreferrer', text: match[0] }));
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

const ERRORS = {
  'rate-limited': 'You are sending too fast. Wait a moment, then send again.',
  'not-in-room': 'You are not in the call right now, so the message was not sent.',
  'bad-request': `The message was not sent: it must have some text and at most ${CHAT_MAX.toLocaleString('en')} characters.`,
};

export class ChatPanel extends EventTarget {
  #call;
  #panel = $('chat-panel');
  /** The scrolling live region (a log may not be a list itself)… */
  #log = $('chat-log');
  /** …and the list of messages in it. */
  #list = $('chat-messages');
  #input = $('chat-input');
  #hint = $('chat-hint');
  #button = $('toggle-chat');
  #badge = $('chat-badge');
  #unread = 0;
  /** The toasts announcing new messages, taken away when the chat opens. */
  #toasts = new Set();
  #lastSent = null;
  #hintText;

  constructor({ call }) {
    super();
    this.#call = call;
    // A keyboard hint means nothing on a touch screen, whose keyboard has
    // no Shift+Enter to speak of.
    const touch = matchMedia('(hover: none) and (pointer: coarse)').matches;
    this.#hintText = touch ? '' : this.#hint.textContent;
    call.messages.forEach((message, index) => this.#add(message, index));
    call.addEventListener('chat', (event) => this.#received(event.detail));
    call.addEventListener('chat-error', (event) => this.#refused(event.detail.code));
    call.addEventListener('phase', () => this.#renderSendable());
    this.#button.addEventListener('click', () => this.toggle());
    $('chat-close').addEventListener('click', () => this.close());
    $('chat-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.#send();
    });
    this.#input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.#send();
      } else if (event.key === 'Escape') {
        event.preventDefault();
        this.close();
      }
    });
    this.#input.addEventListener('input', () => {
      this.#grow();
      this.#renderHint();
    });
    this.#panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.close();
    });
    this.#renderSendable();
    this.#renderBadge();
  }

  get isOpen() {
    return !this.#panel.hidden;
  }

  open() {
    if (!this.isOpen) {
      this.#panel.hidden = false;
      this.#button.setAttribute('aria-expanded', 'true');
      this.#button.classList.add('active');
      document.body.classList.add('chat-open');
      this.#unread = 0;
      this.#renderBadge();
      this.#scrollToEnd();
      // What the toasts announced is now in view.
      for (const note of this.#toasts) note.remove();
      this.#toasts.clear();
      this.dispatchEvent(new Event('toggle'));
    }
    this.#input.focus();
  }

  close() {
    if (!this.isOpen) return;
    const hadFocus = this.#panel.contains(document.activeElement);
    this.#panel.hidden = true;
    this.#button.setAttribute('aria-expanded', 'false');
    this.#button.classList.remove('active');
    document.body.classList.remove('chat-open');
    if (hadFocus) this.#button.focus();
    this.dispatchEvent(new Event('toggle'));
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }

  #send() {
    const text = this.#input.value;
    if (!text.trim()) return;
    if (!this.#call.sendChat(text)) {
      this.#showHint(
        this.#call.phase === 'joined' ? ERRORS['bad-request'] : 'Not connected to the server right now: try again in a moment.',
        true,
      );
      return;
    }
    this.#lastSent = text;
    this.#input.value = '';
    this.#grow();
    this.#renderHint();
  }

  #refused(code) {
    this.#showHint(ERRORS[code] ?? 'The message could not be sent.', true);
    // Give the text back, so nothing typed is lost.
    if (this.#lastSent && !this.#input.value) {
      this.#input.value = this.#lastSent;
      this.#grow();
    }
    this.#lastSent = null;
  }

  #received({ message, index }) {
    const atEnd = this.#log.scrollHeight - this.#log.scrollTop - this.#log.clientHeight < 40;
    this.#add(message, index);
    if (message.self) this.#lastSent = null;
    if (message.self || atEnd || !this.isOpen) this.#scrollToEnd();
    if (!this.isOpen && !message.history && !message.self) {
      this.#unread += 1;
      this.#renderBadge();
      const who = message.name ?? 'Guest';
      const preview = message.text.length > 80 ? `${message.text.slice(0, 80)}…` : message.text;
      const note = el('button', { class: 'toast-chat', type: 'button' }, [el('strong', { text: `${who}: ` }), preview]);
      note.addEventListener('click', () => this.open());
      const shown = toast(note, 6000);
      this.#toasts.add(shown);
      setTimeout(() => this.#toasts.delete(shown), 6000);
    } else if (!this.isOpen && message.history) {
      this.#unread += 1;
      this.#renderBadge();
    }
  }

  /** Puts message number `index` of call.messages into the list. */
  #add(message, index) {
    const messages = this.#call.messages;
    const previous = messages[index - 1];
    const next = messages[index + 1];
    const continues = previous && previous.from === message.from && message.time - previous.time < GROUP_MS;
    const date = new Date(message.time);
    const who = message.self ? 'You' : message.name ?? 'Guest';
    const item = el('li', { class: `msg${message.self ? ' mine' : ''}${continues ? ' cont' : ''}`, 'data-from': message.from }, [
      el('p', { class: 'msg-head' }, [
        el('span', { class: 'msg-name', text: who }),
        el('time', { datetime: date.toISOString(), title: date.toLocaleString(), text: clock(message.time) }),
      ]),
      el('p', { class: 'msg-text' }, linkified(message.text)),
    ]);
    const before = this.#list.children[index] ?? null;
    this.#list.insertBefore(item, before);
    // The next message may now continue this one.
    if (next && before) {
      const joins = next.from === message.from && next.time - message.time < GROUP_MS;
      before.classList.toggle('cont', joins);
    }
    $('chat-empty').hidden = true;
  }

  #scrollToEnd() {
    this.#log.scrollTop = this.#log.scrollHeight;
  }

  #renderBadge() {
    this.#badge.hidden = this.#unread === 0;
    this.#badge.textContent = this.#unread > 99 ? '99+' : String(this.#unread);
    this.#button.setAttribute(
      'aria-label',
      this.#unread ? `Chat, ${this.#unread} new message${this.#unread === 1 ? '' : 's'}` : 'Chat',
    );
  }

  #renderSendable() {
    const joined = this.#call.phase === 'joined';
    $('chat-send').disabled = !joined;
    if (!joined && this.#call.phase === 'reconnecting') this.#showHint('Reconnecting to the server… you can send again in a moment.');
    else if (joined) this.#renderHint();
  }

  #renderHint() {
    const length = [...this.#input.value].length;
    if (length > CHAT_MAX - 200) this.#showHint(`${length.toLocaleString('en')} of ${CHAT_MAX.toLocaleString('en')} characters`, length > CHAT_MAX);
    else this.#showHint(this.#hintText);
  }

  #showHint(text, warn = false) {
    this.#hint.textContent = text;
    this.#hint.classList.toggle('warn', warn);
  }

  #grow() {
    const input = this.#input;
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
  }
}

