import * as repo from '../db/auth.repo.js';
import type { Db } from '../db/connection.js';
import type { AuditOutcome } from '../db/schema.js';
import type { Clock } from '../shared/clock.js';
import type { Principal } from './auth.service.js';

export interface AuditEntry {
  principal: Principal | null;
  /** Vigil itself (start-up) or the command line, when there is no principal. */
  system?: boolean;
  /** The name typed at a failed sign-in, when there is no principal. */
  actorName?: string | null;
  action: string;
  target: string | null;
  requestId: string | null;
  clientAddr: string | null;
  outcome: AuditOutcome;
  statusCode: number | null;
  detail?: Record<string, unknown> | null;
}

/** The audit trail: append-only (triggers refuse UPDATE and DELETE), never holds a secret. */
export class AuditLog {
  constructor(private readonly d: { db: Db; clock: Clock }) {}

  async write(e: AuditEntry): Promise<void> {
    await repo.insertAudit(this.d.db, {
      tsMs: this.d.clock.nowMs(),
      // A node relaying a viewer acts as the system (the entry node audited the viewer).
      actorKind: e.principal ? (e.principal.kind === 'node' ? 'system' : e.principal.kind) : e.system ? 'system' : 'anonymous',
      actorId: e.principal?.id ?? null,
      actorName: e.principal?.name ?? e.actorName ?? null,
      action: e.action,
      target: e.target,
      requestId: e.requestId,
      clientAddr: e.clientAddr,
      outcome: e.outcome,
      statusCode: e.statusCode,
      // Redacted by the repository that stores it (every writer goes through it).
      detail: e.detail ?? null,
    });
  }

  query(f: repo.AuditFilter): Promise<repo.AuditRow[]> {
    return repo.queryAudit(this.d.db, f);
  }
}
