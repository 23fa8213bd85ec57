/**
 * What a full GC of the sidecar's heap costs, stage by stage: after each
 * import and each step main.ts takes to start, the heap in use and the
 * median of five non-incremental full GCs. The full GC's pause is what
 * decides the sidecar's p99 and max rate (bench/FINDINGS.md), and most of it
 * is paid for the heap the sidecar starts with.
 *
 *   npx tsc -p tsconfig.bench.json && taskset -c 0 node --expose-gc dist/bench/heap-gc.js
 *
 * Times vary by a third between processes on a shared VM; compare stages
 * within one run.
 *
 * With --reference it prints only the first stage's time, in ms, and
 * exits: bench/run.ts takes it before and after a run as a measure of the
 * machine that day (bench/README.md, Columns).
 */
import { existsSync, readFileSync } from "node:fs";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  process.stderr.write("run with node --expose-gc\n");
  process.exit(2);
}

/** The median of five non-incremental full GCs of the heap as it is, in ms. */
function fullGcMs(): number {
  const ms: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    gc?.();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return ms[2] ?? Number.NaN;
}

if (process.argv.includes("--reference")) {
  process.stdout.write(`${fullGcMs().toFixed(2)}\n`);
  process.exit(0);
}

const rows: [string, string, string][] = [];
function stage(label: string): void {
  rows.push([label, `${(process.memoryUsage().heapUsed / 1e6).toFixed(1)} MB`, `${fullGcMs().toFixed(1)} ms`]);
}

stage("bare Node");
const { loadConfig } = await import("../src/config/load-config.js");
stage("+ import config");
const { createLogger } = await import("../src/observability/logger.js");
const { createMetrics } = await import("../src/observability/metrics.js");
stage("+ import logger, metrics");
const { createBackend } = await import("../src/backend/create-backend.js");
stage("+ import backends (undici, protobuf-es, gen/)");
const { createServer } = await import("../src/server.js");
stage("+ import server (connect-node, the rest)");
const config = loadConfig(
  ["--set", "server.grpc_addr=127.0.0.1:0", "--set", "server.admin_addr=127.0.0.1:0"],
  { ML_SERVICE_URL: "http://127.0.0.1:9" },
  { readFile: (p) => readFileSync(p, "utf8"), exists: existsSync },
);
const metrics = createMetrics();
const backend = createBackend(config, { metrics });
const sidecar = createServer({ config, logger: createLogger("warn"), metrics, backend });
stage("+ config, metrics, backend, server made");
await sidecar.start();
stage("+ listening");

const w = [Math.max(...rows.map((r) => r[0].length)), 8, 8];
const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i] ?? 0)).join(" | ")} |`;
process.stdout.write(`${[line(["stage", "heap", "full GC"]), line(w.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n")}\n`);
process.exit(0);
