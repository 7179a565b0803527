/**
 * Digital zoom on a video, live or recorded: the mouse wheel or a two-finger pinch scales the picture
 * around the pointer (1×–8×), a drag pans it while zoomed, `0` or the reset button returns to 1×.
 * Only a CSS transform on the video: the stream and the recording are untouched.
 */
import { h } from '../dom.js';

const MAX_SCALE = 8;
const WHEEL_STEP = 1.2;

export class DigitalZoom {
  private scale = 1;
  /** Translation in container pixels, applied after the scale. */
  private x = 0;
  private y = 0;
  private readonly pointers = new Map<number, { x: number; y: number }>();
  private pinch: { dist: number; scale: number } | null = null;
  private readonly reset: HTMLButtonElement;

  constructor(private readonly box: HTMLElement, private readonly video: HTMLVideoElement) {
    video.style.transformOrigin = '0 0';
    this.reset = h('button', { type: 'button', class: 'zoom-reset', hidden: true, 'aria-label': 'Reset zoom', onclick: (e: Event) => { e.stopPropagation(); this.set(1, 0, 0); } }, '1×');
    box.appendChild(this.reset);
    box.classList.add('zoomable');
    box.addEventListener('wheel', (e) => {
      e.preventDefault();
      this.zoomAt(e.deltaY < 0 ? WHEEL_STEP : 1 / WHEEL_STEP, e.clientX, e.clientY);
    }, { passive: false });
    box.addEventListener('pointerdown', (e) => {
      if ((e.target as HTMLElement).closest('button, a, select, input')) return;
      this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (this.pointers.size === 2) this.pinch = { dist: this.spread(), scale: this.scale };
    });
    box.addEventListener('pointermove', (e) => {
      const prev = this.pointers.get(e.pointerId);
      if (!prev) return;
      this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (this.pinch && this.pointers.size === 2) {
        const c = this.centre();
        this.zoomAt((this.pinch.scale * this.spread()) / this.pinch.dist / this.scale, c.x, c.y);
      } else if (this.scale > 1 && this.pointers.size === 1) {
        this.set(this.scale, this.x + e.clientX - prev.x, this.y + e.clientY - prev.y);
      }
    });
    const end = (e: PointerEvent) => {
      this.pointers.delete(e.pointerId);
      if (this.pointers.size < 2) this.pinch = null;
    };
    box.addEventListener('pointerup', end);
    box.addEventListener('pointercancel', end);
    box.addEventListener('keydown', (e) => {
      if (e.key === '0') this.set(1, 0, 0);
    });
  }

  get factor(): number {
    return this.scale;
  }

  /** Multiplies the scale by `by`, keeping the picture point under (clientX, clientY) where it is. */
  zoomAt(by: number, clientX: number, clientY: number): void {
    const r = this.box.getBoundingClientRect();
    const next = Math.min(MAX_SCALE, Math.max(1, this.scale * by));
    const px = clientX - r.left;
    const py = clientY - r.top;
    const k = next / this.scale;
    this.set(next, px - (px - this.x) * k, py - (py - this.y) * k);
  }

  private set(scale: number, x: number, y: number): void {
    const r = this.box.getBoundingClientRect();
    this.scale = scale;
    // The picture always covers the box: no panning past its edges.
    this.x = Math.min(0, Math.max(r.width * (1 - scale), x));
    this.y = Math.min(0, Math.max(r.height * (1 - scale), y));
    if (scale === 1) this.x = this.y = 0;
    this.video.style.transform = scale === 1 ? '' : `translate(${this.x}px, ${this.y}px) scale(${scale})`;
    this.box.dataset.zoom = scale.toFixed(2);
    this.reset.hidden = scale === 1;
  }

  private spread(): number {
    const [a, b] = [...this.pointers.values()];
    return a && b ? Math.hypot(a.x - b.x, a.y - b.y) || 1 : 1;
  }

  private centre(): { x: number; y: number } {
    const [a, b] = [...this.pointers.values()];
    return a && b ? { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 } : { x: 0, y: 0 };
  }
}
