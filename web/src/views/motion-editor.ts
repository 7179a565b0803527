/**
 * Motion settings of one camera, drawn on a recent picture of it: masks (never looked at) and named
 * zones (where motion was) as polygons — click to add points, drag a point to move it, Finish to close
 * the shape — each also editable as text (`x,y x,y …`, relative 0..1) for the keyboard; sensitivity,
 * minimum area, rate and post-roll. Saved with one PATCH of `motion`; the API's 400 names the field,
 * and its message is shown next to that field.
 */
import { api, ApiError, apiUrl, errorText } from '../api.js';
import { h } from '../dom.js';
import { href } from '../router.js';
import type { Camera, Timeline } from '../types.js';
import type { View, ViewContext } from './view.js';

type Point = [number, number];
interface Shape {
  kind: 'mask' | 'zone';
  /** A zone's name; empty for a mask (listed by its place). */
  name: string;
  points: Point[];
}
type Setting = 'enabled' | 'sensitivity' | 'min_area_percent' | 'fps' | 'post_roll_seconds';
const SETTINGS: Setting[] = ['enabled', 'sensitivity', 'min_area_percent', 'fps', 'post_roll_seconds'];
/** Where a refused save's message goes: a setting, or the name or points of the n-th mask / zone. */
type FieldRef = { setting: Setting } | { kind: Shape['kind']; n: number; part: 'name' | 'points' };

/** `motion.sensitivity`, `motion.zones[1].polygon[3]`, `motion.masks[0]` → what it names; null when none of ours. */
export function fieldRef(field: string): FieldRef | null {
  const setting = /^motion\.([a-z_]+)$/.exec(field)?.[1];
  if (setting && (SETTINGS as string[]).includes(setting)) return { setting: setting as Setting };
  const m = /^motion\.(masks|zones)\[(\d+)\](?:\.(name|polygon))?/.exec(field);
  if (!m) return null;
  return { kind: m[1] === 'masks' ? 'mask' : 'zone', n: Number(m[2]), part: m[3] === 'name' ? 'name' : 'points' };
}

const SVG = 'http://www.w3.org/2000/svg';
const round = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;

export function pointsText(points: Point[]): string {
  return points.map(([x, y]) => `${x},${y}`).join(' ');
}

/** `x,y x,y …` → points, or null when a pair is not two numbers in 0..1. */
export function parsePoints(text: string): Point[] | null {
  const out: Point[] = [];
  for (const pair of text.trim().split(/\s+/).filter(Boolean)) {
    const m = /^(-?\d*\.?\d+),(-?\d*\.?\d+)$/.exec(pair);
    if (!m) return null;
    const x = Number(m[1]);
    const y = Number(m[2]);
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) return null;
    out.push([x, y]);
  }
  return out;
}

export class MotionEditorView implements View {
  readonly el: HTMLElement;
  private readonly svg: SVGSVGElement;
  private readonly img: HTMLImageElement;
  private readonly shapesList: HTMLUListElement;
  private readonly status: HTMLElement;
  private readonly inputs: Record<Setting, HTMLInputElement>;
  private readonly errors: Record<Setting, HTMLElement>;
  /** The API's refusal of a shape, shown on that shape's row until the next save. */
  private shapeError: { ref: Extract<FieldRef, { kind: Shape['kind'] }>; message: string } | null = null;
  private shapes: Shape[] = [];
  /** The shape being drawn (not yet in `shapes`). */
  private drawing: Shape | null = null;
  private drag: { shape: Shape; index: number } | null = null;
  private gone = false;

  constructor(ctx: ViewContext, private readonly cameraId: string) {
    ctx.setTitle(`Motion: ${cameraId}`);
    this.img = h('img', { alt: `Recent picture of ${cameraId}` });
    this.svg = document.createElementNS(SVG, 'svg');
    this.svg.setAttribute('viewBox', '0 0 1 1');
    this.svg.setAttribute('preserveAspectRatio', 'none');
    this.svg.setAttribute('aria-hidden', 'true');
    this.svg.addEventListener('pointerdown', (e) => this.pointerDown(e));
    this.svg.addEventListener('pointermove', (e) => this.pointerMove(e));
    this.svg.addEventListener('pointerup', () => (this.drag = null));
    this.shapesList = h('ul', { class: 'shapes', 'aria-label': 'Masks and zones' });
    this.status = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
    const num = (id: string, min: number, max: number, step: number) =>
      h('input', { id, type: 'number', min, max, step, required: true, 'aria-describedby': `${id}-error` });
    this.inputs = {
      enabled: h('input', { id: 'mo-enabled', type: 'checkbox', 'aria-describedby': 'mo-enabled-error' }),
      sensitivity: num('mo-sensitivity', 1, 100, 1),
      min_area_percent: num('mo-min-area', 0.01, 100, 0.01),
      fps: num('mo-fps', 1, 15, 1),
      post_roll_seconds: num('mo-post-roll', 0, 120, 1),
    };
    const errorOf = (s: Setting) => h('p', { class: 'field-error', id: `${this.inputs[s].id}-error`, 'data-field': `motion.${s}`, 'aria-live': 'polite' });
    this.errors = { enabled: errorOf('enabled'), sensitivity: errorOf('sensitivity'), min_area_percent: errorOf('min_area_percent'), fps: errorOf('fps'), post_roll_seconds: errorOf('post_roll_seconds') };
    const row = (s: Setting, text: string) => [h('label', { for: this.inputs[s].id }, text), this.inputs[s], this.errors[s]];
    const form = h('form', { class: 'card', 'aria-label': 'Motion settings', novalidate: true },
      h('div', { class: 'settings' },
        ...row('enabled', 'Detect motion'),
        ...row('sensitivity', 'Sensitivity (1–100)'),
        ...row('min_area_percent', 'Minimum area (% of picture)'),
        ...row('fps', 'Pictures compared per second'),
        ...row('post_roll_seconds', 'Post-roll (s)')),
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', onclick: () => this.begin('mask') }, 'Draw a mask'),
        h('button', { type: 'button', onclick: () => this.begin('zone') }, 'Draw a zone'),
        h('button', { type: 'button', onclick: () => this.finish() }, 'Finish shape'),
        h('button', { type: 'submit' }, 'Save'),
        h('a', { class: 'button secondary', href: href({ name: 'camera', id: cameraId }) }, 'Back to camera')),
      this.shapesList, this.status);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.save();
    });
    this.el = h('section', { class: 'motion-editor' },
      h('div', { class: 'page-head' }, h('h1', {}, `Motion: ${cameraId}`)),
      h('p', { class: 'muted' }, 'Click on the picture to add points, drag a point to move it, Finish shape to close it (Escape cancels). Masks are never looked at; zones name where motion was.'),
      h('div', { class: 'stage' }, this.img, this.svg),
      form);
    this.el.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.drawing) {
        this.drawing = null;
        this.draw();
      }
    });
    void this.load();
  }

  unmount(): void {
    this.gone = true;
  }

  private async load(): Promise<void> {
    let cam: Camera;
    try {
      cam = await api<Camera>(`/cameras/${encodeURIComponent(this.cameraId)}`);
    } catch (err) {
      this.status.textContent = `Could not load camera: ${errorText(err)}`;
      return;
    }
    if (this.gone) return;
    const m = cam.motion;
    this.inputs.enabled.checked = m.enabled;
    this.inputs.sensitivity.value = String(m.sensitivity);
    this.inputs.min_area_percent.value = String(m.min_area_percent);
    this.inputs.fps.value = String(m.fps);
    this.inputs.post_roll_seconds.value = String(m.post_roll_seconds);
    this.shapes = [
      ...m.masks.map((p) => ({ kind: 'mask' as const, name: '', points: p.map(([x, y]) => [x, y] as Point) })),
      ...m.zones.map((z) => ({ kind: 'zone' as const, name: z.name, points: z.polygon.map(([x, y]) => [x, y] as Point) })),
    ];
    this.draw();
    // The picture: a frame from the newest recorded footage.
    const now = Date.now();
    const t = await api<Timeline>(`/cameras/${encodeURIComponent(this.cameraId)}/timeline`, { query: { from: new Date(now - 3600_000).toISOString(), to: new Date(now).toISOString() } }).catch(() => null);
    const end = t?.spans.at(-1)?.end;
    if (end && !this.gone) this.img.src = apiUrl(`/cameras/${encodeURIComponent(this.cameraId)}/snapshot.jpg`, { at: new Date(Date.parse(end) - 1000).toISOString(), width: 960 });
    else this.img.alt = 'No recent recording to draw on: the shapes are drawn on black.';
  }

  private begin(kind: Shape['kind']): void {
    // A zone gets a free name (names are unique); a mask is named by its place when listed.
    let n = this.shapes.filter((s) => s.kind === kind).length + 1;
    while (kind === 'zone' && this.shapes.some((s) => s.kind === 'zone' && s.name === `zone${n}`)) n++;
    this.drawing = { kind, name: kind === 'zone' ? `zone${n}` : '', points: [] };
    this.status.textContent = `Drawing a ${kind}: click on the picture to add its points, then Finish shape.`;
    this.draw();
  }

  private finish(): void {
    const d = this.drawing;
    if (!d) return;
    if (d.points.length < 3) {
      this.status.textContent = 'A shape needs at least 3 points.';
      return;
    }
    this.shapes.push(d);
    this.drawing = null;
    this.status.textContent = `${d.kind === 'zone' ? `Zone ${d.name}` : `Mask ${this.shapes.filter((s) => s.kind === 'mask').length}`} added; Save to keep it.`;
    this.draw();
  }

  private at(e: PointerEvent): Point {
    const r = this.svg.getBoundingClientRect();
    return [round((e.clientX - r.left) / Math.max(1, r.width)), round((e.clientY - r.top) / Math.max(1, r.height))];
  }

  private pointerDown(e: PointerEvent): void {
    const target = e.target as Element;
    const idx = target.getAttribute('data-point');
    const shapeIdx = target.getAttribute('data-shape');
    if (idx !== null && shapeIdx !== null) {
      const shape = shapeIdx === 'drawing' ? this.drawing : this.shapes[Number(shapeIdx)];
      if (shape) {
        this.drag = { shape, index: Number(idx) };
        this.svg.setPointerCapture(e.pointerId);
        return;
      }
    }
    if (!this.drawing) return;
    this.drawing.points.push(this.at(e));
    this.draw();
  }

  private pointerMove(e: PointerEvent): void {
    if (!this.drag) return;
    this.drag.shape.points[this.drag.index] = this.at(e);
    this.draw();
  }

  private draw(): void {
    const els: SVGElement[] = [];
    const all: Array<[Shape, string]> = [...this.shapes.map((s, i) => [s, String(i)] as [Shape, string]), ...(this.drawing ? [[this.drawing, 'drawing'] as [Shape, string]] : [])];
    for (const [s, key] of all) {
      const poly = document.createElementNS(SVG, key === 'drawing' ? 'polyline' : 'polygon');
      poly.setAttribute('points', pointsText(s.points));
      poly.setAttribute('class', `shape ${s.kind}`);
      poly.setAttribute('fill', s.kind === 'mask' ? 'rgba(248,81,73,.35)' : 'rgba(63,185,80,.3)');
      poly.setAttribute('stroke', s.kind === 'mask' ? '#f85149' : '#3fb950');
      poly.setAttribute('stroke-width', '0.004');
      els.push(poly);
      s.points.forEach(([x, y], i) => {
        const c = document.createElementNS(SVG, 'circle');
        c.setAttribute('cx', String(x));
        c.setAttribute('cy', String(y));
        c.setAttribute('r', '0.012');
        c.setAttribute('fill', '#fff');
        c.setAttribute('data-point', String(i));
        c.setAttribute('data-shape', key);
        c.style.cursor = 'move';
        els.push(c);
      });
    }
    this.svg.replaceChildren(...els);
    this.shapesList.replaceChildren(...this.shapes.map((s, i) => {
      // Its place among its kind: the index the API's field names use (`motion.zones[0].name`).
      const n = this.shapes.slice(0, i).filter((x) => x.kind === s.kind).length;
      const title = () => (s.kind === 'mask' ? `mask ${n + 1}` : s.name ? `zone ${s.name}` : `zone ${n + 1}`);
      const pts = h('input', { 'aria-label': `Points of ${title()} (x,y pairs, 0 to 1)`, value: pointsText(s.points), size: 48 });
      pts.addEventListener('change', () => {
        const parsed = parsePoints(pts.value);
        if (!parsed || parsed.length < 3) {
          this.status.textContent = 'Points are pairs x,y of numbers from 0 to 1, at least 3, separated by spaces.';
          return;
        }
        s.points = parsed;
        this.draw();
      });
      const name = s.kind === 'zone' ? h('input', { 'aria-label': `Name of zone ${n + 1}`, value: s.name, size: 12, maxlength: 40 }) : null;
      // A zone is named "porch" rather than "zone porch" on its Delete button.
      const deleteText = () => `Delete ${s.kind === 'zone' && s.name ? s.name : title()}`;
      const del = h('button', { type: 'button', class: 'link', onclick: () => { this.shapes.splice(i, 1); this.shapeError = null; this.draw(); } }, deleteText());
      // Renamed in place (not redrawn): Tab from the name goes on to its points.
      name?.addEventListener('change', () => {
        s.name = name.value.trim();
        pts.setAttribute('aria-label', `Points of ${title()} (x,y pairs, 0 to 1)`);
        del.textContent = deleteText();
      });
      const err = this.shapeError && this.shapeError.ref.kind === s.kind && this.shapeError.ref.n === n ? this.shapeError : null;
      const errEl = h('p', { class: 'field-error', id: `shape-${i}-error`, 'aria-live': 'polite' }, err?.message ?? '');
      const bad = err ? (err.ref.part === 'name' && name ? name : pts) : null;
      for (const input of [name, pts]) {
        if (!input) continue;
        input.setAttribute('aria-describedby', errEl.id);
        input.setAttribute('aria-invalid', String(input === bad));
      }
      return h('li', {}, h('strong', {}, s.kind === 'zone' ? 'Zone' : 'Mask'), name, pts, del, errEl);
    }));
  }

  private async save(): Promise<void> {
    if (this.drawing) {
      this.finish();
      // Too few points: said so by finish(), and nothing saved without the shape being drawn.
      if (this.drawing) return;
    }
    const n = (el: HTMLInputElement) => Number(el.value);
    const body = {
      motion: {
        enabled: this.inputs.enabled.checked,
        sensitivity: n(this.inputs.sensitivity),
        min_area_percent: n(this.inputs.min_area_percent),
        fps: n(this.inputs.fps),
        post_roll_seconds: n(this.inputs.post_roll_seconds),
        masks: this.shapes.filter((s) => s.kind === 'mask').map((s) => s.points),
        zones: this.shapes.filter((s) => s.kind === 'zone').map((s) => ({ name: s.name, polygon: s.points })),
      },
    };
    this.showError(null, '');
    try {
      await api<Camera>(`/cameras/${encodeURIComponent(this.cameraId)}`, { method: 'PATCH', body });
      this.status.textContent = 'Saved: the detector uses these settings now.';
    } catch (err) {
      const field = err instanceof ApiError && err.field ? err.field : null;
      this.status.textContent = `Not saved${field ? ` (${field})` : ''}: ${errorText(err)}`;
      this.showError(field ? fieldRef(field) : null, errorText(err));
    }
  }

  /** The refusal next to the field it names (and that field focused); null clears every field. */
  private showError(ref: FieldRef | null, message: string): void {
    for (const s of SETTINGS) {
      const here = ref !== null && 'setting' in ref && ref.setting === s;
      this.errors[s].textContent = here ? message : '';
      this.inputs[s].setAttribute('aria-invalid', String(here));
    }
    this.shapeError = ref && 'kind' in ref ? { ref, message } : null;
    this.draw();
    if (ref && 'setting' in ref) this.inputs[ref.setting].focus();
    else if (this.shapeError) this.shapesList.querySelector<HTMLInputElement>('[aria-invalid="true"]')?.focus();
  }
}
