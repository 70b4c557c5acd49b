// (j) Text chat for everyone in the room (a protocol extension: the server
// relays `chat` to every member and keeps a bounded history per room).
// Two headless Chromium talk by typing: messages arrive with names and
// times, unread ones are counted, line breaks and links survive, everyone
// sees one order; a third person who joins later finds the history in the
// same order; empty and over-long messages are refused, by the page and by
// the server, and nothing typed is lost.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

/** The chat as the page shows it: one entry per message. */
function chatLog(page) {
  return page.$$eval('#chat-log .msg', (items) => {
    let name = null;
    return items.map((item) => {
      // A message that continues its sender's run shows no heading: the name is the run's.
      const head = item.querySelector('.msg-head');
      if (!item.classList.contains('cont')) name = head.querySelector('.msg-name').textContent;
      const time = head.querySelector('time');
      return {
        name,
        from: item.dataset.from,
        text: item.querySelector('.msg-text').textContent,
        html: item.querySelector('.msg-text').innerHTML,
        time: time.textContent,
        datetime: time.getAttribute('datetime'),
      };
    });
  });
}

async function waitForLog(page, count, timeout = 10_000) {
  return h.until(async () => {
    const log = await chatLog(page);
    return log.length === count ? log : { ok: false, count: log.length, log };
  }, { timeout, what: `${page.label}: ${count} chat message(s)` });
}

async function say(page, text) {
  await page.focus('#chat-input');
  for (const [i, line] of text.split('\n').entries()) {
    if (i > 0) {
      await page.keyboard.down('Shift');
      await page.keyboard.press('Enter');
      await page.keyboard.up('Shift');
    }
    await page.keyboard.type(line);
  }
  await page.keyboard.press('Enter');
}

/**
 * From now on counts the chat messages the page sends on its WebSocket
 * (window.__chatSent): whether the page sent something is then known as
 * soon as the key press is handled, without waiting to see if it arrives.
 */
function countChatSends(page) {
  return page.evaluate(() => {
    const ws = window.__parlorTest.sockets.at(-1);
    const send = ws.send.bind(ws);
    window.__chatSent = 0;
    ws.send = (text) => {
      if (JSON.parse(text).type === 'chat') window.__chatSent += 1;
      send(text);
    };
  });
}
const chatSent = (page) => page.evaluate(() => window.__chatSent);

const CLOCK = /^\d{1,2}:\d{2}( ?[AP]M)?$/;

test('chat: names, times, one order, and history for a late joiner', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const { pages, link } = await h.startCallWithLateJoiner(cleanup, ['Ada', 'Bob', 'Cy']);
  const [a, b, c] = pages;

  await t.test('a message reaches the other with a name and a time, and is counted while unread', async () => {
    assert.equal(await b.$eval('#chat-badge', (n) => n.hidden), true);
    await a.click('#toggle-chat');
    await a.waitForSelector('#chat-panel:not([hidden])');
    assert.equal(await a.$eval('#toggle-chat', (n) => n.getAttribute('aria-expanded')), 'true');
    assert.match(await h.text(a, '#chat-empty'), /seen by everyone in the call/);
    const sentAt = Date.now();
    await say(a, 'Hello Bob 👋');
    const mine = await waitForLog(a, 1);
    assert.equal(mine[0].name, 'You');
    assert.equal(mine[0].text, 'Hello Bob 👋');
    assert.match(mine[0].time, CLOCK);
    assert.equal(await a.$eval('#chat-input', (n) => n.value), '', 'the box is empty again');

    // B has the chat closed: a count on the button and a preview.
    await h.waitForText(b, '#chat-badge', /^1$/, 10_000);
    assert.equal(await b.$eval('#toggle-chat', (n) => n.getAttribute('aria-label')), 'Chat, 1 new message');
    assert.match(await h.text(b, '#toasts'), /Ada: Hello Bob 👋/);
    await b.click('#toggle-chat');
    assert.equal(await b.$eval('#chat-badge', (n) => n.hidden), true);
    const theirs = await waitForLog(b, 1);
    assert.equal(theirs[0].name, 'Ada');
    assert.equal(theirs[0].text, 'Hello Bob 👋');
    assert.equal(theirs[0].time, mine[0].time);
    const when = Date.parse(theirs[0].datetime);
    assert.ok(Math.abs(when - sentAt) < 60_000, `the time is the sending time (${theirs[0].datetime})`);
  });

  await t.test('line breaks and links survive; markup does not run', async () => {
    await say(b, 'Hi Ada!\nNotes: https://example.org/notes?id=7.\n<b>not bold</b>');
    const log = await waitForLog(a, 2);
    assert.equal(log[1].name, 'Bob');
    assert.equal(log[1].text, 'Hi Ada!\nNotes: https://example.org/notes?id=7.\n<b>not bold</b>');
    assert.doesNotMatch(log[1].html, /<b>/, 'markup is shown as text');
    const anchor = await a.$eval('#chat-log .msg:last-child a', (n) => ({ href: n.href, target: n.target, rel: n.rel, text: n.textContent }));
    assert.deepEqual(anchor, { href: 'https://example.org/notes?id=7', target: '_blank', rel: 'noopener noreferrer', text: 'https://example.org/notes?id=7' });
  });

  await t.test('messages sent at the same time arrive in one order for everyone', async () => {
    await Promise.all([
      (async () => {
        for (const text of ['a1', 'a2', 'a3']) await say(a, text);
      })(),
      (async () => {
        for (const text of ['b1', 'b2', 'b3']) await say(b, text);
      })(),
    ]);
    const [logA, logB] = await Promise.all([waitForLog(a, 8), waitForLog(b, 8)]);
    assert.deepEqual(logA.map((m) => m.text), logB.map((m) => m.text));
    assert.deepEqual(logA.slice(2).map((m) => m.text).filter((x) => x.startsWith('a')), ['a1', 'a2', 'a3']);
    assert.deepEqual(logA.slice(2).map((m) => m.text).filter((x) => x.startsWith('b')), ['b1', 'b2', 'b3']);
  });

  await t.test('a late joiner finds the history, in the same order, and joins in', async () => {
    const expected = await chatLog(a);
    await h.joinRoom(c, link, 'Cy');
    await h.waitForText(c, '#chat-badge', /^8$/, 15_000);
    await c.click('#toggle-chat');
    const history = await waitForLog(c, 8);
    assert.deepEqual(history.map((m) => m.text), expected.map((m) => m.text));
    assert.deepEqual(history.map((m) => m.from), expected.map((m) => m.from));
    assert.deepEqual(history.map((m) => m.datetime), expected.map((m) => m.datetime));
    assert.equal(history[0].name, 'Ada');
    assert.equal(history[1].name, 'Bob');
    await say(c, 'Hi both, sorry I am late');
    for (const page of [a, b, c]) {
      const log = await waitForLog(page, 9);
      assert.equal(log[8].name, page === c ? 'You' : 'Cy');
      assert.equal(log[8].text, 'Hi both, sorry I am late');
    }
    await h.waitForMedia(c, 2, 60_000);
    await h.waitForQuiet(c);
    await h.screenshot(c, 'chat.png');
  });

  await t.test('empty and over-long messages are refused, and nothing typed is lost', async () => {
    // Only white space: nothing is sent.
    await countChatSends(a);
    await say(a, '   ');
    assert.equal(await chatSent(a), 0, 'white space is not sent');
    // The box takes at most 2,000 characters...
    await a.$eval('#chat-input', (n) => {
      n.value = '';
    });
    await a.focus('#chat-input');
    await a.keyboard.sendCharacter('x'.repeat(2001));
    assert.equal(await a.$eval('#chat-input', (n) => n.value.length), 2000);
    assert.match(await h.text(a, '#chat-hint'), /2,000 of 2,000 characters/);
    // ...and the page refuses more if it gets there anyway.
    await a.$eval('#chat-input', (n) => {
      n.value = 'y'.repeat(2001);
    });
    await a.keyboard.press('Enter');
    assert.match(await h.text(a, '#chat-hint'), /at most 2,000 characters/);
    assert.equal(await a.$eval('#chat-input', (n) => n.value.length), 2001, 'the text stays in the box');
    assert.equal(await chatSent(a), 0, '2,001 characters are not sent');
    // The server refuses too (a message the page would never send).
    await a.$eval('#chat-hint', (n) => {
      n.textContent = '';
    });
    await a.evaluate(() => window.__parlorTest.sockets.at(-1).send(JSON.stringify({ type: 'chat', text: '' })));
    await h.waitForText(a, '#chat-hint', /was not sent/, 5000);
    // Exactly 2,000 characters go through; it is the only new message
    // everyone gets (the refused one, sent before it, reached no one).
    await a.$eval('#chat-input', (n) => {
      n.value = 'z'.repeat(2000);
    });
    await a.keyboard.press('Enter');
    for (const page of [a, b, c]) {
      const log = await waitForLog(page, 10);
      assert.equal(log[9].text, 'z'.repeat(2000), `${page.label}: the one new message`);
    }
  });

  await t.test('Escape closes the chat and gives focus back to its button', async () => {
    await a.focus('#chat-input');
    await a.keyboard.press('Escape');
    await a.waitForSelector('#chat-panel[hidden]');
    assert.equal(await a.evaluate(() => document.activeElement.id), 'toggle-chat');
    assert.equal(await a.$eval('#toggle-chat', (n) => n.getAttribute('aria-expanded')), 'false');
    h.assertNoPageErrors(a, b, c);
  });
});
