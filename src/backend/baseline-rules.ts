/**
 * The baseline rule set: thresholds on CPU, memory, restarts and trends that
 * answer when no model can. It is deliberately simple and says so with a
 * lower confidence (never above {@link BASELINE_MAX_CONFIDENCE}). The same
 * rules are documented in docs/baseline.md.
 *
 * Inputs are read by name, accepting both the seed's names (`cpu_usage`,
 * `memory_usage`, `container_restarts`, `cpu_trend_5m`, `memory_trend_1h`)
 * and the 45-feature vector's (`pod_cpu_usage_value`, `pod_memory_usage_diff`, ...).
 */
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import {
  type AnalyzePatternsResponse,
  AnalyzePatternsResponseSchema,
  type DetectAnomalyResponse,
  DetectAnomalyResponseSchema,
  type Event,
  type Metric,
  type PredictResponse,
  PredictResponseSchema,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";

/** The baseline never claims more certainty than this. */
export const BASELINE_MAX_CONFIDENCE = 0.7;

/** Names accepted for each signal, first match wins. */
export const SIGNALS = {
  cpu: ["cpu_usage", "pod_cpu_usage_value", "pod_cpu_usage", "node_cpu_utilization_value"],
  memory: ["memory_usage", "pod_memory_usage_value", "pod_memory_usage", "node_memory_utilization_value"],
  restarts: ["container_restarts", "container_restart_count_value", "container_restart_count"],
  cpuTrend: ["cpu_trend_5m", "pod_cpu_usage_diff"],
  memoryTrend: ["memory_trend_1h", "pod_memory_usage_diff"],
} as const;

type Signals = { [K in keyof typeof SIGNALS]: number | undefined };

/** Picks the baseline's signals out of a metric list. */
export function readSignals(metrics: readonly Metric[]): Signals {
  const byName = new Map(metrics.map((m) => [m.name, m.value]));
  const pick = (names: readonly string[]) => {
    for (const n of names) if (byName.has(n)) return byName.get(n);
    return undefined;
  };
  return {
    cpu: pick(SIGNALS.cpu),
    memory: pick(SIGNALS.memory),
    restarts: pick(SIGNALS.restarts),
    cpuTrend: pick(SIGNALS.cpuTrend),
    memoryTrend: pick(SIGNALS.memoryTrend),
  };
}

/** One threshold rule: points added to the score, and what to do about it. */
interface Rule {
  readonly signal: keyof Signals;
  readonly atLeast: number;
  readonly points: number;
  readonly recommendation: string;
}

/**
 * The anomaly rules, strongest first per signal (only the first matching
 * rule of a signal counts). A score of {@link ANOMALY_SCORE_THRESHOLD} or
 * more is an anomaly: one severe signal, or two elevated ones.
 */
export const ANOMALY_RULES: readonly Rule[] = [
  { signal: "cpu", atLeast: 0.9, points: 3, recommendation: "Scale up replicas" },
  { signal: "cpu", atLeast: 0.8, points: 1.5, recommendation: "Scale up replicas" },
  { signal: "memory", atLeast: 0.9, points: 3, recommendation: "Check for memory leak" },
  { signal: "memory", atLeast: 0.8, points: 1.5, recommendation: "Increase memory limit" },
  { signal: "restarts", atLeast: 5, points: 3, recommendation: "Inspect logs of restarting containers" },
  { signal: "restarts", atLeast: 1, points: 1, recommendation: "Inspect logs of restarting containers" },
  { signal: "cpuTrend", atLeast: 0.1, points: 1, recommendation: "Watch CPU growth; consider an HPA" },
  { signal: "memoryTrend", atLeast: 0.05, points: 1, recommendation: "Memory is climbing; check for a leak" },
];

export const ANOMALY_SCORE_THRESHOLD = 3;

/**
 * Anomaly verdict: the score is the sum of matched rules' points. Confidence
 * grows with how many of the five signals were present and how far the
 * score is from the threshold, capped at {@link BASELINE_MAX_CONFIDENCE}.
 */
export function baselineAnomaly(metrics: readonly Metric[]): DetectAnomalyResponse {
  const s = readSignals(metrics);
  let score = 0;
  const recommendations: string[] = [];
  const matched = new Set<string>();
  for (const r of ANOMALY_RULES) {
    const v = s[r.signal];
    if (v === undefined || matched.has(r.signal) || v < r.atLeast) continue;
    matched.add(r.signal);
    score += r.points;
    if (!recommendations.includes(r.recommendation)) recommendations.push(r.recommendation);
  }
  const present = Object.values(s).filter((v) => v !== undefined).length;
  const anomaly = score >= ANOMALY_SCORE_THRESHOLD;
  const margin = Math.min(1, Math.abs(score - ANOMALY_SCORE_THRESHOLD) / ANOMALY_SCORE_THRESHOLD);
  const confidence = present === 0 ? 0 : Math.min(BASELINE_MAX_CONFIDENCE, 0.4 + 0.04 * present + 0.1 * margin);
  return create(DetectAnomalyResponseSchema, {
    anomalyDetected: anomaly,
    confidence: round(confidence),
    anomalyScore: round(score),
    recommendations: anomaly ? recommendations : [],
  });
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

const duration = (ms: number) => {
  const s = Math.max(60, Math.round(ms / 1000));
  return create(DurationSchema, { seconds: BigInt(s), nanos: 0 });
};

/**
 * Predictions from levels and trends:
 * - `pod_oom` when memory ≥ 0.8, with time to exhaustion from the hourly
 *   memory trend when it is rising (else 1h), probability from the level;
 * - `cpu_saturation` when CPU ≥ 0.85;
 * - `crash_loop` when restarts ≥ 3 or a recent event is `pod_restart`.
 */
export function baselinePredict(metrics: readonly Metric[], recentEvents: readonly string[]): PredictResponse {
  const s = readSignals(metrics);
  const issues: { issue: string; probability: number; timeToOccurrence: ReturnType<typeof duration> }[] = [];
  const actions: string[] = [];
  if (s.memory !== undefined && s.memory >= 0.8) {
    const rising = s.memoryTrend !== undefined && s.memoryTrend > 0;
    const hours = rising ? (1 - s.memory) / (s.memoryTrend as number) : 1;
    issues.push({
      issue: "pod_oom",
      probability: round(Math.min(BASELINE_MAX_CONFIDENCE, 0.3 + (s.memory - 0.8) * 2 + (rising ? 0.1 : 0))),
      timeToOccurrence: duration(hours * 3_600_000),
    });
    actions.push("increase_memory_limit");
  }
  if (s.cpu !== undefined && s.cpu >= 0.85) {
    issues.push({
      issue: "cpu_saturation",
      probability: round(Math.min(BASELINE_MAX_CONFIDENCE, 0.3 + (s.cpu - 0.85) * 2)),
      timeToOccurrence: duration(15 * 60_000),
    });
    actions.push("add_hpa");
  }
  const restartEvent = recentEvents.includes("pod_restart");
  if ((s.restarts !== undefined && s.restarts >= 3) || restartEvent) {
    issues.push({
      issue: "crash_loop",
      probability: round(Math.min(BASELINE_MAX_CONFIDENCE, 0.35 + (restartEvent ? 0.1 : 0) + Math.min(0.2, (s.restarts ?? 0) / 50))),
      timeToOccurrence: duration(10 * 60_000),
    });
    actions.push("inspect_container_logs");
  }
  issues.sort((a, b) => b.probability - a.probability);
  return create(PredictResponseSchema, { predictedIssues: issues, suggestedActions: actions });
}

/**
 * Patterns and correlations from events:
 * - `daily_<type>` when one event type recurs at the same hour (UTC) on at
 *   least 3 distinct days; confidence = share of its occurrences in that hour;
 * - a correlation A -> B when B follows A within 10 minutes for at least half
 *   of A's occurrences (A seen at least 3 times); coefficient = that share.
 */
export function baselinePatterns(events: readonly Event[]): AnalyzePatternsResponse {
  const timed = events
    .filter((e) => e.timestamp !== undefined)
    .map((e) => ({ type: e.type, ms: Number(e.timestamp?.seconds ?? 0n) * 1000 }))
    .sort((a, b) => a.ms - b.ms);
  const byType = new Map<string, number[]>();
  for (const e of timed) {
    const list = byType.get(e.type) ?? [];
    list.push(e.ms);
    byType.set(e.type, list);
  }
  const patterns: { pattern: string; confidence: number; description: string }[] = [];
  for (const [type, times] of byType) {
    const days = new Map<number, Set<number>>();
    for (const t of times) {
      const d = new Date(t);
      const hour = d.getUTCHours();
      const set = days.get(hour) ?? new Set<number>();
      set.add(Math.floor(t / 86_400_000));
      days.set(hour, set);
    }
    for (const [hour, set] of days) {
      if (set.size < 3) continue;
      const inHour = times.filter((t) => new Date(t).getUTCHours() === hour).length;
      patterns.push({
        pattern: `daily_${type}`,
        confidence: round(Math.min(BASELINE_MAX_CONFIDENCE, inHour / times.length)),
        description: `${type} recurs around ${String(hour).padStart(2, "0")}:00 UTC on ${set.size} days`,
      });
    }
  }
  const correlations: { source: string; target: string; coefficient: number }[] = [];
  for (const [a, aTimes] of byType) {
    if (aTimes.length < 3) continue;
    for (const [b, bTimes] of byType) {
      if (a === b) continue;
      const followed = aTimes.filter((t) => bTimes.some((u) => u > t && u - t <= 600_000)).length;
      const share = followed / aTimes.length;
      if (share >= 0.5) correlations.push({ source: a, target: b, coefficient: round(share) });
    }
  }
  patterns.sort((x, y) => y.confidence - x.confidence);
  correlations.sort((x, y) => y.coefficient - x.coefficient);
  return create(AnalyzePatternsResponseSchema, { patterns, correlations });
}
