import pino from 'pino';
import type { Logger } from 'pino';

/** A JSON logger (pino) on stdout at `level`. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
