/**
 * A pooled client for one upstream URL, configured from `pool.*`: the one
 * place where the configuration becomes an undici Pool, for the model
 * backends and for Prometheus alike.
 */
import type { Dispatcher } from "undici";
import type { Config } from "../config/schema.js";
import type { Metrics } from "../observability/metrics.js";
import { UpstreamClient } from "./upstream-client.js";

export interface PooledClientOptions {
  /** Injected dispatcher for tests; default: a Pool per upstream. */
  readonly dispatcher?: Dispatcher | undefined;
  /** Records every call in aiops_sidecar_upstream_request_duration_seconds under `name`. */
  readonly metrics?: Metrics | undefined;
  /** Extra CA bundle (PEM); verification is always on. */
  readonly ca?: string | undefined;
}

export function pooledClient(name: string, url: string, config: Config, options: PooledClientOptions = {}): UpstreamClient {
  const { metrics } = options;
  return new UpstreamClient({
    name,
    baseUrl: url,
    connections: config.pool.connections,
    keepAliveTimeoutMs: config.pool.keep_alive_timeout,
    connectTimeoutMs: config.pool.connect_timeout,
    maxResponseBytes: config.pool.max_response_bytes,
    dispatcher: options.dispatcher,
    ca: options.ca,
    observe: metrics
      ? (endpoint, outcome, seconds) => metrics.upstreamDuration.observe({ backend: name, endpoint, outcome }, seconds)
      : undefined,
  });
}
