// Call quality per peer, from RTCPeerConnection.getStats().
//
// Why a module of its own: reading WebRTC statistics is fiddly (counters
// that must be turned into rates, fields that differ between browsers) and
// has nothing to do with the page. Every couple of seconds this reads each
// peer's report and turns it into one plain sample: round-trip time, packet
// loss both ways, bitrate in and out, picture sizes, and the network path
// (direct or relayed). It fires "sample" with detail {peer, sample}; the
// last two minutes are kept per peer for the chart.

const INTERVAL_MS = 2000;
const KEEP = 60;

/** Good, fair or poor, from round-trip time and loss; unknown without numbers. */
export function rate(sample) {
  if (!sample || sample.state !== 'connected') return 'unknown';
  const loss = Math.max(sample.lossIn ?? 0, sample.lossOut ?? 0);
  const rtt = sample.rttMs;
  if (rtt === null && sample.lossIn === null && sample.lossOut === null) return 'unknown';
  if (loss >= 8 || (rtt ?? 0) >= 500) return 'poor';
  if (loss >= 2 || (rtt ?? 0) >= 250) return 'fair';
  return 'good';
}

/**
 * The rating of the last few samples, so that one slow round trip does not
 * make the indicator flicker: the median round-trip time and the worst loss.
 */
export function rateRecent(history, count = 3) {
  const recent = history.slice(-count);
  const last = recent.at(-1);
  if (!last) return 'unknown';
  const rtts = recent.map((s) => s.rttMs).filter(Number.isFinite).sort((x, y) => x - y);
  const worst = (key) => {
    const values = recent.map((s) => s[key]).filter(Number.isFinite);
    return values.length ? Math.max(...values) : null;
  };
  return rate({
    state: last.state,
    rttMs: rtts.length ? rtts[Math.floor(rtts.length / 2)] : null,
    lossIn: worst('lossIn'),
    lossOut: worst('lossOut'),
  });
}

/** Words for a candidate type. */
export const PATH_WORDS = {
  host: 'Direct, local network',
  srflx: 'Direct, through NAT',
  prflx: 'Direct, through NAT',
  relay: 'Relayed by a TURN server',
};

function selectedPair(report) {
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId) ?? pair;
  });
  if (pair) return pair;
  // Firefox marks the pair itself.
  report.forEach((s) => {
    if (s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded'))) pair ??= s;
  });
  return pair;
}

/** One sample from a stats report; `before` is the previous raw totals (for rates). */
export function summarize(report, before, { screenTrackId = null, cameraTrackId = null } = {}) {
  const now = performance.now();
  const totals = { at: now, bytesIn: 0, bytesOut: 0, lostIn: 0, receivedIn: 0, remoteLost: 0, remoteSent: 0, cameraFrames: null };
  let camera = null;
  let screen = null;
  let sent = null;
  const remoteRtts = [];
  const fractionsLost = [];
  report.forEach((s) => {
    const kind = s.kind ?? s.mediaType;
    if (s.type === 'inbound-rtp') {
      totals.bytesIn += s.bytesReceived ?? 0;
      totals.lostIn += Math.max(0, s.packetsLost ?? 0);
      totals.receivedIn += s.packetsReceived ?? 0;
      if (kind === 'video' && (s.framesDecoded ?? 0) > 0) {
        const picture = { width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, fps: s.framesPerSecond ?? null };
        if (screenTrackId && s.trackIdentifier === screenTrackId) screen = picture;
        else if (!camera || picture.width * picture.height > camera.width * camera.height) camera = picture;
      }
    } else if (s.type === 'outbound-rtp') {
      totals.bytesOut += s.bytesSent ?? 0;
      if (kind === 'video' && cameraTrackId && report.get(s.mediaSourceId)?.trackIdentifier === cameraTrackId) {
        totals.cameraFrames = (totals.cameraFrames ?? 0) + (s.framesEncoded ?? 0);
      }
      totals.remoteSent += s.packetsSent ?? 0;
      if (kind === 'video' && s.frameWidth && (!sent || s.frameWidth * s.frameHeight > sent.width * sent.height)) {
        sent = { width: s.frameWidth, height: s.frameHeight, fps: s.framesPerSecond ?? null, limit: sendingLimit(s, report.get(s.mediaSourceId)) };
      }
    } else if (s.type === 'remote-inbound-rtp') {
      if (Number.isFinite(s.roundTripTime)) remoteRtts.push(s.roundTripTime);
      if (Number.isFinite(s.fractionLost)) fractionsLost.push(s.fractionLost);
      totals.remoteLost += Math.max(0, s.packetsLost ?? 0);
    }
  });

  const pair = selectedPair(report);
  let path = null;
  let rttMs = null;
  if (pair) {
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    path = {
      local: local?.candidateType ?? null,
      remote: remote?.candidateType ?? null,
      protocol: local?.relayProtocol ?? local?.protocol ?? null,
      relayed: local?.candidateType === 'relay' || remote?.candidateType === 'relay',
    };
    if (Number.isFinite(pair.currentRoundTripTime)) rttMs = pair.currentRoundTripTime * 1000;
  }
  if (rttMs === null && remoteRtts.length) rttMs = (remoteRtts.reduce((a, b) => a + b, 0) / remoteRtts.length) * 1000;

  const sample = {
    time: Date.now(),
    rttMs: rttMs === null ? null : Math.round(rttMs),
    lossIn: null,
    lossOut: fractionsLost.length ? Math.round(Math.max(...fractionsLost) * 1000) / 10 : null,
    bitrateIn: null,
    bitrateOut: null,
    camera,
    screen,
    sent,
    path,
    /** Camera frames encoded since the last sample; null when unknown. */
    cameraFramesOut: null,
  };
  if (before) {
    const seconds = (now - before.at) / 1000;
    if (seconds > 0) {
      sample.bitrateIn = Math.max(0, ((totals.bytesIn - before.bytesIn) * 8) / seconds / 1000);
      sample.bitrateOut = Math.max(0, ((totals.bytesOut - before.bytesOut) * 8) / seconds / 1000);
    }
    if (totals.cameraFrames !== null && before.cameraFrames !== null) sample.cameraFramesOut = totals.cameraFrames - before.cameraFrames;
    const lost = totals.lostIn - before.lostIn;
    const received = totals.receivedIn - before.receivedIn;
    if (lost + received > 0) sample.lossIn = Math.round((Math.max(0, lost) / (Math.max(0, lost) + received)) * 1000) / 10;
    else sample.lossIn = 0;
    if (sample.lossOut === null) {
      const lostOut = totals.remoteLost - before.remoteLost;
      const sentOut = totals.remoteSent - before.remoteSent;
      if (sentOut > 0) sample.lossOut = Math.round((Math.max(0, lostOut) / sentOut) * 1000) / 10;
    }
  }
  return { sample, totals };
}

/**
 * What keeps an outgoing picture below the camera's own size: 'cpu',
 * 'bandwidth' (the sender's estimate of what the path carries), 'other',
 * or 'cap' (sent smaller on purpose); null when nothing does. A reason the
 * browser gives while the picture is whole changes nothing anyone sees, so
 * it is not reported.
 */
function sendingLimit(outbound, source) {
  const captured = (source?.width ?? 0) * (source?.height ?? 0);
  if (!captured || outbound.frameWidth * outbound.frameHeight >= captured) return null;
  const reason = outbound.qualityLimitationReason;
  return reason && reason !== 'none' ? reason : 'cap';
}

/**
 * Whether our camera is sending nothing to a peer we are connected to: no
 * frame encoded in the last `count` samples (a camera WebRTC cannot send,
 * such as a depth camera, leaves the others a frozen picture).
 */
export function cameraStalled(history, count = 2) {
  const recent = history.slice(-count);
  return recent.length === count && recent.every((s) => s.state === 'connected' && s.cameraFramesOut === 0);
}

export class QualityMonitor extends EventTarget {
  /** Per peer id: {peer, totals, history: [sample...]}. */
  #peers = new Map();
  /** Our camera's track now (or null), to tell its frames from a screen's. */
  #camera;

  constructor({ camera = () => null } = {}) {
    super();
    this.#camera = camera;
  }
  #timer = 0;
  #busy = false;

  add(peer) {
    if (this.#peers.has(peer.id) && this.#peers.get(peer.id).peer === peer) return;
    this.#peers.set(peer.id, { peer, totals: null, history: [] });
    this.#timer ||= setInterval(() => this.#poll(), INTERVAL_MS);
  }

  remove(peer) {
    if (this.#peers.get(peer.id)?.peer !== peer) return;
    this.#peers.delete(peer.id);
    if (this.#peers.size === 0) this.stop();
  }

  /** The samples of the last two minutes for `peerId`, oldest first. */
  history(peerId) {
    return this.#peers.get(peerId)?.history ?? [];
  }

  latest(peerId) {
    return this.history(peerId).at(-1) ?? null;
  }

  /** Whether our camera sends no picture to anyone connected (see cameraStalled). */
  get cameraStalled() {
    return [...this.#peers.values()].some((entry) => cameraStalled(entry.history));
  }

  async #poll() {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await Promise.all([...this.#peers.values()].map((entry) => this.#pollOne(entry)));
    } finally {
      this.#busy = false;
    }
  }

  async #pollOne(entry) {
    const { peer } = entry;
    if (peer.state === 'closed') return;
    let report;
    try {
      report = await peer.getStats();
    } catch {
      return;
    }
    if (this.#peers.get(peer.id) !== entry) return;
    const { sample, totals } = summarize(report, entry.totals, {
      screenTrackId: peer.screenTrack()?.id ?? null,
      cameraTrackId: this.#camera()?.id ?? null,
    });
    entry.totals = totals;
    sample.state = peer.state;
    entry.history.push(sample);
    if (entry.history.length > KEEP) entry.history.shift();
    sample.rating = rateRecent(entry.history);
    this.dispatchEvent(new CustomEvent('sample', { detail: { peer, sample } }));
  }

  stop() {
    clearInterval(this.#timer);
    this.#timer = 0;
  }
}
