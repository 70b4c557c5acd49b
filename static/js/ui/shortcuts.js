// Keyboard shortcuts in a call.
//
// Why a module of its own: one list is the source of the key handling, the
// help dialog and the buttons' tooltips, so they cannot disagree. Single
// keys (M, V, S, C, ?) work only when you are not typing, so they never
// steal a letter from the chat box; the Ctrl shortcuts (⌘ on a Mac) for the
// microphone and camera are the ones Google Meet uses and work everywhere.

import { $, el, isTyping } from './dom.js';

export const IS_MAC = /mac|iphone|ipad/i.test(navigator.userAgentData?.platform ?? navigator.platform ?? '');
const MOD = IS_MAC ? '⌘' : 'Ctrl';

/** action: what the handler is called; keys: single keys; mod: Ctrl/⌘ + key. */
export const SHORTCUTS = [
  { action: 'mic', keys: ['m'], mod: 'd', what: 'Turn the microphone off or on' },
  { action: 'camera', keys: ['v'], mod: 'e', what: 'Turn the camera off or on' },
  { action: 'share', keys: ['s'], what: 'Share your screen, or stop sharing' },
  { action: 'chat', keys: ['c'], what: 'Open or close the chat' },
  { action: 'help', keys: ['?'], what: 'Show these shortcuts' },
  { action: 'close', keys: ['Escape'], what: 'Close the chat or a dialog', passive: true },
];

/**
 * Listens for the shortcuts and calls handlers[action](). Returns a
 * function that stops listening.
 */
export function installShortcuts(handlers) {
  const onKey = (event) => {
    if (event.defaultPrevented || event.isComposing || event.repeat) return;
    const key = event.key;
    const modifier = IS_MAC ? event.metaKey && !event.ctrlKey : event.ctrlKey && !event.metaKey;
    if (modifier && !event.altKey && !event.shiftKey) {
      const shortcut = SHORTCUTS.find((s) => s.mod && s.mod === key.toLowerCase());
      if (shortcut && handlers[shortcut.action]) {
        event.preventDefault();
        handlers[shortcut.action]();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    // A dialog is open, or you are typing: the keys are theirs.
    if (document.querySelector('dialog[open]') || isTyping(event.target)) return;
    const shortcut = SHORTCUTS.find((s) => !s.passive && s.keys.includes(key.length === 1 ? key.toLowerCase() : key));
    if (shortcut && handlers[shortcut.action]) {
      event.preventDefault();
      handlers[shortcut.action]();
    }
  };
  document.addEventListener('keydown', onKey);
  return () => document.removeEventListener('keydown', onKey);
}

function keyName(key) {
  return key === 'Escape' ? 'Esc' : key.toUpperCase();
}

/** Fills the help dialog's table. */
export function renderShortcutHelp() {
  const rows = SHORTCUTS.map((shortcut) => {
    const keys = [];
    for (const key of shortcut.keys) keys.push(el('kbd', { text: keyName(key) }));
    if (shortcut.mod) {
      keys.push(' or ');
      keys.push(el('kbd', { text: MOD }), '+', el('kbd', { text: shortcut.mod.toUpperCase() }));
    }
    return el('tr', {}, [el('th', { scope: 'row' }, keys), el('td', { text: shortcut.what })]);
  });
  $('shortcut-rows').replaceChildren(...rows);
  for (const node of document.querySelectorAll('kbd.mod')) node.textContent = MOD;
}
