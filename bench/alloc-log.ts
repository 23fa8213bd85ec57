/**
 * Preloaded into every Node server the benchmark measures (`node --import
 * ./dist/bench/alloc-log.js ...`): counts the bytes the process allocates on
 * V8's heap between two SIGUSR2s, and writes the count to
 * `$ALLOC_LOG_DIR/<pid>` at the second. Allocated bytes per call hardly move
 * with the machine's speed, where CPU and latency do (bench/README.md,
 * Columns), so a run on a slow day still says whether a change allocates
 * more or less per call.
 *
 * How: the heap in use is what was allocated minus what the collector
 * freed, and V8's GCProfiler records the heap in use before and after every
 * collection. So the allocation over a window is the sum, over its
 * collections, of (in use before this one − in use after the previous one),
 * plus the growth since the last one.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { GCProfiler, getHeapStatistics } from "node:v8";

interface GcStat {
  beforeGC: { heapStatistics: { usedHeapSize: number } };
  afterGC: { heapStatistics: { usedHeapSize: number } };
}

/**
 * Opens a window: the returned function closes it and gives the bytes
 * allocated on V8's heap in between, in this thread.
 */
export function allocationWindow(): () => number {
  const profiler = new GCProfiler();
  profiler.start();
  const usedAtStart = getHeapStatistics().used_heap_size;
  return () => {
    const usedAtEnd = getHeapStatistics().used_heap_size;
    const stats = (profiler.stop()?.statistics ?? []) as GcStat[];
    let allocated = 0;
    let last = usedAtStart;
    for (const s of stats) {
      allocated += s.beforeGC.heapStatistics.usedHeapSize - last;
      last = s.afterGC.heapStatistics.usedHeapSize;
    }
    return allocated + usedAtEnd - last;
  };
}

const dir = process.env.ALLOC_LOG_DIR;
if (dir !== undefined) {
  let close: (() => number) | undefined;
  process.on("SIGUSR2", () => {
    if (close === undefined) {
      close = allocationWindow();
      return;
    }
    const allocated = close();
    close = undefined;
    writeFileSync(join(dir, String(process.pid)), `${allocated}\n`);
  });
}
