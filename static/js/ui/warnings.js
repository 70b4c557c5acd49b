// The rules behind two warnings: whose connection is poor, and how often
// to say "you are muted" to someone who talks while muted.
//
// Why a module of its own: both are judgements worth getting right that
// need no page (time is passed in), so they are checked under Node.

import { listNames, possessive } from './dom.js';

/**
 * The warning for poor connections, or '' when there is none. ratings: one
 * {name, rating} per person connected ('good', 'fair', 'poor', 'unknown').
 * Only we can be the common cause when every connection is poor (with two
 * others or more); with one other person it may be either side; otherwise
 * the poor ones are theirs.
 */
export function connectionWarning(ratings) {
  const poor = ratings.filter((r) => r.rating === 'poor');
  if (poor.length === 0) return '';
  if (ratings.length >= 2 && poor.length === ratings.length) {
    return 'Your connection is poor: the others may hear and see you break up. Turning your camera off can help.';
  }
  if (ratings.length === 1) {
    return `The connection between you and ${poor[0].name} is poor: sound and picture may break up.`;
  }
  const names = listNames(poor.map((r) => possessive(r.name)));
  return poor.length === 1
    ? `${names} connection is poor: they may break up for everyone.`
    : `${names} connections are poor: they may break up for everyone.`;
}

/**
 * Says a hint at most once every `everyMs` (and not before `quietMs` after
 * the reason for it began, so a cough right after muting says nothing).
 */
export class HintPacer {
  #everyMs;
  #quietMs;
  #since = null;
  #said = -Infinity;

  constructor({ everyMs = 30_000, quietMs = 1_000 } = {}) {
    this.#everyMs = everyMs;
    this.#quietMs = quietMs;
  }

  /** The reason began (e.g. the microphone was muted) at `now`; null when it ended. */
  reset(now) {
    this.#since = now;
  }

  /** Whether to say the hint now (and, if so, remember it was said). */
  due(now) {
    if (this.#since === null || now - this.#since < this.#quietMs || now - this.#said < this.#everyMs) return false;
    this.#said = now;
    return true;
  }
}
