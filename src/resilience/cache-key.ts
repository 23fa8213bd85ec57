/**
 * Cache and coalescing keys. A key names the backend, the model and the RPC,
 * and a canonical form of the request: metric values rounded to multiples of
 * `cache.quantum` (so near-identical vectors share an entry), metrics sorted
 * by name (so order does not matter), per-metric timestamps left out, and
 * the evaluation time reduced to its `cache.time_bucket`.
 *
 * The canonical form is text (every string preceded by its length, every
 * list by its count); its SHA-256, with the backend, model, RPC and time
 * bucket, is the key.
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

/**
 * The canonical text, built as pieces joined once by ":": every string is
 * preceded by its length and every list by its count, so no piece can be
 * read as another whatever it holds, and nothing is escaped.
 */
class Pieces {
  private readonly parts: (string | number)[];
  private n = 0;

  /** Room for `capacity` pieces, made once: 45 metrics are 142 pieces, which a list grown by push copies as it grows. */
  constructor(capacity: number) {
    this.parts = new Array(capacity);
  }

  add(x: string | number): void {
    this.parts[this.n++] = x;
  }

  str(s: string): void {
    this.add(s.length);
    this.add(s);
  }

  text(): string {
    this.parts.length = this.n;
    return this.parts.join(":");
  }
}

/** Pieces of the workload context. */
const CONTEXT_PIECES = 6;

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

/** The metrics, sorted: their count, then name and quanta for each. */
function metrics(p: Pieces, ms: readonly Metric[], quantum: number, order: SortOrder): void {
  const sorted = order.of(ms, quantum);
  p.add(sorted.length);
  for (let k = 0; k < sorted.length; k++) {
    const m = ms[sorted[k] as number] as Metric;
    p.str(m.name);
    p.add(quantize(m.value, quantum));
  }
}

function ctx(p: Pieces, c: WorkloadContext | undefined): void {
  p.str(c?.namespace ?? "");
  p.str(c?.resource ?? "");
  p.str(c?.pod ?? "");
}

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
      const p = new Pieces(1 + 3 * r.metrics.length + CONTEXT_PIECES);
      metrics(p, r.metrics, quantum, orders.DetectAnomaly);
      ctx(p, r.context);
      return p.text();
    }
    case "Predict": {
      const r = req as PredictRequest;
      const ic = r.issueContext;
      const events = [...(ic?.recentEvents ?? [])].sort();
      const given = ic?.metrics ?? [];
      const p = new Pieces(2 + 1 + 2 * events.length + 1 + 3 * given.length + CONTEXT_PIECES);
      p.str(ic?.currentState ?? "");
      p.add(events.length);
      for (const e of events) p.str(e);
      metrics(p, given, quantum, orders.Predict);
      ctx(p, r.context);
      return p.text();
    }
    case "AnalyzePatterns": {
      // History is a time series: timestamps are part of its meaning. Rare
      // and small: each item in a JSON form, sorted.
      const r = req as AnalyzePatternsRequest;
      const h = r.historicalData;
      const events = (h?.events ?? [])
        .map((e) => JSON.stringify([e.type, seconds(e.timestamp), e.namespace, e.resource, quantize(e.value, quantum)]))
        .sort();
      const series = (h?.metrics ?? []).map((m) => JSON.stringify([m.name, seconds(m.timestamp), quantize(m.value, quantum)])).sort();
      const p = new Pieces(2 + 2 + 2 * (events.length + series.length) + CONTEXT_PIECES);
      p.str(h?.timeRange ?? "");
      for (const list of [events, series]) {
        p.add(list.length);
        for (const item of list) p.str(item);
      }
      ctx(p, r.context);
      return p.text();
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
  const { backend, model } = parts;
  return sha256(`${backend.length}:${backend}:${model.length}:${model}:${parts.rpc}:${parts.timeBucket}:${parts.canonical}`);
}
