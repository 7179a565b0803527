import { cameraIdTaken } from '../db/camera.repo.js';
import { decodeCursor, encodeCursor } from '../shared/cursor.js';
import type { Db } from '../db/connection.js';
import {
  getSegment,
  incidentExists,
  listIncidents,
  listIncidentSegments,
  setEvidenceLocked,
  setEvidenceLockedRange,
  setIncident,
  type Incident,
} from '../db/evidence.repo.js';
import type { Segment } from '../db/segment.repo.js';
import type { EventLog } from '../events/event-log.js';
import type { Actor } from '../shared/actor.js';
import { invalidArgument, notFound } from '../shared/errors.js';
import { toIso } from '../shared/time.js';

export interface RangeHold {
  cameraId: string;
  fromMs: number;
  toMs: number;
  segments: number;
  bytes: number;
  /** The tag applied; null when none was given (each segment kept its own). */
  incidentId: string | null;
}

export interface IncidentSegmentPage {
  segments: Segment[];
  nextCursor: string | null;
}

/**
 * Evidence holds and incidents: the durable lock that retention never deletes through, and the case
 * tag that groups held footage. Every change is an event carrying the request id of who asked.
 */
export class EvidenceService {
  constructor(private readonly d: { db: Db; events: EventLog }) {}

  async segment(id: number): Promise<Segment> {
    const s = await getSegment(this.d.db, id);
    if (!s) throw notFound(`segment ${id} not found`, 'id');
    return s;
  }

  /** Holds one segment; without `incidentId` its existing tag is kept. */
  lockSegment(id: number, incidentId: string | undefined, actor: Actor): Promise<Segment> {
    return this.setHold(id, true, incidentId, actor);
  }

  /** Releases one segment's hold; its tag is kept (or replaced when `incidentId` is given). */
  unlockSegment(id: number, incidentId: string | undefined, actor: Actor): Promise<Segment> {
    return this.setHold(id, false, incidentId, actor);
  }

  /** Tags one segment, or clears its tag with null or a blank string (invariant 3); the hold is untouched. */
  async setIncident(id: number, incidentId: string | null, actor: Actor): Promise<Segment> {
    const tag = incidentId === null || incidentId.trim() === '' ? null : incidentId;
    const before = await this.segment(id);
    if ((await setIncident(this.d.db, id, tag)) === 0) throw notFound(`segment ${id} not found`, 'id');
    const after = await this.segment(id);
    await this.d.events.emit({
      type: 'incident_changed',
      cameraId: after.cameraId,
      requestId: actor.requestId,
      payload: { segment_id: id, incident_id: after.incidentId, previous_incident_id: before.incidentId },
    });
    return after;
  }

  /** Holds every segment of a camera overlapping [from, to). */
  lockRange(cameraId: string, fromMs: number, toMs: number, incidentId: string | undefined, actor: Actor): Promise<RangeHold> {
    return this.setRangeHold(cameraId, fromMs, toMs, true, incidentId, actor);
  }

  /** Releases every segment of a camera overlapping [from, to); tags are kept. */
  unlockRange(cameraId: string, fromMs: number, toMs: number, incidentId: string | undefined, actor: Actor): Promise<RangeHold> {
    return this.setRangeHold(cameraId, fromMs, toMs, false, incidentId, actor);
  }

  /** `cameraIds`: only what these cameras hold (a camera-scoped caller); undefined = every camera. */
  incidents(cameraIds?: readonly string[]): Promise<Incident[]> {
    return listIncidents(this.d.db, cameraIds);
  }

  /** An incident with no segment among `cameraIds` is not found, exactly like an unknown one. */
  async incidentSegments(incidentId: string, limit: number, cursor: string | undefined, cameraIds?: readonly string[]): Promise<IncidentSegmentPage> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    if (!(await incidentExists(this.d.db, incidentId, cameraIds))) throw notFound(`incident "${incidentId}" not found`, 'id');
    const segments = await listIncidentSegments(this.d.db, incidentId, limit + 1, after, cameraIds);
    const more = segments.length > limit;
    if (more) segments.pop();
    const last = segments.at(-1);
    return { segments, nextCursor: more && last ? encodeCursor(last.startMs, last.id) : null };
  }

  private async setHold(id: number, locked: boolean, incidentId: string | undefined, actor: Actor): Promise<Segment> {
    const before = await this.segment(id);
    if ((await setEvidenceLocked(this.d.db, id, locked, incidentId)) === 0) throw notFound(`segment ${id} not found`, 'id');
    const after = await this.segment(id);
    await this.d.events.emit({
      type: locked ? 'evidence_locked' : 'evidence_unlocked',
      cameraId: after.cameraId,
      requestId: actor.requestId,
      payload: {
        segment_id: id,
        segments: 1,
        bytes: after.sizeBytes,
        incident_id: after.incidentId,
        previous_incident_id: before.incidentId,
        was_locked: before.evidenceLocked,
      },
    });
    return after;
  }

  private async setRangeHold(
    cameraId: string,
    fromMs: number,
    toMs: number,
    locked: boolean,
    incidentId: string | undefined,
    actor: Actor,
  ): Promise<RangeHold> {
    if (fromMs >= toMs) throw invalidArgument('from must be before to', 'from');
    // A deleted camera's footage stays until retention removes it, and may still need holding.
    const taken = await cameraIdTaken(this.d.db, cameraId);
    if (!taken.live && !taken.deleted) throw notFound(`camera "${cameraId}" not found`, 'id');
    const r = await setEvidenceLockedRange(this.d.db, cameraId, fromMs, toMs, locked, incidentId);
    const hold: RangeHold = { cameraId, fromMs, toMs, segments: r.segments, bytes: r.bytes, incidentId: incidentId ?? null };
    if (r.segments > 0) {
      await this.d.events.emit({
        type: locked ? 'evidence_locked' : 'evidence_unlocked',
        cameraId,
        requestId: actor.requestId,
        payload: {
          from: toIso(fromMs),
          to: toIso(toMs),
          segments: r.segments,
          bytes: r.bytes,
          incident_id: hold.incidentId,
          previous_incident_ids: r.previousIncidentIds,
        },
      });
    }
    return hold;
  }
}
