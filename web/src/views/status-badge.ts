import { h } from '../dom.js';
import { formatBitrate } from '../time.js';
import type { CameraStatus } from '../types.js';

/** State, bitrate and last error of a camera's recorder. */
export class StatusBadge {
  readonly el: HTMLElement;
  private readonly state: HTMLElement;
  private readonly bitrate: HTMLElement;
  private readonly error: HTMLElement;

  constructor() {
    this.state = h('span', { class: 'badge state-unknown', 'data-role': 'state' }, '…');
    this.bitrate = h('span', { class: 'bitrate', 'data-role': 'bitrate' });
    this.error = h('span', { class: 'last-error', 'data-role': 'last-error' });
    this.el = h('div', { class: 'status' }, this.state, this.bitrate, this.error);
  }

  update(s: CameraStatus): void {
    this.state.textContent = s.state;
    this.state.className = `badge state-${s.state}`;
    this.bitrate.textContent = s.state === 'recording' ? formatBitrate(s.bitrate_bps) : '';
    // The error is shown while the camera is not recording; once it records again it is history.
    this.error.textContent = s.state !== 'recording' && s.last_error ? s.last_error : '';
    this.error.title = s.last_error ?? '';
  }
}
