/**
 * One interval timer for every watcher of the same period. Each timer of its own wakes the process
 * on its own: 16 recorders' watchdogs of 250 ms, started at different instants, woke an otherwise idle
 * Vigil 64 times a second, ~0.5 % of a core on this project's VMs for the wake-ups alone (docs/proof.md);
 * one shared timer wakes it 4 times. The timer runs while anyone watches and is cleared with the last.
 * A watcher's first call comes within one period of `watch` (not exactly one period after it).
 * Watchers are called in the order they started watching.
 */
export class SharedTick {
  private readonly watchers = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly everyMs: number) {}

  /** Calls `fn` at each tick until the returned function is called. */
  watch(fn: () => void): () => void {
    // A wrapper of its own: the same function watched twice is two watchers.
    const watcher = () => fn();
    this.watchers.add(watcher);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.everyMs);
      // A watchdog or a sampler never keeps the process alive: what it watches does.
      this.timer.unref();
    }
    return () => {
      this.watchers.delete(watcher);
      if (this.watchers.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** Whether the timer runs (someone watches). */
  get running(): boolean {
    return this.timer !== undefined;
  }

  private tick(): void {
    let failure: { err: unknown } | undefined;
    // A copy: a watcher may stop watching (or start another) during the tick.
    for (const w of [...this.watchers]) {
      try {
        w();
      } catch (err) {
        failure ??= { err };
      }
    }
    // One watcher's throw does not cost the others their tick; it is thrown as a timer of its own would.
    if (failure) throw failure.err;
  }
}

/**
 * The process's quarter-second tick: the recorders' watchdogs and the event-loop lag sampler look at
 * the same wake-ups. Each wake-up of an otherwise idle process costs ~150 µs of a core on this
 * project's VMs (a 100-ms timer of its own alone: 0.15 % of a core; docs/proof.md).
 */
export const quarterSecondTick = new SharedTick(250);
