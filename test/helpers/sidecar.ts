/**
 * Starts a real sidecar on port 0 for a test, with the configuration built
 * exactly as at start-up (defaults < --set flags), and silent logs.
 */
import { pino } from "pino";
import { createBackend } from "../../src/backend/create-backend.js";
import { buildConfig } from "../../src/config/load-config.js";
import type { Config } from "../../src/config/schema.js";
import { createMetrics, type Metrics } from "../../src/observability/metrics.js";
import { createServer, type Sidecar } from "../../src/server.js";

export interface RunningSidecar {
  readonly sidecar: Sidecar;
  readonly config: Config;
  readonly metrics: Metrics;
  readonly apiUrl: string;
  readonly adminUrl: string;
  readonly apiPort: number;
  stop(): Promise<void>;
}

/** Builds a Config from `--set`-style pairs, failing loudly on any problem. */
export function testConfig(sets: Record<string, string | number | boolean>, env: Record<string, string> = {}): Config {
  const { config, problems } = buildConfig({
    env,
    sets: ["server.grpc_addr=127.0.0.1:0", "server.admin_addr=127.0.0.1:0", ...Object.entries(sets).map(([k, v]) => `${k}=${v}`)],
  });
  if (config === undefined) throw new Error(problems.join("\n"));
  return config;
}

/** A monotonic clock the test can move forward: real time plus a skew. */
export class TestClock {
  skewMs = 0;
  readonly now = (): number => performance.now() + this.skewMs;
  advance(ms: number): void {
    this.skewMs += ms;
  }
}

export async function startSidecar(
  sets: Record<string, string | number | boolean> = {},
  options: { clock?: TestClock; wallClock?: () => number } = {},
): Promise<RunningSidecar> {
  const config = testConfig(sets);
  const metrics = createMetrics({ processMetrics: false });
  const logger = pino({ level: "silent" });
  const backend = createBackend(config, { metrics });
  const sidecar = createServer({
    config,
    logger,
    metrics,
    backend,
    ...(options.clock ? { clock: options.clock.now } : {}),
    ...(options.wallClock ? { wallClock: options.wallClock } : {}),
  });
  const addrs = await sidecar.start();
  return {
    sidecar,
    config,
    metrics,
    apiPort: addrs.api.port,
    apiUrl: `http://127.0.0.1:${addrs.api.port}`,
    adminUrl: `http://127.0.0.1:${addrs.admin.port}`,
    stop: () => sidecar.stop(),
  };
}
