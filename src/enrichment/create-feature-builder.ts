/** Builds the enrichment machinery from configuration, when PROMETHEUS_URL is set. */
import type { Clock } from "../api/call-context.js";
import type { Config } from "../config/schema.js";
import { pooledClient } from "../http/pooled-client.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { FeatureBuilder } from "./feature-builder.js";
import { PrometheusClient } from "./prometheus-client.js";

export interface FeatureBuilderDeps {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly wallClock: Clock;
  /** The CA bundle (PEM) read from enrichment.prometheus.ca_file at start-up. */
  readonly ca?: string | undefined;
}

/** The feature builder, or undefined when enrichment is not configured. */
export function createFeatureBuilder(config: Config, deps: FeatureBuilderDeps): FeatureBuilder | undefined {
  const p = config.enrichment.prometheus;
  if (p.url === "") return undefined;
  // Prometheus' queries are measured by aiops_sidecar_enrichment_query_duration_seconds instead.
  const http = pooledClient("prometheus", p.url, config, { ca: deps.ca });
  return new FeatureBuilder({
    prometheus: new PrometheusClient(http, {
      tokenFile: p.token_file || undefined,
      dedup: p.dedup,
      partialResponse: p.partial_response,
      clock: deps.clock,
    }),
    sets: config.enrichment.features,
    nodeLabel: config.enrichment.node_label,
    stepS: config.enrichment.step / 1000,
    leftOpen: config.enrichment.range_selection === "left_open",
    queryTimeoutMs: p.timeout,
    deadlineShare: config.enrichment.deadline_share,
    cacheTtlMs: config.enrichment.cache_ttl,
    clock: deps.clock,
    wallClock: deps.wallClock,
    metrics: deps.metrics,
    logger: deps.logger,
  });
}
