// What to tell the person about their camera and microphone.
//
// Why a module of its own: the pre-join screen, the call's banner and the
// call's controls all explain the same device outcomes (blocked, missing,
// busy, ...), and should do so in the same words.

const KIND_WORDS = { audio: 'microphone', video: 'camera' };

/**
 * What to tell the person about their devices, or '' when all is well.
 * `short` gives the one-line version for the call screen.
 */
export function deviceMessage(status, { short = false } = {}) {
  const { audio, video } = status;
  if (audio === 'pending' || video === 'pending') return '';
  if (audio === 'ok' && video === 'ok') return '';
  if (audio === video) {
    const what = 'camera and microphone';
    const lead = {
      blocked: `Your ${what} are blocked.`,
      missing: 'No camera or microphone was found.',
      busy: `Your ${what} are in use by another app.`,
      unsupported: `This page cannot use a ${what} (it needs a secure https:// link).`,
      error: `Your ${what} could not be started.`,
    }[audio];
    if (short) return `${lead} You can see and hear the others, but they cannot see or hear you.`;
    const fix = audio === 'blocked' ? ' To be seen and heard, allow them in your browser’s site settings and reload.' : '';
    return `${lead} You can still join: you will see and hear the others, but they will not see or hear you.${fix}`;
  }
  if (audio !== 'ok' && video !== 'ok') {
    // Both fail, for different reasons: one sentence on what that means.
    const lead = `${sentence(deviceWord('video', video))}, and ${deviceWord('audio', audio).toLowerCase()}.`;
    if (short) return `${lead} You can see and hear the others, but they cannot see or hear you.`;
    return `${lead} You can still join: you will see and hear the others, but they will not see or hear you.`;
  }
  const parts = [];
  for (const kind of ['video', 'audio']) {
    const word = KIND_WORDS[kind];
    const state = status[kind];
    if (state === 'ok') continue;
    const lead = {
      blocked: `Your ${word} is blocked`,
      missing: `No ${word} was found`,
      busy: `Your ${word} is in use by another app`,
      unsupported: `This page cannot use a ${word}`,
      error: `Your ${word} could not be started`,
    }[state];
    const effect = kind === 'video' ? 'the others will hear you but not see you' : 'the others will see you but not hear you';
    parts.push(`${lead}, so ${effect}.`);
  }
  return parts.join(' ');
}

const SHORT_WORDS = {
  blocked: (word) => `${word} blocked`,
  missing: (word) => `No ${word.toLowerCase()} found`,
  busy: (word) => `${word} in use by another app`,
};

/**
 * A device's state in a few words ("Camera blocked", "No microphone
 * found"), for the pre-join preview and the sentences above, so that they
 * never disagree.
 */
export function deviceWord(kind, state) {
  const word = kind === 'video' ? 'Camera' : 'Microphone';
  return (SHORT_WORDS[state] ?? ((w) => `${w} unavailable`))(word);
}

const sentence = (words) => words.charAt(0).toUpperCase() + words.slice(1);
