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
  type Feature,
  FeatureSet,
  GetFeaturesResponseSchema,
  IssueContextSchema,
  type Metric,
  type MLService,
  Provenance,
  type ResponseMetadata,
  type WorkloadContext,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import type { Config } from "../config/schema.js";
import { assertReachable, enrich, feature, needsFetch, vectorFeatures } from "../enrichment/enrich-request.js";
import type { FeatureBuilder } from "../enrichment/feature-builder.js";
import { invalidArgument } from "../errors/error-table.js";
import { toRpcError } from "../errors/to-rpc-error.js";
import type { FieldViolation } from "../errors/upstream-error.js";
import type { Logger } from "../observability/logger.js";
import { type Metrics, toUpperSnake } from "../observability/metrics.js";
import type { LadderAnswer, PredictionPipeline } from "../pipeline/prediction-pipeline.js";
import { type CallContext, type Clock, createCallContext, MESSAGE_BYTES } from "./call-context.js";
import { type ValidationRules, validateAnalyzePatterns, validateDetectAnomaly, validateGetFeatures, validatePredict } from "./validate.js";

/** Everything the service needs, injected. */
export interface MlServiceDeps {
  readonly pipeline: PredictionPipeline;
  /** Builds feature vectors from Prometheus; undefined while enrichment is not configured. */
  readonly features?: FeatureBuilder | undefined;
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

/** What enrichment contributed to a call (or the caller's metrics, when none ran). */
interface Used {
  readonly features: Feature[];
  readonly warnings: readonly string[];
  readonly imputed: number;
}

/** The metrics sent upstream, and what enrichment contributed to them. */
interface Sent {
  readonly metrics: readonly Metric[];
  readonly used: Used;
}

const givenAsSent = (metrics: readonly Metric[]): Sent => ({ metrics, used: givenOnly(metrics) });

const givenOnly = (metrics: readonly Metric[]): Used => ({
  features: metrics.map((m) => feature(m.name, m.value, Provenance.GIVEN)),
  warnings: [],
  imputed: 0,
});

/**
 * A ResponseMetadata message, as `create(ResponseMetadataSchema, ...)` makes
 * it, written as a literal: every answer carries one, and create() walks
 * the message's descriptor for it (480 bytes with one feature and 832 with
 * 45, against 104 as a literal: bench/FINDINGS.md, change 24). A test holds the
 * two equal, as for `feature()`, so a field added to the proto fails there.
 */
export const responseMetadata = (m: Omit<ResponseMetadata, "$typeName" | "$unknown">): ResponseMetadata => ({
  $typeName: "aiops.ml.v1.ResponseMetadata",
  source: m.source,
  degraded: m.degraded,
  backend: m.backend,
  model: m.model,
  modelVersion: m.modelVersion,
  features: m.features,
  degradedReason: m.degradedReason,
  requestId: m.requestId,
  warnings: m.warnings,
});

/** Metadata for an answer: who answered, and the features used with their provenance. */
function metadataFor(answer: LadderAnswer<unknown>, call: CallContext, used: Used): ResponseMetadata {
  const imputedNote = used.imputed > 0 ? `${used.imputed} feature(s) imputed (see features)` : "";
  const reason = answer.degradedReason;
  return responseMetadata({
    source: answer.source,
    degraded: answer.degraded || used.imputed > 0,
    degradedReason: imputedNote === "" ? reason : reason === "" ? imputedNote : `${reason}; ${imputedNote}`,
    backend: answer.backend,
    model: answer.model,
    modelVersion: answer.modelVersion,
    requestId: call.requestId,
    features: used.features,
    warnings: [...used.warnings],
  });
}

/** Creates the MLService implementation. */
export function createMlService(deps: MlServiceDeps): ServiceImpl<typeof MLService> {
  const { pipeline, config, logger, metrics, features } = deps;
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
    try {
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
      metrics.rpcDuration.observe({ method, code: code === "ok" ? "OK" : toUpperSnake(code) }, (clock() - started) / 1000);
    }
  }

  function reject(method: string, violations: FieldViolation[]): void {
    if (violations.length === 0) return;
    metrics.invalidRequests.inc({ method });
    throw invalidArgument(violations);
  }

  /**
   * Decides enrichment for a call: the effective mode, and whether anything
   * must be fetched. FAILED_PRECONDITION when it was asked for explicitly
   * but Prometheus is not configured.
   */
  function plan(e: Enrichment | undefined, set: string, given: readonly Metric[]): { mode: EnrichmentMode; fetch: boolean } {
    const mode = effectiveMode(e, prometheusConfigured);
    if (mode === EnrichmentMode.NEVER) return { mode, fetch: false };
    if (!prometheusConfigured || features === undefined) throw enrichmentNotConfigured();
    return { mode, fetch: needsFetch(mode, features.names(set), given) };
  }

  /**
   * Builds the vector (only when the plan says fetch). A call that fetches
   * nothing, most calls, takes the caller's metrics at once
   * ({@link givenAsSent}) without awaiting anything: awaiting a value that
   * is already there costs a turn of the microtask queue.
   */
  async function enriched(
    set: string,
    mode: EnrichmentMode,
    given: readonly Metric[],
    context: WorkloadContext | undefined,
    e: Enrichment | undefined,
    call: CallContext,
  ): Promise<Sent> {
    if (features === undefined) throw enrichmentNotConfigured();
    const workload = { namespace: context?.namespace ?? "", resource: context?.resource ?? "", pod: context?.pod ?? "" };
    const evalMs = evaluationMs(e);
    const r = await enrich(
      features,
      set,
      mode,
      given,
      workload,
      evalMs === undefined ? undefined : evalMs / 1000,
      config.enrichment.max_imputed,
      call,
    );
    return { metrics: r.metrics, used: r };
  }

  // One literal per call, not { ...limits, enrichmentWillRun }: V8 gives
  // each object a spread makes, with properties added after it, a hidden
  // class of its own once the code is optimized (see CachedAnswer).
  const rules = (ctx: HandlerContext, enrichmentWillRun: boolean): ValidationRules => ({
    maxRequestBytes: config.server.max_request_bytes,
    enrichmentWillRun,
    messageBytes: ctx.values.get(MESSAGE_BYTES),
  });

  return {
    detectAnomaly(req, ctx) {
      return handle("DetectAnomaly", ctx, async (call) => {
        const p = plan(req.enrichment, "anomaly", req.metrics);
        reject("DetectAnomaly", validateDetectAnomaly(req, rules(ctx, p.fetch)));
        const { metrics: sent, used } = p.fetch
          ? await enriched("anomaly", p.mode, req.metrics, req.context, req.enrichment, call)
          : givenAsSent(req.metrics);
        const upstreamReq = sent === req.metrics ? req : { ...req, metrics: [...sent] };
        const answer = await pipeline.run("DetectAnomaly", upstreamReq, call, evaluationMs(req.enrichment));
        answer.response.metadata = metadataFor(answer, call, used);
        return answer.response;
      });
    },

    predict(req, ctx) {
      return handle("Predict", ctx, async (call) => {
        const given = req.issueContext?.metrics ?? [];
        const p = plan(req.enrichment, "predictive", given);
        reject("Predict", validatePredict(req, rules(ctx, p.fetch)));
        const { metrics: sent, used } = p.fetch
          ? await enriched("predictive", p.mode, given, req.context, req.enrichment, call)
          : givenAsSent(given);
        const upstreamReq =
          sent === given
            ? req
            : {
                ...req,
                issueContext: create(IssueContextSchema, {
                  currentState: req.issueContext?.currentState ?? "",
                  recentEvents: req.issueContext?.recentEvents ?? [],
                  metrics: [...sent],
                }),
              };
        const answer = await pipeline.run("Predict", upstreamReq, call, evaluationMs(req.enrichment));
        answer.response.metadata = metadataFor(answer, call, used);
        return answer.response;
      });
    },

    analyzePatterns(req, ctx) {
      return handle("AnalyzePatterns", ctx, async (call) => {
        reject("AnalyzePatterns", validateAnalyzePatterns(req, rules(ctx, false)));
        const answer = await pipeline.run("AnalyzePatterns", req, call);
        answer.response.metadata = metadataFor(answer, call, givenOnly(req.historicalData?.metrics ?? []));
        return answer.response;
      });
    },

    getFeatures(req, ctx) {
      return handle("GetFeatures", ctx, async (call) => {
        if (!prometheusConfigured || features === undefined) throw enrichmentNotConfigured();
        reject("GetFeatures", validateGetFeatures(req));
        const set = req.featureSet === FeatureSet.PREDICTIVE ? "predictive" : "anomaly";
        const c = req.context as WorkloadContext;
        const evalMs = evaluationMs(req.enrichment);
        const vector = await features.build(
          set,
          { namespace: c.namespace, resource: c.resource, pod: c.pod },
          evalMs === undefined ? undefined : evalMs / 1000,
          call,
        );
        assertReachable(vector);
        const tooMany = vector.imputed > config.enrichment.max_imputed;
        return create(GetFeaturesResponseSchema, {
          features: vectorFeatures(vector),
          metadata: {
            degraded: vector.imputed > 0,
            degradedReason:
              vector.imputed === 0
                ? ""
                : `${vector.imputed} feature(s) imputed${tooMany ? `, more than enrichment.max_imputed (${config.enrichment.max_imputed}): a model would not be called with this vector` : ""}`,
            requestId: call.requestId,
            warnings: [
              ...vector.warnings,
              `evaluated at ${new Date(vector.time * 1000).toISOString()} over pods ${vector.scope.pods.join(", ")} on nodes ${vector.scope.nodes.join(", ")}`,
            ],
          },
        });
      });
    },
  };
}
