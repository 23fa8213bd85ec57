/**
 * The sidecar against the reference Python ML service (FastAPI and
 * scikit-learn, python/ml_service) over real sockets: the contract's two
 * sides, implemented independently, talking to each other.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixture } from "../helpers/fixtures.js";
import { type GrpcJsClient, grpcJsClient } from "../helpers/grpc-js-client.js";
import { type PythonService, startPythonService } from "../helpers/python.js";
import { type RunningSidecar, startSidecar } from "../helpers/sidecar.js";

let ml: PythonService;
let sc: RunningSidecar;
let g: GrpcJsClient;

beforeAll(async () => {
  ml = await startPythonService("ml_service", [], "/health");
  sc = await startSidecar({ "backend.url": ml.url, "fallback.enabled": false });
  g = grpcJsClient(sc.apiPort);
}, 180_000);
afterAll(async () => {
  g?.close();
  await sc?.stop();
  await ml?.stop();
});

const seed = fixture<{ metrics: { name: string; value: number; timestamp: string }[]; context: object }>(
  "adr-009/adr009_anomaly_detect_request.json",
);
const ts = (iso: string) => ({ seconds: String(Date.parse(iso) / 1000), nanos: 0 });

describe("the sidecar in front of the reference ML service", () => {
  test("DetectAnomaly: the seed's metrics are judged anomalous by the IsolationForest", async () => {
    const r = await g.call<{
      anomaly_detected: boolean;
      confidence: number;
      recommendations: string[];
      metadata: { source: string; backend: string };
    }>("DetectAnomaly", { metrics: seed.metrics.map((m) => ({ ...m, timestamp: ts(m.timestamp) })), context: seed.context });
    expect(r.anomaly_detected).toBe(true);
    expect(r.confidence).toBeGreaterThan(0.7);
    expect(r.recommendations).toContain("Check for memory leak");
    expect(r.metadata.source).toBe("ML_SERVICE");
    expect(r.metadata.backend).toBe("rest");
  });

  test("DetectAnomaly: ordinary load is normal", async () => {
    const r = await g.call<{ anomaly_detected?: boolean }>("DetectAnomaly", {
      metrics: [
        { name: "cpu_usage", value: 0.41 },
        { name: "memory_usage", value: 0.52 },
      ],
    });
    expect(r.anomaly_detected ?? false).toBe(false);
  });

  test("Predict: a memory trend becomes pod_oom with time_to_occurrence as a Duration", async () => {
    const r = await g.call<{ predicted_issues: { issue: string; time_to_occurrence: { seconds: string } }[]; suggested_actions: string[] }>(
      "Predict",
      {
        issue_context: {
          current_state: "degraded",
          recent_events: ["pod_restart"],
          metrics: [
            { name: "memory_usage", value: 0.9 },
            { name: "memory_trend_1h", value: 0.05 },
          ],
        },
      },
    );
    expect(r.predicted_issues[0]?.issue).toBe("pod_oom");
    expect(r.predicted_issues[0]?.time_to_occurrence.seconds).toBe("7200"); // "2h" on the wire
    expect(r.suggested_actions).toContain("increase_memory_limit");
  });

  test("AnalyzePatterns: daily events and their followers", async () => {
    const day = 86_400;
    const base = Date.parse("2026-01-20T09:00:00Z") / 1000;
    const events = [0, 1, 2, 3].flatMap((d) => [
      { type: "high_cpu", timestamp: { seconds: String(base + d * day) } },
      { type: "pod_restart", timestamp: { seconds: String(base + d * day + 300) } },
    ]);
    const r = await g.call<{ patterns: { pattern: string }[]; correlations: { source: string; target: string }[] }>("AnalyzePatterns", {
      historical_data: { time_range: "168h", events },
    });
    expect(r.patterns.map((p) => p.pattern).sort()).toEqual(["daily_high_cpu", "daily_pod_restart"]);
    expect(r.correlations.some((c) => c.source === "high_cpu" && c.target === "pod_restart")).toBe(true);
  });

  test("/readyz reports the reference service's own health", async () => {
    const r = (await (await fetch(`${sc.adminUrl}/readyz`)).json()) as { backend: { ready: boolean; detail: string } };
    expect(r.backend).toMatchObject({ ready: true, detail: "ok" });
  });
});
