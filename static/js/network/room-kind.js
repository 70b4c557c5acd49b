// The kind of a room: how its sound and pictures travel. Every room is a
// "mesh" today (everyone sends to everyone, browser to browser); the server
// may name other kinds later (a room through an SFU).
//
// Why a module of its own: the server names the kind in three answers
// (POST /api/rooms, GET /api/rooms/<room> and `welcome`), which are read
// the same way here, and this is the one place that says which kinds this
// client can take part in, so that it ends with a clear message instead of
// trying a mesh in a room that is not one.

/** The kind of a room when an answer names none (a server before kinds). */
export const DEFAULT_ROOM_KIND = 'mesh';

/** The kinds this client can take part in. */
const SUPPORTED = new Set([DEFAULT_ROOM_KIND]);

/** The kind named by a server answer ({kind: "..."}); "mesh" when absent. */
export function roomKindOf(answer) {
  const kind = answer?.kind;
  return kind === undefined || kind === null ? DEFAULT_ROOM_KIND : String(kind);
}

/** Whether this client can take part in a room of `kind`. */
export function canJoinKind(kind) {
  return SUPPORTED.has(kind);
}
