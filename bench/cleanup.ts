/** Everything a benchmark starts (processes, temp dirs) is registered here and undone at the end or on SIGINT/SIGTERM. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Undo = () => Promise<void> | void;

const undos = new Map<number, { what: string; fn: Undo }>();
let nextId = 1;
let interrupted = false;

/** Registers `fn`; the returned function runs it now (once) and unregisters it. */
export function defer(what: string, fn: Undo): () => Promise<void> {
  const id = nextId++;
  undos.set(id, { what, fn });
  return async () => {
    const u = undos.get(id);
    if (!u) return;
    undos.delete(id);
    await u.fn();
  };
}

/** Runs every registered undo, newest first; never throws. */
export async function cleanupAll(): Promise<void> {
  const list = [...undos.entries()].reverse();
  undos.clear();
  for (const [, u] of list) {
    try {
      await u.fn();
    } catch (err) {
      process.stderr.write(`bench: cleanup of ${u.what} failed: ${String(err)}\n`);
    }
  }
}

/** A temp dir removed at cleanup; the returned `remove` removes it earlier. */
export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  const remove = defer(`temp dir ${path}`, () => rm(path, { recursive: true, force: true }));
  return { path, remove };
}

export function wasInterrupted(): boolean {
  return interrupted;
}

export function installSignalHandlers(): void {
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) {
      process.stderr.write(`bench: second ${sig}, exiting without cleanup\n`);
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\nbench: ${sig}: stopping every process and removing temp dirs…\n`);
    void cleanupAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
