/**
 * One interface for every model backend. An adapter per upstream protocol
 * implements it (rest, kserve-v1, kserve-v2, builtin); nothing above this
 * interface knows which one answers.
 */
import type {
  AnalyzePatternsRequest,
  AnalyzePatternsResponse,
  DetectAnomalyRequest,
  DetectAnomalyResponse,
  PredictRequest,
  PredictResponse,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import type { CallContext } from "../api/call-context.js";
import type { BackendKind } from "../config/schema.js";

/**
 * A DetectAnomalyResponse, as `create(DetectAnomalyResponseSchema, ...)`
 * makes it (proto3: every scalar and list, no metadata until the service
 * attaches it), written as a literal: every DetectAnomaly answer from a
 * model is one, and create() walks the message's descriptor for it
 * (bench/FINDINGS.md, change 25). A test holds the two equal, as for
 * `responseMetadata()`, so a field added to the proto fails there.
 */
export const detectAnomalyResponse = (r: Omit<DetectAnomalyResponse, "$typeName" | "$unknown" | "metadata">): DetectAnomalyResponse => ({
  $typeName: "aiops.ml.v1.DetectAnomalyResponse",
  anomalyDetected: r.anomalyDetected,
  confidence: r.confidence,
  anomalyScore: r.anomalyScore,
  recommendations: r.recommendations,
});

/** What a backend answered, and which model answered it. */
export interface BackendAnswer<T> {
  readonly response: T;
  /** The model's name, where the backend names one ("" otherwise). */
  readonly model: string;
  /** The model's version, where the backend reports one ("" otherwise). */
  readonly modelVersion: string;
}

/** The state of the upstream as its readiness endpoint reports it. */
export interface ProbeResult {
  readonly ready: boolean;
  readonly detail: string;
}

/** A model backend. Methods throw UpstreamError (or ConnectError) on failure. */
export interface Backend {
  readonly kind: BackendKind;
  detectAnomaly(req: DetectAnomalyRequest, call: CallContext): Promise<BackendAnswer<DetectAnomalyResponse>>;
  predict(req: PredictRequest, call: CallContext): Promise<BackendAnswer<PredictResponse>>;
  analyzePatterns(req: AnalyzePatternsRequest, call: CallContext): Promise<BackendAnswer<AnalyzePatternsResponse>>;
  /** The model that serves an RPC, where the backend has one per RPC (KServe). */
  modelFor?(rpc: "DetectAnomaly" | "Predict" | "AnalyzePatterns"): string;
  /** Whether the model behind an RPC can answer now; when given, it gates the breaker's half-open probe. */
  ready?(rpc: "DetectAnomaly" | "Predict" | "AnalyzePatterns", signal: AbortSignal): Promise<boolean>;
  /** Asks the upstream whether it can answer (GET /health, model readiness). */
  probe(signal: AbortSignal): Promise<ProbeResult>;
  /** Releases connections. */
  close(): Promise<void>;
}
