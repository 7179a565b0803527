import type { Db } from '../db/connection.js';
import { incidentFacts, REPORT_AUDIT_LIMIT, type AuditRow } from '../db/incident-report.repo.js';
import { notFound } from '../shared/errors.js';
import { toIso } from '../shared/time.js';

export interface ReportContext {
  incidentId: string;
  generatedAtMs: number;
  generatedBy: string;
  vigilVersion: string;
  keyFingerprint: string;
}

const esc = (v: unknown): string =>
  String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const table = (head: string[], rows: unknown[][], empty: string): string =>
  rows.length === 0
    ? `<p class="empty">${esc(empty)}</p>`
    : `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
        .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
        .join('')}</tbody></table>`;

const who = (a: AuditRow) => (a.actorName ? `${a.actorName} (${a.actorKind === 'api_key' ? 'API key' : a.actorKind})` : a.actorKind);
const detailText = (d: Record<string, unknown> | null) =>
  d ? Object.entries(d).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ') : '';

/**
 * An incident's chain of custody as one printable HTML page: what footage is held and its hashes,
 * who held and tagged it and when (and why, as they said), every export with its bundle's hashes,
 * every access to the footage from the audit log, and the holes in the recording. No script; the
 * styles are inline so it prints the same saved to a file.
 */
export async function incidentReportHtml(db: Db, ctx: ReportContext): Promise<string> {
  const f = await incidentFacts(db, ctx.incidentId);
  if (f.segments.length === 0 && f.exports.length === 0) throw notFound(`incident "${ctx.incidentId}" not found`, 'id');
  const holds = f.audit.filter((a) => a.action.startsWith('evidence.'));
  const access = f.audit.filter((a) => !a.action.startsWith('evidence.'));
  const bytes = f.segments.reduce((a, s) => a + s.sizeBytes, 0);
  const cameras = [...f.spans.entries()].map(([id, sp]) => {
    const segs = f.segments.filter((s) => s.cameraId === id);
    return [id, toIso(sp.startMs), toIso(sp.endMs), segs.length, segs.filter((s) => s.evidenceLocked).length, segs.filter((s) => s.sha256 === null).length];
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Incident ${esc(ctx.incidentId)}: chain of custody</title>
<style>
body{font:13px/1.45 system-ui,sans-serif;margin:2em;color:#111}
h1{font-size:20px}h2{font-size:15px;margin-top:1.8em;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}td{font-variant-numeric:tabular-nums}.mono{font-family:ui-monospace,monospace;word-break:break-all}
.empty{color:#555;font-style:italic}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}
@media print{body{margin:0}h2{break-after:avoid}tr{break-inside:avoid}}
</style></head><body>
<h1>Incident ${esc(ctx.incidentId)}: chain of custody</h1>
<dl>
<dt>Generated</dt><dd>${esc(toIso(ctx.generatedAtMs))} by ${esc(ctx.generatedBy)} (Vigil ${esc(ctx.vigilVersion)})</dd>
<dt>Footage held</dt><dd>${f.segments.length} segments, ${bytes} bytes, ${f.spans.size} cameras</dd>
<dt>Signing key</dt><dd class="mono">${esc(ctx.keyFingerprint)}</dd>
<dt>Times</dt><dd>UTC, from the recording host's clock (no bound on its error is claimed)</dd>
</dl>
<h2>Footage by camera</h2>
${table(['Camera', 'First start', 'Last end', 'Segments', 'Held', 'Not hashed'], cameras, 'No footage is tagged with this incident.')}
<h2>Holds and tags</h2>
${table(['When', 'Who', 'Action', 'Target', 'Outcome', 'Detail', 'Request'], holds.map((a) => [toIso(a.tsMs), who(a), a.action, a.target, a.outcome, detailText(a.detail), a.requestId]), 'No hold or tag is in the audit log.')}
<h2>Exports</h2>
${table(
  ['Export', 'Requested', 'By', 'Reason', 'Range', 'State', 'Bundle SHA-256', 'Manifest SHA-256', 'Bytes'],
  f.exports.map((e) => [e.id, toIso(e.createdAtMs), e.requestedBy, e.reason, `${toIso(e.fromMs)} – ${toIso(e.toMs)} (${e.cameraIds.join(', ')})`, e.state, e.sha256, e.manifestSha256, e.sizeBytes]),
  'No export was made for this incident.',
)}
<h2>Access to the footage</h2>
${table(['When', 'Who', 'Action', 'Target', 'Outcome', 'Detail', 'From', 'Request'], access.map((a) => [toIso(a.tsMs), who(a), a.action, a.target, a.outcome, detailText(a.detail), a.clientAddr, a.requestId]), 'Nobody has viewed, downloaded or exported this footage.')}
${f.audit.length >= REPORT_AUDIT_LIMIT ? `<p><strong>Only the first ${REPORT_AUDIT_LIMIT} audit rows are shown.</strong></p>` : ''}
<h2>Gaps in the recording</h2>
${table(['Camera', 'From', 'To', 'Seconds', 'Refill'], f.gaps.map((g) => [g.cameraId, toIso(g.gapStartMs), toIso(g.gapEndMs), (g.gapEndMs - g.gapStartMs) / 1000, g.fillState]), 'No gap within the incident\'s footage.')}
<h2>Segments</h2>
${table(
  ['Id', 'Camera', 'Start', 'End', 'Bytes', 'Source', 'Held', 'SHA-256', 'Chain link'],
  f.segments.map((s) => [s.id, s.cameraId, toIso(s.startMs), toIso(s.endMs), s.sizeBytes, s.source, s.evidenceLocked ? 'yes' : 'no', s.sha256 ?? 'not hashed', s.chainSeq ?? '']),
  'None.',
)}
</body></html>
`;
}
