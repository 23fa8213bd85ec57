/**
 * The benchmark's allocation column (bench/alloc-log.ts) adds up the heap in
 * use around every collection in a window; these hold it to allocations of
 * a known size, with and without collections inside the window.
 */
import { describe, expect, test } from "vitest";
import { allocationWindow } from "../../bench/alloc-log.js";

/** A JSArray (32 bytes) and its FixedDoubleArray (16 + 8 per element): 8048 bytes for 1000 doubles. */
const ARRAY_BYTES = 32 + 16 + 8 * 1000;

function allocate(count: number, keep: unknown[]): void {
  for (let i = 0; i < count; i++) {
    const a = new Array<number>(1000).fill(0.5);
    if (i % 100 === 0) keep.push(a);
  }
}

describe("bytes allocated in a window", () => {
  test("counts what was freed by the collections inside it, not only what is left", () => {
    const keep: unknown[] = [];
    const close = allocationWindow();
    allocate(20_000, keep); // 161 MB: many scavenges on the way
    const bytes = close();
    expect(keep.length).toBe(200);
    expect(bytes / (20_000 * ARRAY_BYTES)).toBeGreaterThan(0.95);
    expect(bytes / (20_000 * ARRAY_BYTES)).toBeLessThan(1.1);
  });

  test("a window with nothing in it counts next to nothing", () => {
    const close = allocationWindow();
    const bytes = close();
    expect(Math.abs(bytes)).toBeLessThan(64 * 1024);
  });
});
