/**
 * Enrichment against a real Prometheus (Debian's package) loaded with a
 * generated cluster: each of the 45 features equals what Prometheus itself
 * computes with the corrected formulas at that instant.
 */

import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { EnrichmentMode, FeatureSet, MLService, Provenance, Source } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { podsOfDeploymentQuery } from "../../src/enrichment/workload-scope.js";
import { clusterOpenMetrics, PODS, T } from "../helpers/cluster-data.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { fixture } from "../helpers/fixtures.js";
import { type PrometheusServer, startPrometheus } from "../helpers/prometheus.js";
import { type RunningSidecar, startSidecar } from "../helpers/sidecar.js";

const NAMES = fixture<string[]>("anomaly_feature_names_45.json");
let prom: PrometheusServer;
const upstream = new FakeUpstream();
let sc: RunningSidecar;
let client: ReturnType<typeof createClient<typeof MLService>>;
const sidecars: RunningSidecar[] = [];

beforeAll(async () => {
  prom = await startPrometheus(clusterOpenMetrics());
  await upstream.start();
  upstream.on("POST /api/v1/anomaly/detect", { body: fixture("adr-009/adr009_anomaly_detect_response.json") });
  upstream.on("POST /api/v1/prediction/predict", { body: fixture("adr-009/adr009_prediction_predict_response.json") });
  sc = await startSidecar({ "backend.url": upstream.url, "enrichment.prometheus.url": prom.url, "cache.max_entries": 0 });
  client = createClient(MLService, createGrpcWebTransport({ baseUrl: sc.apiUrl, httpVersion: "1.1" }));
}, 120_000);
afterAll(async () => {
  await Promise.all([sc?.stop(), ...sidecars.map((s) => s.stop())]);
  await upstream.stop();
  await prom?.stop();
});

const at = (t: number) => ({ evaluationTime: timestampFromMs(t * 1000) });

/** The corrected formulas, written out with literal matchers for one pod and its node. */
function formulas(ns: string, pod: string, node: string): Record<string, string> {
  const p = `namespace="${ns}",pod="${pod}"`;
  return {
    node_cpu_utilization: `avg(1 - rate(node_cpu_seconds_total{mode="idle",instance="${node}"}[5m]))`,
    node_memory_utilization: `avg(1 - (node_memory_MemAvailable_bytes{instance="${node}"} / node_memory_MemTotal_bytes{instance="${node}"}))`,
    pod_cpu_usage: `max(sum by (pod) (rate(container_cpu_usage_seconds_total{container!="",${p}}[5m])))`,
    pod_memory_usage: `max(sum by (pod) (container_memory_working_set_bytes{container!="",${p}}) / sum by (pod) (kube_pod_container_resource_limits{resource="memory",${p}}))`,
    container_restart_count: `max(sum by (pod) (kube_pod_container_status_restarts_total{${p}}))`,
  };
}

/** What Prometheus computes for the 9 features of Q at t. */
async function expected(q: string, t: number): Promise<Record<string, number>> {
  const v = async (e: string, time = t) => {
    const x = await prom.value(e, time);
    if (x === undefined) throw new Error(`no value for ${e}`);
    return x;
  };
  const value = await v(q);
  const lag1 = await v(q, t - 60);
  const diff = value - lag1;
  return {
    value,
    mean_5m: await v(`avg_over_time((${q})[5m:1m])`),
    std_5m: await v(`stddev_over_time((${q})[5m:1m])`),
    min_5m: await v(`min_over_time((${q})[5m:1m])`),
    max_5m: await v(`max_over_time((${q})[5m:1m])`),
    lag_1: lag1,
    lag_5: await v(q, t - 300),
    diff,
    pct_change: lag1 === 0 ? 0 : diff / lag1,
  };
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b)) + 1e-12;

async function checkAll(ns: string, pod: string, node: string, t: number) {
  const res = await client.getFeatures({ context: { namespace: ns, resource: "api", pod }, enrichment: at(t) });
  expect(res.features.map((f) => f.name)).toEqual(NAMES);
  expect(res.features.every((f) => f.provenance === Provenance.FETCHED)).toBe(true);
  const byName = new Map(res.features.map((f) => [f.name, f.value]));
  for (const [metric, q] of Object.entries(formulas(ns, pod, node))) {
    const want = await expected(q, t);
    for (const [feature, value] of Object.entries(want)) {
      const got = byName.get(`${metric}_${feature}`) as number;
      if (!close(got, value)) throw new Error(`${metric}_${feature}: sidecar ${got}, Prometheus ${value}`);
    }
  }
  return byName;
}

describe("the 45-feature anomaly vector", () => {
  test("each value equals Prometheus' own computation of the corrected formula, to 1e-9", async () => {
    const byName = await checkAll("shop", PODS.apiA.pod, PODS.apiA.node, T);
    // The data changes, so lags differ from the value.
    expect(byName.get("pod_memory_usage_lag_1")).not.toBe(byName.get("pod_memory_usage_value"));
    expect(byName.get("container_restart_count_lag_5")).not.toBe(byName.get("container_restart_count_value"));
    expect(byName.get("container_restart_count_value")).toBe(3);
    expect(byName.get("pod_memory_usage_diff")).toBeGreaterThan(0);
  });

  test("at an instant off the minute grid too", async () => {
    await checkAll("shop", PODS.apiB.pod, PODS.apiB.node, T - 137);
  });

  test("evaluation_time replays an earlier instant", async () => {
    const earlier = await checkAll("shop", PODS.apiA.pod, PODS.apiA.node, T - 1500);
    expect(earlier.get("container_restart_count_value")).toBe(0);
  });

  test("a Deployment is matched by its pods' owners: api-gateway's pods are excluded", async () => {
    const res = await client.getFeatures({ context: { namespace: "shop", resource: "api" }, enrichment: at(T) });
    const byName = new Map(res.features.map((f) => [f.name, f.value]));
    // The hottest of api's two pods (3 restarts), not api-gateway's 50.
    expect(byName.get("container_restart_count_value")).toBe(3);
    const q = `max(sum by (pod) (kube_pod_container_status_restarts_total{namespace="shop",pod=~"api-7d9f4-abcde|api-7d9f4-fghij"}))`;
    expect(byName.get("container_restart_count_value")).toBe(await prom.value(q, T));
    const cpu = await prom.value(
      `max(sum by (pod) (rate(container_cpu_usage_seconds_total{container!="",namespace="shop",pod=~"api-7d9f4-abcde|api-7d9f4-fghij"}[5m])))`,
      T,
    );
    expect(close(byName.get("pod_cpu_usage_value") as number, cpu as number)).toBe(true);
    // Node metrics averaged over the two nodes api runs on.
    const nodes = await prom.value(`avg(1 - rate(node_cpu_seconds_total{mode="idle",instance=~"node-a|node-b"}[5m]))`, T);
    expect(close(byName.get("node_cpu_utilization_value") as number, nodes as number)).toBe(true);
    expect(res.metadata?.warnings.join(" ")).toContain("api-7d9f4-abcde, api-7d9f4-fghij");
  });

  test("a pod that is not the Deployment's is FAILED_PRECONDITION", async () => {
    const e = await client
      .getFeatures({ context: { namespace: "shop", resource: "api", pod: PODS.gateway.pod }, enrichment: at(T) })
      .catch((x: unknown) => ConnectError.from(x));
    expect((e as ConnectError).code).toBe(Code.FailedPrecondition);
  });

  test("the 5-feature predictive vector", async () => {
    const res = await client.getFeatures({
      context: { namespace: "shop", resource: "api" },
      featureSet: FeatureSet.PREDICTIVE,
      enrichment: at(T),
    });
    expect(res.features.map((f) => f.name)).toEqual(["cpu_usage", "memory_usage", "disk_usage", "network_in", "network_out"]);
    const pods = 'namespace="shop",pod=~"api-7d9f4-abcde|api-7d9f4-fghij"';
    const want = [
      `sum(rate(container_cpu_usage_seconds_total{container!="",${pods}}[5m])) / sum(kube_node_status_allocatable{resource="cpu"})`,
      `sum(container_memory_working_set_bytes{container!="",${pods}}) / sum(kube_node_status_allocatable{resource="memory"})`,
      `1 - avg(node_filesystem_avail_bytes{mountpoint="/",instance=~"node-a|node-b"}) / avg(node_filesystem_size_bytes{mountpoint="/",instance=~"node-a|node-b"})`,
      `sum(rate(container_network_receive_bytes_total{interface!="lo",${pods}}[5m])) / 125000000`,
      `sum(rate(container_network_transmit_bytes_total{interface!="lo",${pods}}[5m])) / 125000000`,
    ];
    for (const [i, q] of want.entries()) {
      expect(close(res.features[i]?.value as number, (await prom.value(q, T)) as number)).toBe(true);
    }
  });
});

describe("enrichment as part of a call", () => {
  test("DetectAnomaly naming a workload sends the whole 45-feature vector upstream", async () => {
    upstream.requests.length = 0;
    const res = await client.detectAnomaly({ context: { namespace: "shop", resource: "api" }, enrichment: at(T) });
    const sent = upstream.received("/api/v1/anomaly/detect")[0]?.body as { metrics: { name: string; value: number; timestamp: string }[] };
    expect(sent.metrics.map((m) => m.name)).toEqual(NAMES);
    expect(sent.metrics[0]?.timestamp).toBe("2026-01-25T10:00:00Z");
    expect(sent.metrics.every((m) => Number.isFinite(m.value))).toBe(true);
    expect(res.metadata?.features).toHaveLength(45);
    expect(res.metadata?.features.every((f) => f.provenance === Provenance.FETCHED)).toBe(true);
  });

  test("MISSING_ONLY keeps what the caller gave; ALWAYS replaces it", async () => {
    const given = [{ name: "pod_cpu_usage_value", value: 0.777 }];
    const missing = await client.detectAnomaly({ metrics: given, context: { namespace: "shop", resource: "api" }, enrichment: at(T) });
    const f = missing.metadata?.features.find((x) => x.name === "pod_cpu_usage_value");
    expect(f?.provenance).toBe(Provenance.GIVEN);
    expect(f?.value).toBe(0.777);
    const always = await client.detectAnomaly({
      metrics: given,
      context: { namespace: "shop", resource: "api" },
      enrichment: { ...at(T), mode: EnrichmentMode.ALWAYS },
    });
    expect(always.metadata?.features.find((x) => x.name === "pod_cpu_usage_value")?.provenance).toBe(Provenance.FETCHED);
  });

  test("Predict naming a workload sends the 5-feature vector", async () => {
    upstream.requests.length = 0;
    await client.predict({
      context: { namespace: "shop", resource: "api" },
      issueContext: { currentState: "degraded" },
      enrichment: at(T),
    });
    const sent = upstream.received("/api/v1/prediction/predict")[0]?.body as { issue_context: { metrics: { name: string }[] } };
    expect(sent.issue_context.metrics.map((m) => m.name)).toEqual(["cpu_usage", "memory_usage", "disk_usage", "network_in", "network_out"]);
  });

  test("escaped into PromQL, a hostile namespace cannot change what the query means", async () => {
    // Were it pasted in raw, `or vector(1)` would make the query return a series.
    const r = await fetch(`${prom.url}/api/v1/query`, {
      method: "POST",
      body: new URLSearchParams({ query: podsOfDeploymentQuery('"} or vector(1) #', "api"), time: String(T) }),
    });
    const body = (await r.json()) as { status: string; data: { result: unknown[] } };
    expect(body.status).toBe("success");
    expect(body.data.result).toEqual([]);
  });

  test("a hostile namespace is rejected before any query, and nothing goes upstream", async () => {
    upstream.requests.length = 0;
    const e = await client
      .detectAnomaly({ context: { namespace: '"} or vector(1) #', resource: "api" } })
      .catch((x: unknown) => ConnectError.from(x));
    expect((e as ConnectError).code).toBe(Code.InvalidArgument);
    expect(upstream.requests).toHaveLength(0);
  });
});

describe("enrichment's own cache and coalescing", () => {
  test("a workload's vector is reused within enrichment.cache_ttl, and identical builds in flight share their queries", async () => {
    // "Now" is the test data's instant T, so that the workload has pods.
    const s = await startSidecar(
      { "backend.url": upstream.url, "enrichment.prometheus.url": prom.url, "enrichment.cache_ttl": "1m" },
      { wallClock: () => T * 1000 },
    );
    sidecars.push(s);
    const c = createClient(MLService, createGrpcWebTransport({ baseUrl: s.apiUrl, httpVersion: "1.1" }));
    const queries = async () => {
      const text = await (await fetch(`${s.adminUrl}/metrics`)).text();
      return [...text.matchAll(/^aiops_sidecar_enrichment_query_duration_seconds_count\{[^}]*\} (\d+)$/gm)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
    };
    const ctx = { namespace: "shop", resource: "api" };
    // Three identical calls at once ("now": the cacheable case): one build, 1 scope + 5 feature queries.
    await Promise.all([0, 1, 2].map(() => c.getFeatures({ context: ctx })));
    expect(await queries()).toBe(6);
    await c.getFeatures({ context: ctx });
    expect(await queries()).toBe(6);
    // Another workload is built on its own.
    await c.getFeatures({ context: { namespace: "shop", resource: "api-gateway" } });
    expect(await queries()).toBe(12);
  });
});

describe("when Prometheus cannot supply the data", () => {
  test("NaN from Prometheus is imputed, reported, and never sent; within max_imputed the answer is degraded", async () => {
    upstream.requests.length = 0;
    const res = await client.detectAnomaly({ context: { namespace: "shop", resource: "nanapp" }, enrichment: at(T) });
    const imputed = res.metadata?.features.filter((f) => f.provenance === Provenance.IMPUTED) ?? [];
    expect(imputed.map((f) => f.name)).toEqual(NAMES.filter((n) => n.startsWith("pod_memory_usage_")));
    expect(imputed[0]?.reason).toContain("NaN");
    expect(res.metadata?.degraded).toBe(true);
    expect(res.metadata?.source).toBe(Source.ML_SERVICE);
    expect(res.metadata?.degradedReason).toBe(`${imputed.length} feature(s) imputed (see features)`);
    const sent = upstream.received("/api/v1/anomaly/detect")[0]?.body as { metrics: { value: number }[] };
    expect(sent.metrics.every((m) => Number.isFinite(m.value))).toBe(true);
  });

  test("imputed features on a degraded answer: both reasons, the ladder's first", async () => {
    // No model service at this address: the baseline answers.
    const down = await startSidecar({
      "backend.url": "http://127.0.0.1:1",
      "enrichment.prometheus.url": prom.url,
      "fallback.enabled": true,
    });
    sidecars.push(down);
    const c = createClient(MLService, createGrpcWebTransport({ baseUrl: down.apiUrl, httpVersion: "1.1" }));
    const res = await c.detectAnomaly({ context: { namespace: "shop", resource: "nanapp" }, enrichment: at(T) });
    const imputed = res.metadata?.features.filter((f) => f.provenance === Provenance.IMPUTED) ?? [];
    expect(imputed.length).toBeGreaterThan(0);
    expect(res.metadata?.source).toBe(Source.FALLBACK);
    expect(res.metadata?.degradedReason).toMatch(
      new RegExp(`^backend failed \\(.+\\); baseline rules answered; ${imputed.length} feature\\(s\\) imputed \\(see features\\)$`),
    );
  });

  test("more imputed features than enrichment.max_imputed: FAILED_PRECONDITION and no model call", async () => {
    const strict = await startSidecar({ "backend.url": upstream.url, "enrichment.prometheus.url": prom.url, "enrichment.max_imputed": 3 });
    sidecars.push(strict);
    upstream.requests.length = 0;
    const c = createClient(MLService, createGrpcWebTransport({ baseUrl: strict.apiUrl, httpVersion: "1.1" }));
    const e = await c
      .detectAnomaly({ context: { namespace: "shop", resource: "nanapp" }, enrichment: at(T) })
      .catch((x: unknown) => ConnectError.from(x));
    expect((e as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((e as ConnectError).rawMessage).toContain("9 of 45 features");
    expect(upstream.requests).toHaveLength(0);
  });

  test("Prometheus down: UNAVAILABLE, and no model call", async () => {
    const down = await startSidecar({ "backend.url": upstream.url, "enrichment.prometheus.url": "http://127.0.0.1:1" });
    sidecars.push(down);
    upstream.requests.length = 0;
    const c = createClient(MLService, createGrpcWebTransport({ baseUrl: down.apiUrl, httpVersion: "1.1" }));
    const e = await c.detectAnomaly({ context: { namespace: "shop", resource: "api" } }).catch((x: unknown) => ConnectError.from(x));
    expect((e as ConnectError).code).toBe(Code.Unavailable);
    expect(upstream.requests).toHaveLength(0);
    const g = await c.getFeatures({ context: { namespace: "shop", resource: "api" } }).catch((x: unknown) => ConnectError.from(x));
    expect((g as ConnectError).code).toBe(Code.Unavailable);
  });

  test("Prometheus slow: the enrichment budget ends it within the caller's deadline", async () => {
    const slow = new FakeUpstream();
    await slow.start();
    slow.on("POST /api/v1/query", { delayMs: 5000, body: {} });
    slow.on("POST /api/v1/query_range", { delayMs: 5000, body: {} });
    const s = await startSidecar({ "backend.url": upstream.url, "enrichment.prometheus.url": slow.url });
    sidecars.push(s);
    const c = createClient(MLService, createGrpcWebTransport({ baseUrl: s.apiUrl, httpVersion: "1.1" }));
    const started = Date.now();
    const e = await c
      .detectAnomaly({ context: { namespace: "shop", resource: "api" } }, { timeoutMs: 1000 })
      .catch((x: unknown) => ConnectError.from(x));
    expect([Code.DeadlineExceeded, Code.Unavailable]).toContain((e as ConnectError).code);
    expect(Date.now() - started).toBeLessThan(1100);
    await slow.stop();
  });
});
