/**
 * Entry point: parses flags, loads configuration, builds the object graph,
 * starts it and handles signals. Nothing else happens here.
 */
// First: V8's settings, before any other module allocates.
import "./v8-flags.js";
import { existsSync, readFileSync } from "node:fs";
import { createBackend } from "./backend/create-backend.js";
import { ConfigError, loadConfig } from "./config/load-config.js";
import type { Config } from "./config/schema.js";
import { createLogger } from "./observability/logger.js";
import { createMetrics } from "./observability/metrics.js";
import { createServer } from "./server.js";

const USAGE = `usage: aiops-ml-sidecar [--config PATH] [--set dotted.key=value]...
Serves aiops.ml.v1.MLService (gRPC, gRPC-Web, Connect) on server.grpc_addr and
/metrics, /healthz, /readyz on server.admin_addr. See README.md.`;

async function main(): Promise<void> {
  if (process.argv.includes("--help") || process.argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let config: Config;
  try {
    config = loadConfig(process.argv.slice(2), process.env, {
      readFile: (p) => readFileSync(p, "utf8"),
      exists: existsSync,
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) process.stderr.write(`config: ${p}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger(config.logging.level);
  const metrics = createMetrics();
  let backend: ReturnType<typeof createBackend>;
  try {
    backend = createBackend(config, { metrics });
  } catch (e) {
    process.stderr.write(`config: ${(e as Error).message}\n`);
    process.exit(2);
  }
  let prometheusCa: string | undefined;
  if (config.enrichment.prometheus.ca_file !== "") {
    try {
      prometheusCa = readFileSync(config.enrichment.prometheus.ca_file, "utf8");
    } catch (e) {
      process.stderr.write(
        `config: enrichment.prometheus.ca_file (PROMETHEUS_CA_FILE): ${JSON.stringify(config.enrichment.prometheus.ca_file)} cannot be read: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`,
      );
      process.exit(2);
    }
  }
  const sidecar = createServer({ config, logger, metrics, backend, prometheusCa });
  const addrs = await sidecar.start();
  if (backend.kind === "builtin") {
    logger.warn("no ML_SERVICE_URL: the embedded builtin baseline backend answers every call");
  }
  logger.info(
    {
      api: `${addrs.api.address}:${addrs.api.port}`,
      admin: `${addrs.admin.address}:${addrs.admin.port}`,
      health: addrs.health ? `${addrs.health.address}:${addrs.health.port}` : undefined,
      backend: backend.kind,
      backendUrl: config.backend.url || undefined,
      enrichment: config.enrichment.prometheus.url !== "",
    },
    "sidecar serving",
  );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    // A last guard: whatever happens, the process is gone by the end of the grace.
    setTimeout(() => process.exit(0), config.server.shutdown_grace + 1000).unref();
    sidecar.stop().then(
      () => process.exit(0),
      (e: Error) => {
        logger.error({ err: e.message }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((e: Error) => {
  process.stderr.write(`fatal: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
