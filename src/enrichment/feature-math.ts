/**
 * The nine features of a base metric Q at instant t, derived locally from
 * one range query with the same meaning as the PromQL formulas:
 *
 *   value      Q at t
 *   mean_5m    avg_over_time((Q)[5m:S])      S = enrichment.step (1m)
 *   std_5m     stddev_over_time((Q)[5m:S])
 *   min_5m     min_over_time((Q)[5m:S])
 *   max_5m     max_over_time((Q)[5m:S])
 *   lag_1      Q at t - 1m
 *   lag_5      Q at t - 5m
 *   diff       value - lag_1
 *   pct_change diff / lag_1 (0 when lag_1 is 0)
 *
 * A subquery evaluates Q at the multiples of S inside the window: [t-5m, t]
 * in Prometheus 2 (closed), (t-5m, t] in Prometheus 3 (left-open). Sums use
 * Prometheus' own Kahan-Neumaier compensation, so results agree to ~1e-15.
 *
 * Missing data is imputed by documented rules, each feature saying why.
 */
import type { Derived } from "./feature-definitions.js";

export const WINDOW_S = 300;
export const LAG_1_S = 60;
export const LAG_5_S = 300;

export interface RangeShape {
  /** Range query start and end (seconds) and step (seconds). */
  readonly start: number;
  readonly end: number;
  readonly step: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * The one range query that covers both grids: t, t-1m, t-5m, and the
 * multiples of `subqueryStep` in the window. `t` is whole seconds.
 */
export function rangeFor(t: number, subqueryStep: number): RangeShape {
  const offset = ((t % subqueryStep) + subqueryStep) % subqueryStep;
  const step = [offset, LAG_1_S, LAG_5_S, WINDOW_S].reduce((g, x) => gcd(g, x), subqueryStep);
  return { start: t - WINDOW_S, end: t, step };
}

/** The subquery's evaluation instants for the window ending at t. */
export function subqueryInstants(t: number, subqueryStep: number, leftOpen: boolean): number[] {
  const from = t - WINDOW_S;
  let first = Math.ceil(from / subqueryStep) * subqueryStep;
  if (leftOpen && first === from) first += subqueryStep;
  const out: number[] = [];
  for (let x = first; x <= t; x += subqueryStep) out.push(x);
  return out;
}

/** Prometheus' kahanSumInc (Neumaier's variant). */
function kahanSumInc(inc: number, sum: number, c: number): [number, number] {
  const t = sum + inc;
  if (Math.abs(sum) >= Math.abs(inc)) c += sum - t + inc;
  else c += inc - t + sum;
  return [t, c];
}

/** avg_over_time as Prometheus computes it. */
export function promAvg(values: readonly number[]): number {
  let mean = 0;
  let c = 0;
  let count = 0;
  for (const v of values) {
    count++;
    [mean, c] = kahanSumInc(v / count - mean / count, mean, c);
  }
  return mean + c;
}

/** stddev_over_time (population) as Prometheus computes it. */
export function promStddev(values: readonly number[]): number {
  let count = 0;
  let mean = 0;
  let cMean = 0;
  let aux = 0;
  let cAux = 0;
  for (const v of values) {
    count++;
    const delta = v - (mean + cMean);
    [mean, cMean] = kahanSumInc(delta / count, mean, cMean);
    [aux, cAux] = kahanSumInc(delta * (v - (mean + cMean)), aux, cAux);
  }
  return Math.sqrt((aux + cAux) / count);
}

/** One derived feature: its value, and why it was imputed (undefined when fetched). */
export interface DerivedValue {
  readonly value: number;
  readonly imputed?: string;
}

/**
 * Derives the requested features of one base metric from its samples
 * (seconds -> value; only finite values). `fallback` is the metric's
 * configured impute value, used when there is no sample at all.
 */
export function deriveFeatures(
  samples: ReadonlyMap<number, number>,
  t: number,
  wanted: readonly Derived[],
  options: { subqueryStep: number; leftOpen: boolean; fallback: number; noDataReason: string },
): Record<Derived, DerivedValue> {
  const times = [...samples.keys()].sort((a, b) => a - b);
  /** The sample at `at`, else the latest one before it in the window (carried forward). */
  const at = (x: number, label: string): DerivedValue | undefined => {
    const exact = samples.get(x);
    if (exact !== undefined) return { value: exact };
    let best: number | undefined;
    for (const s of times) if (s <= x && s >= t - WINDOW_S) best = s;
    if (best === undefined) return undefined;
    return { value: samples.get(best) as number, imputed: `no sample at ${label}; carried forward from ${x - best}s earlier` };
  };
  const none = { value: options.fallback, imputed: options.noDataReason };
  const value = at(t, "t") ?? none;
  const lag1 = at(t - LAG_1_S, "t-1m") ?? { value: value.value, imputed: "no sample at t-1m; used value" };
  const lag5 = at(t - LAG_5_S, "t-5m") ?? { value: value.value, imputed: "no sample at t-5m; used value" };
  const window = subqueryInstants(t, options.subqueryStep, options.leftOpen)
    .map((x) => samples.get(x))
    .filter((v): v is number => v !== undefined);
  const fromWindow = (f: (v: readonly number[]) => number, whenEmpty: number): DerivedValue =>
    window.length > 0 ? { value: f(window) } : { value: whenEmpty, imputed: "no sample in the 5m window" };
  const diffImputed = value.imputed ?? lag1.imputed;
  const diff = value.value - lag1.value;
  const all: Record<Derived, DerivedValue> = {
    value,
    mean_5m: fromWindow(promAvg, value.value),
    std_5m: fromWindow(promStddev, 0),
    min_5m: fromWindow((v) => Math.min(...v), value.value),
    max_5m: fromWindow((v) => Math.max(...v), value.value),
    lag_1: lag1,
    lag_5: lag5,
    diff: diffImputed ? { value: diff, imputed: `derived from imputed input (${diffImputed})` } : { value: diff },
    pct_change: (() => {
      const v = lag1.value === 0 ? 0 : diff / lag1.value;
      return diffImputed ? { value: v, imputed: `derived from imputed input (${diffImputed})` } : { value: v };
    })(),
  };
  const out = {} as Record<Derived, DerivedValue>;
  for (const d of wanted) out[d] = all[d];
  return out;
}
