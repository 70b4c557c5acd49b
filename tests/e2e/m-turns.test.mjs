// A call relayed through Parlor's TURN over TLS (`turns:`) on the HTTPS
// port itself: parlor runs with `--tls-self-signed`, both headless Chromium
// pages load the app over https and are forced by a preload to relay
// through the `turns:` URL of their welcome alone (iceTransportPolicy
// 'relay', every other URL removed). The selected candidate pair's local
// candidate must be a relay reached over TLS (relayProtocol 'tls'), and
// both must decode video and audio.
//
// Verified here (Chromium 156, Debian 12, November 2026): Chromium checks
// the certificate of a `turns:` server. Gathering with only a `turns:` URL
// to `parlor --tls-self-signed`, from a page of no TLS, gave no candidate
// and an icecandidateerror 701 "Failed to establish connection" without
// flags; with --ignore-certificate-errors it gave a relay candidate with
// relayProtocol 'tls'. So that flag covers TURN over TLS as well as the
// page, and no test CA (NSS database) is needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

test('relay-only call through TURN over TLS on the HTTPS port', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url, turn } = await h.startParlor(cleanup, ['--tls-self-signed', '--turn-allowed-peers', '127.0.0.0/8']);
  assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(turn, 'the STUN/TURN server runs');
  const httpsPort = new URL(url).port;
  const [a, b] = await h.launchPages(cleanup, url, ['A', 'B'], {
    chromium: { args: ['--ignore-certificate-errors'] },
  });
  for (const page of [a, b]) await page.evaluateOnNewDocument(h.forceRelayPolicy, { scheme: 'turns' });
  const link = await h.hostRoom(a, url, 'Ada');
  await h.joinRoom(b, link, 'Bob');

  await t.test('both decode video and audio', async () => {
    await Promise.all([h.waitForMedia(a, 1, 60_000), h.waitForMedia(b, 1, 60_000)]);
  });

  await t.test('the selected pair is relayed over TLS on the HTTPS port', async (t) => {
    for (const page of [a, b]) {
      const [info] = await h.until(
        async () => {
          const pcs = await h.selectedPairs(page);
          return pcs.length === 1 && pcs[0].pair?.state === 'succeeded' && pcs[0].pair.local ? pcs : null;
        },
        { timeout: 20_000, what: `${page.label}: a selected, succeeded candidate pair` },
      );
      t.diagnostic(`${page.label}: ${JSON.stringify(info.pair)}`);
      assert.equal(info.policy, 'relay', `${page.label} runs relay-only`);
      // The only server left: the welcome's turns: URL, on the HTTPS port.
      const urls = info.iceServers.flatMap((s) => [s.urls].flat());
      assert.deepEqual(urls, [`turns:127.0.0.1:${httpsPort}?transport=tcp`]);
      assert.equal(info.pair.local.type, 'relay', `${page.label}: local candidate`);
      assert.equal(info.pair.local.relayProtocol, 'tls', `${page.label} reaches TURN over TLS`);
      assert.equal(info.pair.remote.type, 'relay', `${page.label}: remote candidate`);
    }
  });

  await t.test('media keeps flowing through the relay', async () => {
    await Promise.all([h.waitForMoreFrames(a, await h.mediaReport(a)), h.waitForMoreFrames(b, await h.mediaReport(b))]);
  });

  h.assertNoPageErrors(a, b);
});
