// (t) Accessibility: axe-core finds no violation on any screen, on a
// desktop and on a phone: the start page, pre-join, the call (waiting,
// two people, chat with a message, each dialog) and the message pages
// (room full, you left, no such room; no WebRTC in s-first-visit).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

/** Opens a dialog with `open` (a click), checks it, and closes it with Escape. */
async function checkDialog(page, selector, open, where) {
  await open();
  await page.waitForSelector(`${selector}[open]`);
  await h.assertAccessible(page, where);
  await page.keyboard.press('Escape');
  await page.waitForSelector(`${selector}:not([open])`);
}

for (const device of ['desktop', 'phone']) {
  test(`accessibility on a ${device}: every screen`, { timeout: 180_000 }, async (t) => {
    const cleanup = h.cleanupAfter(t);
    const { url } = await h.startParlor(cleanup);
    const [a, b] = await h.launchPages(cleanup, url, ['A', 'B']);
    if (device === 'phone') {
      for (const page of [a, b]) await page.setViewport({ ...h.PHONE_VIEWPORT, isMobile: true, hasTouch: true });
    }

    await t.test('start page, pre-join, waiting', async () => {
      await h.open(a, url);
      await h.waitForScreen(a, 'start-screen');
      await h.assertAccessible(a, 'start page');
      const link = await h.createRoom(a);
      await h.assertAccessible(a, 'start page with a new room');
      await h.open(a, link);
      await h.waitForScreen(a, 'prejoin-screen');
      await h.waitForText(a, '#preview-note', /./);
      await h.assertAccessible(a, 'pre-join');
      await h.joinAs(a, 'Ada');
      await h.waitForScreen(a, 'call-screen');
      await h.assertAccessible(a, 'waiting for the other person');
      a.link = link;
    });

    await t.test('in a call: tiles, chat, dialogs', async () => {
      await h.joinRoom(b, a.link, 'Bob');
      await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);
      await h.assertAccessible(a, 'two people');
      await a.click('#toggle-chat');
      await a.type('#chat-input', 'Hello, can you hear me?');
      await a.keyboard.press('Enter');
      await h.waitForText(b, '#chat-log', /can you hear me/);
      await h.assertAccessible(a, 'chat open with a message');
      await a.click('#chat-close');
      await checkDialog(a, '#settings-dialog', () => a.click('#open-settings'), 'device settings');
      await checkDialog(a, '#quality-dialog', () => a.click('.tile[data-peer] button.quality'), 'call quality');
      await checkDialog(a, '#help-dialog', () => a.keyboard.press('?'), 'keyboard shortcuts');
      const late = await h.newPage(b.browser(), 'C');
      await h.open(late, a.link);
      await h.waitForScreen(late, 'message-screen');
      assert.equal(await h.text(late, '#message-title'), 'This room is full');
      await h.assertAccessible(late, 'room full');
      await late.close();
    });

    await t.test('message pages: left, room full, no such room', async () => {
      await b.click('#hang-up');
      await h.waitForScreen(b, 'message-screen');
      await h.assertAccessible(b, 'you left');
      await h.open(b, `${url}/r/NoSuchRoom0123456789ab`);
      await h.waitForScreen(b, 'message-screen');
      await h.assertAccessible(b, 'room does not exist');
    });
  });
}
