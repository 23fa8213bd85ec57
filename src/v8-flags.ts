/**
 * The V8 settings the sidecar runs with, applied when this module is
 * evaluated: main.ts imports it first, before anything else is loaded.
 *
 * Allocation-site pretenuring is off. Once the young generation has grown
 * to its maximum, V8 starts allocating an object literal's later objects
 * straight into old space when most of the earlier ones outlived a
 * scavenge. Under load, a call's short-lived objects can pass that test
 * (the cache's entries, or a call that was in flight at a scavenge), and a
 * pretenured object that dies at once still keeps whatever young objects
 * it points to alive until the next full GC: the scavenger treats old
 * space as live. Those are promoted, their own literals' sites then pass
 * the test too, and it feeds itself. Measured at 500 calls/s through the
 * engine's client (bench/FINDINGS.md, change 18): 2.8 MB promoted per
 * scavenge (every call's whole graph, about 12 KB) with 10-14 ms pauses and
 * a full GC every 5 s; with pretenuring off, 0.1 MB and 1.5-2 ms, and full
 * GCs far rarer (none in two 30 s windows with the cache full). test/unit/v8-flags.test.ts shows the
 * effect on this V8, and that the entry point turns it off.
 *
 * `v8.setFlagsFromString` after start-up is enough for this flag: V8 reads
 * it each time it digests a scavenge's pretenuring feedback, and it is set
 * before the server exists, so no decision has been learned from calls.
 *
 * The young generation's size is not set here: V8 fixes it when the
 * process starts, so `--max-semi-space-size=8` is on the command line (the
 * image's ENTRYPOINT and `npm start`). Left to itself, Node sizes it from
 * the container's memory limit, and under deploy/sidecar's 256Mi that is a
 * 1 MB semi-space: a scavenge every 18 calls at 500/s, against 8 MB's
 * every 140 (bench/FINDINGS.md, change 20).
 */
import { setFlagsFromString } from "node:v8";

setFlagsFromString("--no-allocation-site-pretenuring");
