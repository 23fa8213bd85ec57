/**
 * The foundation end to end: a real sidecar on port 0 in front of a real HTTP
 * server standing in for the Python service, called over gRPC with grpc-js
 * (an independent implementation), over Connect JSON on HTTP/1.1 with plain
 * fetch, and over gRPC-Web.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { MLService } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { fixture } from "../helpers/fixtures.js";
import { type GrpcJsClient, grpc, grpcJsClient } from "../helpers/grpc-js-client.js";
import { type RunningSidecar, startSidecar } from "../helpers/sidecar.js";

const SEED_REQUEST = fixture<Record<string, unknown>>("adr-009/adr009_anomaly_detect_request.json");
const SEED_ANOMALY = fixture("adr-009/adr009_anomaly_detect_response.json");
const SEED_PREDICT = fixture("adr-009/adr009_prediction_predict_response.json");
const SEED_PATTERNS = fixture("adr-009/adr009_pattern_analyze_response.json");

const upstream = new FakeUpstream();
const BARE = {
  "retry.max_attempts": 1,
  "cache.max_entries": 0,
  "fallback.enabled": false,
  "breaker.failure_threshold": 10000,
  "breaker.volume_threshold": 1000000,
};
let sc: RunningSidecar;
let g: GrpcJsClient;

/** The seed's request as grpc-js takes it: its proto twin (Timestamps as seconds). */
const seedAsGrpcJs = () => ({
  metrics: (SEED_REQUEST.metrics as { name: string; value: number; timestamp: string }[]).map((m) => ({
    name: m.name,
    value: m.value,
    timestamp: { seconds: String(Date.parse(m.timestamp) / 1000), nanos: 0 },
  })),
  context: SEED_REQUEST.context,
});

beforeAll(async () => {
  await upstream.start();
  // The translation layer alone: no cache, no retries, no fallback (the
  // resilience suite covers those), so each call reaches the upstream once.
  sc = await startSidecar({ ...BARE, "backend.url": upstream.url, "backend.timeout": "5s" });
  g = grpcJsClient(sc.apiPort);
});
afterAll(async () => {
  g.close();
  await sc.stop();
  await upstream.stop();
});
beforeEach(() => {
  upstream.requests.length = 0;
  upstream.on("POST /api/v1/anomaly/detect", { body: SEED_ANOMALY });
  upstream.on("POST /api/v1/prediction/predict", { body: SEED_PREDICT });
  upstream.on("POST /api/v1/pattern/analyze", { body: SEED_PATTERNS });
});

async function grpcFailure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error("expected the call to fail");
}

describe("gRPC (grpc-js client)", () => {
  test("DetectAnomaly: the upstream receives exactly the seed's body; the seed's answer comes back typed", async () => {
    const res = await g.call<Record<string, unknown>>("DetectAnomaly", seedAsGrpcJs());
    const [sent] = upstream.received("/api/v1/anomaly/detect");
    expect(sent?.body).toEqual(SEED_REQUEST);
    expect(res.anomaly_detected).toBe(true);
    expect(res.confidence).toBe(0.95);
    expect(res.anomaly_score).toBe(8.7);
    expect(res.recommendations).toEqual(["Scale up replicas", "Check for memory leak"]);
    const md = res.metadata as Record<string, unknown>;
    expect(md.source).toBe("ML_SERVICE");
    expect(md.degraded).toBeFalsy();
    expect(md.backend).toBe("rest");
    expect((md.features as unknown[]).length).toBe(5);
  });

  test("Predict: the seed's answer comes back with time_to_occurrence as 300 s", async () => {
    const res = await g.call<{
      predicted_issues: { issue: string; probability: number; time_to_occurrence: { seconds: string } }[];
      suggested_actions: string[];
    }>("Predict", {
      issue_context: {
        current_state: "degraded",
        recent_events: ["pod_restart", "high_cpu"],
        metrics: [{ name: "memory_usage", value: 0.9 }],
      },
    });
    expect(upstream.received("/api/v1/prediction/predict")[0]?.body).toEqual({
      issue_context: {
        current_state: "degraded",
        recent_events: ["pod_restart", "high_cpu"],
        metrics: [{ name: "memory_usage", value: 0.9 }],
      },
    });
    expect(res.predicted_issues[0]?.issue).toBe("pod_oom");
    expect(res.predicted_issues[0]?.probability).toBe(0.85);
    expect(res.predicted_issues[0]?.time_to_occurrence.seconds).toBe("300");
    expect(res.suggested_actions).toEqual(["increase_memory_limit", "add_hpa"]);
  });

  test("AnalyzePatterns: the seed's answer comes back typed", async () => {
    const res = await g.call<{ patterns: { pattern: string; confidence: number }[] }>("AnalyzePatterns", {
      historical_data: { time_range: "24h", events: [{ type: "high_cpu", timestamp: { seconds: "1769335200" } }] },
    });
    expect(upstream.received("/api/v1/pattern/analyze")[0]?.body).toEqual({
      historical_data: { time_range: "24h", events: [{ type: "high_cpu", timestamp: "2026-01-25T10:00:00Z" }], metrics: [] },
    });
    expect(res.patterns).toEqual([{ pattern: "daily_spike", confidence: 0.88 }]);
  });

  test("x-request-id and traceparent from the caller are passed on to the upstream", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    await g.call("DetectAnomaly", seedAsGrpcJs(), { metadata: { "x-request-id": "engine-42", traceparent } });
    const [sent] = upstream.received("/api/v1/anomaly/detect");
    expect(sent?.headers["x-request-id"]).toBe("engine-42");
    expect(sent?.headers.traceparent).toBe(traceparent);
  });

  test("GetFeatures without Prometheus is FAILED_PRECONDITION naming PROMETHEUS_URL", async () => {
    const e = await grpcFailure(g.call("GetFeatures", { context: { namespace: "a", resource: "b" } }));
    expect(e.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(e.details).toContain("PROMETHEUS_URL");
  });
});

describe("Connect JSON over HTTP/1.1 (plain fetch)", () => {
  test("the seed's REST body is a valid Connect request; the answer reads like the REST answer", async () => {
    const r = await fetch(`${sc.apiUrl}/aiops.ml.v1.MLService/DetectAnomaly`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(SEED_REQUEST),
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as Record<string, unknown>;
    expect(body).toMatchObject(SEED_ANOMALY as object);
    expect(upstream.received("/api/v1/anomaly/detect")[0]?.body).toEqual(SEED_REQUEST);
  });

  test("an invalid request is HTTP 400 invalid_argument with the field named, and nothing goes upstream", async () => {
    const r = await fetch(`${sc.apiUrl}/aiops.ml.v1.MLService/DetectAnomaly`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ metrics: [{ name: "cpu_usage", value: "NaN" }] }),
    });
    expect(r.status).toBe(400);
    const body = (await r.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toContain("metrics[0].value");
    expect(upstream.requests).toHaveLength(0);
  });
});

describe("gRPC-Web over HTTP/1.1", () => {
  test("Predict answers over gRPC-Web", async () => {
    const client = createClient(MLService, createGrpcWebTransport({ baseUrl: sc.apiUrl, httpVersion: "1.1" }));
    const res = await client.predict({ issueContext: { metrics: [{ name: "memory_usage", value: 0.9 }] } });
    expect(res.predictedIssues[0]?.issue).toBe("pod_oom");
    expect(res.metadata?.backend).toBe("rest");
  });
});

describe("error table, each row against the real upstream", () => {
  const client = () => createClient(MLService, createGrpcWebTransport({ baseUrl: sc.apiUrl, httpVersion: "1.1" }));
  const req = { metrics: [{ name: "cpu_usage", value: 0.5 }] };
  async function failWith(reply: Parameters<FakeUpstream["on"]>[1]): Promise<ConnectError> {
    upstream.on("POST /api/v1/anomaly/detect", reply);
    try {
      await client().detectAnomaly(req);
    } catch (e) {
      return ConnectError.from(e);
    }
    throw new Error("expected a failure");
  }

  test.each([
    [400, Code.InvalidArgument],
    [404, Code.NotFound],
    [500, Code.Internal],
    [502, Code.Unavailable],
    [503, Code.Unavailable],
  ])("HTTP %d -> %s, with status and body excerpt in the details", async (status, code) => {
    const e = await failWith({ status, body: { error: `failure ${status}` } });
    expect(e.code).toBe(code);
    const [info] = e.findDetails(ErrorInfoSchema);
    expect(info?.metadata.status).toBe(String(status));
    expect(info?.metadata.body).toBe(`{"error":"failure ${status}"}`);
  });

  test("422 -> INVALID_ARGUMENT with the detail list as field violations", async () => {
    const e = await failWith({
      status: 422,
      body: { detail: [{ loc: ["body", "metrics", 0, "value"], msg: "Input should be less than 1", type: "less_than" }] },
    });
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field).toBe("metrics[0].value");
  });

  test("429 -> RESOURCE_EXHAUSTED with the Retry-After delay", async () => {
    const e = await failWith({ status: 429, body: { error: "busy" }, headers: { "retry-after": "4" } });
    expect(e.code).toBe(Code.ResourceExhausted);
    expect(e.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(4n);
  });

  test("connection reset -> UNAVAILABLE", async () => {
    expect((await failWith({ reset: true })).code).toBe(Code.Unavailable);
  });

  test("a malformed answer -> INTERNAL naming the field", async () => {
    const e = await failWith({ body: { anomaly_detected: "maybe", confidence: 0.5, anomaly_score: 1, recommendations: [] } });
    expect(e.code).toBe(Code.Internal);
    expect(e.rawMessage).toContain("anomaly_detected");
    expect(e.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field).toBe("anomaly_detected");
  });

  test("connection refused -> UNAVAILABLE", async () => {
    const dead = await startSidecar({ ...BARE, "backend.url": "http://127.0.0.1:1" });
    try {
      const c = createClient(MLService, createGrpcWebTransport({ baseUrl: dead.apiUrl, httpVersion: "1.1" }));
      await expect(c.detectAnomaly(req)).rejects.toMatchObject({ code: Code.Unavailable });
    } finally {
      await dead.stop();
    }
  });
});

describe("deadlines and cancellation", () => {
  test("a deadline shorter than a slow upstream: DEADLINE_EXCEEDED within deadline + 100 ms, and the upstream sees the abort", async () => {
    upstream.on("POST /api/v1/anomaly/detect", { delayMs: 3000, body: SEED_ANOMALY });
    const started = Date.now();
    const e = await grpcFailure(g.call("DetectAnomaly", seedAsGrpcJs(), { deadlineMs: 300 }));
    expect(e.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(400);
    await expect.poll(() => upstream.received("/api/v1/anomaly/detect")[0]?.aborted, { timeout: 1000 }).toBe(true);
  });

  test("backend.timeout caps a call that carries no deadline", async () => {
    const capped = await startSidecar({
      "backend.url": upstream.url,
      "backend.timeout": "200ms",
      "retry.max_attempts": 1,
      "fallback.enabled": false,
    });
    try {
      upstream.on("POST /api/v1/anomaly/detect", { delayMs: 3000, body: SEED_ANOMALY });
      const c = grpcJsClient(capped.apiPort);
      const started = Date.now();
      const e = await grpcFailure(c.call("DetectAnomaly", seedAsGrpcJs()));
      expect(e.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(Date.now() - started).toBeLessThan(1000);
      c.close();
    } finally {
      await capped.stop();
    }
  });

  test("a caller that cancels aborts the upstream call too", async () => {
    upstream.on("POST /api/v1/anomaly/detect", { delayMs: 3000, body: SEED_ANOMALY });
    const e = await grpcFailure(g.call("DetectAnomaly", seedAsGrpcJs(), { onCall: (c) => setTimeout(() => c.cancel(), 150) }));
    expect(e.code).toBe(grpc.status.CANCELLED);
    await expect.poll(() => upstream.received("/api/v1/anomaly/detect")[0]?.aborted, { timeout: 1000 }).toBe(true);
  });
});

describe("metrics", () => {
  test("RPCs are counted by method and code, upstream calls by endpoint and outcome", async () => {
    const fresh = await startSidecar({ ...BARE, "backend.url": upstream.url });
    try {
      const c = createClient(MLService, createGrpcWebTransport({ baseUrl: fresh.apiUrl, httpVersion: "1.1" }));
      const req = { metrics: [{ name: "cpu_usage", value: 0.5 }] };
      await c.detectAnomaly(req);
      await c.detectAnomaly(req);
      await expect(c.detectAnomaly({ metrics: [{ name: "", value: 1 }] })).rejects.toMatchObject({ code: Code.InvalidArgument });
      upstream.on("POST /api/v1/anomaly/detect", { status: 503, body: { error: "down" } });
      await expect(c.detectAnomaly(req)).rejects.toMatchObject({ code: Code.Unavailable });
      const text = await (await fetch(`${fresh.adminUrl}/metrics`)).text();
      const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1]);
      expect(value('aiops_sidecar_rpc_duration_seconds_count{method="DetectAnomaly",code="OK"}')).toBe(2);
      expect(value('aiops_sidecar_rpc_duration_seconds_count{method="DetectAnomaly",code="INVALID_ARGUMENT"}')).toBe(1);
      expect(value('aiops_sidecar_rpc_duration_seconds_count{method="DetectAnomaly",code="UNAVAILABLE"}')).toBe(1);
      expect(
        value('aiops_sidecar_upstream_request_duration_seconds_count{backend="rest",endpoint="/api/v1/anomaly/detect",outcome="ok"}'),
      ).toBe(2);
      expect(
        value('aiops_sidecar_upstream_request_duration_seconds_count{backend="rest",endpoint="/api/v1/anomaly/detect",outcome="http_503"}'),
      ).toBe(1);
      expect(value('aiops_sidecar_invalid_requests_total{method="DetectAnomaly"}')).toBe(1);
    } finally {
      await fresh.stop();
    }
  });
});
