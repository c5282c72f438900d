/** Structured logs (pino). Keys, signatures and payloads never reach a log line. */
import pino, { type Logger } from "pino";

export const REDACT_PATHS = [
  "pubKey",
  "signature",
  "payload",
  "*.pubKey",
  "*.signature",
  "*.payload",
  "password",
  "*.password",
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: "dai-gateway",
      level,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type { Logger };
