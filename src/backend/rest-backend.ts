/**
 * The `rest` backend: the Python ML service's REST contract (ADR-009, pinned
 * down in openapi/ml-service.yaml). Requests are encoded as exactly the
 * contract's JSON (snake_case, RFC 3339 timestamps, Go-style durations) and
 * answers are checked field by field before they become typed responses.
 */
import { create, toJson } from "@bufbuild/protobuf";
import { DurationSchema, type Timestamp, TimestampSchema } from "@bufbuild/protobuf/wkt";
import {
  type AnalyzePatternsRequest,
  type AnalyzePatternsResponse,
  AnalyzePatternsResponseSchema,
  CorrelationSchema,
  type DetectAnomalyRequest,
  type DetectAnomalyResponse,
  type Metric,
  PatternSchema,
  PredictedIssueSchema,
  type PredictRequest,
  type PredictResponse,
  PredictResponseSchema,
  type WorkloadContext,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import type { CallContext } from "../api/call-context.js";
import { parseDuration } from "../config/duration.js";
import { UpstreamError } from "../errors/upstream-error.js";
import type { UpstreamAnswer, UpstreamClient } from "../http/upstream-client.js";
import { type Backend, type BackendAnswer, detectAnomalyResponse, type ProbeResult } from "./backend.js";
import { array, boolean, number, object, ShapeError, string, stringItem } from "./json-shape.js";

/** The contract's endpoints. */
export const REST_ENDPOINTS = {
  detectAnomaly: "/api/v1/anomaly/detect",
  predict: "/api/v1/prediction/predict",
  analyzePatterns: "/api/v1/pattern/analyze",
  health: "/health",
} as const;

type Json = Record<string, unknown>;

const rfc3339 = (t: Timestamp): string => toJson(TimestampSchema, t) as string;

function metricJson(m: Metric): Json {
  const o: Json = { name: m.name, value: m.value };
  if (m.timestamp !== undefined) o.timestamp = rfc3339(m.timestamp);
  return o;
}

function contextJson(c: WorkloadContext): Json {
  const o: Json = { namespace: c.namespace, resource: c.resource };
  if (c.pod !== "") o.pod = c.pod;
  return o;
}

/** The body of POST /api/v1/anomaly/detect. */
export function encodeDetectAnomaly(req: DetectAnomalyRequest): Json {
  const o: Json = { metrics: req.metrics.map(metricJson) };
  if (req.context !== undefined) o.context = contextJson(req.context);
  return o;
}

/** The body of POST /api/v1/prediction/predict. */
export function encodePredict(req: PredictRequest): Json {
  const ic = req.issueContext;
  const o: Json = {
    issue_context: {
      current_state: ic?.currentState ?? "",
      recent_events: ic?.recentEvents ?? [],
      metrics: (ic?.metrics ?? []).map(metricJson),
    },
  };
  if (req.context !== undefined) o.context = contextJson(req.context);
  return o;
}

/** The body of POST /api/v1/pattern/analyze. */
export function encodeAnalyzePatterns(req: AnalyzePatternsRequest): Json {
  const h = req.historicalData;
  const o: Json = {
    historical_data: {
      time_range: h?.timeRange ?? "",
      events: (h?.events ?? []).map((e) => {
        const ev: Json = { type: e.type };
        if (e.timestamp !== undefined) ev.timestamp = rfc3339(e.timestamp);
        if (e.namespace !== "") ev.namespace = e.namespace;
        if (e.resource !== "") ev.resource = e.resource;
        if (e.value !== 0) ev.value = e.value;
        return ev;
      }),
      metrics: (h?.metrics ?? []).map(metricJson),
    },
  };
  if (req.context !== undefined) o.context = contextJson(req.context);
  return o;
}

/** Reads the 200 answer of /anomaly/detect. */
export function decodeDetectAnomaly(body: unknown): DetectAnomalyResponse {
  const o = object(body, "");
  return detectAnomalyResponse({
    anomalyDetected: boolean(o, "anomaly_detected", ""),
    confidence: number(o, "confidence", "", 0, 1),
    anomalyScore: number(o, "anomaly_score", ""),
    recommendations: array(o, "recommendations", "", stringItem),
  });
}

/** Reads a Go-style duration ("5m") into a google.protobuf.Duration. */
function durationField(o: Json, key: string, path: string) {
  const text = string(o, key, path, true);
  if (text === "") return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) throw new ShapeError(`${path}.${key}`, 'a Go duration such as "5m"', text);
  const seconds = Math.floor(ms / 1000);
  return create(DurationSchema, { seconds: BigInt(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) });
}

/** Reads the 200 answer of /prediction/predict. */
export function decodePredict(body: unknown): PredictResponse {
  const o = object(body, "");
  return create(PredictResponseSchema, {
    predictedIssues: array(o, "predicted_issues", "", (v, path) => {
      const i = object(v, path);
      const ttl = durationField(i, "time_to_occurrence", path);
      return create(PredictedIssueSchema, {
        issue: string(i, "issue", path),
        probability: number(i, "probability", path, 0, 1),
        ...(ttl !== undefined ? { timeToOccurrence: ttl } : {}),
      });
    }),
    suggestedActions: array(o, "suggested_actions", "", stringItem),
  });
}

/** Reads the 200 answer of /pattern/analyze. */
export function decodeAnalyzePatterns(body: unknown): AnalyzePatternsResponse {
  const o = object(body, "");
  return create(AnalyzePatternsResponseSchema, {
    patterns: array(o, "patterns", "", (v, path) => {
      const p = object(v, path);
      return create(PatternSchema, {
        pattern: string(p, "pattern", path),
        confidence: number(p, "confidence", path, 0, 1),
        description: string(p, "description", path, true),
      });
    }),
    correlations: array(o, "correlations", "", (v, path) => {
      const c = object(v, path);
      return create(CorrelationSchema, {
        source: string(c, "source", path),
        target: string(c, "target", path),
        coefficient: number(c, "coefficient", path, -1, 1),
      });
    }),
  });
}

/** The ADR-009 REST adapter. */
export class RestBackend implements Backend {
  readonly kind = "rest" as const;

  constructor(private readonly client: UpstreamClient) {}

  /** Not async: a frame of its own would cost every call a promise and a turn. */
  private call<T>(endpoint: string, payload: Json, decode: (b: unknown) => T, call: CallContext): Promise<BackendAnswer<T>> {
    return this.client
      .postJson(endpoint, payload, { signal: call.signal, headers: call.forwardHeaders })
      .then((answer) => this.read(endpoint, answer, decode));
  }

  /** The answer's body as the contract's message, or `malformed` naming the field that breaks it. */
  private read<T>(endpoint: string, answer: UpstreamAnswer, decode: (b: unknown) => T): BackendAnswer<T> {
    try {
      return { response: decode(answer.body), model: "", modelVersion: "" };
    } catch (e) {
      if (!(e instanceof ShapeError)) throw e;
      throw new UpstreamError(`${this.client.name} ${endpoint} answered a body that breaks the contract: ${e.message}`, {
        kind: "malformed",
        upstream: this.client.name,
        endpoint,
        status: answer.status,
        violations: [{ field: e.field, description: e.message }],
        cause: e,
      });
    }
  }

  detectAnomaly(req: DetectAnomalyRequest, call: CallContext) {
    return this.call(REST_ENDPOINTS.detectAnomaly, encodeDetectAnomaly(req), decodeDetectAnomaly, call);
  }

  predict(req: PredictRequest, call: CallContext) {
    return this.call(REST_ENDPOINTS.predict, encodePredict(req), decodePredict, call);
  }

  analyzePatterns(req: AnalyzePatternsRequest, call: CallContext) {
    return this.call(REST_ENDPOINTS.analyzePatterns, encodeAnalyzePatterns(req), decodeAnalyzePatterns, call);
  }

  async probe(signal: AbortSignal): Promise<ProbeResult> {
    try {
      const a = await this.client.getJson(REST_ENDPOINTS.health, { signal });
      const status = (a.body as { status?: unknown } | null)?.status;
      return { ready: true, detail: typeof status === "string" ? status : "ok" };
    } catch (e) {
      return { ready: false, detail: (e as Error).message };
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
