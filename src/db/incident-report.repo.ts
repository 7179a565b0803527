import { sql, type Selectable } from 'kysely';
import type { AuditLogTable } from './schema.js';
import type { Db } from './connection.js';
import { engineOf } from './engine.js';
import type { ExportJob } from './export.repo.js';
import { listExports } from './export.repo.js';
import type { Gap } from './gap.repo.js';
import { listGaps } from './gap.repo.js';
import { listIncidentSegments } from './evidence.repo.js';
import type { Segment } from './segment.repo.js';

export interface AuditRow {
  tsMs: number;
  actorKind: string;
  actorName: string | null;
  action: string;
  target: string | null;
  requestId: string | null;
  clientAddr: string | null;
  outcome: string;
  statusCode: number | null;
  detail: Record<string, unknown> | null;
}

export interface IncidentFacts {
  segments: Segment[];
  /** Per camera: the span from the first tagged segment's start to the last one's end. */
  spans: Map<string, { startMs: number; endMs: number }>;
  exports: ExportJob[];
  gaps: Gap[];
  /** Holds and tags (evidence.*) and every access to the footage, oldest first. */
  audit: AuditRow[];
}

/** Audit rows read for one report at most (the report says when it stopped there). */
export const REPORT_AUDIT_LIMIT = 20_000;

const FOOTAGE_ACTIONS = ['footage.export', 'footage.playback', 'footage.snapshot', 'footage.download', 'evidence.lock', 'evidence.unlock', 'evidence.tag'];

/**
 * Everything an incident's chain-of-custody report states: its segments, the exports made for it,
 * the gaps inside its spans, and the audit rows that touched its footage — a hold, tag or download
 * of one of its segments; a clip, playback, snapshot or range hold of one of its cameras whose time
 * overlaps the incident; anything naming the incident or one of its exports.
 */
export async function incidentFacts(db: Db, incidentId: string): Promise<IncidentFacts> {
  const segments: Segment[] = [];
  for (let after: { startMs: number; id: number } | undefined; ; ) {
    const page = await listIncidentSegments(db, incidentId, 1000, after);
    segments.push(...page);
    const last = page.at(-1);
    if (page.length < 1000 || !last) break;
    after = { startMs: last.startMs, id: last.id };
  }
  const spans = new Map<string, { startMs: number; endMs: number }>();
  for (const s of segments) {
    const sp = spans.get(s.cameraId);
    spans.set(s.cameraId, sp ? { startMs: Math.min(sp.startMs, s.startMs), endMs: Math.max(sp.endMs, s.endMs) } : { startMs: s.startMs, endMs: s.endMs });
  }
  const exports = await listExports(db, { limit: 1000, incidentId });
  const gaps: Gap[] = [];
  for (const [cameraId, sp] of spans) gaps.push(...(await listGaps(db, cameraId, sp.startMs, sp.endMs)));

  const segmentTargets = new Set(segments.map((s) => `segment:${s.id}`));
  const exportTargets = new Set(exports.map((e) => `export:${e.id}`));
  const cameraTargets = [...spans.keys()].map((c) => `camera:${c}`);
  // By target (in chunks: an incident may hold thousands of segments), and by the incident named in the detail.
  const targets = [...segmentTargets, ...exportTargets, ...cameraTargets];
  const byId = new Map<number, Selectable<AuditLogTable>>();
  for (let i = 0; i < targets.length; i += 500) {
    const chunk = await db.selectFrom('audit_log').selectAll().where('target', 'in', targets.slice(i, i + 500)).orderBy('id').limit(REPORT_AUDIT_LIMIT).execute();
    for (const r of chunk) byId.set(r.id, r);
  }
  const incidentOfDetail = engineOf(db) === 'postgres' ? sql`(detail::jsonb ->> 'incident_id')` : sql`json_extract(detail, '$.incident_id')`;
  const named = await db.selectFrom('audit_log').selectAll().where(incidentOfDetail, '=', incidentId).limit(REPORT_AUDIT_LIMIT).execute();
  for (const r of named) byId.set(r.id, r);
  const rows = [...byId.values()].sort((a, b) => a.id - b.id).slice(0, REPORT_AUDIT_LIMIT);
  const audit: AuditRow[] = [];
  for (const r of rows) {
    const detail = r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null;
    const target = r.target ?? '';
    let keep = detail?.incident_id === incidentId || segmentTargets.has(target) || exportTargets.has(target);
    if (!keep && target.startsWith('camera:') && FOOTAGE_ACTIONS.includes(r.action)) {
      const sp = spans.get(target.slice('camera:'.length));
      const from = typeof detail?.from === 'string' ? Date.parse(detail.from) : typeof detail?.at === 'string' ? Date.parse(detail.at) : NaN;
      const to = typeof detail?.to === 'string' ? Date.parse(detail.to) : typeof detail?.at === 'string' ? Date.parse(detail.at) + 1 : NaN;
      keep = !!sp && Number.isFinite(from) && Number.isFinite(to) && from < sp.endMs && to > sp.startMs;
    }
    if (!keep) continue;
    audit.push({
      tsMs: r.ts_ms,
      actorKind: r.actor_kind,
      actorName: r.actor_name,
      action: r.action,
      target: r.target,
      requestId: r.request_id,
      clientAddr: r.client_addr,
      outcome: r.outcome,
      statusCode: r.status_code,
      detail,
    });
  }
  return { segments, spans, exports, gaps, audit };
}
