/** What the wait between attempts depends on (the `webhooks:` config). */
export interface RetryPolicy {
  maxAttempts: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

/**
 * The wait after failed attempt `attempt` (1-based). The waits grow geometrically from `backoffInitialMs`
 * (after the first attempt) to `backoffMaxMs` (before the last), so the whole budget spans the range
 * the config names: with the defaults (1 s, 1 h, 8 attempts) 1 s, 3.9 s, 15 s, 1 min, 3.9 min, 15 min, 1 h.
 */
export function retryDelayMs(attempt: number, p: RetryPolicy): number {
  const steps = Math.max(1, p.maxAttempts - 2);
  const ratio = (p.backoffMaxMs / p.backoffInitialMs) ** (1 / steps);
  return Math.round(Math.min(p.backoffMaxMs, p.backoffInitialMs * ratio ** Math.max(0, attempt - 1)));
}
