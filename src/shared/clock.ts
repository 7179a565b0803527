/** Time is injected so that services can be tested with a controlled clock. */
export interface Clock {
  /** Milliseconds since the Unix epoch (UTC). */
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };
