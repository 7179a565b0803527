/**
 * Starting a child process blocks the event loop until the child has exec'd: ~10 ms on a quiet
 * machine, 50–100 ms while a restart's ffmpegs load their libraries on every core. Sixteen recorders
 * starting at once then held the loop for over a second in one stretch, and nothing else ran (readyz
 * was answered 1.7 s after the server listened). Each recorder's spawn waits for its own turn of the
 * event loop, one after another, so that the HTTP server, the indexers and the timers run between two.
 */
let last: Promise<void> = Promise.resolve();

/** Resolves in a turn of the event loop of its own, after every turn asked for before it. */
export function spawnTurn(): Promise<void> {
  const turn = last.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  last = turn;
  return turn;
}
