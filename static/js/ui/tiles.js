// The stage of the call: a tile per person, your own tile, the shared
// screens, and how they are laid out.
//
// Why a module of its own: it is the biggest piece of the call screen and
// the one that changes most with the number of people. Layouts:
//   alone    nobody else yet: your picture beside the invitation
//   pair     one other person fills the stage, you in a corner
//   grid     three or more: everyone in an even grid, you included
//   speaker  speaker view (or someone pinned): one person large, the others
//            in a strip; the large one is the pinned person, else whoever
//            spoke last
//   present  someone shares a screen: the screen large, people in a strip
// The person chooses grid or speaker view, pins a tile, shows a tile full
// screen and hides their own tile (view-options.js holds the buttons).
// Each tile shows the name, a muted-microphone icon, a speaking indicator
// (audio level from media/levels.js) and a connection indicator (quality.js).

import { $, el, icon, initial, displayName, possessive } from './dom.js';
import { bestGrid } from './layout.js';

const STATE_WORDS = {
  new: 'Connecting…',
  connecting: 'Connecting…',
  checking: 'Connecting…',
  disconnected: 'Connection interrupted. Reconnecting…',
  failed: 'Connection failed. Retrying…',
};

/** Said on a tile whose person has devices that failed (their own words for it). */
const UNAVAILABLE_WORDS = {
  'audio video': 'Cannot be seen or heard: no camera or microphone works',
  audio: 'Cannot be heard: no microphone works',
};

/** How long whoever speaks keeps the large tile in speaker view before another speaker takes it. */
const SPEAKER_HOLD_MS = 2000;

/** Sets the speaking look of a tile from a level (0 to 1). */
function showLevel(tile, level, speaking) {
  tile.style.setProperty('--level', String(level));
  tile.classList.toggle('speaking', speaking);
}

/**
 * Fill the tile (cropping a little) when the picture has about the tile's
 * shape; show it whole, with bars, when it does not (portrait on landscape).
 * Tells the tile the picture's shape (--aspect, data-shape), so that on a
 * phone the tile takes the picture's shape instead of showing bars.
 */
function fitter(video, box) {
  return () => {
    const { videoWidth: vw, videoHeight: vh } = video;
    const { clientWidth: tw, clientHeight: th } = box;
    if (!vw || !vh || !tw || !th) return;
    // The picture's shape, for layouts that size the tile to it (a phone's pair view).
    box.style.setProperty('--aspect', String(vw / vh));
    box.dataset.shape = vw >= vh ? 'landscape' : 'portrait';
    const ratio = vw / vh / (tw / th);
    box.classList.toggle('contain', ratio > 1.4 || ratio < 1 / 1.4);
  };
}

/**
 * A button that shows `box` full screen, or leaves full screen. label: its
 * accessible name.
 */
function fullscreenButton(box, label, className = 'tile-btn') {
  const button = el('button', { class: `icon-btn ${className}`, type: 'button', 'aria-label': label, title: 'Full screen' }, [icon('fullscreen')]);
  button.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else box.requestFullscreen?.().catch(() => {});
  });
  return button;
}

export class Stage {
  #call;
  #media;
  #levels;
  #devices;
  #quality;
  #onStopShare;
  #onChange;
  #stage = $('stage');
  #tiles = $('tiles');
  #self = $('self');
  #presentation = $('presentation');
  #people = new Map();
  #screens = new Map();
  #ownScreen = null;
  #selfLevel = { track: null, stop: () => {} };
  #resize;
  /** 'grid' or 'speaker': the person's choice (speaker needs two others or a pin). */
  #view = 'grid';
  /** The id of the pinned person, or null. */
  #pinned = null;
  /** The id of whoever spoke last (not you), or null. */
  #speaker = null;
  /** When #speaker got the large tile (performance.now()). */
  #speakerSince = 0;
  #selfHidden = false;

  constructor({ call, media, levels, devices, quality, selfName, onStopShare, onChange }) {
    this.#call = call;
    this.#media = media;
    this.#levels = levels;
    this.#devices = devices;
    this.#quality = quality;
    this.#onStopShare = onStopShare;
    this.#onChange = onChange;
    this.setSelfName(selfName);
    const selfFit = fitter($('self-video'), this.#self);
    $('self-video').addEventListener('resize', selfFit);
    this.#resize = new ResizeObserver(() => {
      this.layout();
      selfFit();
    });
    this.#resize.observe(this.#stage);
    this.#resize.observe(this.#tiles);
    this.#resize.observe(this.#self);
  }

  /* ------------------------------------------------------------ people */

  addPeer(peer) {
    const video = el('video', { autoplay: true, playsinline: true });
    const avatar = el('span', { class: 'avatar', text: initial(peer.name) || '' });
    if (!initial(peer.name)) avatar.append(icon('person'));
    const stateText = el('p', { class: 'tile-state' });
    const mutedIcon = icon('mic-off', 'icon muted-mic');
    mutedIcon.setAttribute('role', 'img');
    mutedIcon.removeAttribute('aria-hidden');
    mutedIcon.setAttribute('aria-label', `${possessive(displayName(peer))} microphone is off`);
    const speakingBars = el('span', { class: 'speaking-bars', 'aria-hidden': 'true' }, [el('span'), el('span'), el('span')]);
    const sharingNote = el('span', { class: 'sharing-note', text: 'presenting' });
    const nameText = el('span', { class: 'tile-name', text: displayName(peer) });
    const name = displayName(peer);
    const pin = el('button', { class: 'icon-btn tile-btn pin', type: 'button', 'aria-pressed': 'false', 'aria-label': `Pin ${name}`, title: 'Pin: keep large' }, [icon('pin')]);
    pin.addEventListener('click', () => this.pin(this.#pinned === peer.id ? null : peer.id));
    const actions = el('div', { class: 'tile-actions' }, [pin]);
    const tile = el('figure', { class: 'tile', 'data-peer': peer.id }, [
      video,
      el('div', { class: 'tile-avatar' }, [avatar]),
      stateText,
      actions,
      this.#quality.indicator(peer),
      el('figcaption', {}, [speakingBars, nameText, mutedIcon, sharingNote]),
    ]);
    if (document.fullscreenEnabled) actions.append(fullscreenButton(tile, `Show ${name} full screen`));
    this.#tiles.insertBefore(tile, this.#self);
    const detachSink = this.#devices.attach(video);

    let soundButton = null;
    const play = () => {
      video.play().catch((error) => {
        if (error.name !== 'NotAllowedError' || soundButton) return;
        // Autoplay with sound was refused: one click on the page allows it.
        soundButton = el('button', { class: 'btn primary sound', type: 'button', text: `Click to hear ${displayName(peer)}` });
        soundButton.addEventListener('click', () => {
          video.play().then(() => {
            soundButton?.remove();
            soundButton = null;
          });
        });
        tile.append(soundButton);
      });
    };

    let level = { track: null, stop: () => {} };
    let shownName = displayName(peer);
    const render = () => {
      if (displayName(peer) !== shownName) {
        // They renamed themselves (see Call.rename).
        shownName = displayName(peer);
        nameText.textContent = shownName;
        avatar.textContent = initial(peer.name) || '';
        mutedIcon.setAttribute('aria-label', `${possessive(shownName)} microphone is off`);
        this.pin(this.#pinned);
      }
      if (video.srcObject !== peer.stream) {
        video.srcObject = peer.stream;
        play();
      }
      const track = peer.remoteTrack('video');
      const showVideo = Boolean(track && !track.muted && peer.remoteMedia.video !== false);
      tile.classList.toggle('no-video', !showVideo);
      const micOff = peer.remoteMedia.audio === false;
      tile.classList.toggle('mic-off', micOff);
      tile.classList.toggle('presenting', peer.sharing);
      tile.dataset.state = peer.state;
      const words = STATE_WORDS[peer.state] ?? UNAVAILABLE_WORDS[peer.remoteMedia.unavailable.join(' ')] ?? '';
      stateText.textContent = words;
      stateText.hidden = !words;
      const audio = peer.remoteTrack('audio');
      if (audio !== level.track) {
        level.stop();
        level = {
          track: audio,
          stop: this.#levels.watch(audio, (value, speaking) => {
            // Someone who says they are muted is not shown speaking.
            const muted = peer.remoteMedia.audio === false;
            showLevel(tile, muted ? 0 : value, speaking && !muted);
            if (speaking && !muted) this.#spoke(peer.id);
          }),
        };
      }
      if (micOff) showLevel(tile, 0, false);
      this.#renderScreen(peer);
    };
    const fit = fitter(video, tile);
    video.addEventListener('resize', fit);
    const resizes = new ResizeObserver(fit);
    resizes.observe(tile);
    const onState = () => {
      render();
      this.#onChange();
    };
    peer.addEventListener('tracks', render);
    peer.addEventListener('media', render);
    peer.addEventListener('state', onState);
    render();
    this.#people.set(peer.id, {
      peer,
      tile,
      video,
      pin,
      remove: () => {
        peer.removeEventListener('tracks', render);
        peer.removeEventListener('media', render);
        peer.removeEventListener('state', onState);
        level.stop();
        detachSink();
        resizes.disconnect();
        video.srcObject = null;
        tile.remove();
      },
    });
    this.layout();
  }

  removePeer(peer) {
    const entry = this.#people.get(peer.id);
    if (!entry || entry.peer !== peer) return;
    entry.remove();
    this.#people.delete(peer.id);
    if (this.#pinned === peer.id) this.#pinned = null;
    if (this.#speaker === peer.id) this.#speaker = null;
    this.#dropScreen(peer.id);
    this.layout();
  }

  /* ------------------------------------------------------------- you */

  /** The initial on your own tile when your camera is off. */
  setSelfName(name) {
    $('self-avatar').replaceChildren(initial(name) || icon('person'));
  }

  /** Follows your own camera, microphone and screen. */
  renderSelf() {
    const media = this.#media;
    const selfVideo = $('self-video');
    const track = media.videoTrack;
    if (track) {
      if (selfVideo.srcObject?.getVideoTracks()[0] !== track) selfVideo.srcObject = new MediaStream([track]);
    } else {
      selfVideo.srcObject = null;
    }
    this.#self.classList.toggle('no-video', !track);
    const micOn = media.live('audio');
    this.#self.classList.toggle('mic-off', !micOn);
    this.#self.classList.toggle('presenting', media.sharing);
    const audio = media.audioTrack;
    if (audio !== this.#selfLevel.track) {
      this.#selfLevel.stop();
      this.#selfLevel = {
        track: audio,
        stop: this.#levels.watch(audio, (value, speaking) => {
          const on = this.#media.live('audio');
          showLevel(this.#self, on ? value : 0, speaking && on);
        }),
      };
    }
    if (!micOn) showLevel(this.#self, 0, false);
    this.#renderOwnScreen();
  }

  /* ----------------------------------------------------------- screens */

  #renderScreen(peer) {
    let view = this.#screens.get(peer.id);
    if (!peer.sharing) {
      if (view) this.#dropScreen(peer.id);
      return;
    }
    if (!view) {
      const video = el('video', { autoplay: true, playsinline: true, muted: true, disablepictureinpicture: true });
      video.muted = true;
      const label = `${possessive(displayName(peer))} screen`;
      const figure = el('figure', { class: 'screen-view', 'data-peer': peer.id }, [
        video,
        el('figcaption', {}, [icon('screen'), el('span', { text: label })]),
      ]);
      if (document.fullscreenEnabled) figure.append(fullscreenButton(figure, `Show ${label} full screen`, 'full'));
      view = { figure, video, stream: null };
      this.#screens.set(peer.id, view);
      this.#presentation.prepend(figure);
      this.layout();
    }
    if (view.stream !== peer.screenStream) {
      view.stream = peer.screenStream;
      view.video.srcObject = peer.screenStream;
      view.video.play().catch(() => {});
    }
  }

  #dropScreen(peerId) {
    const view = this.#screens.get(peerId);
    if (!view) return;
    view.video.srcObject = null;
    view.figure.remove();
    this.#screens.delete(peerId);
    this.layout();
  }

  #renderOwnScreen() {
    const track = this.#media.screenTrack;
    if (!track) {
      if (this.#ownScreen) {
        this.#ownScreen.video.srcObject = null;
        this.#ownScreen.figure.remove();
        this.#ownScreen = null;
        this.layout();
      }
      return;
    }
    if (!this.#ownScreen) {
      const video = el('video', { autoplay: true, playsinline: true, muted: true, disablepictureinpicture: true });
      video.muted = true;
      const stop = el('button', { class: 'btn danger', type: 'button' }, [icon('screen-off'), el('span', { text: 'Stop sharing' })]);
      stop.addEventListener('click', () => this.#onStopShare());
      const figure = el('figure', { class: 'screen-view own', id: 'own-screen' }, [
        video,
        el('div', { class: 'own-note' }, [
          el('p', { text: 'You are sharing your screen with everyone' }),
          stop,
        ]),
      ]);
      this.#ownScreen = { figure, video, track: null };
      this.#presentation.append(figure);
      this.layout();
    }
    if (this.#ownScreen.track !== track) {
      this.#ownScreen.track = track;
      this.#ownScreen.video.srcObject = new MediaStream([track]);
    }
  }

  /* ------------------------------------------------------------ layout */

  /* ------------------------------------------------------- view options */

  /** 'grid' or 'speaker'. */
  get view() {
    return this.#view;
  }

  setView(view) {
    this.#view = view === 'speaker' ? 'speaker' : 'grid';
    this.#onChange();
  }

  /** The pinned person's id, or null. */
  get pinned() {
    return this.#pinned;
  }

  /** Keeps this person (an id, or null for nobody) large until unpinned. */
  pin(peerId) {
    this.#pinned = peerId && this.#people.has(peerId) ? peerId : null;
    for (const [id, entry] of this.#people) {
      const on = id === this.#pinned;
      entry.pin.setAttribute('aria-pressed', String(on));
      entry.pin.setAttribute('aria-label', `${on ? 'Unpin' : 'Pin'} ${displayName(entry.peer)}`);
      entry.pin.title = on ? 'Unpin' : 'Pin: keep large';
      entry.tile.classList.toggle('pinned', on);
    }
    this.#onChange();
  }

  get selfHidden() {
    return this.#selfHidden;
  }

  setSelfHidden(hidden) {
    this.#selfHidden = Boolean(hidden);
    this.#self.classList.toggle('hidden-self', this.#selfHidden);
    this.#onChange();
  }

  /**
   * The person shown large in speaker view (and in picture-in-picture):
   * {peer, video} of the pinned one, else of whoever spoke last, else of
   * the first; null when nobody else is here.
   */
  get focus() {
    const id = [this.#pinned, this.#speaker].find((candidate) => candidate && this.#people.has(candidate));
    const entry = id ? this.#people.get(id) : this.#people.values().next().value;
    return entry ? { peer: entry.peer, video: entry.video } : null;
  }

  #spoke(peerId) {
    if (this.#speaker === peerId) return;
    // A word from someone else does not take the large tile from whoever
    // just got it: the view would flicker between two people talking.
    const now = performance.now();
    if (this.#people.has(this.#speaker) && now - this.#speakerSince < SPEAKER_HOLD_MS) return;
    this.#speaker = peerId;
    this.#speakerSince = now;
    // The large tile in speaker view and picture-in-picture follow.
    if (!this.#pinned) this.#onChange();
  }

  /* ------------------------------------------------------------ layout */

  /** The layout for who is here and what is shared; sizes the tiles. */
  layout() {
    const people = this.#people.size;
    const screens = this.#screens.size + (this.#ownScreen ? 1 : 0);
    const speakerView = people >= 2 && (this.#pinned !== null || this.#view === 'speaker');
    const mode = screens > 0 ? 'present' : people === 0 ? 'alone' : speakerView ? 'speaker' : people === 1 ? 'pair' : 'grid';
    const stage = this.#stage;
    if (stage.dataset.layout !== mode) stage.dataset.layout = mode;
    this.#presentation.hidden = screens === 0;
    this.#presentation.dataset.count = String(screens);
    stage.dataset.orient = stage.clientWidth >= stage.clientHeight ? 'wide' : 'tall';
    this.#tiles.dataset.count = String(people);
    stage.dataset.count = String(people);
    const focusId = mode === 'speaker' ? this.focus?.peer.id : null;
    for (const [id, entry] of this.#people) entry.tile.classList.toggle('focus', id === focusId);
    const shown = people + (this.#selfHidden ? 0 : 1);
    this.#tiles.style.setProperty('--strip-n', String(Math.max(1, shown - 1)));
    if (mode === 'grid' || mode === 'present') {
      const box = this.#tiles;
      const gap = mode === 'present' ? 8 : 10;
      // Beside a shared screen, people get landscape tiles.
      const grid = bestGrid(shown, box.clientWidth, box.clientHeight, gap, mode === 'present' ? { tallest: 4 / 3 } : {});
      box.style.setProperty('--tile-w', `${grid.width}px`);
      box.style.setProperty('--tile-h', `${grid.height}px`);
      box.style.setProperty('--cols', String(grid.cols));
    } else {
      this.#tiles.style.removeProperty('--tile-w');
      this.#tiles.style.removeProperty('--tile-h');
    }
  }

  close() {
    for (const entry of this.#people.values()) entry.remove();
    this.#people.clear();
    for (const id of [...this.#screens.keys()]) this.#dropScreen(id);
    this.#selfLevel.stop();
    this.#resize.disconnect();
  }
}
