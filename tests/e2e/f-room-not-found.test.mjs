// (f) A room nobody created: opening its link, or pasting it on the start
// page, shows "This room does not exist" without asking for the camera or
// microphone; text that is not a link or id is refused on the start page.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

test('made-up room id: "room does not exist"', { timeout: 120_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);
  const browser = await h.launchChromium(cleanup, { origin: url });
  const page = await h.newPage(browser, 'X');

  await t.test('opening the link', async () => {
    await h.open(page, `${url}/r/NoSuchRoom0123456789ab`);
    await h.waitForScreen(page, 'message-screen');
    assert.equal(await h.text(page, '#message-title'), 'This room does not exist');
    assert.match(await h.text(page, '#message-text'), /Check the link/);
    const seen = await page.evaluate(() => ({
      gum: window.__parlorTest.gumCalls,
      ws: window.__parlorTest.sockets.length,
      title: document.title,
    }));
    assert.deepEqual(seen, { gum: 0, ws: 0, title: 'This room does not exist · Parlor' });
  });

  await t.test('the page offers a way back to the start page', async () => {
    await page.click('#message-actions a');
    await h.waitForScreen(page, 'start-screen');
    assert.equal(new URL(page.url()).pathname, '/');
  });

  await t.test('pasting something that is not a link', async () => {
    await page.type('#join-input', 'hello there!');
    await page.keyboard.press('Enter');
    await h.waitForText(page, '#join-error', /does not look like a Parlor link/);
    assert.equal(await h.screen(page), 'start-screen');
    assert.equal(await page.$eval('#join-input', (input) => input.getAttribute('aria-invalid')), 'true');
  });

  await t.test('pasting a link to a room that does not exist', async () => {
    await page.click('#join-input', { count: 3 });
    await page.type('#join-input', `${url}/r/MadeUpRoom_-42`);
    await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('#join-go')]);
    assert.equal(new URL(page.url()).pathname, '/r/MadeUpRoom_-42');
    await h.waitForScreen(page, 'message-screen');
    assert.equal(await h.text(page, '#message-title'), 'This room does not exist');
    assert.equal(await page.evaluate(() => window.__parlorTest.gumCalls), 0);
  });
});
