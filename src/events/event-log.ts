import type { Logger } from 'pino';
import type { Db } from '../db/connection.js';
import { logEvent, type NewEvent } from '../db/event.repo.js';
import type { Severity } from '../db/schema.js';
import type { Clock } from '../shared/clock.js';
import { redactDeep } from '../shared/redact.js';

export interface EmitEvent {
  type: string;
  severity?: Severity;
  cameraId?: string | null;
  payload?: Record<string, unknown>;
  /**
   * Required on purpose: a route passes its request id, a background service passes null.
   * There is no ambient context, so a recorder started by a request never inherits its id.
   */
  requestId: string | null;
}

export type EventListener = (e: NewEvent & { id: number }) => void;

/** The event log: every event is stored, logged and published to in-process listeners. */
export class EventLog {
  private readonly listeners = new Set<EventListener>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Never throws: losing an event must not break the work that emitted it. */
  async emit(e: EmitEvent): Promise<void> {
    // Payloads are built from redacted strings already; this is the last line of defence.
    const payload = redactDeep(e.payload ?? {});
    const event: NewEvent = {
      tsMs: this.clock.nowMs(),
      type: e.type,
      severity: e.severity ?? 'info',
      cameraId: e.cameraId ?? null,
      payload,
      requestId: e.requestId,
    };
    const level = event.severity === 'critical' ? 'error' : event.severity === 'warning' ? 'warn' : 'info';
    this.log[level]({ event: event.type, cameraId: event.cameraId, reqId: event.requestId ?? undefined, ...payload }, event.type);
    try {
      const id = await logEvent(this.db, event);
      for (const l of this.listeners) l({ ...event, id });
    } catch (err) {
      this.log.error({ err, event: event.type }, 'failed to store event');
    }
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
