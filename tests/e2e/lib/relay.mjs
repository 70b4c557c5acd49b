// Helpers for the relay-only call (relay.test.mjs), kept apart from
// harness.mjs: a Parlor started with the built-in TURN server on its default
// port, a preload that forces iceTransportPolicy 'relay' on the page's peer
// connections, and a reader of the selected ICE candidate pair.

import { startParlor } from './harness.mjs';

/**
 * Starts `parlor --listen 127.0.0.1:0` with `args` and nothing else, so the
 * STUN/TURN server runs with its defaults (127.0.0.1:3478). Resolves to
 * {url, turn, stop} once both the web server and the TURN server are up.
 * If port 3478 is held by another process, Parlor runs without TURN; then
 * this waits and tries again (up to `patience` ms) before failing.
 */
export async function startParlorWithDefaultTurn(cleanup, args = [], { patience = 30_000 } = {}) {
  const deadline = Date.now() + patience;
  for (;;) {
    const started = await startParlor(cleanup, args, { ownTurnPort: false });
    if (started.turn) return started;
    await started.stop();
    if (Date.now() > deadline) {
      throw new Error(`parlor could not listen for TURN on its default port 3478 (another process holds it?): ${started.stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Preload: every RTCPeerConnection the page makes uses only relay
 * candidates, whatever configuration the app passes (also through
 * setConfiguration). With {transport: 'tcp'}, only the TURN URLs with
 * `?transport=tcp` are kept, so the browser reaches TURN over TCP.
 * Register it after harness.newPage's recorder.
 */
export function forceRelayPolicy({ transport } = {}) {
  const Current = window.RTCPeerConnection;
  if (!Current || window.__relayOnly) return;
  window.__relayOnly = true;
  const only = (servers) =>
    (servers ?? [])
      .map((server) => ({
        ...server,
        urls: [server.urls].flat().filter((url) => url.startsWith('turn') && url.endsWith(`?transport=${transport}`)),
      }))
      .filter((server) => server.urls.length > 0);
  const relay = (config) => ({
    ...(config ?? {}),
    ...(transport ? { iceServers: only(config?.iceServers) } : {}),
    iceTransportPolicy: 'relay',
  });
  window.RTCPeerConnection = new Proxy(Current, {
    construct(target, args, newTarget) {
      const [config, ...rest] = args;
      return Reflect.construct(target, [relay(config), ...rest], newTarget);
    },
  });
  const setConfiguration = Current.prototype.setConfiguration;
  Current.prototype.setConfiguration = function (config) {
    return setConfiguration.call(this, relay(config));
  };
}

/**
 * For each live peer connection of the page: its configuration's policy and
 * ICE servers, and the selected candidate pair's local and remote candidates
 * (type, protocol, address, port, and for relay candidates the protocol to
 * the TURN server).
 */
export function selectedPairs(page) {
  return page.evaluate(async () => {
    const pcs = (window.__parlorTest?.pcs ?? []).filter((pc) => pc.connectionState !== 'closed');
    const result = [];
    for (const pc of pcs) {
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
      const describe = (c) =>
        c && {
          type: c.candidateType,
          protocol: c.protocol,
          address: c.address,
          port: c.port,
          relayProtocol: c.relayProtocol,
          url: c.url,
        };
      const config = pc.getConfiguration();
      result.push({
        state: pc.connectionState,
        policy: config.iceTransportPolicy,
        iceServers: config.iceServers,
        pair: pair && {
          state: pair.state,
          local: describe(byId.get(pair.localCandidateId)),
          remote: describe(byId.get(pair.remoteCandidateId)),
        },
      });
    }
    return result;
  });
}
