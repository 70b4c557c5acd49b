// Which screen shows, and the one-message pages.
//
// Why a module of its own: every screen module (start page, pre-join, call)
// and main.js switch screens or end on a message page (room full, room not
// found, you left, errors); this is the one place that knows how the page
// swaps screens and what each message says.

import { $, el } from './dom.js';

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
  'unsupported-room-kind': {
    icon: 'block',
    title: 'This room needs a newer version of Parlor',
    text: 'The room works in a way this page does not know, so it cannot join. Reload the page to get the newest version, or start a new room.',
  },
  'no-webrtc': {
    icon: 'block',
    title: 'This browser cannot make calls',
    text: 'It has no WebRTC, which video calls need. Open this link in a recent Chrome, Edge, Firefox or Safari.',
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
