import type { Logger } from 'pino';
import type { Db } from '../db/connection.js';
import { logEvent, type EventRow, type NewEvent } from '../db/event.repo.js';
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
    const event = this.build(e);
    this.logLine(event);
    try {
      const id = await logEvent(this.db, event);
      for (const l of this.listeners) l({ ...event, id });
    } catch (err) {
      this.log.error({ err, event: event.type }, 'failed to store event');
    }
  }

  /**
   * The event as it will be stored (redacted, timed): for a repository that stores it in the same
   * transaction as the change it reports, so that it exists exactly when the change does.
   */
  build(e: EmitEvent): NewEvent {
    return {
      tsMs: this.clock.nowMs(),
      type: e.type,
      severity: e.severity ?? 'info',
      cameraId: e.cameraId ?? null,
      // Payloads are built from redacted strings already; this is the last line of defence.
      payload: redactDeep(e.payload ?? {}),
      requestId: e.requestId,
    };
  }

  /** An event a repository stored (from `build`), once its transaction committed: logged and published. */
  published(event: EventRow): void {
    this.logLine(event);
    for (const l of this.listeners) l(event);
  }

  private logLine(event: NewEvent): void {
    const level = event.severity === 'critical' ? 'error' : event.severity === 'warning' ? 'warn' : 'info';
    this.log[level]({ event: event.type, cameraId: event.cameraId, reqId: event.requestId ?? undefined, ...event.payload }, event.type);
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
