// The Parlor WebSocket protocol (PROTOCOL.md, plus Parlor's extensions in
// docs/protocol.md), and nothing else.
//
// Why a module of its own: it is the one place that knows the wire format.
// It turns server frames into events ("welcome", "peer-joined", "peer-left",
// "signal", "chat", "error", "close") and calls into frames. It touches neither the
// page nor WebRTC, so the call logic above it reads like the protocol does.

/** The WebSocket URL of this server (ws: or wss: to match the page). */
export function defaultUrl() {
  const url = new URL('/ws', location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

/** An error refused by the server; `code` is the protocol's error code. */
export class ProtocolError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

export class Signaling extends EventTarget {
  #url;
  #ws = null;
  #closing = false;

  constructor(url = defaultUrl()) {
    super();
    this.#url = url;
  }

  /** Opens the connection; rejects if the server cannot be reached. */
  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.#url);
      this.#ws = ws;
      let open = false;
      ws.addEventListener('open', () => {
        open = true;
        resolve();
      });
      ws.addEventListener('message', (event) => this.#receive(event.data));
      ws.addEventListener('close', (event) => {
        this.#ws = null;
        if (!open) {
          reject(new ProtocolError('unreachable', 'could not reach the server'));
          return;
        }
        // `expected` is true when we closed it ourselves (hang up).
        this.#emit('close', { code: event.code, reason: event.reason, expected: this.#closing });
      });
    });
  }

  get open() {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /**
   * Sends `join` and waits for the answer: resolves with the `welcome`
   * message, rejects with a ProtocolError (room-full, room-not-found, ...).
   * `extra` adds fields, e.g. {resume: token} (a server extension).
   */
  join(room, name, extra = {}) {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.removeEventListener('welcome', onWelcome);
        this.removeEventListener('error', onError);
        this.removeEventListener('close', onClose);
      };
      const onWelcome = (event) => {
        done();
        resolve(event.detail);
      };
      const onError = (event) => {
        const { code, message, ref } = event.detail;
        if (ref !== undefined && ref !== 'join') return;
        done();
        reject(new ProtocolError(code, message));
      };
      const onClose = () => {
        done();
        reject(new ProtocolError('closed', 'the connection to the server closed'));
      };
      this.addEventListener('welcome', onWelcome);
      this.addEventListener('error', onError);
      this.addEventListener('close', onClose);
      const message = { type: 'join', room, ...extra };
      if (name) message.name = name;
      if (!this.#send(message)) onClose();
    });
  }

  /** Relays `data` (a JSON object) to one peer of the room. */
  signal(to, data) {
    return this.#send({ type: 'signal', to, data });
  }

  leave() {
    return this.#send({ type: 'leave' });
  }

  /**
   * Sends a chat message to everyone in the room (extension). The server
   * echoes it to every member, the sender included, as a "chat" event; a
   * refusal comes back as an "error" event with ref "chat".
   */
  chat(text) {
    return this.#send({ type: 'chat', text });
  }

  /** Closes the connection on purpose; the "close" event says expected. */
  close() {
    this.#closing = true;
    this.#ws?.close(1000, 'bye');
  }

  #send(message) {
    if (!this.open) return false;
    this.#ws.send(JSON.stringify(message));
    return true;
  }

  #receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message && typeof message.type === 'string') this.#emit(message.type, message);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
