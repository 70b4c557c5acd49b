// The server's small HTTP API: create a room, look a room up.
//
// Why a module of its own: the start page and the pre-join screen both need
// it, and both want plain answers (a room, or an error with a code) rather
// than HTTP details.

import { roomKindOf } from './room-kind.js';

export class ApiError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'ApiError';
    this.code = code;
  }
}

async function request(path, options) {
  let response;
  try {
    response = await fetch(path, { ...options, cache: 'no-store' });
  } catch {
    throw new ApiError('unreachable', 'could not reach the server');
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: handled below by the status.
  }
  if (!response.ok) {
    throw new ApiError(body?.error?.code ?? `http-${response.status}`, body?.error?.message);
  }
  return body;
}

/** A room as the server describes it, with its kind ("mesh" when not named). */
function withKind(room) {
  return { ...room, kind: roomKindOf(room) };
}

/** Creates a room for `capacity` people; resolves to {room, capacity, kind}. */
export async function createRoom(capacity) {
  const made = await request('/api/rooms', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ capacity }),
  });
  return withKind(made);
}

/** Resolves to {room, capacity, members, kind}; rejects with code room-not-found. */
export async function roomStatus(room) {
  return withKind(await request(`/api/rooms/${encodeURIComponent(room)}`));
}

/** Room ids as the server makes them. */
export function isRoomId(text) {
  return /^[A-Za-z0-9_-]{1,128}$/.test(text);
}

/**
 * The room id in what someone pasted: a whole link (…/r/<room>), a path, or
 * the bare id. Null when it is neither.
 */
export function roomFromInput(text) {
  const value = text.trim();
  if (!value) return null;
  const match = value.match(/\/r\/([A-Za-z0-9_-]+)(?:[/?#].*)?$/);
  if (match) return match[1];
  return isRoomId(value) ? value : null;
}

/** The link people share for `room`. */
export function roomLink(room) {
  return new URL(`/r/${encodeURIComponent(room)}`, location.origin).href;
}
