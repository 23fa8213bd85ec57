/**
 * Run by test/unit/v8-flags.test.ts in a process of its own, with
 * --expose-gc and a 1 MB young generation (at its maximum from the start,
 * which is when V8 makes pretenuring decisions). Imports the module given
 * as the first argument (none for the control), teaches V8 to pretenure one
 * object literal, then makes that literal's objects die at once while each
 * points to a fresh 1 KB array, and prints how many bytes the scavenges
 * moved into old space: pretenured, the dead objects keep their arrays
 * alive into it; not, nothing is promoted.
 */
import v8 from "node:v8";

const [modulePath] = process.argv.slice(2);
if (modulePath !== undefined && modulePath !== "none") {
  // main.js serves unless asked for its usage: --help makes it import, print and return.
  process.argv.push("--help");
  await import(modulePath);
}

const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space")?.space_used_size ?? 0;
/** One allocation site. */
const make = (payload) => ({ payload, n: 1 });

// The site's objects outlive several scavenges: V8 learns to pretenure it.
const keep = [];
for (let round = 0; round < 6; round++) {
  for (let i = 0; i < 2000; i++) keep.push(make(null));
  globalThis.gc({ type: "minor" });
}
keep.length = 0;

// Now they die at once, each pointing to a young 1 KB array. What two
// scavenges move into old space is promoted: measured around them alone,
// so that a full GC between rounds does not count.
let promoted = 0;
let made = 0;
for (let round = 0; round < 10; round++) {
  for (let i = 0; i < 1000; i++) made += make(new Array(128).fill(i)).n;
  const before = oldSpace();
  globalThis.gc({ type: "minor" });
  globalThis.gc({ type: "minor" });
  promoted += oldSpace() - before;
}
process.stdout.write(`${JSON.stringify({ promotedBytes: promoted, made })}\n`);
