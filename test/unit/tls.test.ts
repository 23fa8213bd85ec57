/**
 * TLS to Prometheus/Thanos is always verified: a server whose certificate is
 * not signed by a trusted CA is refused, and PROMETHEUS_CA_FILE's bundle
 * makes it trusted (as OpenShift's service CA does for thanos-querier).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { PrometheusClient } from "../../src/enrichment/prometheus-client.js";
import { UpstreamError } from "../../src/errors/upstream-error.js";
import { UpstreamClient } from "../../src/http/upstream-client.js";

let server: https.Server;
let url: string;
let ca: string;

beforeAll(async () => {
  const dir = mkdtempSync(`${tmpdir()}/tls-`);
  // A self-signed certificate for 127.0.0.1, standing in for the service CA.
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
      "-days",
      "1",
      "-subj",
      "/CN=thanos-querier",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  ca = readFileSync(`${dir}/cert.pem`, "utf8");
  server = https.createServer({ key: readFileSync(`${dir}/key.pem`), cert: ca }, (req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "success", data: { resultType: "vector", result: [{ metric: {}, value: [1, "0.25"] }] } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const prometheus = (caBundle?: string) =>
  new PrometheusClient(
    new UpstreamClient({
      name: "prometheus",
      baseUrl: url,
      connections: 1,
      keepAliveTimeoutMs: 1000,
      connectTimeoutMs: 2000,
      maxResponseBytes: 1 << 20,
      ca: caBundle,
    }),
    { dedup: true, partialResponse: false },
  );

describe("TLS to Prometheus", () => {
  test("an untrusted certificate is refused (verification is never switched off)", async () => {
    const p = prometheus();
    const e = await p.query("up", 1, AbortSignal.timeout(5000), 1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UpstreamError);
    expect((e as UpstreamError).kind).toBe("connect");
    expect(((e as UpstreamError).cause as { code?: string }).code).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
    await p.close();
  });

  test("the CA bundle from PROMETHEUS_CA_FILE makes it trusted", async () => {
    const p = prometheus(ca);
    const r = await p.query("up", 1, AbortSignal.timeout(5000), 1);
    expect(r.series[0]?.points).toEqual([[1, 0.25]]);
    await p.close();
  });
});
