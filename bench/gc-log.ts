/**
 * Preloaded into a server by `bench/run.ts --gc-share`
 * (`node --import ./dist/bench/gc-log.js ...`): writes one line per
 * collector pause to the file named by GC_LOG, "start_ns duration_ns kind"
 * on the wall clock, so that the pauses can be set against a client's
 * per-call times. kind is perf_hooks' constant: 1 scavenge, 4 mark-compact,
 * 8 incremental marking step, 16 weak callbacks.
 */
import { createWriteStream } from "node:fs";
import { PerformanceObserver, performance } from "node:perf_hooks";

const file = process.env.GC_LOG;
if (file !== undefined) {
  const out = createWriteStream(file);
  const origin = performance.timeOrigin;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0;
      out.write(`${Math.round((origin + e.startTime) * 1e6)} ${Math.round(e.duration * 1e6)} ${kind}\n`);
    }
  }).observe({ entryTypes: ["gc"] });
}
