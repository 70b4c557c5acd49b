// Copying or sharing the room's link.
//
// Why a module of its own: the start page and the call screen both copy a
// link, and both need the same fallback where the clipboard is refused
// (select the text for Ctrl+C) and the same brief "Copied" on the button;
// where the device has a share sheet (phones), both offer it too.

/**
 * Copies `text`; if the clipboard is not available, selects it in `input`
 * so that Ctrl+C (or ⌘C) does it. Resolves to {copied, words}: whether it
 * is on the clipboard, and a sentence saying which happened.
 */
export async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return { copied: true, words: 'Link copied. Paste it into a message to invite someone.' };
  } catch {
    if (input) {
      input.focus();
      input.select();
    }
    return { copied: false, words: 'Press Ctrl+C (or ⌘C) to copy the selected link.' };
  }
}

export function flash(button, text) {
  const label = button.querySelector('span');
  if (!label) return;
  clearTimeout(button.flashTimer);
  button.dataset.label ??= label.textContent;
  label.textContent = text;
  button.flashTimer = setTimeout(() => {
    label.textContent = button.dataset.label;
  }, 2000);
}

/** Whether this device has a system share sheet for links. */
export function canShare(link) {
  if (typeof navigator.share !== 'function') return false;
  try {
    return navigator.canShare ? navigator.canShare({ url: link }) : true;
  } catch {
    return false;
  }
}

/**
 * Shows `button` where the device can share `link`, and opens the share
 * sheet on click. onProblem(words): the sheet failed (not when cancelled).
 */
export function offerShare(button, link, onProblem) {
  button.hidden = !canShare(link);
  // A property, not a listener: the start page may make another room.
  button.onclick = async () => {
    try {
      await navigator.share({ title: 'Parlor call', text: 'Join my video call:', url: link });
    } catch (error) {
      if (error?.name !== 'AbortError') onProblem('The link could not be shared. Copy it instead.');
    }
  };
}
