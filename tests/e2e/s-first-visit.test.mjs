// (s) Rough edges a first-time user met in a walkthrough (issue 13):
//  - a browser without WebRTC is told at once that it cannot make calls,
//    and which browsers can, on the start page and on a room's link;
//  - a full one-to-one call offers no invite (it would lead to "full");
//  - the chat's keyboard hint is not shown on a touch screen;
//  - a chat toast covers no one's self view, and goes once the chat opens;
//  - someone whose camera and microphone are both blocked is told the whole
//    truth when they click the mic, and the others see why they cannot see
//    or hear them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

/** Preload: a browser built without WebRTC (as Debian's WebKitGTK is). */
function withoutWebRtc() {
  delete window.RTCPeerConnection;
  delete window.webkitRTCPeerConnection;
}

/** Whether a toast on `page` overlaps its self view. */
function toastCoversSelf(page) {
  return page.evaluate(() => {
    const self = document.querySelector('#self').getBoundingClientRect();
    return [...document.querySelectorAll('#toasts .toast')].some((toast) => {
      const box = toast.getBoundingClientRect();
      return box.left < self.right && self.left < box.right && box.top < self.bottom && self.top < box.bottom;
    });
  });
}

test('first visits: no WebRTC, a full call, a touch screen, toasts, blocked devices', { timeout: 150_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { url } = await h.startParlor(cleanup);

  await t.test('a browser without WebRTC is told at once, before any device is asked for', async () => {
    const browser = await h.launchChromium(cleanup, { origin: url });
    const page = await h.newPage(browser, 'W');
    await page.evaluateOnNewDocument(withoutWebRtc);
    for (const address of [url, `${url}/r/AnyRoom0123456789abcd`]) {
      await h.open(page, address);
      await h.waitForScreen(page, 'message-screen');
      assert.equal(await h.text(page, '#message-title'), 'This browser cannot make calls');
      assert.match(await h.text(page, '#message-text'), /Chrome, Edge, Firefox or Safari/);
      await h.assertAccessible(page, 'no WebRTC');
      const seen = await page.evaluate(() => ({ gum: window.__parlorTest.gumCalls, ws: window.__parlorTest.sockets.length }));
      assert.deepEqual(seen, { gum: 0, ws: 0 }, address);
    }
    await browser.close();
  });

  await t.test('a one-to-one call: invite while waiting, none once full; no keyboard hint on touch', async () => {
    const [a, b] = await h.launchPages(cleanup, url, ['A', 'B']);
    // B is a phone: a touch screen, no pointer that hovers.
    await b.setViewport({ ...h.PHONE_VIEWPORT, isMobile: true, hasTouch: true });
    const link = await h.hostRoom(a, url, 'Ada');
    const invite = (page) => page.$eval('#invite', (node) => !node.hidden);
    assert.equal(await invite(a), true, 'waiting: the invite is offered');
    await h.joinRoom(b, link, 'Bob');
    await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);
    assert.equal(await invite(a), false, 'full: no invite for Ada');
    assert.equal(await invite(b), false, 'full: no invite for Bob');

    await a.click('#toggle-chat');
    await b.tap('#toggle-chat');
    assert.equal(await h.text(a, '#chat-hint'), 'Enter sends, Shift+Enter starts a new line.');
    assert.equal(await h.text(b, '#chat-hint'), '', 'no keyboard hint on a touch screen');

    // A message to someone whose chat is closed: a toast, clear of the self view.
    await a.click('#chat-close');
    await b.type('#chat-input', 'Can you see me?');
    await b.tap('#chat-send');
    await b.tap('#chat-close'); // on a phone the chat covers the call
    await a.waitForSelector('#toasts .toast-chat');
    assert.equal(await toastCoversSelf(a), false, 'the toast is clear of the self view on a desktop');
    await a.click('#toggle-chat');
    assert.equal(await a.$('#toasts .toast-chat'), null, 'the toast goes once the chat is open');
    await a.type('#chat-input', 'Yes!');
    await a.keyboard.press('Enter');
    await b.waitForSelector('#toasts .toast-chat');
    assert.equal(await toastCoversSelf(b), false, 'the toast is clear of the self view on a phone');

    await b.tap('#hang-up');
    await h.waitForScreen(b, 'message-screen');
    await a.waitForFunction(() => !document.querySelector('#invite').hidden, { timeout: 20_000 });
    h.assertNoPageErrors(a, b);
  });

  await t.test('camera and microphone blocked: the whole truth on both sides', async () => {
    const [a] = await h.launchPages(cleanup, url, ['A2']);
    const [b] = await h.launchPages(cleanup, url, ['B2'], { page: { denyMedia: true } });
    const link = await h.hostRoom(a, url, 'Ada');
    await h.open(b, link);
    await h.waitForText(b, '#preview-note', /^Camera blocked$/);
    await h.joinAs(b, 'Bob');
    await h.waitForText(a, '.tile[data-peer] .tile-state', /^Cannot be seen or heard: no camera or microphone works$/);
    await b.click('#toggle-mic');
    await b.waitForFunction(() => /camera and microphone are blocked/.test(document.querySelector('#toasts')?.textContent ?? ''));
    const toasts = await h.text(b, '#toasts');
    assert.doesNotMatch(toasts, /will see you/, toasts);
    h.assertNoPageErrors(a, b);
  });
});
