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
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
