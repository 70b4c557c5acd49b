// In-page probes for the end-to-end tests: what a page shows and what its
// peer connections do, read without changing anything. The DOM (text,
// screens, tiles), getStats() media and screen reports, the senders, the
// selected ICE candidate pairs, and the page's own errors.

import { WAIT_MS, until } from './processes.mjs';

/* ---------------------------------------------------------------- DOM */

/** The visible text of an element, or null. */
export function text(page, selector) {
  return page.$eval(selector, (node) => node.textContent.trim()).catch(() => null);
}

/** Waits until the element's text matches `pattern`; returns the text. */
export async function waitForText(page, selector, pattern, timeout = WAIT_MS) {
  return until(
    async () => {
      const value = await text(page, selector);
      return value !== null && pattern.test(value) ? value : null;
    },
    { timeout, what: `${page.label}: ${selector} to match ${pattern}` },
  );
}

/** Which screen is showing (start, prejoin, call, message). */
export function screen(page) {
  return page.evaluate(() => document.querySelector('.screen:not([hidden])')?.id ?? null);
}

export async function waitForScreen(page, id, timeout = WAIT_MS) {
  return until(async () => ((await screen(page)) === id ? id : null), {
    timeout,
    what: `${page.label}: screen #${id}`,
  });
}

/* ------------------------------------------------------- media checks */

/**
 * What the page receives: per live RTCPeerConnection, decoded video frames
 * and received audio packets (getStats); per remote tile, the <video> size.
 */
export function mediaReport(page) {
  return page.evaluate(async () => {
    const pcs = (window.__parlorTest?.pcs ?? []).filter((pc) => pc.connectionState !== 'closed');
    const peers = [];
    for (const pc of pcs) {
      const stats = await pc.getStats();
      let framesDecoded = 0;
      let audioPackets = 0;
      let videoPackets = 0;
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        const kind = s.kind ?? s.mediaType;
        if (kind === 'video') {
          framesDecoded += s.framesDecoded ?? 0;
          videoPackets += s.packetsReceived ?? 0;
        }
        if (kind === 'audio') audioPackets += s.packetsReceived ?? 0;
      });
      peers.push({ state: pc.connectionState, framesDecoded, videoPackets, audioPackets });
    }
    const tiles = [...document.querySelectorAll('#tiles .tile')].map((tile) => {
      const video = tile.querySelector('video');
      return {
        peer: tile.dataset.peer,
        name: tile.querySelector('.tile-name')?.textContent,
        width: video?.videoWidth ?? 0,
        height: video?.videoHeight ?? 0,
        showsVideo: !tile.classList.contains('no-video'),
      };
    });
    return { peers, tiles };
  });
}

/** True when every one of `count` remote peers is decoding video and audio. */
export function receivingFromAll(report, count) {
  return (
    report.peers.length === count &&
    report.peers.every((p) => p.framesDecoded > 0 && p.audioPackets > 0) &&
    report.tiles.length === count &&
    report.tiles.every((t) => t.width > 0)
  );
}

/** Waits until the page decodes video and audio from `count` peers. */
export async function waitForMedia(page, count, timeout = 45_000) {
  return until(
    async () => {
      const report = await mediaReport(page);
      return receivingFromAll(report, count) ? report : { ok: false, ...report };
    },
    { timeout, interval: 250, what: `${page.label}: media from ${count} peer(s)` },
  );
}

/** Waits until the decoded frame counts of every peer have grown. */
export async function waitForMoreFrames(page, before, timeout = 20_000) {
  return until(
    async () => {
      const now = await mediaReport(page);
      const grown =
        now.peers.length === before.peers.length &&
        now.peers.every((p, i) => p.framesDecoded > before.peers[i].framesDecoded && p.audioPackets > before.peers[i].audioPackets);
      return grown ? now : { ok: false, ...now };
    },
    { timeout, interval: 250, what: `${page.label}: media still flowing` },
  );
}

/* ------------------------------------------------- tiles and senders */

/**
 * What each remote tile shows: name, microphone off (and the icon's label
 * and visibility), camera off, speaking, the connection indicator's class.
 */
export function tileStates(page) {
  return page.$$eval('#tiles .tile', (nodes) =>
    nodes.map((tile) => {
      const icon = tile.querySelector('.muted-mic');
      return {
        peer: tile.dataset.peer,
        name: tile.querySelector('.tile-name')?.textContent,
        micOff: tile.classList.contains('mic-off'),
        mutedLabel: icon?.getAttribute('aria-label') ?? null,
        mutedShown: icon ? getComputedStyle(icon).display !== 'none' : false,
        noVideo: tile.classList.contains('no-video'),
        speaking: tile.classList.contains('speaking'),
        presenting: tile.classList.contains('presenting'),
        quality: tile.querySelector('.quality')?.className ?? null,
      };
    }),
  );
}

/** Names on the remote tiles, in order. */
export function tileNames(page) {
  return page.$$eval('#tiles .tile-name', (nodes) => nodes.map((n) => n.textContent));
}

/** What each live RTCPeerConnection sends: per transceiver, direction and track. */
export function senders(page) {
  return page.evaluate(() =>
    window.__parlorTest.pcs
      .filter((pc) => pc.connectionState !== 'closed')
      .map((pc) =>
        pc.getTransceivers().map((t) => ({
          kind: t.receiver.track.kind,
          direction: t.direction,
          track: t.sender.track ? { readyState: t.sender.track.readyState, enabled: t.sender.track.enabled } : null,
        })),
      ),
  );
}

/**
 * What each live RTCPeerConnection receives on its screen transceiver (the
 * second video one, see static/js/call/peer.js): decoded frames and picture
 * size; and per shown screen (.screen-view), whose it is and its size.
 */
export function screenReport(page) {
  return page.evaluate(async () => {
    const pcs = (window.__parlorTest?.pcs ?? []).filter((pc) => pc.connectionState !== 'closed');
    const peers = [];
    for (const pc of pcs) {
      const videos = pc.getTransceivers().filter((t) => t.receiver.track.kind === 'video');
      const screen = videos[1];
      let framesDecoded = 0;
      let width = 0;
      if (screen) {
        const stats = await pc.getStats();
        stats.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.trackIdentifier === screen.receiver.track.id) {
            framesDecoded = s.framesDecoded ?? 0;
            width = s.frameWidth ?? 0;
          }
        });
      }
      peers.push({
        state: pc.connectionState,
        // The screen's receiving track: the same for every share on this
        // connection, so its framesDecoded adds up across shares.
        trackId: screen?.receiver.track.id ?? null,
        framesDecoded,
        width,
        sending: screen?.sender.track ? screen.sender.track.readyState : null,
        direction: screen?.direction ?? null,
        currentDirection: screen?.currentDirection ?? null,
      });
    }
    const views = [...document.querySelectorAll('#presentation .screen-view')].map((view) => ({
      peer: view.dataset.peer ?? null,
      own: view.classList.contains('own'),
      label: view.querySelector('figcaption')?.textContent.trim() ?? null,
      width: view.querySelector('video')?.videoWidth ?? 0,
    }));
    const layout = document.getElementById('stage')?.dataset.layout ?? null;
    return { peers, views, layout };
  });
}

/**
 * For each live peer connection of the page: its configuration's policy and
 * ICE servers, and the selected candidate pair's local and remote candidates
 * (type, protocol, address, port, and for relay candidates the protocol to
 * the TURN server).
 */
export function selectedPairs(page) {
  return page.evaluate(() => {
    const describe = (c) =>
      c && {
        type: c.candidateType,
        protocol: c.protocol,
        address: c.address,
        port: c.port,
        relayProtocol: c.relayProtocol,
        url: c.url,
      };
    const live = (window.__parlorTest?.pcs ?? []).filter((pc) => pc.connectionState !== 'closed');
    return Promise.all(
      live.map(async (pc) => {
        const stats = await pc.getStats();
        const byId = new Map();
        stats.forEach((s) => byId.set(s.id, s));
        let pair = null;
        stats.forEach((s) => {
          if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
        });
        if (!pair) {
          stats.forEach((s) => {
            if (s.type === 'candidate-pair' && s.state === 'succeeded' && (s.selected || s.nominated)) pair = s;
          });
        }
        const config = pc.getConfiguration();
        return {
          state: pc.connectionState,
          policy: config.iceTransportPolicy,
          iceServers: config.iceServers,
          pair: pair && {
            state: pair.state,
            local: describe(byId.get(pair.localCandidateId)),
            remote: describe(byId.get(pair.remoteCandidateId)),
          },
        };
      }),
    );
  });
}

/** Fails with the page's own errors, if any (uncaught exceptions, console errors). */
export function assertNoPageErrors(...pages) {
  const problems = pages.flatMap((page) => page.problems.map((p) => `${page.label}: ${p}`));
  if (problems.length) throw new Error(`errors in the page:\n${problems.join('\n')}`);
}

/* -------------------------------------------------------------- sound */

/**
 * The sound each live peer connection of the page receives, from
 * getStats(): inbound-rtp audio `totalAudioEnergy` (grows with loudness
 * and time; silence, such as a muted microphone's, adds nothing),
 * `audioLevel` (now, 0..1) and `totalSamplesDuration` (seconds played).
 * Packets alone prove nothing: a muted microphone sends packets too.
 * Chromium's fake microphone beeps; Firefox's fake one plays a steady tone
 * (both raise the energy; see tests/e2e/README.md, "Sound").
 */
export function audioEnergy(page) {
  return page.evaluate(async () => {
    const pcs = (window.__parlorTest?.pcs ?? []).filter((pc) => pc.connectionState !== 'closed');
    const out = [];
    for (const pc of pcs) {
      const stats = await pc.getStats();
      let energy = 0;
      let level = 0;
      let duration = 0;
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp' || (s.kind ?? s.mediaType) !== 'audio') return;
        energy += s.totalAudioEnergy ?? 0;
        level = Math.max(level, s.audioLevel ?? 0);
        duration += s.totalSamplesDuration ?? 0;
      });
      out.push({ energy, level, duration });
    }
    return out;
  });
}

/**
 * Waits until every live peer connection of the page (there must be
 * `count`) receives sound: its inbound audio energy grows by more than
 * `minGrowth` from the first sample. Resolves to the last sample.
 */
export async function waitForSound(page, count = 1, { timeout = 20_000, minGrowth = 1e-4 } = {}) {
  const first = await audioEnergy(page);
  return until(
    async () => {
      const now = await audioEnergy(page);
      const grown =
        now.length === count && first.length === count && now.every((p, i) => p.energy - first[i].energy > minGrowth);
      return grown ? now : { ok: false, first, now };
    },
    { timeout, interval: 250, what: `${page.label}: sound (audio energy rising) from ${count} peer(s)` },
  );
}

/**
 * Drops from page.problems the console errors a network outage makes the
 * browser print for the page's refused or reset connections (Chromium's
 * net::ERR_CONNECTION_RESET / REFUSED, "WebSocket connection to … failed"),
 * among those logged since `from` (an index into page.problems taken when
 * the outage began). Everything else stays, and so does anything before.
 */
export function forgiveOutageErrors(page, from) {
  const expected = /ERR_CONNECTION_RESET|ERR_CONNECTION_REFUSED|ERR_CONNECTION_CLOSED|ERR_EMPTY_RESPONSE|WebSocket connection to .* failed/;
  page.problems = [...page.problems.slice(0, from), ...page.problems.slice(from).filter((line) => !expected.test(line))];
}

/**
 * Waits until every <video> of the page that is shown and playing a live,
 * unmuted track (one that gets frames: not a camera switched off) has shown
 * one more frame (requestVideoFrameCallback), e.g. before a screenshot.
 */
export function waitForVideoFrames(page, timeout = 10_000) {
  return page.evaluate(async (ms) => {
    const videos = [...document.querySelectorAll('video')]
      .filter((v) => !v.paused && v.videoWidth > 0 && v.checkVisibility({ visibilityProperty: true, opacityProperty: true }))
      .filter((v) => v.srcObject?.getVideoTracks().some((t) => t.readyState === 'live' && t.enabled && !t.muted));
    const waiting = new Set(videos);
    const frames = videos.map((v) => new Promise((resolve) => v.requestVideoFrameCallback(() => resolve(waiting.delete(v)))));
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => {
        const which = [...waiting].map((v) => v.id || v.closest('[data-peer], figure, .tile')?.className || v.className);
        reject(new Error(`no new video frame within ${ms} ms on: ${which.join(', ')}`));
      }, ms);
    });
    await Promise.race([Promise.all(frames), late]).finally(() => clearTimeout(timer));
  }, timeout);
}
