// (y) Several instances behind a load balancer, sharing rooms through Redis
// (lib/cluster.mjs: redis-server, three instances on 127.0.0.2/.3/.4,
// HAProxy on 127.0.0.1). Two Chromium in one call, their WebSockets on
// different instances:
//  1. the instance of one page is killed (SIGKILL): media keeps flowing
//     browser to browser; that page reconnects through the load balancer to
//     another instance and resumes its seat (resumed, so the same peer id),
//     nobody sees a leave or a join, both keep the one peer connection;
//  2. Redis is killed and started again with its data: media keeps flowing,
//     every instance's /healthz says 503 and then 200 again, and a new page
//     joins the call afterwards.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './lib/harness.mjs';
import { startCluster, connectionsPerInstance } from './lib/cluster.mjs';

const SECRET = 'e2e-cluster-secret-0123456789abcdef';

/** Records every welcome the page gets from now on (id, resumed) in window.__welcomes. */
function recordWelcomes(page) {
  return page.evaluate(() => {
    window.__welcomes = [];
    window.WebSocket = new Proxy(window.WebSocket, {
      construct(Target, args) {
        const socket = new Target(...args);
        socket.addEventListener('message', (event) => {
          const message = JSON.parse(event.data);
          if (message.type === 'welcome') window.__welcomes.push({ id: message.id, resumed: message.resumed === true });
        });
        return socket;
      },
    });
  });
}

const healthz = async (instance) => (await fetch(`${instance.url}/healthz`)).status;

test('a call across instances survives an instance and a Redis outage', { timeout: 180_000 }, async (t) => {
  const cleanup = h.cleanupAfter(t);
  const cluster = await startCluster(cleanup, { secret: SECRET, args: ['--resume-grace', '30s'] });
  const url = cluster.url;
  const [a, b, c] = await h.launchPages(cleanup, url, ['A', 'B', 'C'], h.LIGHT_MEDIA);
  const link = await h.hostRoom(a, url, 'Ada', { group: true });
  await h.joinRoom(b, link, 'Bob');
  await Promise.all([h.waitForMedia(a, 1), h.waitForMedia(b, 1)]);

  const received = (page) => page.evaluate(() => window.__parlorTest.received.slice());
  /** The page's peer connections: state and SDP session versions (they go up with every negotiation). */
  const negotiation = (page) =>
    page.evaluate(() =>
      window.__parlorTest.pcs.map((pc) => ({
        state: pc.connectionState,
        local: pc.localDescription?.sdp.match(/^o=\S+ \S+ (\d+)/m)[1] ?? null,
        remote: pc.remoteDescription?.sdp.match(/^o=\S+ \S+ (\d+)/m)[1] ?? null,
      })),
    );
  let victim = null;
  const moreFrames = async () => Promise.all([h.waitForMoreFrames(a, await h.mediaReport(a)), h.waitForMoreFrames(b, await h.mediaReport(b))]);

  await t.test('the instance of one page is killed: media goes on, that page resumes elsewhere unnoticed', async () => {
    const spread = await h.until(async () => {
      const counts = await connectionsPerInstance(cluster);
      return counts.filter((n) => n === 1).length === 2 && counts.includes(0) ? counts : null;
    }, { what: 'the two WebSockets on two different instances' });
    victim = spread.indexOf(1);
    await Promise.all([recordWelcomes(a), recordWelcomes(b)]);
    const before = await Promise.all([received(a), received(b)]);
    const negotiated = await Promise.all([negotiation(a), negotiation(b)]);
    const outage = [a.problems.length, b.problems.length];

    await cluster.instances[victim].kill();
    const killedAt = Date.now();
    const down = await Promise.all([h.mediaReport(a), h.mediaReport(b)]);
    await Promise.all([h.waitForMoreFrames(a, down[0]), h.waitForMoreFrames(b, down[1])]);
    // One page reconnects, through HAProxy, to one of the two left.
    const welcomes = await h.until(async () => {
      const got = await Promise.all([a, b].map((page) => page.evaluate(() => window.__welcomes)));
      return got.flat().length > 0 ? got : null;
    }, { timeout: 30_000, what: 'the page of the killed instance to join again' });
    const resumedWithin = Date.now() - killedAt;
    assert.ok(resumedWithin < 30_000, `resumed after ${resumedWithin} ms`);
    assert.equal(welcomes.flat().length, 1, `only the page of the killed instance joins again: ${JSON.stringify(welcomes)}`);
    assert.equal(welcomes.flat()[0].resumed, true, 'it resumed its seat, with its peer id');
    const counts = await connectionsPerInstance(cluster);
    assert.ok(Number.isNaN(counts[victim]), `the killed instance is gone: ${counts}`);
    assert.deepEqual(counts.filter((n) => n === 1).length, 2, `one page on each instance left: ${counts}`);

    h.forgiveOutageErrors(a, outage[0]);
    h.forgiveOutageErrors(b, outage[1]);
    for (const [i, page] of [a, b].entries()) {
      const since = (await received(page)).slice(before[i].length);
      assert.ok(!since.includes('peer-left') && !since.includes('peer-joined'), `${page.label}: ${since}`);
      assert.deepEqual(await negotiation(page), negotiated[i], `${page.label} kept its connection as it was`);
      assert.equal(await h.screen(page), 'call-screen', `${page.label} is still in the call`);
    }
    await h.waitForText(a, '#call-status', /^Connected with Bob\.$/, 10_000);
    await h.waitForText(b, '#call-status', /^Connected with Ada\.$/, 10_000);
    await moreFrames();
    assert.deepEqual(await h.tileNames(a), ['Bob']);
    assert.deepEqual(await h.tileNames(b), ['Ada']);
  });

  await t.test('Redis killed and restarted with its data: media goes on, /healthz says so, a newcomer joins after', async () => {
    const up = cluster.instances.filter((_, n) => n !== victim);
    for (const instance of up) assert.equal(await healthz(instance), 200, `${instance.url} is healthy`);
    const before = await Promise.all([received(a), received(b)]);
    const negotiated = await Promise.all([negotiation(a), negotiation(b)]);

    await cluster.redis.kill();
    for (const instance of up) {
      await h.until(async () => (await healthz(instance)) === 503, { what: `${instance.url}/healthz to say 503` });
    }
    await moreFrames();
    await cluster.redis.restart();
    for (const instance of up) {
      await h.until(async () => (await healthz(instance)) === 200, { what: `${instance.url}/healthz to say 200 again` });
    }
    await moreFrames();
    for (const [i, page] of [a, b].entries()) {
      const since = (await received(page)).slice(before[i].length);
      assert.ok(!since.includes('peer-left') && !since.includes('welcome'), `${page.label} kept its seat and connection: ${since}`);
      assert.deepEqual(await negotiation(page), negotiated[i], `${page.label} kept its peer connection as it was`);
    }

    await h.joinRoom(c, link, 'Cy');
    await h.waitForMedia(c, 2);
    await Promise.all([h.waitForMedia(a, 2), h.waitForMedia(b, 2)]);
    assert.deepEqual((await h.tileNames(c)).sort(), ['Ada', 'Bob']);
    h.assertNoPageErrors(a, b, c);
  });
});
