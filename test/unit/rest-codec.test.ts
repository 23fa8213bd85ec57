import { create, fromJson, toJson } from "@bufbuild/protobuf";
import { describe, expect, test } from "vitest";
import {
  AnalyzePatternsResponseSchema,
  DetectAnomalyRequestSchema,
  DetectAnomalyResponseSchema,
  PredictRequestSchema,
  PredictResponseSchema,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { detectAnomalyResponse } from "../../src/backend/backend.js";
import { ShapeError } from "../../src/backend/json-shape.js";
import {
  decodeAnalyzePatterns,
  decodeDetectAnomaly,
  decodePredict,
  encodeDetectAnomaly,
  encodePredict,
} from "../../src/backend/rest-backend.js";
import { fixture } from "../helpers/fixtures.js";
import { expectAsCreated } from "../helpers/literals.js";

describe("REST contract codec (ADR-009)", () => {
  test("the seed's anomaly request, parsed as proto-JSON, encodes back to exactly the seed's body", () => {
    const seed = fixture("adr-009/adr009_anomaly_detect_request.json");
    const req = fromJson(DetectAnomalyRequestSchema, seed as never);
    expect(encodeDetectAnomaly(req)).toEqual(seed);
  });

  test("the seed's anomaly response decodes to the typed response", () => {
    const res = decodeDetectAnomaly(fixture("adr-009/adr009_anomaly_detect_response.json"));
    expect(toJson(DetectAnomalyResponseSchema, res, { useProtoFieldName: true })).toEqual({
      anomaly_detected: true,
      confidence: 0.95,
      anomaly_score: 8.7,
      recommendations: ["Scale up replicas", "Check for memory leak"],
    });
  });

  test('the seed\'s prediction decodes, "5m" becoming a 300 s Duration', () => {
    const res = decodePredict(fixture("adr-009/adr009_prediction_predict_response.json"));
    expect(res.predictedIssues[0]?.issue).toBe("pod_oom");
    expect(res.predictedIssues[0]?.probability).toBe(0.85);
    expect(res.predictedIssues[0]?.timeToOccurrence?.seconds).toBe(300n);
    expect(res.suggestedActions).toEqual(["increase_memory_limit", "add_hpa"]);
    expect(toJson(PredictResponseSchema, res, { useProtoFieldName: true })).toMatchObject({
      predicted_issues: [{ time_to_occurrence: "300s" }],
    });
  });

  test("the seed's pattern response decodes", () => {
    const res = decodeAnalyzePatterns(fixture("adr-009/adr009_pattern_analyze_response.json"));
    expect(toJson(AnalyzePatternsResponseSchema, res, { useProtoFieldName: true })).toEqual({
      patterns: [{ pattern: "daily_spike", confidence: 0.88 }],
    });
  });

  test("a predict request encodes with snake_case names and RFC 3339 timestamps", () => {
    const req = fromJson(PredictRequestSchema, {
      issue_context: {
        current_state: "degraded",
        recent_events: ["pod_restart", "high_cpu"],
        metrics: [{ name: "memory_usage", value: 0.9, timestamp: "2026-01-25T10:00:00.250Z" }],
      },
      context: { namespace: "production", resource: "payment-service" },
    });
    expect(encodePredict(req)).toEqual({
      issue_context: {
        current_state: "degraded",
        recent_events: ["pod_restart", "high_cpu"],
        metrics: [{ name: "memory_usage", value: 0.9, timestamp: "2026-01-25T10:00:00.250Z" }],
      },
      context: { namespace: "production", resource: "payment-service" },
    });
  });

  test.each([
    [{ confidence: 0.9, anomaly_score: 1, recommendations: [] }, "anomaly_detected", "a boolean"],
    [{ anomaly_detected: "yes", confidence: 0.9, anomaly_score: 1, recommendations: [] }, "anomaly_detected", "a boolean"],
    [{ anomaly_detected: true, confidence: 1.7, anomaly_score: 1, recommendations: [] }, "confidence", "a number from 0 to 1"],
    [{ anomaly_detected: true, confidence: 0.5, anomaly_score: null, recommendations: [] }, "anomaly_score", "a finite number"],
    [{ anomaly_detected: true, confidence: 0.5, anomaly_score: 1, recommendations: [3] }, "recommendations[0]", "a string"],
    [[1, 2], "", "an object"],
  ])("a malformed anomaly answer names the field: %j", (body, field, expected) => {
    try {
      decodeDetectAnomaly(body);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ShapeError);
      expect((e as ShapeError).field).toBe(field);
      expect((e as ShapeError).expected).toBe(expected);
    }
  });

  test("a bad time_to_occurrence names its field", () => {
    const body = { predicted_issues: [{ issue: "x", probability: 0.5, time_to_occurrence: "soon" }], suggested_actions: [] };
    expect(() => decodePredict(body)).toThrow(/predicted_issues\[0\]\.time_to_occurrence/);
  });

  test("an empty context pod is left out of the body, a set one is sent", () => {
    const req = create(DetectAnomalyRequestSchema, { context: { namespace: "a", resource: "b", pod: "b-1" } });
    expect(encodeDetectAnomaly(req)).toEqual({ metrics: [], context: { namespace: "a", resource: "b", pod: "b-1" } });
  });
});

describe("detectAnomalyResponse()", () => {
  // The literal stands in for create(DetectAnomalyResponseSchema, ...) on
  // every DetectAnomaly answer; a field added to the message must fail here.
  test.each([
    { anomalyDetected: true, confidence: 0.85, anomalyScore: 2.5, recommendations: ["Scale up replicas"] },
    { anomalyDetected: false, confidence: 0, anomalyScore: 0, recommendations: [] },
  ])("is the message create() makes: $anomalyDetected", (fields) => {
    const literal = detectAnomalyResponse(fields);
    const made = create(DetectAnomalyResponseSchema, fields);
    expectAsCreated(DetectAnomalyResponseSchema, literal, made);
  });
});
