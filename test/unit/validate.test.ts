import { create, fromJson } from "@bufbuild/protobuf";
import { describe, expect, test } from "vitest";
import { AnalyzePatternsRequestSchema, DetectAnomalyRequestSchema, PredictRequestSchema } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { validateAnalyzePatterns, validateDetectAnomaly, validatePredict } from "../../src/api/validate.js";

const rules = { maxRequestBytes: 1_048_576, enrichmentWillRun: false };
const fields = (v: { field: string }[]) => v.map((x) => x.field);

describe("request validation", () => {
  test("the seed's request is valid", () => {
    const req = fromJson(DetectAnomalyRequestSchema, {
      metrics: [{ name: "cpu_usage", value: 0.855, timestamp: "2026-01-25T10:00:00Z" }],
      context: { namespace: "production", resource: "payment-service" },
    });
    expect(validateDetectAnomaly(req, rules)).toEqual([]);
  });

  test("NaN, Inf and empty names are named by path", () => {
    const req = create(DetectAnomalyRequestSchema, {
      metrics: [
        { name: "ok", value: 1 },
        { name: "", value: 1 },
        { name: "cpu", value: Number.NaN },
        { name: "mem", value: Number.POSITIVE_INFINITY },
      ],
    });
    expect(fields(validateDetectAnomaly(req, rules))).toEqual(["metrics[1].name", "metrics[2].value", "metrics[3].value"]);
  });

  test("hostile or malformed Kubernetes names are rejected", () => {
    const req = create(DetectAnomalyRequestSchema, {
      metrics: [{ name: "cpu", value: 1 }],
      context: { namespace: '"} or vector(1) #', resource: "Payment_Service", pod: "a b" },
    });
    expect(fields(validateDetectAnomaly(req, rules))).toEqual(["context.namespace", "context.resource", "context.pod"]);
  });

  test("no metrics and no enrichment is an error; with enrichment the workload must be named", () => {
    const empty = create(DetectAnomalyRequestSchema, {});
    expect(fields(validateDetectAnomaly(empty, rules))).toEqual(["metrics"]);
    expect(fields(validateDetectAnomaly(empty, { ...rules, enrichmentWillRun: true }))).toEqual(["context.namespace", "context.resource"]);
  });

  test("an oversized request names its largest field", () => {
    const metrics = Array.from({ length: 2000 }, (_, i) => ({ name: `metric_${i}`, value: i }));
    const req = create(DetectAnomalyRequestSchema, { metrics });
    const v = validateDetectAnomaly(req, { ...rules, maxRequestBytes: 4096 });
    expect(v[0]?.field).toBe("metrics");
    expect(v[0]?.description).toMatch(/more than server.max_request_bytes \(4096\)/);
  });

  test("predict: metrics and recent events are checked", () => {
    const req = create(PredictRequestSchema, {
      issueContext: { currentState: "degraded", recentEvents: ["pod_restart", " "], metrics: [{ name: "m", value: Number.NaN }] },
    });
    expect(fields(validatePredict(req, rules))).toEqual(["issue_context.metrics[0].value", "issue_context.recent_events[1]"]);
  });

  test("patterns: time_range must be a positive Go duration of at most 90 days", () => {
    const at = (timeRange: string) =>
      fields(validateAnalyzePatterns(create(AnalyzePatternsRequestSchema, { historicalData: { timeRange } }), rules));
    expect(at("24h")).toEqual([]);
    expect(at("1 day")).toEqual(["historical_data.time_range"]);
    expect(at("0")).toEqual(["historical_data.time_range"]);
    expect(at("3000h")).toEqual(["historical_data.time_range"]);
    expect(fields(validateAnalyzePatterns(create(AnalyzePatternsRequestSchema, {}), rules))).toEqual(["historical_data"]);
  });
});
