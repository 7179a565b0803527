import { parentPort, workerData } from 'node:worker_threads';
import { backupCatalogFile } from './backup.js';

/** Runs one catalog copy off the main thread (db/backup.ts, `backupInWorker`) and posts its outcome. */
const { sourceFile, destFile } = workerData as { sourceFile: string; destFile: string };
backupCatalogFile(sourceFile, destFile).then(
  (progress) => parentPort?.postMessage({ ok: true, progress }),
  (err: unknown) => parentPort?.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) }),
);
