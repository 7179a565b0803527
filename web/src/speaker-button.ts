/**
 * The speaker button of a player: the page plays muted (browsers allow autoplay only muted, and a
 * wall of cameras must not talk at once); a camera that records audio gets this button, which unmutes
 * its video (a click is the user gesture unmuting needs) and mutes it again. Hidden while the stream
 * has no audio track.
 */
import { h } from './dom.js';

export class SpeakerButton {
  readonly el: HTMLButtonElement;

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly what: string,
  ) {
    this.el = h('button', {
      type: 'button',
      class: 'speaker',
      hidden: true,
      onclick: (e: Event) => {
        // Inside a tile whose picture opens the camera: the button only toggles the sound.
        e.stopPropagation();
        this.video.muted = !this.video.muted;
        this.render();
      },
    });
    this.render();
  }

  /** The stream now playing has an audio track (show the button) or not (hide it, muted). */
  setAudio(has: boolean): void {
    if (!has) this.video.muted = true;
    this.el.hidden = !has;
    this.render();
  }

  private render(): void {
    const muted = this.video.muted;
    this.el.textContent = muted ? '🔇' : '🔊';
    this.el.setAttribute('aria-pressed', String(!muted));
    this.el.setAttribute('aria-label', `${muted ? 'Unmute' : 'Mute'} ${this.what}`);
    this.el.title = muted ? 'Sound off: click to listen' : 'Sound on: click to mute';
  }
}
