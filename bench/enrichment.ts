/**
 * The enrichment benchmark: building the 45-feature vector the sidecar's way
 * (one scope query, then five queries in parallel, statistics derived
 * locally) and the engine's way (35 sequential instant queries: per base
 * metric the value, four subquery statistics and two lags), against the same
 * real Prometheus loaded with the test cluster.
 */
import { pino } from "pino";
import { Pool } from "undici";
import { createCallContext } from "../src/api/call-context.js";
import { buildConfig } from "../src/config/load-config.js";
import { createFeatureBuilder } from "../src/enrichment/create-feature-builder.js";
import { DEFAULT_FEATURE_SETS } from "../src/enrichment/feature-definitions.js";
import { renderQuery } from "../src/enrichment/promql.js";
import { createMetrics } from "../src/observability/metrics.js";
import { clusterOpenMetrics, PODS, T } from "../test/helpers/cluster-data.js";
import { startPrometheus } from "../test/helpers/prometheus.js";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export async function enrichmentBenchmark(rounds: number): Promise<{ sidecarMs: number; engineMs: number; ratio: number }> {
  const prom = await startPrometheus(clusterOpenMetrics());
  try {
    const { config } = buildConfig({ env: {}, sets: [`enrichment.prometheus.url=${prom.url}`, "enrichment.cache_ttl=0s"] });
    if (config === undefined) throw new Error("bad bench config");
    const builder = createFeatureBuilder(config, {
      metrics: createMetrics({ processMetrics: false }),
      logger: pino({ level: "silent" }),
      clock: () => performance.now(),
      wallClock: Date.now,
    });
    if (builder === undefined) throw new Error("enrichment not configured");
    const workload = { namespace: "shop", resource: "api", pod: PODS.apiA.pod };

    // The engine's way, with the corrected formulas: 7 sequential instant queries per base metric.
    const pool = new Pool(prom.url, { connections: 1 });
    const scope = { namespace: "shop", pods: [PODS.apiA.pod], nodes: [PODS.apiA.node], nodeLabel: "instance" };
    const queries: [string, number][] = [];
    for (const m of DEFAULT_FEATURE_SETS.anomaly?.metrics ?? []) {
      const q = renderQuery(m.query, scope);
      queries.push(
        [q, T],
        [`avg_over_time((${q})[5m:1m])`, T],
        [`stddev_over_time((${q})[5m:1m])`, T],
        [`min_over_time((${q})[5m:1m])`, T],
        [`max_over_time((${q})[5m:1m])`, T],
        [q, T - 60],
        [q, T - 300],
      );
    }
    const engineWay = async () => {
      for (const [q, t] of queries) {
        const r = await pool.request({
          path: "/api/v1/query",
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ query: q, time: String(t) }).toString(),
        });
        await r.body.json();
      }
    };
    const sidecarWay = async () => {
      const call = createCallContext({
        signal: new AbortController().signal,
        timeoutMs: 10_000,
        capMs: 10_000,
        requestId: "bench",
        clock: () => performance.now(),
      });
      await builder.build("anomaly", workload, T, call);
      call.dispose();
    };
    const time = async (f: () => Promise<void>) => {
      const out: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const s = performance.now();
        await f();
        out.push(performance.now() - s);
      }
      return median(out);
    };
    await engineWay();
    await sidecarWay();
    const engineMs = await time(engineWay);
    const sidecarMs = await time(sidecarWay);
    await pool.close();
    await builder.close();
    process.stderr.write(
      `  enrichment: engine's way ${queries.length} sequential queries ${engineMs.toFixed(2)} ms, sidecar ${sidecarMs.toFixed(2)} ms\n`,
    );
    return { sidecarMs, engineMs, ratio: engineMs / sidecarMs };
  } finally {
    await prom.stop();
  }
}
