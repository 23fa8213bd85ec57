/**
 * Builds the configured backend. One factory per backend kind: adding a
 * protocol is one adapter file and one line here.
 */
import type { BackendKind, Config } from "../config/schema.js";
import { featureNames } from "../enrichment/feature-definitions.js";
import { type PooledClientOptions, pooledClient } from "../http/pooled-client.js";
import type { Backend } from "./backend.js";
import { BuiltinBackend } from "./builtin-backend.js";
import { KServeBackend } from "./kserve-backend.js";
import type { KServeProtocol } from "./kserve-protocol.js";
import { KSERVE_V1 } from "./kserve-v1.js";
import { KSERVE_V2 } from "./kserve-v2.js";
import { RestBackend } from "./rest-backend.js";

/** What a factory may use besides the configuration: an injected dispatcher, the metrics. */
export type BackendDeps = Omit<PooledClientOptions, "ca">;

/** A KServe backend: one pooled client per distinct model URL. */
function kserve(protocol: KServeProtocol, config: Config, deps: BackendDeps): Backend {
  const { models } = config.backend;
  const anomalyUrl = models.anomaly.url || config.backend.url;
  const predictiveUrl = models.predictive.url || config.backend.url;
  const anomalyClient = pooledClient(protocol.kind, anomalyUrl, config, deps);
  const predictiveClient = predictiveUrl === anomalyUrl ? anomalyClient : pooledClient(protocol.kind, predictiveUrl, config, deps);
  const sets = config.enrichment.features;
  return new KServeBackend({
    protocol,
    anomaly: { name: models.anomaly.name, features: featureNames(sets.anomaly as never), client: anomalyClient },
    predictive: {
      name: models.predictive.name,
      features: featureNames(sets.predictive as never),
      client: predictiveClient,
      horizonMs: models.predictive.horizon,
    },
  });
}

const FACTORIES: Record<BackendKind, (config: Config, deps: BackendDeps) => Backend> = {
  rest: (config, deps) => new RestBackend(pooledClient("rest", config.backend.url, config, deps)),
  "kserve-v1": (config, deps) => kserve(KSERVE_V1, config, deps),
  "kserve-v2": (config, deps) => kserve(KSERVE_V2, config, deps),
  builtin: () => new BuiltinBackend(),
};

/** The backend for `backend.kind`. */
export function createBackend(config: Config, deps: BackendDeps = {}): Backend {
  return FACTORIES[config.backend.kind](config, deps);
}
