/**
 * The service through connect's in-memory router transport: no sockets, a
 * backend stand-in that records what it was asked.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, test } from "vitest";
import {
  DetectAnomalyResponseSchema,
  EnrichmentMode,
  MLService,
  PredictResponseSchema,
  Provenance,
  ResponseMetadataSchema,
  Source,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { createMlService, responseMetadata } from "../../src/api/ml-service.js";
import type { Backend } from "../../src/backend/backend.js";
import { BuiltinBackend } from "../../src/backend/builtin-backend.js";
import { feature } from "../../src/enrichment/enrich-request.js";
import { UpstreamError } from "../../src/errors/upstream-error.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { PredictionPipeline } from "../../src/pipeline/prediction-pipeline.js";
import { expectAsCreated } from "../helpers/literals.js";
import { testConfig } from "../helpers/sidecar.js";

function setup(behaviour: (rpc: string) => Promise<unknown>, sets: Record<string, string | number | boolean> = {}) {
  const calls: string[] = [];
  const backend: Backend = {
    kind: "rest",
    detectAnomaly: async () => {
      calls.push("detect");
      return { response: (await behaviour("detect")) as never, model: "m", modelVersion: "" };
    },
    predict: async () => {
      calls.push("predict");
      return { response: (await behaviour("predict")) as never, model: "m", modelVersion: "" };
    },
    analyzePatterns: async () => {
      throw new Error("not used");
    },
    probe: async () => ({ ready: true, detail: "" }),
    close: async () => {},
  };
  const config = testConfig({ "backend.url": "http://127.0.0.1:9", "retry.max_attempts": 1, ...sets });
  const metrics = createMetrics({ processMetrics: false });
  const logger = pino({ level: "silent" });
  const clock = () => performance.now();
  const pipeline = new PredictionPipeline({ backend, fallback: new BuiltinBackend(), config, metrics, logger, clock, wallClock: Date.now });
  const transport = createRouterTransport(({ service }) => {
    service(MLService, createMlService({ pipeline, config, logger, metrics, clock }));
  });
  return { client: createClient(MLService, transport), calls, pipeline };
}

const answer = create(DetectAnomalyResponseSchema, { anomalyDetected: true, confidence: 0.9, anomalyScore: 5, recommendations: ["x"] });

describe("MLService through the router transport", () => {
  test("a fresh answer carries metadata: source, backend, model, request id, features as given", async () => {
    const { client, pipeline } = setup(async () => answer);
    const r = await client.detectAnomaly({ metrics: [{ name: "cpu_usage", value: 0.5 }] }, { headers: { "x-request-id": "engine-7" } });
    expect(r.anomalyScore).toBe(5);
    expect(r.metadata?.source).toBe(Source.ML_SERVICE);
    expect(r.metadata?.model).toBe("m");
    expect(r.metadata?.requestId).toBe("engine-7");
    expect(r.metadata?.features.map((f) => [f.name, f.provenance])).toEqual([["cpu_usage", Provenance.GIVEN]]);
    pipeline.shutdown();
  });

  test("invalid input: INVALID_ARGUMENT with every violation, and the backend is never called", async () => {
    const { client, calls, pipeline } = setup(async () => answer);
    const e = await client
      .detectAnomaly({ metrics: [{ name: "", value: Number.NaN }], context: { namespace: "Bad_NS", resource: "api" } })
      .catch((x: unknown) => ConnectError.from(x));
    expect(e).toBeInstanceOf(ConnectError);
    expect((e as ConnectError).code).toBe(Code.InvalidArgument);
    const fields = (e as ConnectError).findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field);
    expect(fields).toEqual(["metrics[0].name", "metrics[0].value", "context.namespace"]);
    expect(calls).toEqual([]);
    pipeline.shutdown();
  });

  test("an upstream failure leaves through the error table, with the fallback off", async () => {
    const { client, pipeline } = setup(
      async () => {
        throw new UpstreamError("down", { kind: "status", status: 503, upstream: "rest", endpoint: "/x" });
      },
      { "fallback.enabled": false },
    );
    await expect(client.predict({ issueContext: { metrics: [{ name: "m", value: 1 }] } })).rejects.toMatchObject({
      code: Code.Unavailable,
    });
    pipeline.shutdown();
  });

  test("asking for enrichment without PROMETHEUS_URL is FAILED_PRECONDITION, before any call", async () => {
    const { client, calls, pipeline } = setup(async () => create(PredictResponseSchema, {}));
    const e = await client
      .detectAnomaly({ metrics: [{ name: "m", value: 1 }], enrichment: { mode: EnrichmentMode.ALWAYS } })
      .catch((x: unknown) => ConnectError.from(x));
    expect((e as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((e as ConnectError).rawMessage).toContain("PROMETHEUS_URL");
    expect(calls).toEqual([]);
    pipeline.shutdown();
  });
});

describe("responseMetadata()", () => {
  // The literal stands in for create(ResponseMetadataSchema, ...) on every
  // answer; a field added to ResponseMetadata in the proto must fail here.
  test.each([
    {
      source: Source.ML_SERVICE,
      degraded: false,
      backend: "rest",
      model: "",
      modelVersion: "",
      features: [feature("cpu_usage", 0.85, Provenance.GIVEN)],
      degradedReason: "",
      requestId: "7c9e6679-7425-40de-944b-e07fc1ee9a44",
      warnings: [],
    },
    {
      source: Source.STALE_CACHE,
      degraded: true,
      backend: "kserve-v1",
      model: "anomaly-detector",
      modelVersion: "3",
      features: [feature("a", 1, Provenance.FETCHED), feature("b", 0, Provenance.IMPUTED, "no samples")],
      degradedReason: "backend failed; answered from an expired cache entry",
      requestId: "r-1",
      warnings: ["pod p-1 has no samples"],
    },
  ])("is the message create() makes: $source", (fields) => {
    const literal = responseMetadata(fields);
    const made = create(ResponseMetadataSchema, fields);
    expectAsCreated(ResponseMetadataSchema, literal, made);
  });
});
