// The start page: create a room, or join one by a link or room id.
//
// Why a module of its own: it is a screen with its own forms and nothing in
// common with a call; main.js hands it what to do (create a room, go to
// one) and it keeps the page in step, saying in plain words what happened.

import { $ } from './dom.js';
import { showScreen } from './screens.js';
import { copy, flash, offerShare } from './clipboard.js';

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
      offerShare($('share-link'), link, (words) => {
        status.textContent = words;
      });
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
    const { copied, words } = await copy(input.value, input);
    status.classList.toggle('quiet', copied);
    status.classList.toggle('hint', !copied);
    status.textContent = words;
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
