// (q) The app over HTTPS and WSS. Parlor runs with `--tls-self-signed`;
// Chromium and Firefox ESR are launched accepting untrusted certificates
// (puppeteer's acceptInsecureCerts: Chromium's certificate errors are
// ignored over CDP, Firefox's over the WebDriver BiDi session), as a person
// who clicked through the browser's warning. The certificate the server
// presents is checked against the fingerprint it printed. Chromium creates
// a room on the https start page, Firefox joins by the https link; both
// signal over wss: and decode each other.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import * as h from './lib/harness.mjs';

/** The SHA-256 fingerprint of the certificate served at `url`, AB:CD:… */
function servedFingerprint(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** The page's scheme and the URLs of the WebSockets it opened. */
const schemes = (page) =>
  page.evaluate(() => ({ page: location.protocol, sockets: window.__parlorTest.sockets.map((ws) => ws.url) }));

test('Chromium and Firefox call each other over HTTPS and WSS (self-signed)', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const server = await h.startParlor(cleanup, ['--tls-self-signed']);
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const printed = await h.until(() => server.fingerprint, { timeout: 5000, what: 'the printed fingerprint' });
  assert.equal(await servedFingerprint(server.url), printed, 'the served certificate is the one printed');

  const [chromium, firefox] = await Promise.all([
    h.launchChromium(cleanup, { origin: server.url, acceptInsecureCerts: true }),
    h.launchFirefox(cleanup, { acceptInsecureCerts: true }),
  ]);
  const a = await h.newPage(chromium, 'A-chromium');
  const f = await h.newPage(firefox, 'F-firefox');
  const link = await h.hostRoom(a, server.url, 'Ada');
  assert.match(link, /^https:\/\//);
  await h.joinRoom(f, link, 'Fox');
  await Promise.all([h.waitForMedia(a, 1, 60_000), h.waitForMedia(f, 1, 60_000)]);
  await h.waitForText(a, '#call-status', /^Connected with Fox\.$/);
  await h.waitForText(f, '#call-status', /^Connected with Ada\.$/);
  for (const page of [a, f]) {
    const seen = await schemes(page);
    t.diagnostic(`${page.label}: ${JSON.stringify(seen)}`);
    assert.equal(seen.page, 'https:');
    assert.ok(seen.sockets.length > 0 && seen.sockets.every((url) => url.startsWith('wss://')), JSON.stringify(seen.sockets));
  }
  await Promise.all([h.waitForMoreFrames(a, await h.mediaReport(a)), h.waitForMoreFrames(f, await h.mediaReport(f))]);
  h.assertNoPageErrors(a, f);
});
