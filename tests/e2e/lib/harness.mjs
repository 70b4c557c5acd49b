// The end-to-end tests' helpers, in one namespace (`import * as h from
// './lib/harness.mjs'`): start a Parlor server, launch headless Chromium or
// Firefox ESR (each its own process and profile), drive the app's UI like a
// person would, and read real media statistics. Each concept has its module:
//
//   processes.mjs  parlor and its start-up lines, a TCP proxy, Cleanup,
//                  deadlines and polling, paths
//   browsers.mjs   Chromium and Firefox, new pages with fake devices and
//                  the preloads (recorder, denied or small camera, relay-only)
//   probes.mjs     what a page shows and its peer connections do: text and
//                  screens, getStats() media and screen reports, tiles,
//                  senders, selected candidate pairs, page errors
//   ui.mjs         UI steps (create a room, join as, start a call) and
//                  output (screenshots, timings)

export * from './processes.mjs';
export * from './browsers.mjs';
export * from './probes.mjs';
export * from './ui.mjs';
export * from './a11y.mjs';
