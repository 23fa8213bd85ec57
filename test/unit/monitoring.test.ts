/**
 * The alerts in deploy/monitoring/prometheusrule.yaml and the queries of
 * deploy/monitoring/grafana-dashboard.json ask for what the sidecar exports: every metric they name is in its registry (what
 * /metrics serves) or is one of the kubelet's two CPU-throttling counters, every label they match or group by is one of that
 * metric's labels (or one Prometheus adds when it scrapes a pod), and every
 * gRPC code they match is one the sidecar writes. promtool's unit tests
 * (deploy/manifests_test.go) prove the rules fire on such series; this proves
 * the series are the sidecar's.
 */
import { readFileSync } from "node:fs";
import { Code } from "@connectrpc/connect";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { createMetrics, toUpperSnake } from "../../src/observability/metrics.js";

interface Rule {
  alert: string;
  expr: string;
}
const doc = parse(readFileSync(new URL("../../deploy/monitoring/prometheusrule.yaml", import.meta.url), "utf8")) as {
  spec: { groups: { rules: Rule[] }[] };
};
const rules = doc.spec.groups.flatMap((g) => g.rules);
interface Panel {
  title: string;
  targets?: { expr: string }[];
}
const dashboard = JSON.parse(readFileSync(new URL("../../deploy/monitoring/grafana-dashboard.json", import.meta.url), "utf8")) as {
  panels: Panel[];
  templating: { list: { name: string; query: string | { query: string } }[] };
};
/** Every PromQL expression the dashboard sends: its panels' and its variables'. */
const dashboardExprs: [string, string][] = [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t, i): [string, string] => [`${p.title} (${i + 1})`, t.expr])),
  ...dashboard.templating.list
    .filter((v) => typeof v.query === "object")
    .map((v): [string, string] => [`variable ${v.name}`, (v.query as { query: string }).query]),
];
const registry = createMetrics().registry;
/** Labels a PodMonitor scrape adds to every series. */
const TARGET_LABELS = ["namespace", "pod", "container", "endpoint", "job", "instance"];
/** The code label's values the sidecar writes: gRPC code names in upper snake case. */
const WRITTEN_CODES = Object.values(Code)
  .filter((c): c is string => typeof c === "string")
  .map(toUpperSnake);

/**
 * The kubelet's (cAdvisor's) metrics the dashboard reads about the sidecar's
 * container, with their labels: CPU throttling, which its own process cannot
 * see (bench/FINDINGS.md, change 21).
 */
const KUBELET_METRICS: ReadonlyMap<string, readonly string[]> = new Map(
  ["container_cpu_cfs_periods_total", "container_cpu_cfs_throttled_periods_total"].map((n) => [
    n,
    ["namespace", "pod", "container", "id", "image", "name"],
  ]),
);
/** A metric name the queries may use: the sidecar's own, or the kubelet's above. */
const METRIC_NAME = /aiops_sidecar_[a-z0-9_]+|container_cpu_cfs_[a-z_]+/g;

/** The registered metric a series name belongs to (a histogram's _bucket, _count and _sum are its own). */
function metricOf(series: string): { labelNames: readonly string[] } | undefined {
  const kubelet = KUBELET_METRICS.get(series);
  if (kubelet !== undefined) return { labelNames: kubelet };
  type Registered = { labelNames: readonly string[]; type: string };
  const exact = registry.getSingleMetric(series) as unknown as Registered | undefined;
  if (exact !== undefined) return exact;
  const base = registry.getSingleMetric(series.replace(/_(bucket|count|sum)$/, "")) as unknown as Registered | undefined;
  return base?.type === "histogram" ? base : undefined;
}

describe("the alert rules and the dashboard ask for the sidecar's own metrics", () => {
  test("there are rules and dashboard queries to check", () => {
    expect(dashboardExprs.length).toBeGreaterThan(20);
    expect(rules.map((r) => r.alert)).toEqual([
      "AIOpsMLSidecarBreakerOpen",
      "AIOpsMLSidecarUpstreamErrors",
      "AIOpsMLSidecarDegradedAnswers",
      "AIOpsMLSidecarRPCFailures",
      "AIOpsMLSidecarShedding",
      "AIOpsMLSidecarEnrichmentFailing",
      "AIOpsMLSidecarCPUThrottled",
    ]);
  });

  test("every alert has its section in docs/alerts.md, the runbook", () => {
    const runbook = readFileSync(new URL("../../docs/alerts.md", import.meta.url), "utf8");
    const sections = [...runbook.matchAll(/^## (\w+)$/gm)].map((m) => m[1]);
    expect(sections).toEqual(rules.map((r) => r.alert));
  });

  test.each([...rules.map((r) => [r.alert, r.expr]), ...dashboardExprs])(
    "%s names registered metrics, their labels, and real codes",
    (_, expr) => {
      const names = [...expr.matchAll(METRIC_NAME)].map((m) => m[0]);
      expect(names.length).toBeGreaterThan(0);
      const labels = new Set(TARGET_LABELS);
      for (const name of names) {
        const metric = metricOf(name);
        expect(metric, `${name} is not exported by the sidecar`).toBeDefined();
        for (const l of metric?.labelNames ?? []) labels.add(l);
        // A histogram's buckets carry le.
        if (name.endsWith("_bucket")) labels.add("le");
      }
      for (const [, name, matchers] of expr.matchAll(new RegExp(`(${METRIC_NAME.source})\\{([^}]*)\\}`, "g"))) {
        for (const [, label, value] of (matchers as string).matchAll(/(\w+)\s*(?:=~|!~|!=|=)\s*"([^"]*)"/g)) {
          expect([...(metricOf(name as string)?.labelNames ?? []), ...TARGET_LABELS], `${name} has no label ${label}`).toContain(label);
          if (label === "code") {
            for (const code of (value as string).split("|")) expect(WRITTEN_CODES, `the sidecar never writes code ${code}`).toContain(code);
          }
        }
      }
      for (const [, by] of expr.matchAll(/by \(([^)]*)\)/g)) {
        for (const label of (by as string).split(",").map((s) => s.trim()))
          expect([...labels], `grouped by unknown label ${label}`).toContain(label);
      }
    },
  );
});
