/**
 * Builds a workload's feature vector from Prometheus/Thanos: one scope query
 * (the Deployment's pods and their nodes), then one query per base metric,
 * all in parallel — a range query where statistics and lags are needed, an
 * instant query where only the value is — with the statistics and lags
 * derived locally. Vectors are cached briefly and identical builds in flight
 * are coalesced; everything runs within the caller's deadline.
 */

import { Code, ConnectError } from "@connectrpc/connect";
import { LRUCache } from "lru-cache";
import type { CallContext, Clock } from "../api/call-context.js";
import { isDeadlineReason, linkedDeadline } from "../api/call-context.js";
import { UpstreamError } from "../errors/upstream-error.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { Coalescer } from "../resilience/coalescer.js";
import { type Derived, type FeatureSet, type FeatureSets, featureNames } from "./feature-definitions.js";
import { deriveFeatures, rangeFor } from "./feature-math.js";
import type { PrometheusClient, QueryResult } from "./prometheus-client.js";
import { renderQuery } from "./promql.js";
import { podsOfDeploymentQuery, scopeFromSeries, type WorkloadScope } from "./workload-scope.js";

/** One feature of a built vector. */
export interface BuiltFeature {
  readonly name: string;
  readonly value: number;
  /** Why it was imputed; undefined when fetched. */
  readonly imputed?: string | undefined;
}

export interface FeatureVector {
  readonly set: string;
  readonly features: readonly BuiltFeature[];
  /** Evaluation instant (seconds). */
  readonly time: number;
  readonly scope: WorkloadScope;
  readonly warnings: readonly string[];
  readonly imputed: number;
  /** Base metrics in the set. */
  readonly baseMetrics: number;
  /** Base metrics whose query failed in transport (not for lack of data). */
  readonly unreachable: number;
}

export interface Workload {
  readonly namespace: string;
  readonly resource: string;
  readonly pod: string;
}

export interface FeatureBuilderOptions {
  readonly prometheus: PrometheusClient;
  readonly sets: FeatureSets;
  readonly nodeLabel: string;
  /** Subquery resolution, seconds. */
  readonly stepS: number;
  readonly leftOpen: boolean;
  /** Per-query bound (enrichment.prometheus.timeout), ms. */
  readonly queryTimeoutMs: number;
  /** Share of the caller's remaining deadline enrichment may use. */
  readonly deadlineShare: number;
  readonly cacheTtlMs: number;
  readonly clock: Clock;
  readonly wallClock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export class FeatureBuilder {
  private readonly cache: LRUCache<string, FeatureVector> | undefined;
  private readonly coalescer: Coalescer<FeatureVector>;

  constructor(private readonly o: FeatureBuilderOptions) {
    if (!Number.isInteger(o.stepS) || o.stepS < 1) throw new RangeError("enrichment.step must be whole seconds");
    this.cache = o.cacheTtlMs > 0 ? new LRUCache({ max: 1000, ttl: o.cacheTtlMs, perf: { now: o.clock }, ttlResolution: 0 }) : undefined;
    this.coalescer = new Coalescer();
  }

  close(): Promise<void> {
    return this.o.prometheus.close();
  }

  /** The feature names of a set, in model order. */
  names(set: string): string[] {
    return featureNames(this.set(set));
  }

  private set(name: string): FeatureSet {
    const s = this.o.sets[name];
    if (s === undefined) throw new ConnectError(`no feature set ${name} in enrichment.features`, Code.Internal);
    return s;
  }

  /**
   * Builds (or reuses) the vector of `setName` for a workload at
   * `evaluationS` (seconds; undefined: now, truncated to whole seconds).
   */
  async build(setName: string, workload: Workload, evaluationS: number | undefined, call: CallContext): Promise<FeatureVector> {
    const t = Math.floor(evaluationS ?? this.o.wallClock() / 1000);
    const key = JSON.stringify([setName, workload.namespace, workload.resource, workload.pod, evaluationS === undefined ? "now" : t]);
    const hit = this.cache?.get(key);
    if (hit !== undefined) return hit;
    const vector = await this.coalescer.run(key, call, (shared) => this.fetch(setName, workload, t, shared));
    this.cache?.set(key, vector);
    return vector;
  }

  /** This build's share of the caller's remaining deadline, capped by the per-query timeout. */
  private budget(call: CallContext): { signal: AbortSignal; timeoutS: number; done: () => void } {
    const ms = Math.max(1, Math.min(this.o.queryTimeoutMs, call.remainingMs() * this.o.deadlineShare));
    const linked = linkedDeadline(call.signal, ms, "enrichment budget");
    return { signal: linked.signal, timeoutS: ms / 1000, done: linked.dispose };
  }

  private async timed(kind: string, run: () => Promise<QueryResult>): Promise<QueryResult> {
    const started = this.o.clock();
    try {
      const r = await run();
      this.o.metrics.enrichmentQueries.observe({ kind, outcome: "ok" }, (this.o.clock() - started) / 1000);
      return r;
    } catch (e) {
      const outcome = e instanceof UpstreamError ? (e.kind === "status" ? `http_${e.status}` : e.kind) : "error";
      this.o.metrics.enrichmentQueries.observe({ kind, outcome }, (this.o.clock() - started) / 1000);
      throw e;
    }
  }

  private async fetch(setName: string, workload: Workload, t: number, call: CallContext): Promise<FeatureVector> {
    const set = this.set(setName);
    const { prometheus } = this.o;
    const b = this.budget(call);
    try {
      const scopeResult = await this.timed("scope", () =>
        prometheus.query(podsOfDeploymentQuery(workload.namespace, workload.resource), t, b.signal, b.timeoutS),
      );
      let scope = scopeFromSeries(workload.namespace, scopeResult.series);
      if (workload.pod !== "") {
        const own = scopeResult.series.find((s) => s.metric.pod === workload.pod);
        if (own === undefined) {
          throw new ConnectError(
            `context.pod ${workload.pod} is not a pod of Deployment ${workload.namespace}/${workload.resource} at the evaluation time`,
            Code.FailedPrecondition,
          );
        }
        scope = { namespace: workload.namespace, pods: [workload.pod], nodes: own.metric.node ? [own.metric.node] : [] };
      }
      if (scope.pods.length === 0) {
        throw new ConnectError(
          `no pods of Deployment ${workload.namespace}/${workload.resource} found in Prometheus at the evaluation time (kube_pod_owner, kube_replicaset_owner, kube_pod_info)`,
          Code.FailedPrecondition,
        );
      }
      const valueOnly = set.derived.length === 1 && set.derived[0] === "value";
      const range = rangeFor(t, this.o.stepS);
      const querySpan = { ...scope, nodeLabel: this.o.nodeLabel };
      const results = await Promise.allSettled(
        set.metrics.map((m) => {
          const expr = renderQuery(m.query, querySpan);
          return this.timed(valueOnly ? "instant" : "range", () =>
            valueOnly
              ? prometheus.query(expr, t, b.signal, b.timeoutS)
              : prometheus.queryRange(expr, range.start, range.end, range.step, b.signal, b.timeoutS),
          );
        }),
      );
      if (call.signal.aborted) throw call.signal.reason;

      const warnings: string[] = [];
      const features: BuiltFeature[] = [];
      let unreachable = 0;
      set.metrics.forEach((m, i) => {
        const r = results[i] as PromiseSettledResult<QueryResult>;
        const samples = new Map<number, number>();
        let noData = "no data from Prometheus in the 5m window";
        if (r.status === "rejected") {
          const e = r.reason;
          if (e instanceof UpstreamError && e.isUpstreamFault) unreachable++;
          noData = `prometheus query failed: ${e instanceof Error ? e.message : String(e)}`;
        } else {
          warnings.push(...r.value.warnings.map((w) => `${m.name}: ${w}`));
          if (r.value.series.length > 1) {
            noData = `query returned ${r.value.series.length} series; a feature query must aggregate to one`;
          } else {
            let nonFinite = 0;
            for (const [ts, v] of r.value.series[0]?.points ?? []) {
              if (Number.isFinite(v)) samples.set(Math.round(ts), v);
              else nonFinite++;
            }
            if (samples.size === 0 && nonFinite > 0) noData = "Prometheus answered NaN or Inf only";
          }
        }
        const derived = deriveFeatures(samples, t, set.derived as Derived[], {
          subqueryStep: this.o.stepS,
          leftOpen: this.o.leftOpen,
          fallback: m.impute,
          noDataReason: noData,
        });
        for (const d of set.derived) {
          const f = derived[d];
          features.push({ name: valueOnly ? m.name : `${m.name}_${d}`, value: f.value, imputed: f.imputed });
        }
      });
      const imputed = features.filter((f) => f.imputed !== undefined).length;
      if (imputed > 0) this.o.metrics.imputedFeatures.inc({ set: setName }, imputed);
      return { set: setName, features, time: t, scope, warnings, imputed, baseMetrics: set.metrics.length, unreachable };
    } catch (e) {
      if (e instanceof ConnectError) throw e;
      if (e instanceof UpstreamError && e.kind !== "timeout" && e.kind !== "cancelled") {
        // Prometheus' own failures are not the caller's: a refused query is
        // our configuration's fault (INTERNAL), an unreachable server UNAVAILABLE.
        throw new ConnectError(
          `Prometheus ${e.isUpstreamFault ? "unreachable" : "refused the workload query"}: ${e.message}`,
          e.isUpstreamFault ? Code.Unavailable : Code.Internal,
          undefined,
          undefined,
          e,
        );
      }
      if (e instanceof UpstreamError) throw e;
      if (isDeadlineReason(e) || call.signal.aborted) {
        throw UpstreamError.fromAbort(e, "prometheus", "/api/v1/query", "fetching features from Prometheus");
      }
      throw e;
    } finally {
      b.done();
    }
  }
}
