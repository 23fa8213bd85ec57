import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DetectAnomalyRequestSchema, MetricSchema } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { createCallContext } from "../../src/api/call-context.js";
import { KServeBackend } from "../../src/backend/kserve-backend.js";
import { anomalyVerdict, forecastIssues, modelRow, reclassifyWidthError } from "../../src/backend/kserve-mapping.js";
import { KSERVE_V1 } from "../../src/backend/kserve-v1.js";
import { KSERVE_V2 } from "../../src/backend/kserve-v2.js";
import { codeFor } from "../../src/errors/error-table.js";
import { UpstreamError } from "../../src/errors/upstream-error.js";
import { UpstreamClient } from "../../src/http/upstream-client.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { fixture } from "../helpers/fixtures.js";

const NAMES = fixture<string[]>("anomaly_feature_names_45.json");
const GO_DEFAULT = fixture<{ instances: number[][] }>("kserve-v1/anomaly_request_go_default.json").instances[0] as number[];
const metricsOf = (values: number[], names = NAMES) => values.map((value, i) => create(MetricSchema, { name: names[i] as string, value }));
const err = (name: string) => fixture<{ _status: number; body: { error: string } }>(`kserve-v1/${name}`);
const asUpstream = (name: string) => {
  const f = err(name);
  return new UpstreamError(`answered ${f._status}: ${f.body.error}`, {
    kind: "status",
    upstream: "kserve-v1",
    endpoint: "/v1/models/x:predict",
    status: f._status,
    bodyExcerpt: JSON.stringify(f.body),
  });
};

describe("KServe V1 bodies (fixtures from replicas of the deployed models)", () => {
  test("the 45-feature row is built in the model's order, whatever the metrics' order", () => {
    const shuffled = metricsOf(GO_DEFAULT).reverse();
    expect(modelRow("anomaly-detector", NAMES, shuffled)).toEqual(GO_DEFAULT);
    expect(KSERVE_V1.encode([GO_DEFAULT])).toEqual(fixture("kserve-v1/anomaly_request_go_default.json"));
  });

  test("a name given twice takes its last value; metrics the model does not take are left out", () => {
    const metrics = [
      ...metricsOf(GO_DEFAULT),
      create(MetricSchema, { name: NAMES[3] as string, value: 42 }),
      create(MetricSchema, { name: "cpu_usage", value: 7 }),
    ];
    const row = modelRow("anomaly-detector", NAMES, metrics);
    expect(row).toHaveLength(45);
    expect(row[3]).toBe(42);
    expect(row.filter((_, i) => i !== 3)).toEqual(GO_DEFAULT.filter((_, i) => i !== 3));
  });

  test("a feature the model lists twice takes the one value at both places", () => {
    const names = ["a", "b", "a"];
    expect(modelRow("m", names, metricsOf([1, 2], ["a", "b"]))).toEqual([1, 2, 1]);
  });

  test("the missing features are named in the model's order", () => {
    const most = metricsOf(GO_DEFAULT).filter((m) => m.name !== NAMES[7] && m.name !== NAMES[2]);
    expect(() => modelRow("anomaly-detector", NAMES, most)).toThrow(
      `the request has 43 of them and 43 metric(s) in all; missing: ${NAMES[2]}, ${NAMES[7]}.`,
    );
  });

  test("a wrong width is a precondition failure naming expected and actual", () => {
    const three = metricsOf([0.1, 0.2, 0.3]);
    try {
      modelRow("anomaly-detector", NAMES, three);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(UpstreamError);
      expect((e as UpstreamError).kind).toBe("precondition");
      expect((e as UpstreamError).message).toContain("anomaly-detector expects 45 features");
      expect((e as UpstreamError).message).toContain("the request has 3 of them");
      expect(codeFor(e as UpstreamError)).toBe(Code.FailedPrecondition);
    }
  });

  test("predictions decode: -1 anomaly, 1 normal, the 5-value forecast", () => {
    expect(KSERVE_V1.decode(fixture("kserve-v1/anomaly_response_anomaly.json"), 1).output).toEqual([-1]);
    expect(KSERVE_V1.decode(fixture("kserve-v1/anomaly_response_normal.json"), 1).output).toEqual([1]);
    expect(KSERVE_V1.decode(fixture("kserve-v1/anomaly_response_batch.json"), 1).output).toEqual([1]);
    const f = KSERVE_V1.decode(fixture("kserve-v1/predictive_response_5.json"), 5).output;
    expect(f).toHaveLength(5);
    expect(() => KSERVE_V1.decode({ predictions: [[1, 2]] }, 5)).toThrow(/5 finite number/);
  });

  test("V2 tensors encode and decode with the same mapping", () => {
    expect(KSERVE_V2.encode([[1, 2, 3]])).toEqual({ inputs: [{ name: "input-0", shape: [1, 3], datatype: "FP64", data: [1, 2, 3] }] });
    expect(
      KSERVE_V2.decode(
        { model_name: "m", model_version: "3", outputs: [{ name: "output-0", shape: [1], datatype: "INT64", data: [-1] }] },
        1,
      ),
    ).toEqual({ output: [-1], modelVersion: "3" });
  });

  test("KServe's error bodies go through the error table; 'expecting N features' is a precondition", () => {
    expect(codeFor(asUpstream("error_404_model_not_found.json"))).toBe(Code.NotFound);
    expect(codeFor(asUpstream("error_503_model_not_ready.json"))).toBe(Code.Unavailable);
    for (const f of [
      "error_500_wrong_width_anomaly.json",
      "error_500_predictive_4_features.json",
      "error_500_predictive_3264_features.json",
    ]) {
      const e = reclassifyWidthError(asUpstream(f)) as UpstreamError;
      expect(e.kind).toBe("precondition");
      expect(codeFor(e)).toBe(Code.FailedPrecondition);
      expect(e.isUpstreamFault).toBe(false); // never trips the breaker
    }
  });
});

describe("derived answers (documented rules, from the features)", () => {
  test("the engine's default vector: the model flags it, but no metric stands out", () => {
    const r = anomalyVerdict(-1, metricsOf(GO_DEFAULT));
    expect(r.anomalyDetected).toBe(true);
    expect(r.anomalyScore).toBe(0);
    expect(r.confidence).toBe(0.6);
    expect(r.recommendations).toEqual(["Investigate: the model flags the vector as a whole; no single metric stands out"]);
  });

  test("a memory value far above its 5m mean drives score, confidence and advice", () => {
    const values = [...GO_DEFAULT];
    const base = NAMES.indexOf("pod_memory_usage_value");
    values[base] = 0.95; // value
    values[base + 1] = 0.5; // mean_5m
    values[base + 2] = 0.05; // std_5m
    const r = anomalyVerdict(-1, metricsOf(values));
    expect(r.anomalyScore).toBe(9); // (0.95 - 0.5) / 0.05
    expect(r.confidence).toBe(0.95);
    expect(r.recommendations[0]).toBe("Check for memory leak or raise the memory limit");
    const calm = anomalyVerdict(1, metricsOf(values));
    expect(calm.anomalyDetected).toBe(false);
    expect(calm.confidence).toBe(0.6); // the evidence disagrees with "normal"
    expect(calm.recommendations).toEqual([]);
  });

  test("new restarts are advice; a feature given twice counts by its last value; one not given counts as 0", () => {
    const values = [...GO_DEFAULT];
    values[NAMES.indexOf("container_restart_count_diff")] = 2;
    const restarts = anomalyVerdict(-1, metricsOf(values));
    expect(restarts.recommendations).toEqual(["Inspect logs of restarting containers"]);
    const undone = anomalyVerdict(-1, [...metricsOf(values), create(MetricSchema, { name: "container_restart_count_diff", value: 0 })]);
    expect(undone.recommendations).toEqual(["Investigate: the model flags the vector as a whole; no single metric stands out"]);
    // Only node CPU given: 0.9 against a mean and std of 0 is (0.9 - 0) / 0.01 = 90 deviations, capped at 10.
    const alone = anomalyVerdict(-1, [create(MetricSchema, { name: "node_cpu_utilization_value", value: 0.9 })]);
    expect(alone.anomalyScore).toBe(10);
    expect(alone.recommendations).toEqual(["Node CPU is saturated: spread or scale the workload"]);
  });

  test("forecast thresholds become issues within the horizon", () => {
    const r = forecastIssues([0.9, 0.5, 0.95, 0.1, 0.1], 3_600_000);
    expect(r.predictedIssues.map((i) => [i.issue, i.probability, Number(i.timeToOccurrence?.seconds)])).toEqual([
      ["cpu_saturation", 0.75, 3600],
      ["disk_pressure", 0.75, 3600],
    ]);
    expect(r.suggestedActions).toEqual(["add_hpa", "expand_volume"]);
    expect(forecastIssues([0.1, 0.1, 0.1, 0.1, 0.1], 3_600_000).predictedIssues).toEqual([]);
  });
});

describe("the adapter refuses a wrong width before sending", () => {
  const upstream = new FakeUpstream();
  let backend: KServeBackend;
  beforeAll(async () => {
    await upstream.start();
    const client = new UpstreamClient({
      name: "kserve-v1",
      baseUrl: upstream.url,
      connections: 1,
      keepAliveTimeoutMs: 1000,
      connectTimeoutMs: 1000,
      maxResponseBytes: 1 << 20,
    });
    backend = new KServeBackend({
      protocol: KSERVE_V1,
      anomaly: { name: "anomaly-detector", features: NAMES, client },
      predictive: { name: "predictive-analytics", features: ["a", "b", "c", "d", "e"], client, horizonMs: 3_600_000 },
    });
  });
  afterAll(async () => {
    await backend.close();
    await upstream.stop();
  });

  test("three metrics: FAILED_PRECONDITION, and nothing reaches the model server", async () => {
    const call = createCallContext({
      signal: new AbortController().signal,
      timeoutMs: 1000,
      capMs: 1000,
      requestId: "r",
      clock: () => performance.now(),
    });
    const req = create(DetectAnomalyRequestSchema, { metrics: metricsOf([0.1, 0.2, 0.3], ["cpu_usage", "memory_usage", "x"]) });
    await expect(backend.detectAnomaly(req, call)).rejects.toMatchObject({ kind: "precondition" });
    expect(upstream.requests).toHaveLength(0);
    call.dispose();
  });
});

describe("the model's version, where the server reports one", () => {
  test("V2's model_version becomes part of the model the cache keys name", async () => {
    const upstream = new FakeUpstream();
    await upstream.start();
    upstream.on("POST /v2/models/anomaly-detector/infer", {
      body: {
        model_name: "anomaly-detector",
        model_version: "7",
        outputs: [{ name: "output-0", shape: [1], datatype: "INT64", data: [1] }],
      },
    });
    const client = new UpstreamClient({
      name: "kserve-v2",
      baseUrl: upstream.url,
      connections: 1,
      keepAliveTimeoutMs: 1000,
      connectTimeoutMs: 1000,
      maxResponseBytes: 1 << 20,
    });
    const backend = new KServeBackend({
      protocol: KSERVE_V2,
      anomaly: { name: "anomaly-detector", features: NAMES, client },
      predictive: { name: "predictive-analytics", features: ["a"], client, horizonMs: 1000 },
    });
    expect(backend.modelFor("DetectAnomaly")).toBe("anomaly-detector");
    const call = createCallContext({
      signal: new AbortController().signal,
      timeoutMs: 5000,
      capMs: 5000,
      requestId: "r",
      clock: () => performance.now(),
    });
    const a = await backend.detectAnomaly(create(DetectAnomalyRequestSchema, { metrics: metricsOf(GO_DEFAULT) }), call);
    expect(a.modelVersion).toBe("7");
    expect(backend.modelFor("DetectAnomaly")).toBe("anomaly-detector@7");
    const sent = upstream.received("/v2/models/anomaly-detector/infer")[0]?.body as { inputs: { shape: number[]; data: number[] }[] };
    expect(sent.inputs[0]?.shape).toEqual([1, 45]);
    expect(sent.inputs[0]?.data).toEqual(GO_DEFAULT);
    call.dispose();
    await backend.close();
    await upstream.stop();
  });
});
