import { h } from '../dom.js';
import { formatBitrate, formatTime } from '../time.js';
import type { CameraStatus } from '../types.js';

/** A recorder state in an operator's words; the API's own word stays in the details. */
const WORDS: Record<string, string> = {
  recording: 'Recording',
  stalled: 'No signal',
  connecting: 'Connecting',
  offline: 'Camera offline',
  error: 'Recorder problem',
  disabled: 'Switched off',
};

/** State in words, bitrate, and the raw detail (state, last error) one click away. */
export class StatusBadge {
  readonly el: HTMLElement;
  private readonly state: HTMLElement;
  private readonly bitrate: HTMLElement;
  private readonly since: HTMLElement;
  private readonly node: HTMLElement;
  private readonly raw: HTMLElement;
  private readonly details: HTMLDetailsElement;

  constructor() {
    this.state = h('span', { class: 'badge state-unknown', 'data-role': 'state' }, '…');
    this.bitrate = h('span', { class: 'bitrate', 'data-role': 'bitrate' });
    this.since = h('span', { class: 'no-signal-since', 'data-role': 'since' });
    // In a cluster: which node records the camera (after a failover, the new one).
    this.node = h('span', { class: 'recording-node', 'data-role': 'recording-node', title: 'The cluster node that records this camera' });
    this.raw = h('pre', { class: 'last-error', 'data-role': 'last-error' });
    this.details = h('details', { class: 'status-details' }, h('summary', {}, 'Details'), this.raw);
    this.details.hidden = true;
    this.el = h('div', { class: 'status' }, this.state, this.bitrate, this.since, this.node, this.details);
  }

  update(s: CameraStatus): void {
    this.state.textContent = WORDS[s.state] ?? s.state;
    this.state.className = `badge state-${s.state}`;
    this.state.dataset.state = s.state;
    this.bitrate.textContent = s.state === 'recording' ? formatBitrate(s.bitrate_bps) : '';
    // Not recording after frames were seen: since when, by the recording's own time of the last frame.
    const lost = s.state !== 'recording' && s.state !== 'disabled' && s.last_frame_at !== null;
    this.since.textContent = lost && s.last_frame_at ? `since ${formatTime(Date.parse(s.last_frame_at))}` : '';
    this.node.textContent = s.recording_node ? `node ${s.recording_node}` : '';
    // The error is detail while the camera is not recording; once it records again it is history.
    const error = s.state !== 'recording' && s.last_error ? s.last_error : '';
    this.raw.textContent = `state: ${s.state}${error ? `\n${error}` : ''}`;
    this.details.hidden = !error && s.state === 'recording';
  }
}
