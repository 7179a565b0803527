/** Time is injected so that services can be tested with a controlled clock. */
export interface Clock {
  /** Milliseconds since the Unix epoch (UTC). */
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/**
 * A monotonic reading in nanoseconds, for measuring how long something took (the event loop's lag):
 * never a time of day, and it does not jump when the wall clock is set. Here with the wall clock so
 * that src/ reads time in one place.
 */
export function monotonicNs(): bigint {
  return process.hrtime.bigint();
}
