/**
 * Cache and coalescing keys. A key names the backend, the model and the RPC,
 * the time bucket of the evaluation time, and a canonical form of the
 * request: metric values rounded to multiples of `cache.quantum` (so
 * near-identical vectors share an entry), metrics sorted by name (so order
 * does not matter), per-metric timestamps left out.
 *
 * The canonical form is bytes: every string its UTF-8 length (a uint32) and
 * bytes, every count a uint32, every number a float64, so nothing can be
 * read as something else and nothing is escaped. The key is their SHA-256.
 * As text, each number was turned into decimal on every call, most of what
 * a 45-feature key cost (bench/FINDINGS.md, change 25).
 */
import * as crypto from "node:crypto";
import type {
  AnalyzePatternsRequest,
  DetectAnomalyRequest,
  Metric,
  PredictRequest,
  WorkloadContext,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { SHORT_ASCII } from "../wire/wire-types.js";

export type Rpc = "DetectAnomaly" | "Predict" | "AnalyzePatterns";

/** Rounds to a multiple of `quantum` (an integer count of quanta), or keeps the value when quantum is 0. */
export function quantize(value: number, quantum: number): number {
  return quantum > 0 ? Math.round(value / quantum) : value;
}

/** The room a key starts with, and goes back to after a larger request: 45 metrics take about 1.8 KB. */
const INITIAL_BYTES = 16 * 1024;

/**
 * The canonical bytes of one key, written into one buffer that every key
 * reuses: keys are made synchronously, one at a time, and read only by the
 * hash. It grows for a larger request (requests are bounded by
 * `server.max_request_bytes`) and is let go after it.
 */
class KeyWriter {
  private buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  private at = 0;

  start(): void {
    this.at = 0;
  }

  count(n: number): void {
    this.room(4);
    this.at = this.buf.writeUInt32LE(n, this.at);
  }

  /** A number; -0 is written as 0, as the two round to the same quanta. */
  number(x: number): void {
    this.room(8);
    this.at = this.buf.writeDoubleLE(x + 0, this.at);
  }

  /**
   * A string: its UTF-8 length and bytes. Short ASCII, which is what keys
   * hold (namespaces, workload names, the backend's URL), is copied here:
   * `buf.write`'s way into native code costs more than the copy.
   */
  str(s: string): void {
    const len = s.length;
    // A UTF-16 code unit takes at most three bytes of UTF-8.
    this.room(4 + 3 * len);
    const buf = this.buf;
    const at = this.at + 4;
    let n = 0;
    if (len <= SHORT_ASCII) {
      for (; n < len; n++) {
        const c = s.charCodeAt(n);
        if (c >= 0x80) break;
        buf[at + n] = c;
      }
    }
    if (n < len) n = buf.write(s, at, "utf8");
    buf.writeUInt32LE(n, this.at);
    this.at = at + n;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  /** SHA-256 of what was written, as base64url. */
  digest(): string {
    const key = sha256(this.buf.subarray(0, this.at));
    if (this.buf.length > INITIAL_BYTES) this.buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
    return key;
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(2 * this.buf.length, this.at + n));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }
}

/** SHA-256 as base64url: one-shot where Node has it (20.12+), without a Hash object per call. */
const sha256: (bytes: Uint8Array) => string =
  typeof crypto.hash === "function"
    ? (bytes) => crypto.hash("sha256", bytes, "base64url")
    : (bytes) => crypto.createHash("sha256").update(bytes).digest("base64url");

/** A list of metrics sorted: the order, and the sorted names as canonical bytes (each its length and UTF-8). */
interface Sorted {
  readonly order: readonly number[];
  readonly names: Buffer;
}

/**
 * The order that sorts a list of metrics (by name, then by quantized
 * value), remembered with the sorted names' bytes for the last list of
 * names seen. The engine sends one model's vector in the same order on
 * every call, and sorting its 45 names was about half of what a key cost
 * (bench/FINDINGS.md, change 24); checking that the names are the ones seen
 * last is a fraction of that, and their bytes are then made once, not on
 * every call (change 25). An order is remembered only when its names are
 * distinct: repeated names sort by value, which changes from call to call.
 */
class SortOrder {
  private names: readonly string[] = [];
  private last: Sorted = { order: [], names: Buffer.alloc(0) };

  of(ms: readonly Metric[], quantum: number): Sorted {
    if (this.isLast(ms)) return this.last;
    const order = Array.from({ length: ms.length }, (_, i) => i);
    order.sort((i, j) => {
      const a = ms[i] as Metric;
      const b = ms[j] as Metric;
      return a.name < b.name ? -1 : a.name > b.name ? 1 : quantize(a.value, quantum) - quantize(b.value, quantum);
    });
    const sorted = { order, names: namesBytes(ms, order) };
    for (let k = 1; k < order.length; k++) {
      if ((ms[order[k] as number] as Metric).name === (ms[order[k - 1] as number] as Metric).name) return sorted;
    }
    this.names = ms.map((m) => m.name);
    this.last = sorted;
    return sorted;
  }

  private isLast(ms: readonly Metric[]): boolean {
    const names = this.names;
    if (ms.length !== names.length || ms.length === 0) return false;
    for (let i = 0; i < ms.length; i++) if ((ms[i] as Metric).name !== names[i]) return false;
    return true;
  }
}

/** The names in `order`, each as its UTF-8 length (a uint32) and bytes: what KeyWriter.str writes for each. */
function namesBytes(ms: readonly Metric[], order: readonly number[]): Buffer {
  let size = 0;
  for (const i of order) size += 4 + Buffer.byteLength((ms[i] as Metric).name, "utf8");
  const b = Buffer.allocUnsafe(size);
  let at = 0;
  for (const i of order) {
    const n = b.write((ms[i] as Metric).name, at + 4, "utf8");
    b.writeUInt32LE(n, at);
    at += 4 + n;
  }
  return b;
}

/** One per RPC that carries metrics, so that calls of the two do not evict each other's order. */
const orders = { DetectAnomaly: new SortOrder(), Predict: new SortOrder() };

/** The metrics, sorted: their count, their names, then the quanta of each in that order. */
function metrics(w: KeyWriter, ms: readonly Metric[], quantum: number, order: SortOrder): void {
  const sorted = order.of(ms, quantum);
  const o = sorted.order;
  w.count(o.length);
  w.bytes(sorted.names);
  for (let k = 0; k < o.length; k++) w.number(quantize((ms[o[k] as number] as Metric).value, quantum));
}

function ctx(w: KeyWriter, c: WorkloadContext | undefined): void {
  w.str(c?.namespace ?? "");
  w.str(c?.resource ?? "");
  w.str(c?.pod ?? "");
}

const seconds = (t: { seconds: bigint } | undefined) => (t === undefined ? 0 : Number(t.seconds));

/** The canonical, order-independent form of a request. */
function canonical(w: KeyWriter, rpc: Rpc, req: DetectAnomalyRequest | PredictRequest | AnalyzePatternsRequest, quantum: number): void {
  switch (rpc) {
    case "DetectAnomaly": {
      const r = req as DetectAnomalyRequest;
      metrics(w, r.metrics, quantum, orders.DetectAnomaly);
      ctx(w, r.context);
      return;
    }
    case "Predict": {
      const r = req as PredictRequest;
      const ic = r.issueContext;
      const events = [...(ic?.recentEvents ?? [])].sort();
      w.str(ic?.currentState ?? "");
      w.count(events.length);
      for (const e of events) w.str(e);
      metrics(w, ic?.metrics ?? [], quantum, orders.Predict);
      ctx(w, r.context);
      return;
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
      w.str(h?.timeRange ?? "");
      for (const list of [events, series]) {
        w.count(list.length);
        for (const item of list) w.str(item);
      }
      ctx(w, r.context);
      return;
    }
  }
}

export interface KeyParts {
  readonly backend: string;
  readonly model: string;
  readonly rpc: Rpc;
  /** floor(evaluation time / cache.time_bucket). */
  readonly timeBucket: number;
  /** The RPC's request. */
  readonly request: DetectAnomalyRequest | PredictRequest | AnalyzePatternsRequest;
  /** `cache.quantum`: values within one share a key. */
  readonly quantum: number;
}

const writer = new KeyWriter();

/** A short, fixed-size key (SHA-256, base64url) for the parts. */
export function cacheKey(parts: KeyParts): string {
  writer.start();
  writer.str(parts.backend);
  writer.str(parts.model);
  writer.str(parts.rpc);
  writer.number(parts.timeBucket);
  canonical(writer, parts.rpc, parts.request, parts.quantum);
  return writer.digest();
}
