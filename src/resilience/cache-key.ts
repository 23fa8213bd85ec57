/**
 * Cache and coalescing keys. A key names the backend, the model and the RPC,
 * and a canonical form of the request: metric values rounded to multiples of
 * `cache.quantum` (so near-identical vectors share an entry), metrics sorted
 * by name (so order does not matter), per-metric timestamps left out, and
 * the evaluation time reduced to its `cache.time_bucket`.
 *
 * The canonical form is text: every string length-prefixed (`4:name`), so
 * no value can be read as another whatever it holds, and nothing is escaped;
 * every number ends at a separator. Its SHA-256 is the key.
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

/** The canonical form of a request: text, equal for requests that share an answer. */
export type CanonicalRequest = string;

/** Rounds to a multiple of `quantum` (an integer count of quanta), or keeps the value when quantum is 0. */
export function quantize(value: number, quantum: number): number {
  return quantum > 0 ? Math.round(value / quantum) : value;
}

/** A string as a field of the canonical text: its length, a colon, itself. */
const text = (s: string): string => `${s.length}:${s}`;

/**
 * The order that sorts a list of metrics (by name, then by quantized
 * value), remembered for the last list of names seen. The engine sends one
 * model's vector in the same order on every call, and sorting its 45 names
 * was about half of what a key cost (bench/FINDINGS.md, change 24); checking
 * that the names are the ones seen last is a fraction of that. An order is
 * remembered only when its names are distinct: repeated names sort by
 * value, which changes from call to call.
 */
class SortOrder {
  private names: readonly string[] = [];
  private order: readonly number[] = [];

  of(ms: readonly Metric[], quantum: number): readonly number[] {
    if (this.isLast(ms)) return this.order;
    const order = Array.from({ length: ms.length }, (_, i) => i);
    order.sort((i, j) => {
      const a = ms[i] as Metric;
      const b = ms[j] as Metric;
      return a.name < b.name ? -1 : a.name > b.name ? 1 : quantize(a.value, quantum) - quantize(b.value, quantum);
    });
    for (let k = 1; k < order.length; k++) {
      if ((ms[order[k] as number] as Metric).name === (ms[order[k - 1] as number] as Metric).name) return order;
    }
    this.names = ms.map((m) => m.name);
    this.order = order;
    return order;
  }

  private isLast(ms: readonly Metric[]): boolean {
    const names = this.names;
    if (ms.length !== names.length || ms.length === 0) return false;
    for (let i = 0; i < ms.length; i++) if ((ms[i] as Metric).name !== names[i]) return false;
    return true;
  }
}

/** One per RPC that carries metrics, so that calls of the two do not evict each other's order. */
const orders = { DetectAnomaly: new SortOrder(), Predict: new SortOrder() };

/** The metrics, sorted, as `name=quanta;` for each. */
function metrics(ms: readonly Metric[], quantum: number, order: SortOrder): string {
  const sorted = order.of(ms, quantum);
  let s = "";
  for (let k = 0; k < sorted.length; k++) {
    const m = ms[sorted[k] as number] as Metric;
    s += `${text(m.name)}=${quantize(m.value, quantum)};`;
  }
  return s;
}

const ctx = (c: WorkloadContext | undefined) => `${text(c?.namespace ?? "")}${text(c?.resource ?? "")}${text(c?.pod ?? "")}`;
const seconds = (t: { seconds: bigint } | undefined) => (t === undefined ? 0 : Number(t.seconds));

/** The canonical, order-independent form of a request. */
export function canonicalRequest(
  rpc: Rpc,
  req: DetectAnomalyRequest | PredictRequest | AnalyzePatternsRequest,
  quantum: number,
): CanonicalRequest {
  switch (rpc) {
    case "DetectAnomaly": {
      const r = req as DetectAnomalyRequest;
      return `${metrics(r.metrics, quantum, orders.DetectAnomaly)}\n${ctx(r.context)}`;
    }
    case "Predict": {
      const r = req as PredictRequest;
      const ic = r.issueContext;
      const events = [...(ic?.recentEvents ?? [])].sort().map(text).join(",");
      return `${text(ic?.currentState ?? "")}\n${events}\n${metrics(ic?.metrics ?? [], quantum, orders.Predict)}\n${ctx(r.context)}`;
    }
    case "AnalyzePatterns": {
      // History is a time series: timestamps are part of its meaning. Rare
      // and small enough to keep a JSON form, sorted item by item.
      const r = req as AnalyzePatternsRequest;
      const h = r.historicalData;
      const events = (h?.events ?? [])
        .map((e) => JSON.stringify([e.type, seconds(e.timestamp), e.namespace, e.resource, quantize(e.value, quantum)]))
        .sort();
      const series = (h?.metrics ?? []).map((m) => JSON.stringify([m.name, seconds(m.timestamp), quantize(m.value, quantum)])).sort();
      return `${text(h?.timeRange ?? "")}\n${text(JSON.stringify([events, series]))}\n${ctx(r.context)}`;
    }
  }
}

export interface KeyParts {
  readonly backend: string;
  readonly model: string;
  readonly rpc: Rpc;
  /** floor(evaluation time / cache.time_bucket). */
  readonly timeBucket: number;
  readonly canonical: CanonicalRequest;
}

/** SHA-256 as base64url: one-shot where Node has it (20.12+), without a Hash object per call. */
const sha256: (text: string) => string =
  typeof crypto.hash === "function"
    ? (text) => crypto.hash("sha256", text, "base64url")
    : (text) => crypto.createHash("sha256").update(text).digest("base64url");

/** A short, fixed-size key (SHA-256, base64url) for the parts. */
export function cacheKey(parts: KeyParts): string {
  return sha256(`${text(parts.backend)}${text(parts.model)}${parts.rpc}\n${parts.timeBucket}\n${parts.canonical}`);
}
