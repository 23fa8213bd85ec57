/**
 * The feature vectors the models were trained on, as configuration
 * (`enrichment.features`): each set lists base metrics (a PromQL query over
 * the workload's scope) and the features derived from each.
 *
 * The defaults reproduce the deployed models' inputs, with the engine's
 * formulas corrected (upstream-reality.md §3–4): node metrics scoped to the
 * nodes the workload's pods run on, pod metrics to the Deployment's own pods
 * (found through their owners), and one deterministic series per query — the
 * hottest pod (`max` over the Deployment's pods, or the one named pod), and
 * the average over the workload's nodes.
 */
import { PLACEHOLDERS } from "./promql.js";

/** The features derivable from one base metric Q at instant t. */
export const DERIVED = ["value", "mean_5m", "std_5m", "min_5m", "max_5m", "lag_1", "lag_5", "diff", "pct_change"] as const;
export type Derived = (typeof DERIVED)[number];

export interface BaseMetric {
  /** Names the metric; features are `<name>_<derived>` (or `<name>` in a value-only set). */
  readonly name: string;
  /** PromQL with `$namespace`, `$pod` and `$node` placeholders; must yield one series. */
  readonly query: string;
  /** Value used, and reported as IMPUTED, when Prometheus has no data for it. */
  readonly impute: number;
}

export interface FeatureSet {
  readonly derived: readonly Derived[];
  readonly metrics: readonly BaseMetric[];
}

export type FeatureSets = Readonly<Record<string, FeatureSet>>;

/** The feature names of a set, in the model's order (metric-major). */
export function featureNames(set: FeatureSet): string[] {
  const valueOnly = set.derived.length === 1 && set.derived[0] === "value";
  return set.metrics.flatMap((m) => (valueOnly ? [m.name] : set.derived.map((d) => `${m.name}_${d}`)));
}

export const DEFAULT_FEATURE_SETS: FeatureSets = {
  // The anomaly-detector's 45 features: 5 base metrics x 9 derived, metric-major.
  anomaly: {
    derived: DERIVED,
    metrics: [
      { name: "node_cpu_utilization", query: 'avg(1 - rate(node_cpu_seconds_total{mode="idle",$node}[5m]))', impute: 0 },
      {
        name: "node_memory_utilization",
        query: "avg(1 - (node_memory_MemAvailable_bytes{$node} / node_memory_MemTotal_bytes{$node}))",
        impute: 0,
      },
      {
        name: "pod_cpu_usage",
        query: 'max(sum by (pod) (rate(container_cpu_usage_seconds_total{container!="",$pod}[5m])))',
        impute: 0,
      },
      {
        name: "pod_memory_usage",
        query:
          'max(sum by (pod) (container_memory_working_set_bytes{container!="",$pod}) / sum by (pod) (kube_pod_container_resource_limits{resource="memory",$pod}))',
        impute: 0,
      },
      { name: "container_restart_count", query: "max(sum by (pod) (kube_pod_container_status_restarts_total{$pod}))", impute: 0 },
    ],
  },
  // The predictive-analytics model's 5 inputs, scoped to the workload.
  predictive: {
    derived: ["value"],
    metrics: [
      {
        name: "cpu_usage",
        query: 'sum(rate(container_cpu_usage_seconds_total{container!="",$pod}[5m])) / sum(kube_node_status_allocatable{resource="cpu"})',
        impute: 0,
      },
      {
        name: "memory_usage",
        query: 'sum(container_memory_working_set_bytes{container!="",$pod}) / sum(kube_node_status_allocatable{resource="memory"})',
        impute: 0,
      },
      {
        name: "disk_usage",
        query: '1 - avg(node_filesystem_avail_bytes{mountpoint="/",$node}) / avg(node_filesystem_size_bytes{mountpoint="/",$node})',
        impute: 0,
      },
      { name: "network_in", query: 'sum(rate(container_network_receive_bytes_total{interface!="lo",$pod}[5m])) / 125000000', impute: 0 },
      { name: "network_out", query: 'sum(rate(container_network_transmit_bytes_total{interface!="lo",$pod}[5m])) / 125000000', impute: 0 },
    ],
  },
};

/** Checks a feature-set configuration; returns the problems (empty when valid). */
export function checkFeatureSets(raw: unknown): string[] {
  const problems: string[] = [];
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return ["must be a mapping of set name to {derived, metrics}"];
  for (const [setName, set] of Object.entries(raw as Record<string, unknown>)) {
    const where = `set ${setName}`;
    if (set === null || typeof set !== "object") {
      problems.push(`${where}: must be {derived, metrics}`);
      continue;
    }
    const { derived, metrics, ...extra } = set as Record<string, unknown>;
    for (const k of Object.keys(extra)) problems.push(`${where}: unknown key ${JSON.stringify(k)}`);
    if (!Array.isArray(derived) || derived.length === 0 || !derived.every((d) => (DERIVED as readonly unknown[]).includes(d))) {
      problems.push(`${where}: derived must be a non-empty list of ${DERIVED.join(", ")}`);
    }
    if (!Array.isArray(metrics) || metrics.length === 0) {
      problems.push(`${where}: metrics must be a non-empty list`);
      continue;
    }
    metrics.forEach((m: unknown, i) => {
      const at = `${where}: metrics[${i}]`;
      const { name, query, impute, ...rest } = (m ?? {}) as Record<string, unknown>;
      for (const k of Object.keys(rest)) problems.push(`${at}: unknown key ${JSON.stringify(k)}`);
      if (typeof name !== "string" || !/^[a-z_][a-z0-9_]*$/.test(name)) problems.push(`${at}: name must match [a-z_][a-z0-9_]*`);
      if (typeof query !== "string" || query.trim() === "") problems.push(`${at}: query must be a PromQL string`);
      else {
        for (const p of query.match(/\$[a-z_]+/g) ?? []) {
          if (!(PLACEHOLDERS as readonly string[]).includes(p))
            problems.push(`${at}: unknown placeholder ${p} (use ${PLACEHOLDERS.join(", ")})`);
        }
      }
      if (typeof impute !== "number" || !Number.isFinite(impute)) problems.push(`${at}: impute must be a finite number`);
    });
  }
  return problems;
}
