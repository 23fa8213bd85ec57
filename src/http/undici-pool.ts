/**
 * undici's Pool, loaded on its own. undici's main entry also loads fetch,
 * its cache and WebSocket: 5.1 MB of heap on Node 20, against 1.75 MB for
 * the Pool alone, and every full GC of the sidecar walks that heap for as
 * long as it runs (bench/FINDINGS.md, "A cheaper heap at start"). undici has
 * no exports map, so the Pool's own module resolves; should a release move
 * it, the main entry's Pool is used instead, and test/unit/undici-pool.test.ts
 * fails so the move is noticed.
 */
import { createRequire } from "node:module";
import type { Pool as UndiciPool } from "undici";

const require = createRequire(import.meta.url);

/** Which module the Pool came from. */
type PoolSource = "lib/dispatcher/pool.js" | "undici";

function load(): { Pool: typeof UndiciPool; from: PoolSource } {
  try {
    const Pool = require("undici/lib/dispatcher/pool.js") as typeof UndiciPool;
    if (typeof Pool === "function" && typeof Pool.prototype.dispatch === "function") return { Pool, from: "lib/dispatcher/pool.js" };
  } catch {
    // Moved or renamed in this undici: fall through to the main entry.
  }
  return { Pool: (require("undici") as typeof import("undici")).Pool, from: "undici" };
}

const loaded = load();

/** undici's Pool class. */
export const Pool: typeof UndiciPool = loaded.Pool;

/** Where it was loaded from (for the test that notices a move). */
export const poolLoadedFrom: PoolSource = loaded.from;
