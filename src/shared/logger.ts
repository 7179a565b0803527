import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout; credentials never reach it (URLs are redacted before they are logged). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { app: 'vigil' }, timestamp: pino.stdTimeFunctions.isoTime });
}
