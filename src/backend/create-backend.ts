/**
 * Builds the configured backend. One factory per backend kind: adding a
 * protocol is one adapter file and one line here.
 */
import type { Dispatcher } from "undici";
import type { BackendKind, Config } from "../config/schema.js";
import { UpstreamClient } from "../http/upstream-client.js";
import type { Metrics } from "../observability/metrics.js";
import type { Backend } from "./backend.js";
import { BuiltinBackend } from "./builtin-backend.js";
import { RestBackend } from "./rest-backend.js";

/** What a factory may use besides the configuration. */
export interface BackendDeps {
  /** Injected dispatcher for tests; default: a Pool per upstream. */
  readonly dispatcher?: Dispatcher;
  /** Where upstream call durations and outcomes are recorded. */
  readonly metrics?: Metrics;
}

/** A pooled client for one upstream URL, configured from `pool.*`. */
export function upstreamClient(name: string, url: string, config: Config, deps: BackendDeps): UpstreamClient {
  return new UpstreamClient({
    name,
    baseUrl: url,
    connections: config.pool.connections,
    keepAliveTimeoutMs: config.pool.keep_alive_timeout,
    connectTimeoutMs: config.pool.connect_timeout,
    maxResponseBytes: config.pool.max_response_bytes,
    dispatcher: deps.dispatcher,
    observe: deps.metrics
      ? (endpoint, outcome, seconds) => deps.metrics?.upstreamDuration.observe({ backend: name, endpoint, outcome }, seconds)
      : undefined,
  });
}

const FACTORIES: Partial<Record<BackendKind, (config: Config, deps: BackendDeps) => Backend>> = {
  rest: (config, deps) => new RestBackend(upstreamClient("rest", config.backend.url, config, deps)),
  builtin: () => new BuiltinBackend(),
};

/** The backend for `backend.kind`; throws for a kind this build cannot serve. */
export function createBackend(config: Config, deps: BackendDeps = {}): Backend {
  const factory = FACTORIES[config.backend.kind];
  if (factory === undefined) throw new Error(`backend.kind ${config.backend.kind} is not supported by this build`);
  return factory(config, deps);
}
