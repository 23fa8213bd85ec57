import { describe, expect, test } from "vitest";
import { checkFeatureSets, DEFAULT_FEATURE_SETS, DERIVED, featureNames } from "../../src/enrichment/feature-definitions.js";
import { deriveFeatures, promAvg, promStddev, rangeFor, subqueryInstants } from "../../src/enrichment/feature-math.js";
import { fixture } from "../helpers/fixtures.js";

const T = 1_769_335_200; // a multiple of 60

describe("feature definitions", () => {
  test("the default anomaly set names exactly the deployed model's 45 features, in order", () => {
    expect(featureNames(DEFAULT_FEATURE_SETS.anomaly as never)).toEqual(fixture("anomaly_feature_names_45.json"));
  });

  test("the predictive set names its 5 inputs", () => {
    expect(featureNames(DEFAULT_FEATURE_SETS.predictive as never)).toEqual([
      "cpu_usage",
      "memory_usage",
      "disk_usage",
      "network_in",
      "network_out",
    ]);
  });

  test("configuration problems are named", () => {
    expect(checkFeatureSets(DEFAULT_FEATURE_SETS)).toEqual([]);
    expect(
      checkFeatureSets({ x: { derived: ["value", "median"], metrics: [{ name: "Bad", query: "up{$pods}", impute: "0", extra: 1 }] } }),
    ).toEqual([
      "set x: derived must be a non-empty list of value, mean_5m, std_5m, min_5m, max_5m, lag_1, lag_5, diff, pct_change",
      'set x: metrics[0]: unknown key "extra"',
      "set x: metrics[0]: name must match [a-z_][a-z0-9_]*",
      "set x: metrics[0]: unknown placeholder $pods (use $namespace, $pod, $node)",
      "set x: metrics[0]: impute must be a finite number",
    ]);
  });
});

describe("one range query covers both grids", () => {
  test("on the minute: step 1m, t-5m..t", () => {
    expect(rangeFor(T, 60)).toEqual({ start: T - 300, end: T, step: 60 });
  });
  test("off the minute: the step divides both grids", () => {
    const r = rangeFor(T - 137, 60);
    expect(r.step).toBe(1);
    const r2 = rangeFor(T - 30, 60);
    expect(r2.step).toBe(30);
    for (const x of subqueryInstants(T - 30, 60, false)) expect((x - r2.start) % r2.step).toBe(0);
  });
  test("subquery instants: closed [t-5m, t] (Prometheus 2), left-open (Prometheus 3)", () => {
    expect(subqueryInstants(T, 60, false)).toEqual([T - 300, T - 240, T - 180, T - 120, T - 60, T]);
    expect(subqueryInstants(T, 60, true)).toEqual([T - 240, T - 180, T - 120, T - 60, T]);
    expect(subqueryInstants(T - 30, 60, false)).toEqual([T - 300, T - 240, T - 180, T - 120, T - 60]);
  });
});

describe("derived features", () => {
  const opts = { subqueryStep: 60, leftOpen: false, fallback: -1, noDataReason: "no data" };
  const series = (f: (t: number) => number) => new Map([0, 60, 120, 180, 240, 300].map((d) => [T - 300 + d, f(T - 300 + d)]));

  test("value, statistics over the subquery grid, lags, diff and pct_change", () => {
    const s = series((t) => (t - (T - 300)) / 60); // 0,1,2,3,4,5
    const d = deriveFeatures(s, T, DERIVED, opts);
    expect(d.value).toEqual({ value: 5 });
    expect(d.mean_5m).toEqual({ value: 2.5 });
    expect(d.std_5m.value).toBeCloseTo(Math.sqrt(35 / 12), 12);
    expect([d.min_5m.value, d.max_5m.value, d.lag_1.value, d.lag_5.value]).toEqual([0, 5, 4, 0]);
    expect(d.diff).toEqual({ value: 1 });
    expect(d.pct_change).toEqual({ value: 0.25 });
  });

  test("pct_change is 0 when lag_1 is 0", () => {
    const d = deriveFeatures(
      series(() => 0),
      T,
      DERIVED,
      opts,
    );
    expect(d.pct_change).toEqual({ value: 0 });
  });

  test("a missing sample at t is carried forward and marked", () => {
    const s = series((t) => t - T);
    s.delete(T);
    const d = deriveFeatures(s, T, DERIVED, opts);
    expect(d.value.value).toBe(-60);
    expect(d.value.imputed).toBe("no sample at t; carried forward from 60s earlier");
    expect(d.diff.imputed).toContain("derived from imputed input");
  });

  test("no data at all: the configured impute value, every feature marked, never NaN", () => {
    const d = deriveFeatures(new Map(), T, DERIVED, opts);
    for (const f of DERIVED) {
      expect(Number.isFinite(d[f].value)).toBe(true);
      expect(d[f].imputed).toBeDefined();
    }
    expect(d.value).toEqual({ value: -1, imputed: "no data" });
    expect(d.std_5m.value).toBe(0);
  });

  test("Prometheus' compensated mean and population stddev", () => {
    expect(promAvg([1, 2, 3, 4])).toBe(2.5);
    expect(promStddev([2, 4, 4, 4, 5, 5, 7, 9])).toBe(2);
    expect(promStddev([3, 3, 3])).toBe(0);
  });
});
