import { sleep } from './sleep.js';

/**
 * A background loop for a service that works off due items: it runs `step`, then sleeps until
 * `untilNextMs()` has passed or `wake()` is called (new work, an earlier due time), until `signal`
 * aborts. A step that throws is reported to `onError` and the loop goes on.
 */
export class WakeLoop {
  private wakeCtl = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly o: {
      step: () => Promise<unknown>;
      untilNextMs: () => Promise<number>;
      onError: (err: unknown) => void;
      signal: AbortSignal;
    },
  ) {}

  /** Starts the loop once; later calls do nothing. */
  start(): void {
    this.running ??= this.run();
  }

  /** Ends the current sleep at once (a wake during a step makes the next sleep end at once). */
  wake(): void {
    this.wakeCtl.abort();
  }

  /** Resolves once the loop has ended (after `signal` aborted), or at once if it never started. */
  async ended(): Promise<void> {
    await this.running;
  }

  private async run(): Promise<void> {
    const { signal } = this.o;
    while (!signal.aborted) {
      try {
        await this.o.step();
      } catch (err) {
        this.o.onError(err);
      }
      const wake = this.wakeCtl.signal;
      await sleep(await this.o.untilNextMs(), AbortSignal.any([signal, wake]));
      if (wake.aborted) this.wakeCtl = new AbortController();
    }
  }
}
