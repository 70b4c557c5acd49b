// Unit tests of Call (static/js/call/call.js), the rules of the room,
// against a fake signaling connection, run by Node on the fakes of
// lib/client-fakes.mjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHAT_MAX } from '../../static/js/call/call.js';
import { ProtocolError } from '../../static/js/network/signaling.js';
import { roomKindOf, canJoinKind } from '../../static/js/network/room-kind.js';
import {
  settle,
  event,
  REMOTE_OFFER,
  welcome,
  newCall,
  runRetry,
} from './lib/client-fakes.mjs';

test('call: on welcome the newcomer offers to everyone listed, impolitely', async () => {
  const { call, connections, pcs, events, signals } = newCall({
    answers: [welcome({ peers: [{ id: 'a', name: ' Bob ' }, { id: 'b' }, { id: 'me' }] })],
  });
  const phases = [];
  call.addEventListener('phase', () => phases.push(call.phase));
  await call.start();
  await settle();
  assert.deepEqual(phases, ['connecting', 'joined']);
  assert.equal(call.selfId, 'me');
  assert.deepEqual(connections[0].sent[0], { type: 'join', room: 'r1', name: 'Ada' });
  assert.deepEqual([...call.peers.keys()], ['a', 'b'], 'everyone but us');
  assert.equal(call.peers.get('a').name, 'Bob');
  assert.equal(call.peers.get('b').name, null);
  assert.ok([...call.peers.values()].every((peer) => !peer.polite), 'the newcomer is impolite');
  assert.deepEqual(pcs[0].config, { iceServers: [{ urls: 'stun:192.0.2.1' }] }, 'the welcome’s ICE servers');
  for (const id of ['a', 'b']) {
    assert.equal(signals(id, 'description').length, 1, `an offer to ${id}`);
    assert.equal(signals(id, 'description')[0].data.description.type, 'offer');
    assert.deepEqual(signals(id, 'media')[0].data.media, { audio: true, video: true, screen: false }, 'our media state');
  }
  assert.deepEqual(events.map((e) => e.type), ['peer-added', 'peer-added']);
  // Our media changes reach everyone.
  call.setMic(false);
  assert.deepEqual(signals('a', 'media').at(-1).data.media, { audio: false, video: true, screen: false });
  assert.deepEqual(signals('b', 'media').at(-1).data.media, { audio: false, video: true, screen: false });
});

test('call: peer-joined, peer-left, a known id joining again, and signals to the right peer', async () => {
  const { call, connections, pcs, events, signals } = newCall();
  await call.start();
  const server = connections[0];
  server.receive('peer-joined', { peer: { id: 'c', name: 'Cy' } });
  server.receive('peer-joined', { peer: { id: 'me' } });
  await settle();
  assert.deepEqual([...call.peers.keys()], ['c'], 'our own id is not a peer');
  const cy = call.peers.get('c');
  assert.equal(cy.polite, true, 'who was here first is polite');
  assert.equal(signals('c', 'description').length, 0, 'and waits for the newcomer’s offer');
  assert.equal(signals('c', 'media').length, 1);

  server.receive('signal', { from: 'c', data: { description: REMOTE_OFFER } });
  await settle();
  assert.equal(signals('c', 'description')[0].data.description.type, 'answer', 'the offer is answered to its sender');

  // The same id joining again has started over: so do we.
  server.receive('peer-joined', { peer: { id: 'c', name: 'Cy' } });
  assert.notEqual(call.peers.get('c'), cy);
  assert.equal(pcs[0].closed, true);
  assert.deepEqual(events.slice(-2).map((e) => [e.type, e.reason]), [['peer-removed', 'reconnect'], ['peer-added', undefined]]);

  server.receive('peer-left', { id: 'c' });
  server.receive('peer-left', { id: 'nobody' });
  assert.equal(call.peers.size, 0);
  assert.equal(pcs[1].closed, true);
  assert.deepEqual([events.at(-1).type, events.at(-1).reason], ['peer-removed', 'left']);

  // A signal from someone never announced: taken as a newcomer.
  server.receive('signal', { from: 'd', data: { description: REMOTE_OFFER } });
  await settle();
  assert.equal(call.peers.get('d').polite, true);
  assert.equal(signals('d', 'description')[0].data.description.type, 'answer');
});

test('call: chat history and live messages, once each and in time order; sending and refusals', async () => {
  const { call, connections, events } = newCall();
  await call.start();
  const server = connections[0];
  const shown = [];
  call.addEventListener('chat', (e) => shown.push(e.detail));
  server.receive('chat', { from: 'a', name: 'Bob', text: 'first', time: 1000, history: true });
  server.receive('chat', { from: 'me', name: 'Ada', text: 'mine', time: 3000 });
  server.receive('chat', { from: 'a', name: ' ', text: 'late', time: 2000 });
  server.receive('chat', { from: 'a', name: 'Bob', text: 'first', time: 1000, history: true });
  server.receive('chat', { from: 'a', text: 42, time: 4000 });
  assert.deepEqual(call.messages.map((m) => m.text), ['first', 'late', 'mine']);
  assert.deepEqual(shown.map((s) => [s.message.text, s.index]), [['first', 0], ['mine', 1], ['late', 1]]);
  assert.deepEqual(call.messages.map((m) => [m.self, m.history, m.name]), [[false, true, 'Bob'], [false, false, null], [true, false, 'Ada']]);

  assert.equal(call.sendChat('   '), false, 'only white space');
  assert.equal(call.sendChat('x'.repeat(CHAT_MAX + 1)), false, 'too long');
  assert.equal(call.sendChat(`  ${'y'.repeat(CHAT_MAX)} `), true);
  assert.deepEqual(server.sent.at(-1), { type: 'chat', text: 'y'.repeat(CHAT_MAX) }, 'trimmed');
  server.receive('error', { ref: 'chat', code: 'rate-limited' });
  server.receive('error', { ref: 'join', code: 'room-full' });
  assert.deepEqual(events.filter((e) => e.type === 'chat-error'), [{ type: 'chat-error', code: 'rate-limited' }]);

  server.drop();
  assert.equal(call.sendChat('while away'), false, 'no server, no chat');
  call.hangUp();
});

test('call: after a dropped connection it resumes its seat with the token; peers and their connections stay', async (t) => {
  const { call, server, connections, pcs, events, signals } = newCall({
    answers: [welcome({ peers: [{ id: 'a', name: 'Bob' }, { id: 'b', name: 'Cy' }] })],
  });
  await call.start();
  await settle();
  const bob = call.peers.get('a');
  t.mock.timers.enable({ apis: ['setTimeout'] });

  connections[0].drop();
  assert.equal(call.phase, 'reconnecting');
  assert.equal(call.peers.get('a'), bob, 'the peers stay while the server is away');
  assert.equal(pcs[0].closed, false);
  // What we signal meanwhile waits for the seat.
  pcs[0].dispatchEvent(event('icecandidate', { candidate: { toJSON: () => ({ candidate: 'candidate:away' }) } }));
  assert.equal(signals('a', 'candidate').length, 0);

  server.answers.push((join) => {
    assert.equal(join.resume, 'seat-1', 'the token of the last welcome');
    return welcome({ resumed: true, resume: 'seat-2', peers: [{ id: 'a', name: 'Bob' }, { id: 'd', name: 'Dee' }] });
  });
  await runRetry(t);
  assert.equal(connections.length, 2);
  assert.equal(call.phase, 'joined');
  assert.equal(call.peers.get('a'), bob, 'the same Peer, the same connection');
  assert.equal(pcs[0].closed, false);
  assert.deepEqual(connections[1].sent.filter((m) => m.type === 'signal' && 'candidate' in m.data).map((m) => m.to), ['a'], 'the queued signal is sent');
  assert.equal(call.peers.has('b'), false, 'who left meanwhile is gone');
  assert.equal(pcs[1].closed, true);
  assert.equal(call.peers.get('d').polite, true, 'who came meanwhile offers to us');
  assert.deepEqual(
    events.filter((e) => e.type === 'peer-removed').map((e) => [e.peer.id, e.reason]),
    [['b', 'left']],
    'nobody else is removed',
  );

  // The next drop uses the newest token.
  server.answers.push(welcome({ resumed: true, peers: [{ id: 'a' }, { id: 'd' }] }));
  connections[1].drop();
  await runRetry(t);
  assert.equal(connections[2].sent[0].resume, 'seat-2');
  assert.equal(call.phase, 'joined');
  assert.equal(call.peers.get('a'), bob);
  call.hangUp();
});

test('call: when the seat is gone it joins afresh and negotiates again with everyone', async (t) => {
  const { call, server, connections, pcs, events, signals } = newCall({
    answers: [welcome({ peers: [{ id: 'a', name: 'Bob' }] })],
  });
  await call.start();
  await settle();
  const bob = call.peers.get('a');
  t.mock.timers.enable({ apis: ['setTimeout'] });
  connections[0].drop();
  // The server does not take the token (restarted with another key)...
  server.answers.push(new ProtocolError('bad-request', 'not a genuine token'));
  // ...so the next attempt has none, and gets a fresh seat.
  server.answers.push(welcome({ id: 'me2', peers: [{ id: 'a', name: 'Bob' }] }));
  await runRetry(t);
  await runRetry(t, 10);
  assert.equal(connections.length, 3);
  assert.deepEqual(connections.map((c) => c.sent[0].resume), [undefined, 'seat-1', undefined]);
  assert.equal(call.phase, 'joined');
  assert.equal(call.selfId, 'me2');
  const again = call.peers.get('a');
  assert.notEqual(again, bob, 'a new connection to everyone');
  assert.equal(pcs[0].closed, true);
  assert.equal(again.polite, false, 'as the newcomer');
  assert.deepEqual(events.filter((e) => e.type === 'peer-removed').map((e) => e.reason), ['reconnect']);
  await settle();
  assert.equal(signals('a', 'description').at(-1).data.description.type, 'offer');
  call.hangUp();
});

test('call: a restarted server gives our seat back with our id: connections that carry media stay, the rest start over', async (t) => {
  const { call, server, connections, pcs, events, signals } = newCall({
    answers: [welcome({ peers: [{ id: 'a', name: 'Bob' }, { id: 'b', name: 'Cy' }, { id: 'c', name: 'Dee' }] })],
  });
  await call.start();
  await settle();
  const [bob, cy, dee] = ['a', 'b', 'c'].map((id) => call.peers.get(id));
  pcs[0].setConnectionState('connected');
  pcs[1].setConnectionState('disconnected');
  pcs[2].setConnectionState('failed');
  const offers = (id) => signals(id, 'description').filter((m) => m.data.description.type === 'offer').length;
  const before = { a: offers('a'), b: offers('b'), c: offers('c') };
  t.mock.timers.enable({ apis: ['setTimeout'] });
  connections[0].drop();
  call.setMic(false); // written while away
  // The server restarted: it takes the token, makes the room again and
  // seats us with our id, as a join (no "resumed"). Bob is not back yet.
  server.answers.push(welcome({ resume: 'seat-2', peers: [{ id: 'b', name: 'Cy' }, { id: 'c', name: 'Dee' }, { id: 'e', name: 'Eve' }] }));
  await runRetry(t);
  assert.equal(call.phase, 'joined');
  assert.equal(call.peers.get('a'), bob, 'media flows to Bob: kept, though he is not back yet');
  assert.equal(call.peers.get('b'), cy, 'a connection that blinked is kept too');
  assert.notEqual(call.peers.get('c'), dee, 'a failed one starts over');
  assert.equal(call.peers.get('c').polite, false, 'with us as the newcomer');
  assert.equal(call.peers.get('e').polite, false, 'and so does someone new');
  assert.deepEqual([pcs[0].closed, pcs[1].closed, pcs[2].closed], [false, false, true]);
  assert.deepEqual(
    events.filter((e) => e.type === 'peer-removed').map((e) => [e.peer.id, e.reason]),
    [['c', 'reconnect']],
  );
  await settle();
  assert.equal(offers('a'), before.a, 'no renegotiation with Bob');
  assert.equal(offers('b'), before.b, 'nor with Cy');
  assert.equal(offers('c'), before.c + 1);
  assert.equal(offers('e'), 1);
  assert.deepEqual(connections[1].sent.filter((m) => m.to === 'b' && 'media' in m.data).at(-1).data.media.audio, false, 'Cy hears our state now');

  // Bob comes back with his id: his connection goes on, he hears our state.
  const removed = events.filter((e) => e.type === 'peer-removed').length;
  connections[1].receive('peer-joined', { peer: { id: 'a', name: 'Bob' } });
  await settle();
  assert.equal(call.peers.get('a'), bob);
  assert.equal(pcs[0].closed, false);
  assert.equal(events.filter((e) => e.type === 'peer-removed').length, removed);
  assert.equal(signals('a', 'media').at(-1).data.media.audio, false);
  assert.equal(offers('a'), before.a);
  call.hangUp();
});

test('call: a peer kept across a restart that never comes back is gone once its connection fails', async (t) => {
  const { call, server, connections, pcs, events } = newCall({
    answers: [welcome({ peers: [{ id: 'a', name: 'Bob' }, { id: 'b', name: 'Cy' }] })],
  });
  await call.start();
  await settle();
  pcs[0].setConnectionState('connected');
  pcs[1].setConnectionState('connected');
  t.mock.timers.enable({ apis: ['setTimeout'] });
  connections[0].drop();
  server.answers.push(welcome({ peers: [] }));
  await runRetry(t);
  assert.deepEqual([...call.peers.keys()], ['a', 'b'], 'both kept while media flows');
  // Cy comes back; Bob closed his tab while the server was down.
  connections[1].receive('peer-joined', { peer: { id: 'b', name: 'Cy' } });
  pcs[1].setConnectionState('failed');
  assert.equal(call.peers.has('b'), true, 'one who came back is mended by an ICE restart, not dropped');
  pcs[0].setConnectionState('disconnected');
  assert.equal(call.peers.has('a'), true);
  pcs[0].setConnectionState('failed');
  assert.equal(call.peers.has('a'), false);
  assert.deepEqual(
    events.filter((e) => e.type === 'peer-removed').map((e) => [e.peer.id, e.reason]),
    [['a', 'left']],
  );
  call.hangUp();
});

test('call: a known id joining again keeps its connection while it carries media', async () => {
  const { call, connections, pcs, events } = newCall();
  await call.start();
  connections[0].receive('peer-joined', { peer: { id: 'c', name: 'Cy' } });
  const cy = call.peers.get('c');
  pcs[0].setConnectionState('connected');
  connections[0].receive('peer-joined', { peer: { id: 'c', name: 'Cy' } });
  assert.equal(call.peers.get('c'), cy);
  assert.equal(pcs[0].closed, false);
  assert.deepEqual(events.map((e) => e.type), ['peer-added']);
  call.hangUp();
});

test('call: refusals at the start end the call (room full, unreachable)', async () => {
  const full = newCall({ answers: [new ProtocolError('room-full', 'the room is full')] });
  await assert.rejects(full.call.start(), (error) => error.code === 'room-full');
  assert.equal(full.call.phase, 'ended');
  assert.equal(full.connections[0].closed, true);
  assert.equal(full.call.peers.size, 0);

  const away = newCall();
  away.server.unreachable = true;
  await assert.rejects(away.call.start(), (error) => error.code === 'unreachable');
  assert.equal(away.call.phase, 'ended');
});

test('call: a room gone while reconnecting ends a call with no media left; other refusals are retried', async (t) => {
  const { call, server, connections, pcs, events } = newCall({ answers: [welcome({ peers: [{ id: 'a' }] })] });
  await call.start();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  connections[0].drop();
  // Our old seat may still be held for a moment: room-full is tried again.
  server.answers.push(new ProtocolError('room-full', 'the room is full'));
  await runRetry(t);
  assert.equal(call.phase, 'reconnecting');
  server.unreachable = true;
  await runRetry(t, 1500);
  assert.equal(call.phase, 'reconnecting');
  server.unreachable = false;
  server.answers.push(new ProtocolError('room-not-found', 'no such room'));
  await runRetry(t, 3000);
  assert.equal(call.phase, 'ended');
  assert.deepEqual(events.filter((e) => e.type === 'fatal'), [{ type: 'fatal', code: 'room-not-found' }]);
  assert.equal(pcs[0].closed, true);
  assert.equal(call.peers.size, 0);
  const attempts = connections.length;
  await runRetry(t, 20_000);
  assert.equal(connections.length, attempts, 'no more attempts once ended');
});

test('call: a room gone while media flows keeps the call, says so, and keeps trying', async (t) => {
  const { call, server, connections, pcs, events } = newCall({ answers: [welcome({ peers: [{ id: 'a' }] })] });
  await call.start();
  pcs[0].setConnectionState('connected');
  t.mock.timers.enable({ apis: ['setTimeout'] });
  connections[0].drop();
  assert.equal(call.refusal, null, 'out of reach is not a refusal');
  server.answers.push(new ProtocolError('room-not-found', 'no such room'));
  await runRetry(t);
  assert.equal(call.phase, 'reconnecting');
  assert.equal(call.refusal, 'room-not-found');
  assert.equal(pcs[0].closed, false, 'the peer connection is kept');
  assert.deepEqual(events.filter((e) => e.type === 'fatal'), []);
  // Still refused later, with backoff: the call goes on.
  const attempts = connections.length;
  server.answers.push(new ProtocolError('room-not-found', 'no such room'));
  await runRetry(t, 1500);
  assert.equal(connections.length, attempts + 1, 'tried again');
  assert.equal(call.phase, 'reconnecting');
  // The media ends: the next refusal ends the call.
  pcs[0].setConnectionState('failed');
  server.answers.push(new ProtocolError('room-not-found', 'no such room'));
  await runRetry(t, 3000);
  assert.equal(call.phase, 'ended');
  assert.deepEqual(events.filter((e) => e.type === 'fatal'), [{ type: 'fatal', code: 'room-not-found' }]);
});

test('call: the room kind is mesh unless named; a kind it cannot join is refused and the seat given back', async (t) => {
  assert.equal(roomKindOf({}), 'mesh');
  assert.equal(roomKindOf(null), 'mesh');
  assert.equal(roomKindOf({ kind: 'sfu' }), 'sfu');
  assert.equal(canJoinKind('mesh'), true);
  assert.equal(canJoinKind('sfu'), false);

  const plain = newCall();
  assert.equal(plain.call.kind, 'mesh', 'before the welcome');
  await plain.call.start();
  assert.equal(plain.call.kind, 'mesh', 'a welcome without kind');
  plain.call.hangUp();

  const named = newCall({ kind: 'mesh', answers: [welcome({ kind: 'mesh' })] });
  await named.call.start();
  assert.equal(named.call.kind, 'mesh');
  named.call.hangUp();

  const sfu = newCall({ answers: [welcome({ kind: 'sfu', peers: [{ id: 'a' }] })] });
  await assert.rejects(sfu.call.start(), (error) => error instanceof ProtocolError && error.code === 'unsupported-room-kind');
  assert.equal(sfu.call.kind, 'sfu');
  assert.equal(sfu.call.phase, 'ended');
  assert.equal(sfu.call.peers.size, 0, 'no mesh is tried');
  assert.equal(sfu.pcs.length, 0);
  assert.deepEqual(sfu.connections[0].sent.map((m) => m.type), ['join', 'leave']);

  // The same while reconnecting: fatal.
  const later = newCall({ answers: [welcome({ peers: [{ id: 'a' }] })] });
  await later.call.start();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  later.connections[0].drop();
  later.server.answers.push(welcome({ kind: 'sfu' }));
  await runRetry(t);
  assert.equal(later.call.phase, 'ended');
  assert.deepEqual(later.events.filter((e) => e.type === 'fatal'), [{ type: 'fatal', code: 'unsupported-room-kind' }]);
});

test('call: hanging up leaves, closes every connection, and does not reconnect', async (t) => {
  const { call, connections, pcs, events, media } = newCall({ answers: [welcome({ peers: [{ id: 'a' }, { id: 'b' }] })] });
  await call.start();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  call.hangUp();
  assert.equal(call.phase, 'ended');
  assert.deepEqual(connections[0].sent.at(-1), { type: 'leave' });
  assert.equal(connections[0].closed, true);
  assert.ok(pcs.every((pc) => pc.closed));
  assert.deepEqual(events.filter((e) => e.type === 'peer-removed').map((e) => e.reason), ['ended', 'ended']);
  await runRetry(t, 20_000);
  assert.equal(connections.length, 1, 'an expected close is not a lost connection');
  // Media changes after the call reach nobody.
  media.setMic(false);
  assert.equal(connections[0].sent.at(-1).type, 'leave');
});

test('call: renaming ourselves goes to everyone in the media state, from then on; bad names change nothing', async () => {
  const { call, connections, signals } = newCall();
  await call.start();
  connections[0].receive('peer-joined', { peer: { id: 'c', name: 'Cy' } });
  await settle();
  assert.equal(signals('c', 'media').at(-1).data.media.name, undefined, 'no rename: no name');
  assert.equal(call.rename('   '), false);
  assert.equal(call.rename('x'.repeat(65)), false);
  assert.equal(call.name, 'Ada');
  assert.equal(call.rename('  Ada L. '), true);
  assert.equal(call.name, 'Ada L.');
  assert.equal(signals('c', 'media').at(-1).data.media.name, 'Ada L.');
  // A newcomer learns it from the state every member sends on peer-joined.
  connections[0].receive('peer-joined', { peer: { id: 'd', name: 'Dee' } });
  await settle();
  assert.equal(signals('d', 'media').at(-1).data.media.name, 'Ada L.');
  call.setMic(false);
  assert.equal(signals('c', 'media').at(-1).data.media.name, 'Ada L.', 'kept in later states');
});
