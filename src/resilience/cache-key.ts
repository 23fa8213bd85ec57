/**
 * Cache and coalescing keys. A key names the backend, the model and the RPC,
 * and a canonical form of the request: metric values rounded to multiples of
 * `cache.quantum` (so near-identical vectors share an entry), metrics sorted
 * by name (so order does not matter), per-metric timestamps left out, and
 * the evaluation time reduced to its `cache.time_bucket`.
 */
import * as crypto from "node:crypto";
import type {
  AnalyzePatternsRequest,
  DetectAnomalyRequest,
  Metric,
  PredictRequest,
  WorkloadContext,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";

export type Rpc = "DetectAnomaly" | "Predict" | "AnalyzePatterns";

/** The canonical form of a request (JSON-serializable). */
export type CanonicalRequest = unknown;

/** Rounds to a multiple of `quantum` (an integer count of quanta), or keeps the value when quantum is 0. */
export function quantize(value: number, quantum: number): number {
  return quantum > 0 ? Math.round(value / quantum) : value;
}

/**
 * The metrics sorted by name (then by quantized value), as one flat list
 * [name, value, name, value, ...]: one array however many metrics a request
 * carries (45 for the anomaly model), not a pair per metric
 * (bench/FINDINGS.md, change 23).
 */
function metrics(ms: readonly Metric[], quantum: number): (string | number)[] {
  const sorted = ms
    .slice()
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : quantize(a.value, quantum) - quantize(b.value, quantum)));
  const flat: (string | number)[] = new Array(2 * sorted.length);
  for (let i = 0; i < sorted.length; i++) {
    const m = sorted[i] as Metric;
    flat[2 * i] = m.name;
    flat[2 * i + 1] = quantize(m.value, quantum);
  }
  return flat;
}

const ctx = (c: WorkloadContext | undefined) => [c?.namespace ?? "", c?.resource ?? "", c?.pod ?? ""];
const seconds = (t: { seconds: bigint } | undefined) => (t === undefined ? 0 : Number(t.seconds));

/** The canonical, order-independent form of a request. */
export function canonicalRequest(rpc: Rpc, req: DetectAnomalyRequest | PredictRequest | AnalyzePatternsRequest, quantum: number): unknown {
  switch (rpc) {
    case "DetectAnomaly": {
      const r = req as DetectAnomalyRequest;
      return [metrics(r.metrics, quantum), ctx(r.context)];
    }
    case "Predict": {
      const r = req as PredictRequest;
      const ic = r.issueContext;
      return [ic?.currentState ?? "", [...(ic?.recentEvents ?? [])].sort(), metrics(ic?.metrics ?? [], quantum), ctx(r.context)];
    }
    case "AnalyzePatterns": {
      // History is a time series: timestamps are part of its meaning.
      const r = req as AnalyzePatternsRequest;
      const h = r.historicalData;
      const events = (h?.events ?? [])
        .map((e) => [e.type, seconds(e.timestamp), e.namespace, e.resource, quantize(e.value, quantum)] as const)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
      const series = (h?.metrics ?? [])
        .map((m) => [m.name, seconds(m.timestamp), quantize(m.value, quantum)] as const)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
      return [h?.timeRange ?? "", events, series, ctx(r.context)];
    }
  }
}

export interface KeyParts {
  readonly backend: string;
  readonly model: string;
  readonly rpc: Rpc;
  /** floor(evaluation time / cache.time_bucket). */
  readonly timeBucket: number;
  readonly canonical: unknown;
}

/** SHA-256 as base64url: one-shot where Node has it (20.12+), without a Hash object per call. */
const sha256: (text: string) => string =
  typeof crypto.hash === "function"
    ? (text) => crypto.hash("sha256", text, "base64url")
    : (text) => crypto.createHash("sha256").update(text).digest("base64url");

/** A short, fixed-size key (SHA-256, base64url) for the parts. */
export function cacheKey(parts: KeyParts): string {
  return sha256(JSON.stringify([parts.backend, parts.model, parts.rpc, parts.timeBucket, parts.canonical]));
}
