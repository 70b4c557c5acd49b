// Benchmark, not a test: how long a person waits for the other's picture.
// Per run: a fresh parlor and two fresh browsers; A (Chromium) hosts a
// one-to-one room; B opens the link (navigation start = 0), types a name,
// clicks Join, and a preload in B's page polls getStats() every 20 ms until
// the first remote video frame is decoded. B is Chromium, or Firefox ESR
// with --firefox. Prints one line per run and the median, min and max as
// JSON. Run by scripts/bench-first-frame.sh; see docs/benchmarks.md.
//
//   node bench/first-frame.mjs [--runs N] [--firefox]

import { parseArgs } from 'node:util';
import * as h from '../lib/harness.mjs';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, firefox: { type: 'boolean', default: false } },
});
const RUNS = Number(values.runs);
const BROWSER = values.firefox ? 'firefox' : 'chromium';

/**
 * Preload of B's page: when #join is clicked, and when the first remote
 * video frame is decoded (getStats polled every 20 ms), in ms since the
 * navigation started (window.__firstFrame).
 */
function watchFirstFrame() {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__firstFrame) return;
  const times = { joinClickAt: null, firstFrameAt: null };
  window.__firstFrame = times;
  const poll = async (pc) => {
    while (times.firstFrameAt === null && pc.connectionState !== 'closed') {
      const stats = await pc.getStats().catch(() => null);
      if (!stats) return;
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0 && times.firstFrameAt === null) {
          times.firstFrameAt = performance.now();
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  window.RTCPeerConnection = new Proxy(Native, {
    construct(target, args, newTarget) {
      const pc = Reflect.construct(target, args, newTarget);
      poll(pc);
      return pc;
    },
  });
  document.addEventListener(
    'click',
    (event) => {
      if (event.target instanceof Element && event.target.closest('#join')) times.joinClickAt = performance.now();
    },
    true,
  );
}

async function once() {
  const cleanup = new h.Cleanup();
  try {
    const { url } = await h.startParlor(cleanup);
    const [chromium, other] = await Promise.all([
      h.launchChromium(cleanup, { origin: url }),
      BROWSER === 'firefox' ? h.launchFirefox(cleanup) : h.launchChromium(cleanup, { origin: url }),
    ]);
    const a = await h.newPage(chromium, 'A');
    const b = await h.newPage(other, 'B');
    await b.evaluateOnNewDocument(watchFirstFrame);
    const link = await h.hostRoom(a, url, 'Ada');
    await h.joinRoom(b, link, 'Bob');
    const times = await h.until(
      async () => {
        const t = await b.evaluate(() => window.__firstFrame);
        return t?.firstFrameAt ? t : null;
      },
      { timeout: 60_000, interval: 100, what: 'B: first remote frame' },
    );
    return {
      pageLoadToFirstRemoteFrameMs: Math.round(times.firstFrameAt),
      joinClickToFirstRemoteFrameMs: Math.round(times.firstFrameAt - times.joinClickAt),
    };
  } finally {
    await cleanup.run();
  }
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : Math.round((s[m - 1] + s[m]) / 2);
};

const runs = [];
for (let i = 0; i < RUNS; i += 1) {
  const run = await once();
  runs.push(run);
  console.log(`run ${i + 1}/${RUNS} (${BROWSER} joins): page load -> first remote frame ${run.pageLoadToFirstRemoteFrameMs} ms, join click -> first frame ${run.joinClickToFirstRemoteFrameMs} ms`);
}
const summary = {};
for (const key of ['pageLoadToFirstRemoteFrameMs', 'joinClickToFirstRemoteFrameMs']) {
  const xs = runs.map((r) => r[key]);
  summary[key] = { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}
console.log(JSON.stringify({ browser: BROWSER, runs: RUNS, ...summary }));
