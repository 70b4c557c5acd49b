// How the person looks at the call: grid or speaker view, their own
// picture shown or hidden, the whole call full screen, and the person in
// focus in picture-in-picture while the tab is in the background.
//
// Why a module of its own: these change only what this screen shows (the
// others see nothing of it), and they share the top bar's buttons. The
// stage (tiles.js) does the layout; this holds the buttons and the
// picture-in-picture window.

import { $, displayName } from './dom.js';

/** Sets a toggle button's pressed state and its icon. */
function press(button, on, iconName) {
  button.setAttribute('aria-pressed', String(on));
  button.querySelector('use').setAttribute('href', `#i-${iconName}`);
}

/**
 * The person in focus in a small window over other tabs. Document
 * Picture-in-Picture where the browser has it (Chromium): a window of our
 * own with the picture and the name; otherwise the <video>'s own
 * picture-in-picture. Browsers open either only after a click or key press,
 * or, for a call, when the tab is hidden (Chromium's automatic
 * picture-in-picture through the media session); elsewhere it stays closed.
 */
class PictureInPicture {
  #focus;
  #onChange;
  /** The Document Picture-in-Picture window, or null. */
  #window = null;
  #shown = null;

  constructor({ focus, onChange }) {
    this.#focus = focus;
    this.#onChange = onChange;
  }

  static get supported() {
    return 'documentPictureInPicture' in window || Boolean(document.pictureInPictureEnabled);
  }

  get open() {
    return Boolean(this.#window || document.pictureInPictureElement);
  }

  async enter() {
    const focus = this.#focus();
    if (!focus || this.open) return false;
    try {
      if ('documentPictureInPicture' in window) {
        const pip = await window.documentPictureInPicture.requestWindow({ width: 360, height: 203 });
        this.#window = pip;
        pip.addEventListener('pagehide', () => {
          this.#window = null;
          this.#shown = null;
          this.#onChange();
        });
        const body = pip.document.body;
        for (const [key, value] of [['margin', '0'], ['background', '#000'], ['overflow', 'hidden'], ['font-family', 'system-ui, sans-serif']]) {
          body.style.setProperty(key, value);
        }
        this.update();
      } else {
        await focus.video.requestPictureInPicture();
        focus.video.addEventListener('leavepictureinpicture', () => this.#onChange(), { once: true });
      }
    } catch {
      return false; // not allowed now (no click, or the browser said no)
    }
    this.#onChange();
    return true;
  }

  /** Follows the person in focus into the open window. */
  update() {
    const focus = this.#focus();
    if (!this.#window) return;
    if (!focus) {
      this.exit();
      return;
    }
    if (this.#shown?.peer === focus.peer && this.#shown.stream === focus.peer.stream) return;
    const doc = this.#window.document;
    const video = doc.createElement('video');
    video.autoplay = true;
    video.muted = true; // the sound goes on playing in the tab
    video.playsInline = true;
    video.srcObject = focus.peer.stream;
    for (const [key, value] of [['width', '100vw'], ['height', '100vh'], ['object-fit', 'contain'], ['display', 'block']]) {
      video.style.setProperty(key, value);
    }
    const name = doc.createElement('p');
    name.textContent = displayName(focus.peer);
    for (const [key, value] of [['position', 'fixed'], ['left', '8px'], ['bottom', '8px'], ['margin', '0'], ['padding', '2px 10px'],
      ['border-radius', '999px'], ['background', 'rgb(0 0 0 / 0.6)'], ['color', '#fff'], ['font-size', '14px']]) {
      name.style.setProperty(key, value);
    }
    doc.body.replaceChildren(video, name);
    doc.title = `${displayName(focus.peer)} · Parlor`;
    video.play().catch(() => {});
    this.#shown = { peer: focus.peer, stream: focus.peer.stream };
  }

  exit() {
    if (this.#window) {
      this.#window.close();
      this.#window = null;
      this.#shown = null;
    } else if (document.pictureInPictureElement) {
      document.exitPictureInPicture().catch(() => {});
    }
    this.#onChange();
  }
}

/**
 * Wires the view buttons to the stage. Returns {render, close}: render
 * after the stage changed (the focus may have moved), close when the call
 * ends.
 */
export function viewOptions({ stage }) {
  const layoutButton = $('toggle-layout');
  const selfButton = $('toggle-self-view');
  const fullButton = $('toggle-fullscreen');
  const pipButton = $('toggle-pip');

  const pip = new PictureInPicture({ focus: () => stage.focus, onChange: () => render() });

  const render = () => {
    const speaker = stage.view === 'speaker';
    press(layoutButton, speaker, 'speaker-view');
    layoutButton.title = speaker ? 'Back to the grid: everyone the same size' : 'Speaker view: whoever speaks, large';
    press(selfButton, stage.selfHidden, stage.selfHidden ? 'eye' : 'eye-off');
    selfButton.title = stage.selfHidden ? 'Show your own picture again' : 'Hide your own picture (the others still see you)';
    const full = Boolean(document.fullscreenElement);
    press(fullButton, full, full ? 'fullscreen-exit' : 'fullscreen');
    fullButton.title = full ? 'Leave full screen' : 'Full screen';
    pipButton.disabled = !stage.focus && !pip.open;
    press(pipButton, pip.open, 'pip');
    pip.update();
  };

  layoutButton.addEventListener('click', () => stage.setView(stage.view === 'speaker' ? 'grid' : 'speaker'));
  selfButton.addEventListener('click', () => stage.setSelfHidden(!stage.selfHidden));
  fullButton.hidden = !document.fullscreenEnabled;
  fullButton.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else document.documentElement.requestFullscreen().catch(() => {});
  });
  document.addEventListener('fullscreenchange', render);
  pipButton.hidden = !PictureInPicture.supported;
  pipButton.addEventListener('click', () => (pip.open ? pip.exit() : pip.enter()));

  // In the background, the person in focus stays in sight; back in the tab,
  // the small window goes.
  const onVisibility = () => {
    if (document.visibilityState === 'hidden') pip.enter();
    else if (pip.open) pip.exit();
  };
  document.addEventListener('visibilitychange', onVisibility);
  try {
    navigator.mediaSession?.setActionHandler('enterpictureinpicture', () => pip.enter());
  } catch {
    // this browser has no automatic picture-in-picture
  }

  render();
  return {
    render,
    close: () => {
      document.removeEventListener('visibilitychange', onVisibility);
      document.removeEventListener('fullscreenchange', render);
      try {
        navigator.mediaSession?.setActionHandler('enterpictureinpicture', null);
      } catch {
        // never set
      }
      if (pip.open) pip.exit();
    },
  };
}
