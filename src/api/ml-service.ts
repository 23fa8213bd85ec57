/**
 * The implementation of aiops.ml.v1.MLService. Each RPC: build the call
 * context (deadline, request id, trace), validate, decide enrichment, call
 * the backend, and attach metadata. Every error leaves as a ConnectError
 * chosen by the error table.
 */

import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  type Enrichment,
  EnrichmentMode,
  FeatureSchema,
  type Metric,
  type MLService,
  Provenance,
  type ResponseMetadata,
  ResponseMetadataSchema,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import type { Config } from "../config/schema.js";
import { invalidArgument } from "../errors/error-table.js";
import { toRpcError } from "../errors/to-rpc-error.js";
import type { FieldViolation } from "../errors/upstream-error.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { LadderAnswer, PredictionPipeline } from "../pipeline/prediction-pipeline.js";
import type { Drain } from "../server/drain.js";
import { type CallContext, type Clock, createCallContext } from "./call-context.js";
import { validateAnalyzePatterns, validateDetectAnomaly, validatePredict } from "./validate.js";

/** Everything the service needs, injected. */
export interface MlServiceDeps {
  readonly pipeline: PredictionPipeline;
  /** Admits calls: load shedding and shutdown refusal. */
  readonly drain: Drain;
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Monotonic milliseconds (performance.now by default). */
  readonly clock?: Clock;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The effective enrichment mode of a call. */
export function effectiveMode(e: Enrichment | undefined, prometheusConfigured: boolean): EnrichmentMode {
  const mode = e?.mode ?? EnrichmentMode.ENRICHMENT_MODE_UNSPECIFIED;
  if (mode === EnrichmentMode.ENRICHMENT_MODE_UNSPECIFIED) {
    return prometheusConfigured ? EnrichmentMode.MISSING_ONLY : EnrichmentMode.NEVER;
  }
  return mode;
}

/** The evaluation instant a request asks for, in wall-clock ms (undefined: now). */
function evaluationMs(e: Enrichment | undefined): number | undefined {
  return e?.evaluationTime === undefined ? undefined : timestampMs(e.evaluationTime);
}

function enrichmentNotConfigured(): ConnectError {
  return new ConnectError(
    "enrichment is not configured: set PROMETHEUS_URL (or enrichment.prometheus.url) to fetch features",
    Code.FailedPrecondition,
  );
}

/** Metadata for an answer, with the caller's metrics as the features used. */
function metadataFor(answer: LadderAnswer<unknown>, call: CallContext, given: readonly Metric[]): ResponseMetadata {
  return create(ResponseMetadataSchema, {
    source: answer.source,
    degraded: answer.degraded,
    degradedReason: answer.degradedReason,
    backend: answer.backend,
    model: answer.model,
    modelVersion: answer.modelVersion,
    requestId: call.requestId,
    features: given.map((m) => create(FeatureSchema, { name: m.name, value: m.value, provenance: Provenance.GIVEN })),
  });
}

/** Creates the MLService implementation. */
export function createMlService(deps: MlServiceDeps): ServiceImpl<typeof MLService> {
  const { pipeline, drain, config, logger, metrics } = deps;
  const clock = deps.clock ?? (() => performance.now());
  const prometheusConfigured = config.enrichment.prometheus.url !== "";

  /** Runs one RPC with its context, metrics, logs and error mapping. */
  async function handle<T>(method: string, ctx: HandlerContext, body: (call: CallContext) => Promise<T>): Promise<T> {
    const started = clock();
    const headerId = ctx.requestHeader.get("x-request-id");
    const traceparent = ctx.requestHeader.get("traceparent");
    const call = createCallContext({
      signal: ctx.signal,
      timeoutMs: ctx.timeoutMs(),
      capMs: config.backend.timeout,
      requestId: headerId !== null && REQUEST_ID.test(headerId) ? headerId : randomUUID(),
      traceparent: traceparent !== null && TRACEPARENT.test(traceparent) ? traceparent : undefined,
      clock,
    });
    ctx.responseHeader.set("x-request-id", call.requestId);
    let code = "ok";
    let admitted = false;
    try {
      try {
        drain.enter();
        admitted = true;
        metrics.inflight.inc();
      } catch (e) {
        if (ConnectError.from(e).code === Code.ResourceExhausted) metrics.shed.inc({ method });
        throw e;
      }
      const result = await body(call);
      logger.debug({ requestId: call.requestId, method, code: "OK", ms: Math.round(clock() - started) }, "rpc served");
      return result;
    } catch (e) {
      const err = toRpcError(e);
      code = Code[err.code] ?? String(err.code);
      const level = err.code === Code.Internal || err.code === Code.Unknown ? "error" : "info";
      logger[level]({ requestId: call.requestId, method, code, err: { message: err.rawMessage } }, "rpc failed");
      throw err;
    } finally {
      call.dispose();
      if (admitted) {
        drain.leave();
        metrics.inflight.dec();
      }
      metrics.rpcDuration.observe({ method, code: code === "ok" ? "OK" : toUpperSnake(code) }, (clock() - started) / 1000);
    }
  }

  function reject(method: string, violations: FieldViolation[]): void {
    if (violations.length === 0) return;
    metrics.invalidRequests.inc({ method });
    throw invalidArgument(violations);
  }

  /** Resolves enrichment for a call; throws FAILED_PRECONDITION when it was asked for but is not configured. */
  function enrichmentWillRun(e: Enrichment | undefined): boolean {
    const mode = effectiveMode(e, prometheusConfigured);
    if (mode === EnrichmentMode.NEVER) return false;
    if (!prometheusConfigured) throw enrichmentNotConfigured();
    return true;
  }

  return {
    detectAnomaly(req, ctx) {
      return handle("DetectAnomaly", ctx, async (call) => {
        const enrich = enrichmentWillRun(req.enrichment);
        reject(
          "DetectAnomaly",
          validateDetectAnomaly(req, { maxRequestBytes: config.server.max_request_bytes, enrichmentWillRun: enrich }),
        );
        const answer = await pipeline.run("DetectAnomaly", req, call, evaluationMs(req.enrichment));
        answer.response.metadata = metadataFor(answer, call, req.metrics);
        return answer.response;
      });
    },

    predict(req, ctx) {
      return handle("Predict", ctx, async (call) => {
        const enrich = enrichmentWillRun(req.enrichment);
        reject("Predict", validatePredict(req, { maxRequestBytes: config.server.max_request_bytes, enrichmentWillRun: enrich }));
        const answer = await pipeline.run("Predict", req, call, evaluationMs(req.enrichment));
        answer.response.metadata = metadataFor(answer, call, req.issueContext?.metrics ?? []);
        return answer.response;
      });
    },

    analyzePatterns(req, ctx) {
      return handle("AnalyzePatterns", ctx, async (call) => {
        reject(
          "AnalyzePatterns",
          validateAnalyzePatterns(req, { maxRequestBytes: config.server.max_request_bytes, enrichmentWillRun: false }),
        );
        const answer = await pipeline.run("AnalyzePatterns", req, call);
        answer.response.metadata = metadataFor(answer, call, req.historicalData?.metrics ?? []);
        return answer.response;
      });
    },

    getFeatures(_req, ctx) {
      return handle("GetFeatures", ctx, async () => {
        if (!prometheusConfigured) throw enrichmentNotConfigured();
        throw new ConnectError("GetFeatures: enrichment is not built yet (issue 5)", Code.Unimplemented);
      });
    },
  };
}

/** Connect's Code names are PascalCase; gRPC's are UPPER_SNAKE (DEADLINE_EXCEEDED). */
export function toUpperSnake(name: string): string {
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}
