import { appendFileSync } from "node:fs";

/** LXC's log levels (lxc.log.level): 0 trace … 8 fatal. */
export const LOG_LEVELS = [
  "TRACE",
  "DEBUG",
  "INFO",
  "NOTICE",
  "WARN",
  "ERROR",
  "CRIT",
  "ALERT",
  "FATAL",
] as const;

/** Where a container's events go: `lxc.log.file` at `lxc.log.level`, or nowhere. */
export interface ContainerLog {
  log(level: number, message: string): void;
}

export const NO_LOG: ContainerLog = { log() {} };

/**
 * A log that appends LXC-style lines (`lxt NAME TIMESTAMP LEVEL what - message`)
 * to `file` for events at or above `threshold`. Write failures are ignored:
 * a full or missing log must never fail a container operation.
 */
export function fileLog(file: string | undefined, threshold: number, name: string): ContainerLog {
  if (!file) return NO_LOG;
  return {
    log(level, message) {
      if (level < threshold) return;
      const stamp = new Date().toISOString().replace("T", " ").replace("Z", "");
      try {
        appendFileSync(file, `lxt ${name} ${stamp} ${LOG_LEVELS[level] ?? level} ${message}\n`, {
          mode: 0o600,
        });
      } catch {
        // Logging is best effort.
      }
    },
  };
}
