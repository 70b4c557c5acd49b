// The stage of the call: a tile per person, your own tile, the shared
// screens, and how they are laid out.
//
// Why a module of its own: it is the biggest piece of the call screen and
// the one that changes most with the number of people. Layouts:
//   alone    nobody else yet: your picture beside the invitation
//   pair     one other person fills the stage, you in a corner
//   grid     three or more: everyone in an even grid, you included
//   present  someone shares a screen: the screen large, people in a strip
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

/** Sets the speaking look of a tile from a level (0 to 1). */
function showLevel(tile, level, speaking) {
  tile.style.setProperty('--level', String(level));
  tile.classList.toggle('speaking', speaking);
}

/**
 * Fill the tile (cropping a little) when the picture has about the tile's
 * shape; show it whole, with bars, when it does not (portrait on landscape).
 */
function fitter(video, box) {
  return () => {
    const { videoWidth: vw, videoHeight: vh } = video;
    const { clientWidth: tw, clientHeight: th } = box;
    if (!vw || !vh || !tw || !th) return;
    const ratio = vw / vh / (tw / th);
    box.classList.toggle('contain', ratio > 1.4 || ratio < 1 / 1.4);
  };
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

  constructor({ call, media, levels, devices, quality, selfName, onStopShare, onChange }) {
    this.#call = call;
    this.#media = media;
    this.#levels = levels;
    this.#devices = devices;
    this.#quality = quality;
    this.#onStopShare = onStopShare;
    this.#onChange = onChange;
    $('self-avatar').replaceChildren(initial(selfName) || icon('person'));
    const selfFit = fitter($('self-video'), this.#self);
    $('self-video').addEventListener('resize', selfFit);
    this.#resize = new ResizeObserver(() => {
      this.layout();
      selfFit();
    });
    this.#resize.observe(this.#stage);
    this.#resize.observe(this.#tiles);
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
    const tile = el('figure', { class: 'tile', 'data-peer': peer.id }, [
      video,
      el('div', { class: 'tile-avatar' }, [avatar]),
      stateText,
      this.#quality.indicator(peer),
      el('figcaption', {}, [speakingBars, el('span', { class: 'tile-name', text: displayName(peer) }), mutedIcon, sharingNote]),
    ]);
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
    const render = () => {
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
    this.#dropScreen(peer.id);
    this.layout();
  }

  /* ------------------------------------------------------------- you */

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
      if (document.fullscreenEnabled) {
        const full = el('button', { class: 'icon-btn full', type: 'button', 'aria-label': `Show ${label} full screen`, title: 'Full screen' }, [icon('fullscreen')]);
        full.addEventListener('click', () => {
          if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
          else figure.requestFullscreen?.().catch(() => {});
        });
        figure.append(full);
      }
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

  /** The layout for who is here and what is shared; sizes the tiles. */
  layout() {
    const people = this.#people.size;
    const screens = this.#screens.size + (this.#ownScreen ? 1 : 0);
    const mode = screens > 0 ? 'present' : people === 0 ? 'alone' : people === 1 ? 'pair' : 'grid';
    const stage = this.#stage;
    if (stage.dataset.layout !== mode) stage.dataset.layout = mode;
    this.#presentation.hidden = screens === 0;
    this.#presentation.dataset.count = String(screens);
    stage.dataset.orient = stage.clientWidth >= stage.clientHeight ? 'wide' : 'tall';
    this.#tiles.dataset.count = String(people);
    stage.dataset.count = String(people);
    if (mode === 'grid' || mode === 'present') {
      const box = this.#tiles;
      const gap = mode === 'present' ? 8 : 10;
      // Beside a shared screen, people get landscape tiles.
      const grid = bestGrid(people + 1, box.clientWidth, box.clientHeight, gap, mode === 'present' ? { tallest: 4 / 3 } : {});
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
