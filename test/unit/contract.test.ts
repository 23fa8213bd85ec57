/**
 * The proto and the OpenAPI document agree field by field under the mirror
 * rule, so neither can drift alone; and the wire check that every stand-in
 * upstream applies really rejects what breaks the document.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { describe, expect, test } from "vitest";
import {
  AnalyzePatternsRequestSchema,
  AnalyzePatternsResponseSchema,
  DetectAnomalyRequestSchema,
  DetectAnomalyResponseSchema,
  PredictRequestSchema,
  PredictResponseSchema,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { CONTRACT, contractViolations } from "../helpers/contract.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { fixture } from "../helpers/fixtures.js";

/** Fields that are the sidecar's additions, never sent upstream. */
const ADDITIONS = new Set(["enrichment", "metadata"]);

type Schema = { $ref?: string; type?: string; format?: string; items?: Schema; properties?: Record<string, Schema> };

function resolve(s: Schema): [string, Schema] {
  if (s.$ref === undefined) return ["", s];
  const name = s.$ref.split("/").pop() as string;
  return [name, CONTRACT.components.schemas[name] as Schema];
}

/** Compares a proto message with an OpenAPI schema; returns the disagreements. */
function mirror(msg: DescMessage, schemaName: string, path = schemaName): string[] {
  const problems: string[] = [];
  const schema = CONTRACT.components.schemas[schemaName] as Schema;
  const props = schema.properties ?? {};
  const fields = msg.fields.filter((f) => !ADDITIONS.has(f.name));
  for (const f of fields) {
    const prop = props[f.name];
    if (prop === undefined) {
      problems.push(`${path}.${f.name}: in the proto, not in the document`);
      continue;
    }
    problems.push(...compareField(f, prop, `${path}.${f.name}`));
  }
  for (const name of Object.keys(props)) {
    if (!fields.some((f) => f.name === name)) problems.push(`${path}.${name}: in the document, not in the proto`);
  }
  return problems;
}

function compareField(f: DescField, prop: Schema, path: string): string[] {
  if (f.fieldKind === "list") {
    if (prop.type !== "array" || prop.items === undefined) return [`${path}: repeated in the proto, not an array in the document`];
    return compareType(f, prop.items, `${path}[]`);
  }
  if (f.fieldKind === "map") return [`${path}: maps are not part of the contract`];
  return compareType(f, prop, path);
}

function compareType(f: DescField, raw: Schema, path: string): string[] {
  const [name, s] = resolve(raw);
  const message = f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message") ? f.message : undefined;
  if (message !== undefined) {
    if (message.typeName === "google.protobuf.Timestamp") {
      return s.type === "string" && s.format === "date-time" ? [] : [`${path}: Timestamp must be an RFC 3339 date-time string`];
    }
    if (message.typeName === "google.protobuf.Duration") {
      return name === "GoDuration" ? [] : [`${path}: Duration must be a GoDuration string ("5m")`];
    }
    if (s.type !== "object") return [`${path}: a message in the proto, not an object in the document`];
    return mirror(message, name, path);
  }
  const scalar = f.fieldKind === "scalar" || (f.fieldKind === "list" && f.listKind === "scalar") ? f.scalar : undefined;
  const want = scalar === 9 ? "string" : scalar === 8 ? "boolean" : scalar === 1 || scalar === 2 ? "number" : undefined;
  if (want === undefined && name === "GoDuration" && scalar === 9) return [];
  if (s.type !== want && !(name === "GoDuration" && want === "string")) return [`${path}: ${want} in the proto, ${s.type} in the document`];
  return [];
}

describe("the proto mirrors the REST contract field by field", () => {
  test.each([
    [DetectAnomalyRequestSchema, "AnomalyDetectRequest"],
    [DetectAnomalyResponseSchema, "AnomalyDetectResponse"],
    [PredictRequestSchema, "PredictRequest"],
    [PredictResponseSchema, "PredictResponse"],
    [AnalyzePatternsRequestSchema, "PatternAnalyzeRequest"],
    [AnalyzePatternsResponseSchema, "PatternAnalyzeResponse"],
  ] as const)("%s ~ %s", (msg, schema) => {
    expect(mirror(msg, schema)).toEqual([]);
  });

  test("the check catches drift: a field renamed on one side", () => {
    const original = CONTRACT.components.schemas.AnomalyDetectResponse as Schema;
    const props = { ...(original.properties ?? {}) };
    props.anomaly_scores = props.anomaly_score as Schema;
    delete props.anomaly_score;
    CONTRACT.components.schemas.AnomalyDetectResponse = { ...original, properties: props };
    try {
      expect(mirror(DetectAnomalyResponseSchema, "AnomalyDetectResponse")).toEqual([
        "AnomalyDetectResponse.anomaly_score: in the proto, not in the document",
        "AnomalyDetectResponse.anomaly_scores: in the document, not in the proto",
      ]);
    } finally {
      CONTRACT.components.schemas.AnomalyDetectResponse = original;
    }
  });
});

describe("the wire check against the document", () => {
  test("the seed's request conforms; extra fields, nulls and bad types do not", () => {
    expect(contractViolations("POST", "/api/v1/anomaly/detect", fixture("adr-009/adr009_anomaly_detect_request.json"))).toEqual([]);
    expect(contractViolations("POST", "/api/v1/anomaly/detect", { metrics: [], threshold: 0.8 })).not.toEqual([]);
    expect(contractViolations("POST", "/api/v1/anomaly/detect", { metrics: [{ name: "a", value: "1" }] })).not.toEqual([]);
    expect(contractViolations("POST", "/api/v1/prediction/predict", { issue_context: { current_state: "x" } })).not.toEqual([]);
    expect(contractViolations("POST", "/not/in/the/contract", { anything: 1 })).toEqual([]);
  });

  test("a stand-in upstream that received a violating request fails its suite", async () => {
    const u = new FakeUpstream();
    await u.start();
    u.on("POST /api/v1/anomaly/detect", { body: {} });
    await fetch(`${u.url}/api/v1/anomaly/detect`, { method: "POST", body: JSON.stringify({ metrics: [{ name: "" }] }) });
    await expect(u.stop()).rejects.toThrow(/break openapi\/ml-service.yaml/);
  });
});
