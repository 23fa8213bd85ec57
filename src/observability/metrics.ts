/**
 * The sidecar's Prometheus metrics, in a registry of its own (never the
 * global one). Label names are declared `as const` so that a typo fails to
 * compile. Every metric here is listed in the README.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Prefix of every metric the sidecar exports. */
export const PREFIX = "aiops_sidecar_";

/** Latency buckets in seconds: sub-millisecond for the sidecar's own work up to the 30 s default timeout. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Creates the registry and every metric in it. */
export function createMetrics(options: { processMetrics?: boolean } = {}) {
  const registry = new Registry();
  // prom-client samples the event loop's delay every 10 ms, which wakes an
  // idle sidecar 100 times a second, but its lag gauges include the
  // sampling interval, so sampling less often would shift every one of
  // them (bench/FINDINGS.md, change 27, not kept).
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: PREFIX });
  return {
    registry,
    rpcDuration: new Histogram({
      name: `${PREFIX}rpc_duration_seconds`,
      help: "RPCs served, by method and gRPC code, with their latency.",
      labelNames: ["method", "code"] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    upstreamDuration: new Histogram({
      name: `${PREFIX}upstream_request_duration_seconds`,
      help: "Calls to the model backend, by backend, endpoint and outcome (ok, or the failure kind), with their latency.",
      labelNames: ["backend", "endpoint", "outcome"] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    invalidRequests: new Counter({
      name: `${PREFIX}invalid_requests_total`,
      help: "Requests rejected by validation before anything went upstream, by method.",
      labelNames: ["method"] as const,
      registers: [registry],
    }),
    inflight: new Gauge({
      name: `${PREFIX}inflight_requests`,
      help: "RPCs being served now.",
      registers: [registry],
    }),
    shed: new Counter({
      name: `${PREFIX}shed_requests_total`,
      help: "RPCs refused with RESOURCE_EXHAUSTED because server.max_concurrent_requests were in flight.",
      labelNames: ["method"] as const,
      registers: [registry],
    }),
    retries: new Counter({
      name: `${PREFIX}upstream_retries_total`,
      help: "Retries of upstream calls, by backend, RPC and the failure retried.",
      labelNames: ["backend", "rpc", "reason"] as const,
      registers: [registry],
    }),
    breakerState: new Gauge({
      name: `${PREFIX}breaker_state`,
      help: "Circuit breaker state per upstream endpoint: 0 closed, 1 half-open, 2 open.",
      labelNames: ["upstream"] as const,
      registers: [registry],
    }),
    breakerTransitions: new Counter({
      name: `${PREFIX}breaker_transitions_total`,
      help: "Circuit breaker transitions per upstream endpoint, by the state entered.",
      labelNames: ["upstream", "to"] as const,
      registers: [registry],
    }),
    cacheLookups: new Counter({
      name: `${PREFIX}cache_lookups_total`,
      help: "Prediction cache lookups by RPC and result: hit (fresh), miss, or stale (answered while the backend failed).",
      labelNames: ["rpc", "result"] as const,
      registers: [registry],
    }),
    cacheEvictions: new Counter({
      name: `${PREFIX}cache_evictions_total`,
      help: "Prediction cache entries pushed out by cache.max_entries or cache.max_bytes.",
      registers: [registry],
    }),
    cacheEntries: new Gauge({
      name: `${PREFIX}cache_entries`,
      help: "Prediction cache entries held now.",
      registers: [registry],
    }),
    cacheBytes: new Gauge({
      name: `${PREFIX}cache_bytes`,
      help: "Bytes the prediction cache holds now, as counted against cache.max_bytes.",
      registers: [registry],
    }),
    coalesced: new Counter({
      name: `${PREFIX}coalesced_requests_total`,
      help: "RPCs that joined an identical upstream call already in flight instead of making their own.",
      labelNames: ["rpc"] as const,
      registers: [registry],
    }),
    enrichmentQueries: new Histogram({
      name: `${PREFIX}enrichment_query_duration_seconds`,
      help: "Prometheus/Thanos queries made for enrichment, by kind (scope, range, instant) and outcome, with their latency.",
      labelNames: ["kind", "outcome"] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    modelInfo: new Gauge({
      name: `${PREFIX}model_info`,
      help: "1 for each model that has answered, by backend, model name and the version the server reports (empty when it reports none).",
      labelNames: ["backend", "model", "version"] as const,
      registers: [registry],
    }),
    imputedFeatures: new Counter({
      name: `${PREFIX}imputed_features_total`,
      help: "Features Prometheus could not supply, imputed by the documented rules, by feature set.",
      labelNames: ["set"] as const,
      registers: [registry],
    }),
    degradedAnswers: new Counter({
      name: `${PREFIX}degraded_answers_total`,
      help: "Answers given by a lower rung of the degradation ladder, by RPC and source (STALE_CACHE, FALLBACK).",
      labelNames: ["rpc", "source"] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Connect's Code names are PascalCase; gRPC's are UPPER_SNAKE (DEADLINE_EXCEEDED). */
export function toUpperSnake(name: string): string {
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}
