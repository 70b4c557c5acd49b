// (r) A newcomer receives the whole chat history a real server keeps. A
// member (a plain WebSocket opened from a tab of the server's origin, no
// camera) fills a group room's history past its cap: 205 messages, of
// which the server keeps the last 200 (docs/operations.md). A newcomer
// then joins through the page and finds exactly those 200, in the order
// sent, with the sender's name; then one more message arrives live after
// them. tests/history.rs checks the same on the wire, and the resume with
// the most parked signals, at the default and the smallest send queue.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';
import * as p from './lib/paths.mjs';

const KEPT = 200;

test('a newcomer finds the full chat history, in order', { timeout: 120_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);
  const browser = await h.launchChromium(cleanup, { origin: url });
  const filler = await h.newPage(browser, 'filler');
  await h.open(filler, `${url}/`);
  const created = await (await fetch(`${url}/api/rooms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ capacity: 6 }) })).json();
  const sent = Array.from({ length: KEPT + 5 }, (_, i) => `message ${i + 1} of ${KEPT + 5}`);
  const adaId = await p.chatFromSocket(filler, created.room, 'Ada', sent);

  const c = await h.newPage(browser, 'C');
  await h.joinRoom(c, `${url}/r/${created.room}`, 'Cy');
  await c.click('#toggle-chat');
  await c.waitForSelector('#chat-panel:not([hidden])');
  const log = await h.until(
    async () => {
      const now = await p.chatLog(c);
      return now.length === KEPT ? now : { ok: false, count: now.length };
    },
    { timeout: 15_000, what: `C: ${KEPT} messages of history` },
  );
  assert.deepEqual(log.map((m) => m.text), sent.slice(5), 'the latest 200, in the order sent');
  assert.ok(log.every((m) => m.name === 'Ada' && m.from === adaId), 'each with its sender');

  // A live message comes after the history.
  await filler.evaluate(() => window.__chatSocket.send(JSON.stringify({ type: 'chat', text: 'live one' })));
  const after = await h.until(async () => {
    const now = await p.chatLog(c);
    return now.length === KEPT + 1 ? now : null;
  }, { timeout: 10_000, what: 'C: the live message' });
  assert.equal(after.at(-1).text, 'live one');
  h.assertNoPageErrors(c);
});
