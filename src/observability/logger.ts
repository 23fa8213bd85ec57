/**
 * Structured JSON logs (pino). Tokens and request bodies are never logged at
 * info level; credentials are redacted wherever they could appear.
 */
import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

/** Paths pino blanks out in every line. */
export const REDACT = [
  "token",
  "*.token",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "req.headers.authorization",
];

/** Creates the logger; `destination` is injected by tests. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "aiops-ml-sidecar" },
    redact: { paths: REDACT, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
