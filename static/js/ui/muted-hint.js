// "You are muted": said when you talk while your microphone is muted.
//
// Why a module of its own: a muted microphone sends silence (its track is
// disabled), so nothing measures it. While muted, this listens to a copy
// of the microphone's track that stays on this device, and says the hint
// (paced by warnings.js) when the copy hears speech.

import { toast } from './dom.js';
import { HintPacer } from './warnings.js';

/** Follows `media` (LocalMedia) with `levels` (AudioLevels). Returns {update, stop}. */
export function mutedHint({ media, levels }) {
  const pacer = new HintPacer();
  /** While muted: the microphone's track, its local copy, and how to stop listening. */
  let listening = null;

  const stop = () => {
    if (!listening) return;
    listening.stop();
    listening.copy.stop();
    listening = null;
    pacer.reset(null);
  };

  const update = () => {
    const track = media.audioTrack;
    const muted = Boolean(track && track.readyState === 'live' && !media.live('audio'));
    if (!muted || listening?.track !== track) stop();
    if (!muted || listening) return;
    const copy = track.clone();
    copy.enabled = true;
    pacer.reset(performance.now());
    listening = {
      track,
      copy,
      stop: levels.watch(copy, (level, speaking) => {
        if (speaking && pacer.due(performance.now())) {
          toast('You are muted. Press M or the microphone button to talk.', 4000).classList.add('muted-hint');
        }
      }),
    };
  };

  update();
  return { update, stop };
}
