// The call-quality view: a signal indicator on each tile and a detail
// dialog per peer with the numbers and a small live chart.
//
// Why a module of its own: it is all drawing (DOM and canvas); the numbers
// come from media/stats.js. It updates only what is on screen: the indicators on
// every sample, the dialog while it is open.

import { $, el, displayName } from './dom.js';
import { PATH_WORDS } from '../media/stats.js';

const RATING_WORDS = { good: 'good', fair: 'fair', poor: 'poor', unknown: 'not measured yet' };
const CHART = { in: '#7aa2ff', out: '#3dd68c', rtt: '#f5b544', grid: 'rgb(255 255 255 / 0.08)', text: '#9ba6b4' };

function bitrate(kbps) {
  if (kbps === null || kbps === undefined) return '—';
  if (kbps >= 1000) return `${(kbps / 1000).toFixed(kbps >= 10_000 ? 0 : 1)} Mbit/s`;
  return `${Math.round(kbps)} kbit/s`;
}

function percent(value) {
  return value === null || value === undefined ? '—' : `${value.toFixed(value < 10 ? 1 : 0)} %`;
}

function picture(p) {
  if (!p || !p.width) return null;
  const fps = Number.isFinite(p.fps) ? `, ${Math.round(p.fps)} fps` : '';
  return `${p.width}×${p.height}${fps}`;
}

function pathWords(path) {
  if (!path || !path.local) return 'not known yet';
  const type = path.relayed ? 'relay' : path.local;
  const words = PATH_WORDS[type] ?? path.local;
  const protocol = path.protocol ? `${path.protocol.toUpperCase()}, ` : '';
  return `${words} (${protocol}${path.local} ↔ ${path.remote ?? '?'})`;
}

/** Why your picture goes out smaller than your camera takes it. */
const LIMIT_WORDS = {
  cpu: 'made smaller: this device is too busy to send more',
  bandwidth: 'made smaller to fit the bandwidth the browser estimates; it grows as the estimate does',
  cap: 'made smaller for this call',
  other: 'made smaller by the browser',
};

export class QualityView {
  #monitor;
  #call;
  #dialog = $('quality-dialog');
  #select = $('quality-peer');
  #shownPeer = null;

  constructor({ monitor, call }) {
    this.#monitor = monitor;
    this.#call = call;
    monitor.addEventListener('sample', (event) => this.#onSample(event.detail));
    this.#select.addEventListener('change', () => this.#show(this.#select.value));
    this.#dialog.addEventListener('close', () => {
      this.#shownPeer = null;
    });
  }

  /** The indicator button for a tile; click opens the details. */
  indicator(peer) {
    const bars = el('span', { class: 'bars', 'aria-hidden': 'true' }, [el('span'), el('span'), el('span')]);
    const button = el('button', { class: 'quality q-unknown', type: 'button' }, [bars]);
    this.#label(button, peer, 'unknown');
    button.addEventListener('click', () => this.open(peer.id));
    return button;
  }

  #label(button, peer, rating) {
    const text = `Connection to ${displayName(peer)}: ${RATING_WORDS[rating]}. Show details`;
    button.setAttribute('aria-label', text);
    button.title = text;
  }

  #onSample({ peer, sample }) {
    const button = document.querySelector(`#tiles .tile[data-peer="${CSS.escape(peer.id)}"] .quality`);
    if (button && button.dataset.rating !== sample.rating) {
      button.dataset.rating = sample.rating;
      button.className = `quality q-${sample.rating}`;
      this.#label(button, peer, sample.rating);
    }
    if (this.#shownPeer === peer.id) this.#render();
  }

  /** Opens the dialog on one peer. */
  open(peerId) {
    this.#fillSelect();
    this.#show(peerId);
    if (!this.#dialog.open) this.#dialog.showModal();
  }

  #fillSelect() {
    const options = [...this.#call.peers.values()].map((peer) =>
      el('option', { value: peer.id, text: displayName(peer) }),
    );
    this.#select.replaceChildren(...options);
  }

  #show(peerId) {
    this.#shownPeer = peerId;
    this.#select.value = peerId;
    this.#render();
  }

  #render() {
    const peer = this.#call.peers.get(this.#shownPeer);
    if (!peer) {
      $('quality-summary').textContent = 'This person has left the call.';
      $('quality-facts').replaceChildren();
      this.#draw([]);
      return;
    }
    const history = this.#monitor.history(peer.id);
    const s = history.at(-1);
    const rating = s?.rating ?? 'unknown';
    $('quality-summary').textContent =
      rating === 'unknown'
        ? `Measuring the connection to ${displayName(peer)}…`
        : `The connection to ${displayName(peer)} is ${rating}.`;
    $('quality-summary').dataset.rating = rating;
    const facts = [
      ['Round trip', s?.rttMs === null || !s ? '—' : `${s.rttMs} ms`],
      ['Packet loss', s ? `${percent(s.lossIn)} received, ${percent(s.lossOut)} sent` : '—'],
      ['Bitrate in', bitrate(s?.bitrateIn)],
      ['Bitrate out', bitrate(s?.bitrateOut)],
      [`${displayName(peer)}’s camera`, picture(s?.camera) ?? (peer.remoteMedia.video === false ? 'off' : '—')],
    ];
    if (peer.sharing) facts.push([`${displayName(peer)}’s screen`, picture(s?.screen) ?? '—']);
    const sent = picture(s?.sent);
    if (sent) {
      const limit = s.sent.limit ? ` (${LIMIT_WORDS[s.sent.limit] ?? LIMIT_WORDS.other})` : '';
      facts.push(['Your video to them', `${sent}${limit}`]);
    }
    facts.push(['Path', pathWords(s?.path)]);
    $('quality-facts').replaceChildren(
      ...facts.flatMap(([term, value]) => [el('dt', { text: term }), el('dd', { text: value })]),
    );
    this.#draw(history);
  }

  /** Bitrate in and out (top two thirds) and round-trip time (bottom third). */
  #draw(history) {
    const canvas = $('quality-chart');
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(200, canvas.clientWidth || 560);
    const height = Math.max(100, canvas.clientHeight || 150);
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = '11px system-ui, sans-serif';
    const top = { y: 4, h: height * 0.62 - 8 };
    const bottom = { y: height * 0.62 + 4, h: height * 0.38 - 8 };
    const slots = 60;
    const x = (i) => width - ((history.length - 1 - i) / (slots - 1)) * (width - 2) - 1;
    for (const band of [top, bottom]) {
      g.fillStyle = CHART.grid;
      g.fillRect(0, band.y, width, band.h);
    }
    const line = (values, band, max, color) => {
      g.strokeStyle = color;
      g.lineWidth = 2;
      g.lineJoin = 'round';
      g.beginPath();
      let started = false;
      values.forEach((value, i) => {
        if (value === null || value === undefined) {
          started = false;
          return;
        }
        const y = band.y + band.h - (Math.min(value, max) / max) * band.h;
        if (started) g.lineTo(x(i), y);
        else g.moveTo(x(i), y);
        started = true;
      });
      g.stroke();
    };
    const ins = history.map((s) => s.bitrateIn);
    const outs = history.map((s) => s.bitrateOut);
    const rtts = history.map((s) => s.rttMs);
    const maxRate = Math.max(100, ...ins.filter(Number.isFinite), ...outs.filter(Number.isFinite)) * 1.15;
    const maxRtt = Math.max(50, ...rtts.filter(Number.isFinite)) * 1.2;
    // Received on top: it is the one that tells how the others look and sound.
    line(outs, top, maxRate, CHART.out);
    line(ins, top, maxRate, CHART.in);
    line(rtts, bottom, maxRtt, CHART.rtt);
    g.fillStyle = CHART.text;
    g.fillText(bitrate(maxRate), 6, top.y + 12);
    g.fillText(`${Math.round(maxRtt)} ms`, 6, bottom.y + 12);
    canvas.setAttribute(
      'aria-label',
      history.length
        ? `Chart: received ${bitrate(ins.at(-1))}, sent ${bitrate(outs.at(-1))}, round trip ${rtts.at(-1) ?? '—'} ms, over the last ${Math.round((history.length * 2) / 60) || 1} minute(s)`
        : 'Chart: no measurements yet',
    );
  }

  /** A peer left: its dialog says so. */
  peerGone(peer) {
    if (this.#shownPeer === peer.id) this.#render();
  }
}
