// Helpers of the tests that walk the less travelled paths (n- to r-): a UDP
// proxy in front of Parlor's TURN server that a test can black-hole, the
// preload that sends a page's relay traffic through it, an in-page log of
// each peer connection's ICE states and ufrags, and a page's chat log.
// Additive to the other lib modules; import it beside harness.mjs.

import dgram from 'node:dgram';
import { until } from './processes.mjs';

/* ---------------------------------------------------------- UDP proxy */

/**
 * A UDP proxy on 127.0.0.1 in front of `target` ('127.0.0.1:PORT', e.g.
 * Parlor's TURN server). Each client address gets its own upstream socket,
 * so replies find their way back. block(true) drops every datagram both
 * ways, as a network that goes dark does; block(false) lets them pass
 * again. Resolves to {port, block, dropped()}.
 */
export async function startUdpProxy(cleanup, target) {
  const [host, portText] = target.split(/:(?=\d+$)/);
  const targetPort = Number(portText);
  const front = dgram.createSocket('udp4');
  const sessions = new Map();
  let blocked = false;
  let dropped = 0;
  front.on('message', (message, from) => {
    if (blocked) {
      dropped += 1;
      return;
    }
    const key = `${from.address}:${from.port}`;
    let upstream = sessions.get(key);
    if (!upstream) {
      upstream = dgram.createSocket('udp4');
      upstream.on('message', (reply) => {
        if (blocked) dropped += 1;
        else front.send(reply, from.port, from.address);
      });
      upstream.on('error', () => {});
      upstream.bind(0, '127.0.0.1');
      sessions.set(key, upstream);
    }
    upstream.send(message, targetPort, host);
  });
  front.on('error', () => {});
  await new Promise((resolve) => front.bind(0, '127.0.0.1', resolve));
  cleanup.add(() => {
    for (const socket of sessions.values()) socket.close();
    front.close();
  });
  return {
    port: front.address().port,
    block(value) {
      blocked = value;
    },
    dropped: () => dropped,
  };
}

/**
 * Preload, registered after forceRelayPolicy: every TURN URL the page is
 * given becomes `turn:127.0.0.1:PORT?transport=udp` (the UDP proxy), so
 * that the page's relay traffic crosses the proxy. STUN and TCP entries go.
 */
export function turnThroughPort(port) {
  const Current = window.RTCPeerConnection;
  if (!Current || window.__turnThrough) return;
  window.__turnThrough = port;
  const rewrite = (config) => ({
    ...(config ?? {}),
    iceServers: (config?.iceServers ?? [])
      .filter((server) => [server.urls].flat().some((url) => url.startsWith('turn:')))
      .map((server) => ({ ...server, urls: [`turn:127.0.0.1:${port}?transport=udp`] })),
  });
  window.RTCPeerConnection = new Proxy(Current, {
    construct(target, args, newTarget) {
      const [config, ...rest] = args;
      return Reflect.construct(target, [rewrite(config), ...rest], newTarget);
    },
  });
}

/* ------------------------------------------------------- ICE in pages */

/**
 * Starts logging, in the page, what each live peer connection goes through
 * from now on: at every change of its connection, ICE, gathering or
 * signaling state, an entry {conn, ice, gather, sig, ufrag} (ufrag: the
 * local description's). window.__iceLog[i] is the log of the i-th.
 */
export function logIceStates(page) {
  return page.evaluate(() => {
    const pcs = window.__parlorTest.pcs.filter((pc) => pc.connectionState !== 'closed');
    window.__iceLog = pcs.map((pc) => {
      const entries = [];
      const note = () =>
        entries.push({
          conn: pc.connectionState,
          ice: pc.iceConnectionState,
          gather: pc.iceGatheringState,
          sig: pc.signalingState,
          ufrag: pc.localDescription?.sdp.match(/a=ice-ufrag:(\S+)/)?.[1] ?? null,
        });
      note();
      const changes = ['connectionstatechange', 'iceconnectionstatechange', 'icegatheringstatechange', 'signalingstatechange'];
      for (const type of changes) pc.addEventListener(type, note);
      return entries;
    });
  });
}

/** The logs of each peer connection (see logIceStates). */
export const iceLogs = (page) => page.evaluate(() => window.__iceLog);

/**
 * In one log of logIceStates: the local ufrag when the connection first
 * went 'failed' (null if it did not), and the other local ufrags it
 * negotiated to the end (stable) since: one per ICE restart.
 */
export function restartsSinceFailure(log) {
  const failedAt = log.findIndex((e) => e.conn === 'failed');
  if (failedAt < 0) return { atFailure: null, since: [] };
  const atFailure = log[failedAt].ufrag;
  const since = new Set(log.slice(failedAt).filter((e) => e.sig === 'stable' && e.ufrag !== atFailure).map((e) => e.ufrag));
  return { atFailure, since: [...since] };
}

/**
 * Per live peer connection: connection and ICE state, signaling state, the
 * local and remote ICE ufrag, and the selected pair's local candidate
 * (type, port).
 */
export function iceFacts(page) {
  return page.evaluate(async () => {
    const ufrag = (description) => description?.sdp.match(/a=ice-ufrag:(\S+)/)?.[1] ?? null;
    const live = window.__parlorTest.pcs.filter((pc) => pc.connectionState !== 'closed');
    return Promise.all(
      live.map(async (pc) => {
        const stats = await pc.getStats();
        const byId = new Map();
        stats.forEach((s) => byId.set(s.id, s));
        let local = null;
        stats.forEach((s) => {
          const pair = s.type === 'transport' && s.selectedCandidatePairId ? byId.get(s.selectedCandidatePairId) : null;
          const candidate = pair && byId.get(pair.localCandidateId);
          if (candidate) local = { type: candidate.candidateType, port: candidate.port };
        });
        return {
          state: pc.connectionState,
          ice: pc.iceConnectionState,
          signaling: pc.signalingState,
          localUfrag: ufrag(pc.localDescription),
          remoteUfrag: ufrag(pc.remoteDescription),
          local,
        };
      }),
    );
  });
}

/** The page's peer connections, all of them, closed ones too. */
export const pcCount = (page) => page.evaluate(() => window.__parlorTest.pcs.length);

/** Per live peer connection, its video frames decoded so far. */
export async function framesOf(page, mediaReport) {
  return (await mediaReport(page)).peers.map((p) => p.framesDecoded);
}

/**
 * Waits until the page's video stands still: the frame counts of every
 * peer connection did not move over `quietMs`.
 */
export async function waitForFrozenVideo(page, mediaReport, { quietMs = 1500, timeout = 30_000 } = {}) {
  let last = await framesOf(page, mediaReport);
  let since = Date.now();
  return until(
    async () => {
      const now = await framesOf(page, mediaReport);
      if (now.join() !== last.join()) {
        last = now;
        since = Date.now();
        return null;
      }
      return Date.now() - since >= quietMs ? now : null;
    },
    { timeout, interval: 250, what: `${page.label}: video to stand still` },
  );
}

/* --------------------------------------------------------------- chat */

/**
 * The chat log as the page shows it: [{name, from, text}], oldest first. A
 * message that continues its sender's run shows no name: it is the run's.
 */
export function chatLog(page) {
  return page.$$eval('#chat-log .msg', (items) => {
    let name = null;
    return items.map((item) => {
      if (!item.classList.contains('cont')) name = item.querySelector('.msg-name').textContent;
      return { name, from: item.dataset.from, text: item.querySelector('.msg-text').textContent };
    });
  });
}

/**
 * Joins `room` from inside `page` (already on the server's origin) over a
 * WebSocket of its own, as `name`, and sends each of `texts` as chat, each
 * once the previous came back. The socket stays open (the member stays).
 * Resolves to the member's peer id.
 */
export function chatFromSocket(page, room, name, texts) {
  return page.evaluate(
    (room, name, texts) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws`);
        window.__chatSocket = ws;
        let id = null;
        let next = 0;
        const sendNext = () => {
          if (next === texts.length) resolve(id);
          else ws.send(JSON.stringify({ type: 'chat', text: texts[next++] }));
        };
        ws.onopen = () => ws.send(JSON.stringify({ type: 'join', room, name }));
        ws.onerror = () => reject(new Error('the chat socket failed'));
        ws.onmessage = (event) => {
          const message = JSON.parse(event.data);
          if (message.type === 'welcome') {
            id = message.id;
            sendNext();
          } else if (message.type === 'chat' && message.from === id) {
            sendNext();
          } else if (message.type === 'error') {
            reject(new Error(event.data));
          }
        };
      }),
    room,
    name,
    texts,
  );
}

/* ---------------------------------------------------- signal gate */

/**
 * Preload: a gate on the page's WebSockets that can hold the offers it
 * sends (window.__gate.holdOut = true; releaseOut() sends them) or the
 * offers it receives (holdIn = true; releaseIn() delivers them), so a test
 * can make offers cross or leave one outstanding. Everything else passes.
 * Register it before the page's scripts run (evaluateOnNewDocument).
 */
export function signalGate() {
  if (window.__gate) return;
  const isOffer = (text) => {
    try {
      const message = JSON.parse(text);
      return message.type === 'signal' && message.data?.description?.type === 'offer';
    } catch {
      return false;
    }
  };
  const send = WebSocket.prototype.send;
  const listen = EventTarget.prototype.addEventListener;
  const gate = { holdOut: false, out: [], holdIn: false, in: [] };
  gate.releaseOut = () => {
    gate.holdOut = false;
    for (const [ws, data] of gate.out.splice(0)) send.call(ws, data);
  };
  gate.releaseIn = () => {
    gate.holdIn = false;
    for (const deliver of gate.in.splice(0)) deliver();
  };
  window.__gate = gate;
  WebSocket.prototype.send = function (data) {
    if (gate.holdOut && isOffer(data)) gate.out.push([this, data]);
    else send.call(this, data);
  };
  WebSocket.prototype.addEventListener = function (type, listener, options) {
    if (type !== 'message' || typeof listener !== 'function') return listen.call(this, type, listener, options);
    const ws = this;
    return listen.call(
      this,
      type,
      (event) => {
        if (gate.holdIn && isOffer(event.data)) gate.in.push(() => listener.call(ws, event));
        else listener.call(ws, event);
      },
      options,
    );
  };
}

/** Sets the gate's fields in the page (see signalGate), e.g. {holdIn: true}. */
export const setGate = (page, fields) => page.evaluate((f) => Object.assign(window.__gate, f), fields);

/** How many offers the gate holds: {out, in}. */
export const gateHeld = (page) => page.evaluate(() => ({ out: window.__gate.out.length, in: window.__gate.in.length }));

/**
 * Starts logging, in the page, the signaling states each live peer
 * connection goes through from now on (window.__sigLog[i]).
 */
export function logSignalingStates(page) {
  return page.evaluate(() => {
    const pcs = window.__parlorTest.pcs.filter((pc) => pc.connectionState !== 'closed');
    window.__sigLog = pcs.map((pc) => {
      const states = [pc.signalingState];
      pc.addEventListener('signalingstatechange', () => states.push(pc.signalingState));
      return states;
    });
  });
}

/** The logged signaling states of each peer connection (see logSignalingStates). */
export const signalingStates = (page) => page.evaluate(() => window.__sigLog);
