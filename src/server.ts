/**
 * createServer(deps): builds the object graph of a running sidecar from
 * injected parts and nothing global. It is what main.ts starts and what the
 * tests start on port 0.
 */
import { setMaxListeners } from "node:events";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { MLService } from "../gen/aiops/ml/v1/ml_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";
import { createAdminServer } from "./admin/admin-server.js";
import { createHealthService, HealthState } from "./api/health-service.js";
import { createMlService } from "./api/ml-service.js";
import { createReflectionServices, loadDescriptorRegistry, ServerReflectionV1, ServerReflectionV1alpha } from "./api/reflection-service.js";
import type { Backend } from "./backend/backend.js";
import { BuiltinBackend } from "./backend/builtin-backend.js";
import type { Config } from "./config/schema.js";
import { createFeatureBuilder } from "./enrichment/create-feature-builder.js";
import type { Logger } from "./observability/logger.js";
import type { Metrics } from "./observability/metrics.js";
import { PredictionPipeline } from "./pipeline/prediction-pipeline.js";
import { createAdmission } from "./server/admission.js";
import { createApiListener } from "./server/api-listener.js";
import { Drain } from "./server/drain.js";
import { createGrpcUnaryHandler } from "./server/grpc-unary.js";

export interface ServerDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly backend: Backend;
  /** Monotonic milliseconds (default performance.now); tests inject their own. */
  readonly clock?: () => number;
  /** Wall-clock milliseconds (default Date.now). */
  readonly wallClock?: () => number;
  /** The Prometheus CA bundle (PEM), read by main from enrichment.prometheus.ca_file. */
  readonly prometheusCa?: string | undefined;
}

/** Where the listeners ended up (port 0 picks a free port). */
export interface Addresses {
  readonly api: AddressInfo;
  readonly admin: AddressInfo;
  /** The health-only listener, when server.health_addr is set. */
  readonly health?: AddressInfo;
}

export interface Sidecar {
  /** Opens both listeners. */
  start(): Promise<Addresses>;
  /** Health NOT_SERVING, in-flight calls finish, listeners and pools close. */
  stop(): Promise<void>;
  readonly health: HealthState;
}

/** Splits host:port (IPv6 in brackets). */
export function splitAddress(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(":");
  return { host: addr.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port: Number(addr.slice(i + 1)) };
}

function listen(server: import("node:net").Server, addr: string): Promise<AddressInfo> {
  const { host, port } = splitAddress(addr);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Streams an HTTP/2 connection may open beyond server.max_concurrent_requests. */
const STREAM_HEADROOM = 100;

export function createServer(deps: ServerDeps): Sidecar {
  const { config, logger, metrics, backend } = deps;
  const clock = deps.clock ?? (() => performance.now());
  const pipeline = new PredictionPipeline({
    backend,
    fallback: new BuiltinBackend(),
    config,
    metrics,
    logger,
    clock,
    wallClock: deps.wallClock ?? Date.now,
  });
  const features = createFeatureBuilder(config, {
    metrics,
    logger,
    clock,
    wallClock: deps.wallClock ?? Date.now,
    ca: deps.prometheusCa,
  });
  const health = new HealthState();
  const drain = new Drain(config.server.max_concurrent_requests);
  let draining = false;
  const shutdown = new AbortController();
  // connect-node adds one listener per call in flight to the shutdown signal.
  setMaxListeners(0, shutdown.signal);
  const registry = loadDescriptorRegistry();
  const reflection = createReflectionServices(registry, [
    MLService.typeName,
    Health.typeName,
    ServerReflectionV1.typeName,
    ServerReflectionV1alpha.typeName,
  ]);
  const services = [
    [MLService, createMlService({ pipeline, features, config, logger, metrics, clock })],
    [Health, createHealthService(health)],
    [ServerReflectionV1, reflection.v1],
    [ServerReflectionV1alpha, reflection.v1alpha],
  ] as const;
  const transport = {
    // The transport-level bound on a message; validation reports sizes
    // between max_request_bytes and this as INVALID_ARGUMENT naming the field.
    readMaxBytes: config.server.max_request_bytes * 4,
    maxTimeoutMs: config.server.max_timeout,
    shutdownSignal: shutdown.signal,
  };
  // Proto field names out (the REST contract's snake_case); unknown fields in are errors.
  const jsonOptions = { useProtoFieldName: true, ignoreUnknownFields: false };
  const handler = connectNodeAdapter({
    ...transport,
    jsonOptions,
    routes(router) {
      for (const [service, impl] of services) router.service(service, impl as never);
    },
  });
  const api = createApiListener(handler, {
    // Calls to the ML service are counted (and shed beyond server.max_concurrent_requests) from their arrival.
    admit: createAdmission({ drain, metrics, services: [MLService] }),
    // Calls a connection can make the sidecar hold before admission sees them: the bound, plus room for the
    // refusals being answered and for health and reflection.
    maxConcurrentStreams: config.server.max_concurrent_requests + STREAM_HEADROOM,
    first: config.server.grpc_unary_fast_path ? createGrpcUnaryHandler({ ...transport, services, jsonOptions }) : undefined,
  });
  // Health alone, for kubelet's gRPC probes on the pod IP (server.health_addr).
  const healthOnly =
    config.server.health_addr === ""
      ? undefined
      : createApiListener(
          connectNodeAdapter({
            shutdownSignal: shutdown.signal,
            routes: (router) => router.service(Health, createHealthService(health)),
          }),
        );
  const admin = createAdminServer({
    registry: metrics.registry,
    readiness: async () => {
      const probe = await backend.probe(AbortSignal.timeout(2000));
      return {
        draining,
        backend: { kind: backend.kind, url: config.backend.url || undefined, ready: probe.ready, detail: probe.detail },
        breakers: pipeline.breakerStates(),
        cache: pipeline.cacheState(),
        enrichment: { configured: features !== undefined, url: config.enrichment.prometheus.url || undefined },
      };
    },
  });

  return {
    health,
    async start() {
      const apiAddr = await listen(api.server, config.server.grpc_addr);
      const adminAddr = await listen(admin, config.server.admin_addr);
      const healthAddr = healthOnly === undefined ? undefined : await listen(healthOnly.server, config.server.health_addr);
      return { api: apiAddr, admin: adminAddr, ...(healthAddr ? { health: healthAddr } : {}) };
    },
    /**
     * Graceful shutdown, all within server.shutdown_grace: health turns
     * NOT_SERVING at once; new calls are still served for
     * server.drain_delay, then refused with UNAVAILABLE; calls in flight
     * finish; HTTP/2 sessions get GOAWAY; whatever is left at the end of
     * the grace is cancelled.
     */
    async stop() {
      const started = performance.now();
      const left = () => Math.max(0, config.server.shutdown_grace - (performance.now() - started));
      health.setAll(Status.NOT_SERVING);
      draining = true;
      logger.info({ drainDelayMs: config.server.drain_delay, graceMs: config.server.shutdown_grace }, "draining");
      await new Promise((r) => setTimeout(r, Math.min(config.server.drain_delay, left())));
      drain.refuse();
      api.server.close();
      for (const s of api.sessions) s.close();
      api.h1.closeIdleConnections();
      const idle = await drain.idle(left());
      if (!idle) logger.warn({ inflight: drain.active }, "shutdown grace over: cancelling calls still in flight");
      // Ends long-lived streams (Health/Watch) and anything past the grace.
      shutdown.abort(new ConnectError("sidecar is shutting down", Code.Unavailable));
      // Responses of calls that just finished may still be flushing: let the
      // GOAWAY'd sessions end by themselves, within what is left of the grace.
      const closed = [...api.sessions].map((s) => new Promise((r) => s.once("close", r)));
      await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, Math.max(left(), 50)))]);
      for (const s of api.sessions) s.destroy();
      api.h1.closeIdleConnections();
      api.h1.closeAllConnections();
      if (healthOnly !== undefined) {
        healthOnly.server.close();
        for (const s of healthOnly.sessions) s.destroy();
        healthOnly.h1.closeAllConnections();
      }
      await new Promise<void>((resolve) => admin.close(() => resolve()));
      admin.closeAllConnections();
      pipeline.shutdown();
      await Promise.all([backend.close(), features?.close()]);
      logger.info({ ms: Math.round(performance.now() - started) }, "stopped");
    },
  };
}
