import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** The root logger; components derive children bound to their ids (`executionId`, `runId`). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { svc: 'troupe' } }, destination ?? pino.destination(2));
}
