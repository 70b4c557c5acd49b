// The effects a person can switch on their own sound and picture, and the
// choices remembered for the next visit. Today: the browser's noise
// suppression on the microphone (on unless switched off). Background blur
// is not offered; docs/effects.md says what was checked and measured.
//
// Why a module of its own: the choices are read before the devices open
// (main.js), changed from two screens (pre-join and the call's Devices
// dialog) and outlive the page, so one place owns their names, defaults and
// storage.

const KEY = 'parlor.effects';

/** What a person who never chose gets. */
const DEFAULTS = Object.freeze({ noiseSuppression: true });

/** The remembered choices, {noiseSuppression}; the defaults where none or unreadable. */
export function savedEffects() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(KEY) ?? '{}');
  } catch {
    // storage disabled or garbled: the defaults
  }
  const effects = { ...DEFAULTS };
  for (const name of Object.keys(DEFAULTS)) {
    if (typeof saved?.[name] === 'boolean') effects[name] = saved[name];
  }
  return effects;
}

/** Remembers one choice (`name` one of savedEffects()'s keys, `on` a boolean). */
export function saveEffect(name, on) {
  if (!(name in DEFAULTS) || typeof on !== 'boolean') throw new TypeError(`no effect ${name}=${on}`);
  try {
    localStorage.setItem(KEY, JSON.stringify({ ...savedEffects(), [name]: on }));
  } catch {
    // storage disabled: the choice lasts for this page only
  }
}
