// (l) A restart ends no call. A server with default flags (only its state
// directory is the test's own) is killed with SIGKILL in the middle of a
// call, as in a crash, and started again with the same flags. Media flows
// browser to browser, so:
//  - while it is down every page keeps decoding, and says that nobody new
//    can join until the server is back;
//  - once it is back every page takes its seat again by itself, with the
//    same peer connections: no page ever shows the waiting screen, drops a
//    connection or makes a new one, and frames keep rising on every page;
//  - the invite link still opens the room (the key and the room list were
//    kept in the state directory).
// Once for a two-person call and once for a three-person mesh. A TCP proxy
// in front of parlor keeps the pages' address across the restart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

/**
 * Watches a page from inside, every 100 ms, from now on: whether the
 * waiting screen, a new toast or the message screen was ever shown, and
 * whether a peer connection was ever closed.
 */
function watch(page) {
  return page.evaluate(() => {
    const seen = { waiting: false, toasts: [], message: false, closed: 0 };
    window.__restartWatch = seen;
    // Toasts already up (someone joining) are not new.
    const old = new Set([...document.querySelectorAll('#toasts > *')]);
    setInterval(() => {
      if (!document.getElementById('waiting').hidden) seen.waiting = true;
      if (!document.getElementById('message-screen').hidden) seen.message = true;
      for (const node of document.querySelectorAll('#toasts > *')) {
        if (old.has(node)) continue;
        const text = node.textContent.trim();
        if (text && !seen.toasts.includes(text)) seen.toasts.push(text);
      }
      seen.closed = window.__parlorTest.pcs.filter((pc) => pc.connectionState === 'closed').length;
    }, 100);
  });
}

/** How many WebSockets the page has made so far. */
const socketCount = (page) => page.evaluate(() => window.__parlorTest.sockets.length);

/**
 * Waits until the page has tried to reach the server again since it had
 * `made` WebSockets, and been refused: a newer one has closed.
 */
function waitForRefusal(page, made) {
  return h.until(
    () => page.evaluate((n) => window.__parlorTest.sockets.slice(n).some((ws) => ws.readyState === WebSocket.CLOSED), made),
    { timeout: 30_000, what: `${page.label}: a reconnection attempt refused` },
  );
}

const watched = (page) => page.evaluate(() => window.__restartWatch);
const pcCount = (page) => page.evaluate(() => window.__parlorTest.pcs.length);
const frames = (report) => report.peers.map((p) => p.framesDecoded);

/** The room id of an invite link. */
const roomOf = (link) => new URL(link).pathname.split('/').pop();

async function restartDuringCall(t, names, { group }) {
  const cleanup = h.cleanupAfter(t);
  let server = await h.startParlor(cleanup);
  const { stateDir } = server;
  const proxy = await h.startProxy(cleanup, server.url);
  const url = proxy.url;
  const pages = await h.launchPages(cleanup, url, names, group ? h.LIGHT_MEDIA : {});
  const link = await h.hostRoom(pages[0], url, names[0], { group });
  for (let i = 1; i < pages.length; i += 1) await h.joinRoom(pages[i], link, names[i]);
  const others = pages.length - 1;
  await Promise.all(pages.map((page) => h.waitForMedia(page, others, 60_000)));
  await Promise.all(pages.map(watch));
  const pcsBefore = await Promise.all(pages.map(pcCount));

  // Killed as in a crash: no close frame, no seat given up.
  const made = await Promise.all(pages.map(socketCount));
  const killedAt = Date.now();
  await server.kill();
  for (const page of pages) {
    await h.waitForText(page, '#call-status', /Connection to the server lost/, 15_000);
    assert.match(await h.text(page, '#call-notice-text'), /Nobody new can join until the server is back/);
  }
  // Down until every page has tried again and been refused: the pictures
  // must not freeze meanwhile.
  const atLoss = await Promise.all(pages.map(h.mediaReport));
  await Promise.all(pages.map((page, i) => waitForRefusal(page, made[i])));
  const down = await Promise.all(pages.map((page, i) => h.waitForMoreFrames(page, atLoss[i])));

  server = await h.startParlor(cleanup, [], { stateDir });
  proxy.retarget(server.url);
  const restartedAt = Date.now();
  const backAfter = await Promise.all(
    pages.map(async (page) => {
      await h.waitForText(page, '#call-status', /^Connected with /, 30_000);
      return Date.now() - restartedAt;
    }),
  );
  const after = await Promise.all(pages.map((page, i) => h.waitForMoreFrames(page, down[i])));

  for (const [i, page] of pages.entries()) {
    const seen = await watched(page);
    assert.equal(seen.waiting, false, `${page.label} never showed the waiting screen`);
    assert.equal(seen.message, false, `${page.label} never ended the call`);
    assert.deepEqual(seen.toasts, [], `${page.label} showed no toast`);
    assert.equal(seen.closed, 0, `${page.label} closed no peer connection`);
    assert.equal(await pcCount(page), pcsBefore[i], `${page.label} made no new peer connection`);
    assert.equal((await h.tileNames(page)).length, others);
    assert.ok(
      frames(after[i]).every((n, j) => n > frames(down[i])[j] && frames(down[i])[j] > frames(atLoss[i])[j]),
      `${page.label}: frames rose during and after: ${frames(atLoss[i])} ${frames(down[i])} ${frames(after[i])}`,
    );
  }

  // The invite link still opens the room.
  const status = await fetch(`${url}/api/rooms/${roomOf(link)}`);
  assert.equal(status.status, 200, 'the room API knows the room');
  const body = await status.json();
  assert.equal(body.members, pages.length);
  const visitor = await h.newPage(pages[0].browser(), 'visitor');
  await h.open(visitor, link);
  await h.until(async () => ['prejoin-screen', 'message-screen'].includes(await h.screen(visitor)), {
    what: 'the invite link to load',
  });
  if (group) {
    await h.waitForScreen(visitor, 'prejoin-screen');
  } else {
    // Two of two are in: the link says the room is full, not that it is gone.
    if ((await h.screen(visitor)) === 'message-screen') {
      assert.equal(await h.text(visitor, '#message-title'), 'This room is full');
    }
  }
  await visitor.close();
  // The browser itself logs each refused reconnection attempt; those are
  // the outage, not errors of the page.
  for (const page of pages) page.problems = page.problems.filter((line) => !/WebSocket connection to .* failed/.test(line));
  h.assertNoPageErrors(...pages);

  const figures = {
    call: names.length,
    downMs: restartedAt - killedAt,
    resumedAfterRestartMs: backAfter,
    // Per page and peer, frames decoded while the server was down.
    framesDuringOutage: pages.map((_, i) => frames(down[i]).map((n, j) => n - frames(atLoss[i])[j])),
  };
  h.recordTiming(`restart-${names.length}`, figures);
  t.diagnostic(JSON.stringify(figures));
}

test('a two-person call survives a server restart with default flags', { timeout: 180_000 }, async (t) => {
  await restartDuringCall(t, ['A', 'B'], { group: false });
});

test('a three-person mesh call survives a server restart with default flags', { timeout: 200_000 }, async (t) => {
  await restartDuringCall(t, ['A', 'B', 'C'], { group: true });
});
