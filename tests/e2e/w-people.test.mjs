// (w) The people panel, renaming yourself, and the warning about poor
// connections, in a group call of three Chromium (C on a phone):
// - the panel, opened from the people count, lists everyone with their
//   state (muted, camera off, connection) and follows changes;
// - B renames itself: A's tile and panel show the new name, C (who joins
//   after) learns it from B's media state, and B's next visit starts with it;
// - the warning: the round-trip times the pages read from getStats() are
//   made long in the page (a preload: real loss cannot be made on a
//   loopback), for every connection of B ("Your connection is poor") and for
//   A's connection to B only ("B’s connection is poor").
// axe-core finds nothing in the panel, on a desktop and on a phone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

/**
 * Preload: getStats() of the page's peer connections reports a 900 ms
 * round trip on every candidate pair; with `firstOnly`, only for the first
 * connection that asks.
 */
function slowRoundTrips(firstOnly) {
  const original = RTCPeerConnection.prototype.getStats;
  RTCPeerConnection.prototype.getStats = async function (...args) {
    const report = await original.apply(this, args);
    window.__slowPc ??= this;
    if (args.length || (firstOnly && window.__slowPc !== this)) return report;
    const changed = new Map();
    report.forEach((value, key) => changed.set(key, value.type === 'candidate-pair' ? { ...value, currentRoundTripTime: 0.9 } : value));
    return changed;
  };
}

/** The people panel's rows: [{name, state}]. */
function panelRows(page) {
  return page.$$eval('#people-list .person', (rows) =>
    rows.map((row) => ({ name: row.querySelector('.person-name').textContent, state: row.querySelector('.person-state').textContent })),
  );
}

test('people panel, rename, and poor connections', { timeout: 150_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);
  const [a, b, c] = await h.launchPages(cleanup, url, ['A', 'B', 'C'], h.LIGHT_MEDIA);
  await a.evaluateOnNewDocument(slowRoundTrips, true);
  await b.evaluateOnNewDocument(slowRoundTrips, false);
  const link = await h.hostRoom(a, url, 'Ada', { group: true });
  await h.joinRoom(b, link, 'Bob');
  await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);

  await t.test('the panel opens from the people count and lists everyone', async () => {
    await a.click('#people-count');
    assert.equal(await a.$eval('#people-count', (n) => n.getAttribute('aria-expanded')), 'true');
    await a.waitForSelector('#people-panel:not([hidden])');
    await h.until(async () => (await panelRows(a)).length === 2, { what: 'A: two rows' });
    const rows = await panelRows(a);
    assert.deepEqual(rows.map((r) => r.name), ['Ada (you)', 'Bob']);
    await b.click('#toggle-mic');
    await h.until(async () => (await panelRows(a))[1].state.includes('Muted'), { what: 'A: Bob muted in the panel' });
    await b.click('#toggle-mic');
    await h.until(async () => !(await panelRows(a))[1].state.includes('Muted'), { what: 'A: Bob unmuted' });
    await h.assertAccessible(a, 'people panel');
  });

  await t.test('B renames itself: A sees the new name, and B keeps it for next time', async () => {
    await b.click('#people-count');
    const input = await b.waitForSelector('#rename-input');
    await input.click({ count: 3 });
    await b.keyboard.press('Backspace');
    await input.type('Bobby');
    await b.click('#rename');
    await h.until(async () => (await h.tileNames(a)).includes('Bobby'), { what: 'A: Bobby on the tile' });
    await h.until(async () => (await panelRows(a)).some((r) => r.name === 'Bobby'), { what: 'A: Bobby in the panel' });
    assert.equal(await a.$eval('#tiles .tile .muted-mic', (n) => n.getAttribute('aria-label')), 'Bobby’s microphone is off');
    assert.equal(await b.evaluate(() => localStorage.getItem('parlor.name')), 'Bobby');
    assert.equal((await panelRows(b))[0].name, 'Bobby (you)');
  });

  await t.test('a newcomer on a phone learns the new name; the panel on a phone', async () => {
    await c.setViewport({ ...h.PHONE_VIEWPORT, isMobile: true, hasTouch: true });
    await h.joinRoom(c, link, 'Cy');
    await h.waitForMedia(c, 2);
    await h.until(async () => (await h.tileNames(c)).sort().join() === 'Ada,Bobby', { what: 'C: Ada and Bobby' });
    await c.click('#people-count');
    await h.until(async () => (await panelRows(c)).length === 3, { what: 'C: three rows' });
    await h.assertAccessible(c, 'people panel on a phone');
    await h.waitForQuiet(c);
    await h.screenshot(c, 'people-phone.png');
    await c.click('#people-close');
    await c.waitForSelector('#people-panel', { hidden: true });
  });

  await t.test('poor connections: yours, or someone else’s, said in words', async () => {
    await h.waitForText(b, '#call-notice-text', /Your connection is poor/, 40_000);
    await h.waitForText(a, '#call-notice-text', /Bobby’s connection is poor/, 40_000);
    assert.equal(await a.$eval('#call-notice', (n) => n.hidden), false);
    // C measures its own connections: nothing to say.
    assert.doesNotMatch(await h.text(c, '#call-notice-text'), /poor/);
    await h.until(async () => (await panelRows(a)).some((r) => r.name === 'Bobby' && r.state.includes('Poor connection')), { what: 'A: poor in the panel' });
    await h.waitForQuiet(a);
    await h.screenshot(a, 'people-desktop.png');
  });

  await t.test('B’s next visit starts with the new name', async () => {
    await b.click('#hang-up');
    await h.waitForScreen(b, 'message-screen');
    await h.open(b, link);
    await b.waitForSelector('#prejoin-screen:not([hidden])');
    assert.equal(await b.$eval('#name', (n) => n.value), 'Bobby');
  });
  h.assertNoPageErrors(a, b, c);
});
