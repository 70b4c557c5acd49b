// (h) Four people in a group room, each in their own headless Chromium (a
// small fake camera, 320×180 at 10 fps, so four browsers fit on two
// cores). Everyone decodes everyone; the grid holds all four, you
// included; mute and camera state reach the others; the speaking indicator
// follows the voice; each tile has a connection indicator and a details
// dialog with live numbers and a chart; keyboard shortcuts work and leave
// typing alone. Takes the screenshots group-desktop.png (1280×800) and
// group-phone.png (390×844).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';

const NAMES = ['Ada', 'Bob', 'Cy', 'Dee'];
/** Four browsers each encode three and decode three streams: a light camera. */
const CAMERA = { width: 320, height: 180, frameRate: 10 };

/** Whether the page's tiles (remote ones and yours) sit in the stage without overlapping. */
function gridGeometry(page) {
  return page.evaluate(() => {
    const stage = document.getElementById('stage').getBoundingClientRect();
    const boxes = [...document.querySelectorAll('#tiles .tile, #tiles .self')].map((n) => n.getBoundingClientRect());
    const inside = boxes.every((b) => b.left >= stage.left - 1 && b.right <= stage.right + 1 && b.top >= stage.top - 1 && b.bottom <= stage.bottom + 1);
    let overlap = false;
    for (let i = 0; i < boxes.length; i += 1) {
      for (let j = i + 1; j < boxes.length; j += 1) {
        const [p, q] = [boxes[i], boxes[j]];
        if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1) overlap = true;
      }
    }
    const sizes = boxes.map((b) => `${Math.round(b.width)}x${Math.round(b.height)}`);
    return { layout: document.getElementById('stage').dataset.layout, count: boxes.length, inside, overlap, sizes, minWidth: Math.min(...boxes.map((b) => b.width)) };
  });
}

test('four people in a group room', { timeout: 300_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const started = Date.now();
  const { pages } = await h.startCall(cleanup, NAMES, {
    chromium: { fakeDevices: 'fps=10' },
    page: { camera: CAMERA },
  });
  const [a, b, c, d] = pages;
  t.diagnostic(`four pages joined in ${Date.now() - started} ms`);

  await t.test('everyone decodes video and audio from the three others', async (t) => {
    const since = Date.now();
    await Promise.all(pages.map((page) => h.waitForMedia(page, 3, 90_000)));
    t.diagnostic(`all twelve streams decoded ${Date.now() - since} ms after the last join`);
    for (const [i, page] of pages.entries()) {
      assert.deepEqual((await h.tileNames(page)).sort(), NAMES.filter((_, j) => j !== i).sort());
      assert.equal(await h.text(page, '#people-number'), '4');
      const geometry = await gridGeometry(page);
      assert.equal(geometry.layout, 'grid', `${page.label}: grid layout`);
      assert.equal(geometry.count, 4, `${page.label}: four tiles, yours included`);
      assert.ok(geometry.inside && !geometry.overlap, `${page.label}: tiles inside the stage, not overlapping: ${JSON.stringify(geometry)}`);
      assert.equal(new Set(geometry.sizes).size, 1, `${page.label}: tiles of one size: ${geometry.sizes}`);
    }
    await h.waitForText(a, '#call-status', /^Connected with Bob, Cy and Dee\.$/);
  });

  await t.test('mute and camera state reach the others', async () => {
    await c.click('#toggle-mic');
    await d.click('#toggle-cam');
    for (const page of [a, b]) {
      const states = await h.until(
        async () => {
          const all = await h.tileStates(page);
          const cy = all.find((s) => s.name === 'Cy');
          const dee = all.find((s) => s.name === 'Dee');
          return cy?.micOff && cy.mutedShown && dee?.noVideo ? all : null;
        },
        { timeout: 10_000, what: `${page.label}: Cy muted and Dee's camera off` },
      );
      const cy = states.find((s) => s.name === 'Cy');
      assert.equal(cy.mutedLabel, 'Cy’s microphone is off');
      assert.equal(cy.noVideo, false, 'Cy’s camera is still on');
      const dee = states.find((s) => s.name === 'Dee');
      assert.equal(dee.micOff, false, 'Dee’s microphone is still on');
      assert.equal(states.find((s) => s.name === (page === a ? 'Bob' : 'Ada')).micOff, false);
    }
    // D, whose camera is off, sees that too, and shows an avatar for itself.
    assert.equal(await d.$eval('#self', (n) => n.classList.contains('no-video')), true);
  });

  await t.test('the speaking indicator follows the voice', async () => {
    // The fake microphone beeps: Bob "speaks", Cy is muted. Watch A's tiles
    // (every change of a tile's class or level) until Bob has been seen
    // speaking and his level has changed 30 times (the meter updates at
    // most every 100 ms: three seconds or more).
    const seen = await a.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const seen = {};
          let changes = 0;
          let bobLevel = null;
          const look = () => {
            for (const tile of document.querySelectorAll('#tiles .tile')) {
              const name = tile.querySelector('.tile-name').textContent;
              const level = Number(tile.style.getPropertyValue('--level') || 0);
              seen[name] ??= { speaking: false, maxLevel: 0 };
              const speaking = tile.classList.contains('speaking');
              if (name === 'Bob' && level !== bobLevel) {
                changes += 1;
                bobLevel = level;
              }
              seen[name].speaking ||= speaking;
              seen[name].maxLevel = Math.max(seen[name].maxLevel, level);
            }
            if (changes >= 30 && seen.Bob?.speaking) {
              observer.disconnect();
              clearTimeout(timer);
              resolve(seen);
            }
          };
          const observer = new MutationObserver(look);
          observer.observe(document.getElementById('tiles'), { subtree: true, attributes: true, attributeFilter: ['class', 'style'] });
          const timer = setTimeout(() => {
            observer.disconnect();
            reject(new Error(`Bob's level changed ${changes} times: ${JSON.stringify(seen)}`));
          }, 20_000);
          look();
        }),
    );
    assert.equal(seen.Bob.speaking, true, `Bob shows as speaking: ${JSON.stringify(seen)}`);
    assert.ok(seen.Bob.maxLevel > 0.2, `Bob's level rises: ${JSON.stringify(seen)}`);
    assert.equal(seen.Cy.speaking, false, `muted Cy never shows as speaking: ${JSON.stringify(seen)}`);
  });

  await t.test('connection quality: an indicator per tile, details with live numbers and a chart', async () => {
    const states = await h.until(
      async () => {
        const all = await h.tileStates(a);
        return all.every((s) => /q-(good|fair|poor)/.test(s.quality)) ? all : null;
      },
      { timeout: 15_000, what: 'A: every tile rates its connection' },
    );
    // Four browsers on a small machine: round trips can reach seconds, so
    // any rating will do here; the numbers must be there.
    const bob = states.find((s) => s.name === 'Bob');
    await a.click(`#tiles .tile[data-peer="${bob.peer}"] .quality`);
    await a.waitForSelector('#quality-dialog[open]');
    try {
      await checkQualityDialog(bob);
    } finally {
      // Whatever happened, the next tests need the dialog closed.
      await a.evaluate(() => document.getElementById('quality-dialog').close());
    }
  });

  async function checkQualityDialog(bob) {
    assert.equal(await a.$eval('#quality-peer', (s) => s.selectedOptions[0].textContent), 'Bob');
    // Two samples at least, so that rates exist.
    const facts = await h.until(
      async () => {
        const text = await a.$eval('#quality-facts', (n) => n.innerText);
        return /Bitrate in\s+\d/.test(text) && /camera\s+\d+×\d+/.test(text) ? text : null;
      },
      { timeout: 15_000, what: 'A: the details have numbers' },
    );
    assert.match(facts, /Round trip\s+\d+ ms/);
    assert.match(facts, /Packet loss\s+\d+(\.\d)? % received, (\d+(\.\d)? %|—) sent/);
    assert.match(facts, /Bitrate in\s+[\d.]+ (kbit|Mbit)\/s/);
    assert.match(facts, /Bitrate out\s+[\d.]+ (kbit|Mbit)\/s/);
    assert.match(facts, /Bob’s camera\s+\d+×\d+/);
    assert.match(facts, /Path\s+Direct, local network \(UDP, host ↔ host\)/);
    assert.match(await h.text(a, '#quality-summary'), /The connection to Bob is (good|fair|poor)\./);
    assert.match(await a.$eval(`#tiles .tile[data-peer="${bob.peer}"] .quality`, (n) => n.getAttribute('aria-label')), /^Connection to Bob: (good|fair|poor)\. Show details$/);
    // The chart grows a sample every two seconds; the blue "received" line
    // must show.
    await h.until(
      () =>
        a.$eval('#quality-chart', (canvas) => {
          const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
          let blue = 0;
          for (let i = 0; i < data.length; i += 4) if (data[i + 2] > 200 && data[i] < 160) blue += 1;
          return blue > 40;
        }),
      { timeout: 10_000, what: 'A: the chart draws the received bitrate' },
    );
    assert.match(await a.$eval('#quality-chart', (n) => n.getAttribute('aria-label')), /^Chart: received [\d.]+ (kbit|Mbit)\/s, sent/);
    // Another person from the dialog's own list.
    await a.select('#quality-peer', (await h.tileStates(a)).find((s) => s.name === 'Cy').peer);
    await h.waitForText(a, '#quality-summary', /connection to Cy/);
    await a.keyboard.press('Escape');
    await a.waitForSelector('#quality-dialog:not([open])');
  }

  await t.test('keyboard shortcuts, which leave typing alone', async () => {
    await a.focus('#toggle-mic');
    await a.evaluate(() => document.activeElement.blur());
    await a.keyboard.press('m');
    await h.waitForText(a, '#toggle-mic .label', /^Unmute$/, 5000);
    await b.waitForFunction(
      () => [...document.querySelectorAll('#tiles .tile')].find((t) => t.querySelector('.tile-name').textContent === 'Ada')?.classList.contains('mic-off'),
      { timeout: 10_000 },
    );
    await a.keyboard.press('m');
    await h.waitForText(a, '#toggle-mic .label', /^Mute$/, 5000);
    // Ctrl+E: the camera, as in Google Meet.
    await a.keyboard.down('Control');
    await a.keyboard.press('e');
    await a.keyboard.up('Control');
    await h.waitForText(a, '#toggle-cam .label', /^Start video$/, 5000);
    await a.keyboard.down('Control');
    await a.keyboard.press('e');
    await a.keyboard.up('Control');
    await h.waitForText(a, '#toggle-cam .label', /^Stop video$/, 10_000);
    // C opens the chat; typing there is typing, not shortcuts.
    await a.keyboard.press('c');
    await a.waitForSelector('#chat-panel:not([hidden])');
    assert.equal(await a.evaluate(() => document.activeElement.id), 'chat-input');
    await a.keyboard.type('mvsc?');
    assert.equal(await a.$eval('#chat-input', (n) => n.value), 'mvsc?');
    assert.equal(await h.text(a, '#toggle-mic .label'), 'Mute');
    assert.equal(await h.text(a, '#toggle-cam .label'), 'Stop video');
    assert.equal(await h.text(a, '#toggle-share .label'), 'Share screen');
    await a.$eval('#chat-input', (n) => {
      n.value = '';
    });
    await a.keyboard.press('Escape');
    await a.waitForSelector('#chat-panel[hidden]');
    // ? lists the shortcuts.
    await a.keyboard.press('?');
    await a.waitForSelector('#help-dialog[open]');
    const help = await a.$eval('#shortcut-rows', (n) => n.innerText);
    for (const line of [/M or Ctrl\s*\+\s*D\s+Turn the microphone/, /V or Ctrl\s*\+\s*E\s+Turn the camera/, /S\s+Share your screen/, /C\s+Open or close the chat/]) {
      assert.match(help, line);
    }
    await a.keyboard.press('Escape');
    await a.waitForSelector('#help-dialog:not([open])');
    // Every control has a name and tells its shortcut.
    const controls = await a.$$eval('.controls button', (buttons) =>
      buttons.map((btn) => ({ id: btn.id, name: (btn.getAttribute('aria-label') || btn.textContent).trim(), title: btn.title, keys: btn.getAttribute('aria-keyshortcuts') })),
    );
    for (const control of controls) assert.ok(control.name, `${control.id} has an accessible name`);
    assert.match(controls.find((x) => x.id === 'toggle-mic').title, /\(M\)/);
    assert.match(controls.find((x) => x.id === 'toggle-share').keys, /S/);
  });

  await t.test('screenshots on a desktop and on a phone', async (t) => {
    // Bob talks, Cy is muted, Dee's camera is off; Ada (this page) and Dee
    // mute too, so the one speaking stands out.
    await a.click('#toggle-mic');
    await d.click('#toggle-mic');
    await h.until(async () => (await h.tileStates(a)).filter((s) => s.micOff).length === 2, { what: 'A: two muted tiles' });
    await h.waitForQuiet(a);
    // Taken while Bob's tile shows him speaking (at a beep).
    await a.waitForSelector('#tiles .tile.speaking', { timeout: 10_000 });
    await h.waitForVideoFrames(a);
    await h.screenshot(a, 'group-desktop.png');

    await a.setViewport(h.PHONE_VIEWPORT);
    // The grid is laid out anew for the phone's width.
    const geometry = await h.until(
      async () => {
        const g = await gridGeometry(a);
        const stage = await a.evaluate(() => document.getElementById('stage').getBoundingClientRect().width);
        return stage <= h.PHONE_VIEWPORT.width && g.count === 4 && g.inside && !g.overlap ? g : { ok: false, stage, ...g };
      },
      { timeout: 10_000, what: 'phone: four tiles inside the stage, not overlapping' },
    );
    await h.waitForVideoFrames(a);
    assert.ok(geometry.minWidth > 150, `phone: tiles big enough to see a face: ${geometry.sizes}`);
    const fit = await a.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      controls: [...document.querySelectorAll('.controls button:not([hidden])')].map((n) => {
        const r = n.getBoundingClientRect();
        return { id: n.id, left: r.left, right: r.right, width: r.width };
      }),
    }));
    assert.ok(fit.scrollWidth <= 390, `no sideways scrolling (${fit.scrollWidth})`);
    for (const control of fit.controls) {
      assert.ok(control.left >= 0 && control.right <= 390 && control.width >= 40, `${control.id} fits and can be tapped: ${JSON.stringify(control)}`);
    }
    t.diagnostic(`phone tiles: ${geometry.sizes.join(', ')}`);
    // Ada is muted and her fake microphone beeps: the "you are muted" hint
    // may be up; the picture is of the call, not of the hint.
    await h.waitForQuiet(a);
    await h.screenshot(a, 'group-phone.png');
    await a.setViewport(h.VIEWPORT);
    await a.click('#toggle-mic');
    await d.click('#toggle-mic');
  });

  await t.test('one leaves, the others close up', async () => {
    await d.click('#hang-up');
    await h.waitForScreen(d, 'message-screen');
    for (const page of [a, b, c]) {
      await h.waitForText(page, '#people-number', /^3$/);
      const report = await h.waitForMedia(page, 2);
      await h.waitForMoreFrames(page, report);
      const geometry = await gridGeometry(page);
      assert.equal(geometry.count, 3);
      assert.ok(geometry.inside && !geometry.overlap, JSON.stringify(geometry));
    }
    h.assertNoPageErrors(a, b, c, d);
  });
});
