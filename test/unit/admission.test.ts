/**
 * Admission at arrival (src/server/admission.ts): on a real listener, with
 * connect's own clients in each protocol, a call past the bound or during
 * shutdown is answered in its protocol and never reaches a handler; calls
 * to other services pass uncounted.
 */
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, test } from "vitest";
import { DetectAnomalyResponseSchema, MLService } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { createAdmission } from "../../src/server/admission.js";
import { createApiListener } from "../../src/server/api-listener.js";
import { Drain } from "../../src/server/drain.js";
import { createGrpcUnaryHandler } from "../../src/server/grpc-unary.js";

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** A listener with admission in front of a handler that holds each call until released. */
async function listener(bound: number, unaryPath: boolean) {
  const drain = new Drain(bound);
  const metrics = createMetrics({ processMetrics: false });
  const served: string[] = [];
  const held: (() => void)[] = [];
  const impl = {
    detectAnomaly: async () => {
      served.push("DetectAnomaly");
      await new Promise<void>((r) => held.push(r));
      return create(DetectAnomalyResponseSchema, { anomalyScore: 1 });
    },
  };
  const health = { check: async () => ({ status: HealthCheckResponse_ServingStatus.SERVING }) };
  const shutdown = new AbortController();
  const services = [
    [MLService, impl],
    [Health, health],
  ] as const;
  const api = createApiListener(
    connectNodeAdapter({
      routes(router) {
        router.service(MLService, impl);
        router.service(Health, health);
      },
    }),
    {
      admit: createAdmission({ drain, metrics, services: [MLService] }),
      first: unaryPath
        ? createGrpcUnaryHandler({ services, readMaxBytes: 1 << 20, maxTimeoutMs: 60_000, shutdownSignal: shutdown.signal })
        : undefined,
      maxConcurrentStreams: bound + 100,
    },
  );
  await new Promise<void>((r) => api.server.listen(0, "127.0.0.1", r));
  closers.push(() => {
    for (const s of api.sessions) s.destroy();
    api.h1.closeAllConnections();
    api.server.close();
  });
  const baseUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  const release = () => {
    for (const r of held.splice(0)) r();
  };
  return { drain, metrics, served, held, release, baseUrl };
}

const transports: [string, boolean, (baseUrl: string) => Transport][] = [
  ["gRPC, the unary path", true, (baseUrl) => createGrpcTransport({ baseUrl })],
  ["gRPC, connect-node", false, (baseUrl) => createGrpcTransport({ baseUrl })],
  ["Connect JSON over HTTP/2, the unary path", true, (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" })],
  ["Connect binary over HTTP/1.1", true, (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true })],
  ["gRPC-Web over HTTP/2", true, (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "2" })],
  ["gRPC-Web over HTTP/1.1", true, (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
];

const code = (p: Promise<unknown>) =>
  p.then(
    () => "OK",
    (e: unknown) => Code[ConnectError.from(e).code],
  );

describe("admission at arrival", () => {
  test.each(transports)("%s: past the bound, RESOURCE_EXHAUSTED without reaching the handler", async (_, unaryPath, transport) => {
    const l = await listener(2, unaryPath);
    const client = createClient(MLService, transport(l.baseUrl));
    const first = [code(client.detectAnomaly({})), code(client.detectAnomaly({}))];
    await expect.poll(() => l.served.length).toBe(2);
    expect(l.drain.active).toBe(2);

    const refused = await Promise.all([code(client.detectAnomaly({})), code(client.detectAnomaly({}))]);
    expect(refused).toEqual(["ResourceExhausted", "ResourceExhausted"]);
    expect(l.served).toHaveLength(2);
    const text = await l.metrics.registry.metrics();
    expect(text).toContain('aiops_sidecar_shed_requests_total{method="DetectAnomaly"} 2');
    expect(text).toContain('aiops_sidecar_rpc_duration_seconds_count{method="DetectAnomaly",code="RESOURCE_EXHAUSTED"} 2');
    expect(text).toContain("aiops_sidecar_inflight_requests 2");

    // Counted until the answer closes: room again once they are answered.
    l.release();
    expect(await Promise.all(first)).toEqual(["OK", "OK"]);
    await expect.poll(() => l.drain.active).toBe(0);
    const again = code(client.detectAnomaly({}));
    await expect.poll(() => l.served.length).toBe(3);
    l.release();
    expect(await again).toBe("OK");
  });

  test.each(transports)("%s: while shutting down, UNAVAILABLE without reaching the handler", async (_, unaryPath, transport) => {
    const l = await listener(2, unaryPath);
    l.drain.refuse();
    const client = createClient(MLService, transport(l.baseUrl));
    expect(await code(client.detectAnomaly({}))).toBe("Unavailable");
    expect(l.served).toEqual([]);
    const text = await l.metrics.registry.metrics();
    expect(text).toContain('aiops_sidecar_rpc_duration_seconds_count{method="DetectAnomaly",code="UNAVAILABLE"} 1');
    expect(text).not.toContain("aiops_sidecar_shed_requests_total{");
  });

  test("other services pass uncounted, also past the bound and while shutting down", async () => {
    const l = await listener(1, true);
    const ml = createClient(MLService, createGrpcTransport({ baseUrl: l.baseUrl }));
    const health = createClient(Health, createGrpcTransport({ baseUrl: l.baseUrl }));
    const held = code(ml.detectAnomaly({}));
    await expect.poll(() => l.served.length).toBe(1);
    expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    l.drain.refuse();
    expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect(l.drain.active).toBe(1);
    l.release();
    expect(await held).toBe("OK");
  });

  test("a path under the service that names no method passes uncounted, so no label is the caller's text", async () => {
    const l = await listener(1, true);
    l.drain.refuse();
    const res = await fetch(`${l.baseUrl}/aiops.ml.v1.MLService/NoSuchMethod`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(404);
    expect(await l.metrics.registry.metrics()).not.toContain("NoSuchMethod");
  });
});
