/**
 * How the platform's KServe models' bare outputs become the typed answers
 * (documented in docs/kserve.md). The anomaly model says only -1 or 1; the
 * predictive model only forecasts five numbers. Score, confidence,
 * recommendations and issues are derived from the features by the rules
 * below — never constants.
 */
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import {
  type DetectAnomalyResponse,
  type Metric,
  type PredictResponse,
  PredictResponseSchema,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { UpstreamError } from "../errors/upstream-error.js";
import { detectAnomalyResponse } from "./backend.js";

/** Each model's positions of each feature name (a name listed twice has two), made once per list of names. */
const positions = new WeakMap<readonly string[], ReadonlyMap<string, readonly number[]>>();

function positionsOf(names: readonly string[]): ReadonlyMap<string, readonly number[]> {
  let p = positions.get(names);
  if (p === undefined) {
    const at = new Map<string, number[]>();
    names.forEach((n, i) => {
      const list = at.get(n);
      if (list === undefined) at.set(n, [i]);
      else list.push(i);
    });
    p = at;
    positions.set(names, p);
  }
  return p;
}

const NOWHERE: readonly number[] = [];

/**
 * The model's input row, in its training order, or a precondition failure
 * naming expected and actual (nothing is sent). A name given twice takes
 * its last value. The row is filled by position, with no lookup table of
 * its own per call: the anomaly model's row has 45 values
 * (bench/FINDINGS.md, change 23).
 */
export function modelRow(model: string, names: readonly string[], metrics: readonly Metric[]): number[] {
  const at = positionsOf(names);
  const row: (number | undefined)[] = new Array(names.length).fill(undefined);
  for (const m of metrics) for (const i of at.get(m.name) ?? NOWHERE) row[i] = m.value;
  if (row.includes(undefined)) {
    const missing = names.filter((_, i) => row[i] === undefined);
    const have = names.length - missing.length;
    throw new UpstreamError(
      `${model} expects ${names.length} features (${names.slice(0, 3).join(", ")}, ...); the request has ${have} of them and ${metrics.length} metric(s) in all; missing: ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? `, and ${missing.length - 5} more` : ""}. Name the workload in context (with PROMETHEUS_URL set) to have the sidecar build the vector.`,
      { kind: "precondition", upstream: "kserve", endpoint: model },
    );
  }
  return row as number[];
}

/** KServe's 500 "X has 3 features, but RobustScaler is expecting 45 features" is the caller's width, not a server fault. */
export function reclassifyWidthError(e: unknown): unknown {
  if (e instanceof UpstreamError && e.kind === "status" && e.status === 500) {
    const m = /has (\d+) features?, but \w+ is expecting (\d+) features/.exec(e.bodyExcerpt ?? e.message);
    if (m) {
      return new UpstreamError(`the model expects ${m[2]} features but was given ${m[1]}`, {
        kind: "precondition",
        upstream: e.upstream,
        endpoint: e.endpoint,
        status: 500,
        bodyExcerpt: e.bodyExcerpt,
        cause: e,
      });
    }
  }
  return e;
}

/** Floor on std_5m when measuring how unusual a value is (a flat window would divide by ~0). */
export const STD_FLOOR = 0.01;

const BASES = ["node_cpu_utilization", "node_memory_utilization", "pod_cpu_usage", "pod_memory_usage", "container_restart_count"] as const;

/** The features the rules read, each base metric's four in a row: value, mean_5m, std_5m, diff. */
const RULE_INPUTS: ReadonlyMap<string, number> = new Map(
  BASES.flatMap((b, i) => ["value", "mean_5m", "std_5m", "diff"].map((d, k): [string, number] => [`${b}_${d}`, 4 * i + k])),
);

const ADVICE: Record<(typeof BASES)[number], { level: number; text: string }> = {
  node_cpu_utilization: { level: 0.8, text: "Node CPU is saturated: spread or scale the workload" },
  node_memory_utilization: { level: 0.85, text: "Node memory pressure: check the node's other tenants" },
  pod_cpu_usage: { level: Number.POSITIVE_INFINITY, text: "Scale up replicas" },
  pod_memory_usage: { level: 0.85, text: "Check for memory leak or raise the memory limit" },
  container_restart_count: { level: Number.POSITIVE_INFINITY, text: "Inspect logs of restarting containers" },
};

/**
 * The anomaly model's label (-1 anomaly, 1 normal) with the rules:
 * - anomaly_score: of the five base metrics, the largest
 *   |value - mean_5m| / max(std_5m, 0.01): how many standard deviations the
 *   most unusual metric is from its own last five minutes (capped at 10);
 * - confidence: how well that evidence agrees with the model's label:
 *   anomaly 0.6 + 0.35 * min(1, score / 3); normal 0.6 + 0.35 * max(0, 1 - score / 3);
 * - recommendations (anomalies only): for each base metric at least 2
 *   deviations out or past its level threshold (node CPU 0.8, node memory
 *   0.85, pod memory 0.85), or with new restarts (restart diff > 0), its
 *   advice, most unusual first.
 */
export function anomalyVerdict(label: number, metrics: readonly Metric[]): DetectAnomalyResponse {
  // The rules read four features of each base metric; a name given twice takes its last value, one not given is 0.
  const v = new Array<number>(RULE_INPUTS.size).fill(0);
  for (const m of metrics) {
    const slot = RULE_INPUTS.get(m.name);
    if (slot !== undefined) v[slot] = m.value;
  }
  const scored = BASES.map((b, i) => {
    const value = v[4 * i] ?? 0;
    const mean = v[4 * i + 1] ?? 0;
    const std = v[4 * i + 2] ?? 0;
    const diff = v[4 * i + 3] ?? 0;
    const z = Math.abs(value - mean) / Math.max(std, STD_FLOOR);
    const flagged = z >= 2 || value >= ADVICE[b].level || (b === "container_restart_count" && diff > 0);
    return { b, z, flagged };
  }).sort((x, y) => y.z - x.z);
  const score = Math.min(10, scored[0]?.z ?? 0);
  const anomaly = label === -1;
  const confidence = anomaly ? 0.6 + 0.35 * Math.min(1, score / 3) : 0.6 + 0.35 * Math.max(0, 1 - score / 3);
  const recommendations = anomaly ? scored.filter((s) => s.flagged).map((s) => ADVICE[s.b].text) : [];
  if (anomaly && recommendations.length === 0) {
    recommendations.push("Investigate: the model flags the vector as a whole; no single metric stands out");
  }
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return detectAnomalyResponse({
    anomalyDetected: anomaly,
    anomalyScore: round(score),
    confidence: round(confidence),
    recommendations,
  });
}

/** Thresholds on the forecast [cpu, memory, disk, network_in, network_out]. */
export const FORECAST_RULES = [
  { index: 0, threshold: 0.8, issue: "cpu_saturation", action: "add_hpa" },
  { index: 1, threshold: 0.85, issue: "pod_oom", action: "increase_memory_limit" },
  { index: 2, threshold: 0.9, issue: "disk_pressure", action: "expand_volume" },
  { index: 3, threshold: 0.8, issue: "network_saturation", action: "rate_limit_ingress" },
  { index: 4, threshold: 0.8, issue: "network_saturation", action: "rate_limit_egress" },
] as const;

/**
 * The forecast with the rules: each forecast value at or above its threshold
 * is an issue expected within the model's horizon, with probability
 * 0.5 + 0.5 * (forecast - threshold) / (1 - threshold), at most 0.99.
 */
export function forecastIssues(forecast: readonly number[], horizonMs: number): PredictResponse {
  const seconds = Math.round(horizonMs / 1000);
  const issues = new Map<string, number>();
  const actions: string[] = [];
  for (const r of FORECAST_RULES) {
    const f = forecast[r.index];
    if (f === undefined || f < r.threshold) continue;
    const p = Math.min(0.99, 0.5 + (0.5 * (f - r.threshold)) / (1 - r.threshold));
    issues.set(r.issue, Math.max(issues.get(r.issue) ?? 0, Math.round(p * 1000) / 1000));
    actions.push(r.action);
  }
  return create(PredictResponseSchema, {
    predictedIssues: [...issues]
      .sort((a, b) => b[1] - a[1])
      .map(([issue, probability]) => ({ issue, probability, timeToOccurrence: create(DurationSchema, { seconds: BigInt(seconds) }) })),
    suggestedActions: actions,
  });
}
