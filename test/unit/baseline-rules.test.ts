import { create, fromJson } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, test } from "vitest";
import { EventSchema, MetricSchema } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { BASELINE_MAX_CONFIDENCE, baselineAnomaly, baselinePatterns, baselinePredict } from "../../src/backend/baseline-rules.js";
import { fixture } from "../helpers/fixtures.js";

const m = (name: string, value: number) => create(MetricSchema, { name, value });

describe("baseline rule set", () => {
  test("the seed's metrics are an anomaly: memory 0.92, 5 restarts, rising trends", () => {
    const seed = fixture<{ metrics: unknown[] }>("adr-009/adr009_anomaly_detect_request.json");
    const metrics = seed.metrics.map((x) => fromJson(MetricSchema, x as never));
    const r = baselineAnomaly(metrics);
    expect(r.anomalyDetected).toBe(true);
    // cpu 0.855 (+1.5) + memory 0.923 (+3) + restarts 5 (+3) + cpu trend (+1) + memory trend (+1)
    expect(r.anomalyScore).toBe(9.5);
    expect(r.recommendations).toContain("Check for memory leak");
    expect(r.confidence).toBeLessThanOrEqual(BASELINE_MAX_CONFIDENCE);
    expect(r.confidence).toBeGreaterThan(0.5);
  });

  test("quiet metrics are normal, with no recommendations", () => {
    const r = baselineAnomaly([m("cpu_usage", 0.3), m("memory_usage", 0.4), m("container_restarts", 0)]);
    expect(r.anomalyDetected).toBe(false);
    expect(r.anomalyScore).toBe(0);
    expect(r.recommendations).toEqual([]);
  });

  test("the 45-feature names are understood", () => {
    const r = baselineAnomaly([m("pod_cpu_usage_value", 0.95), m("pod_memory_usage_value", 0.2)]);
    expect(r.anomalyDetected).toBe(true);
    expect(r.anomalyScore).toBe(3);
  });

  test("no known signal: no verdict and zero confidence, never a confident default", () => {
    const r = baselineAnomaly([m("something_else", 1)]);
    expect(r.anomalyDetected).toBe(false);
    expect(r.confidence).toBe(0);
  });

  test("memory at 0.9 rising 0.05/h predicts an OOM in 2h", () => {
    const r = baselinePredict([m("memory_usage", 0.9), m("memory_trend_1h", 0.05)], []);
    expect(r.predictedIssues[0]?.issue).toBe("pod_oom");
    expect(r.predictedIssues[0]?.timeToOccurrence?.seconds).toBe(7200n);
    expect(r.suggestedActions).toEqual(["increase_memory_limit"]);
  });

  test("restart events predict a crash loop", () => {
    const r = baselinePredict([m("cpu_usage", 0.1)], ["pod_restart"]);
    expect(r.predictedIssues.map((i) => i.issue)).toEqual(["crash_loop"]);
  });

  test("a daily event and a follower are found", () => {
    const day = 86_400_000;
    const base = Date.UTC(2026, 0, 20, 9, 0, 0);
    const events = [0, 1, 2, 3].flatMap((d) => [
      create(EventSchema, { type: "high_cpu", timestamp: timestampFromMs(base + d * day) }),
      create(EventSchema, { type: "pod_restart", timestamp: timestampFromMs(base + d * day + 120_000) }),
    ]);
    const r = baselinePatterns(events);
    expect(r.patterns.map((p) => p.pattern).sort()).toEqual(["daily_high_cpu", "daily_pod_restart"]);
    expect(r.correlations).toEqual([expect.objectContaining({ source: "high_cpu", target: "pod_restart", coefficient: 1 })]);
  });
});
