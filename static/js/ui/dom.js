// Small DOM helpers shared by the modules that draw the page (those in ui/).
//
// Why a module of its own: every drawing module makes elements, icons,
// names and toasts the same way; here they are written once, and nothing
// here knows about calls.

export const $ = (id) => document.getElementById(id);

/** A new element; attribute `text` sets its text, `true` an empty attribute. */
export function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** An icon from the sprite in index.html, hidden from screen readers. */
export function icon(name, className = 'icon') {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', className);
  svg.setAttribute('aria-hidden', 'true');
  const use = document.createElementNS('http://www.w3.org/2000/svg', 'use');
  use.setAttribute('href', `#i-${name}`);
  svg.append(use);
  return svg;
}

/** The first letter of a name, for avatars. */
export function initial(name) {
  const letter = (name ?? '').trim().match(/\p{L}|\p{N}/u);
  return letter ? letter[0].toUpperCase() : '';
}

/** "Ada", "Ada and Bob", "Ada, Bob and Cy". */
export function listNames(names) {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

export function displayName(peer) {
  return peer.name || 'Guest';
}

/** "Ada’s", "James’" */
export function possessive(name) {
  return /s$/i.test(name) ? `${name}’` : `${name}’s`;
}

/** Whether the keyboard is typing into something (so single-key shortcuts must not fire). */
export function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !['button', 'checkbox', 'radio', 'range', 'submit', 'reset', 'color', 'file'].includes(target.type);
  }
  return false;
}

/** Shows a short message near the controls for a few seconds. */
export function toast(content, ms = 5000) {
  const node = el('div', { class: 'toast' });
  node.append(content);
  $('toasts').append(node);
  setTimeout(() => node.remove(), ms);
  return node;
}
