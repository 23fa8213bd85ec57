import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { PrometheusClient } from "../../src/enrichment/prometheus-client.js";
import { UpstreamClient } from "../../src/http/upstream-client.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";

const upstream = new FakeUpstream();
beforeAll(() => upstream.start());
afterAll(() => upstream.stop());

const ok = (result: unknown[], extra: object = {}) => ({ body: { status: "success", data: { resultType: "vector", result }, ...extra } });

function client(tokenFile?: string, now = { t: 0 }) {
  const http = new UpstreamClient({
    name: "prometheus",
    baseUrl: upstream.url,
    connections: 1,
    keepAliveTimeoutMs: 1000,
    connectTimeoutMs: 1000,
    maxResponseBytes: 1 << 20,
  });
  return new PrometheusClient(http, { tokenFile, dedup: true, partialResponse: false, clock: () => now.t });
}

describe("Prometheus client", () => {
  test("sends POST forms with time, timeout and Thanos' dedup and partial_response", async () => {
    upstream.on("POST /api/v1/query", ok([{ metric: {}, value: [1, "0.5"] }]));
    const r = await client().query('up{job="x"}', 1769335200, AbortSignal.timeout(5000), 2.5);
    expect(r.series[0]?.points).toEqual([[1, 0.5]]);
    const sent = upstream.received("/api/v1/query").at(-1);
    expect(sent?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(new URLSearchParams(sent?.raw))).toEqual({
      query: 'up{job="x"}',
      time: "1769335200",
      timeout: "2.500",
      dedup: "true",
      partial_response: "false",
    });
  });

  test("warnings (e.g. Thanos partial responses) are surfaced, NaN and Inf parsed", async () => {
    upstream.on(
      "POST /api/v1/query",
      ok(
        [
          { metric: { a: "b" }, value: [1, "NaN"] },
          { metric: {}, value: [1, "+Inf"] },
        ],
        { warnings: ["partial response: store down"] },
      ),
    );
    const r = await client().query("x", 1, AbortSignal.timeout(5000), 1);
    expect(r.warnings).toEqual(["partial response: store down"]);
    expect(Number.isNaN(r.series[0]?.points[0]?.[1])).toBe(true);
    expect(r.series[1]?.points[0]?.[1]).toBe(Number.POSITIVE_INFINITY);
  });

  test("the bearer token is read from its file, and read again when the file is replaced", async () => {
    const dir = mkdtempSync(`${tmpdir()}/tok-`);
    writeFileSync(`${dir}/token`, "first\n");
    const now = { t: 0 };
    const c = client(`${dir}/token`, now);
    upstream.on("POST /api/v1/query", ok([]));
    await c.query("x", 1, AbortSignal.timeout(5000), 1);
    expect(upstream.received("/api/v1/query").at(-1)?.headers.authorization).toBe("Bearer first");
    // Rotation as kubelet does it: a new file swapped in atomically.
    writeFileSync(`${dir}/token.new`, "second\n");
    renameSync(`${dir}/token.new`, `${dir}/token`);
    now.t = 2000;
    await c.query("x", 1, AbortSignal.timeout(5000), 1);
    expect(upstream.received("/api/v1/query").at(-1)?.headers.authorization).toBe("Bearer second");
  });

  test("a malformed answer names what is wrong", async () => {
    upstream.on("POST /api/v1/query", {
      body: { status: "success", data: { resultType: "vector", result: [{ metric: {}, value: [1, 2] }] } },
    });
    await expect(client().query("x", 1, AbortSignal.timeout(5000), 1)).rejects.toMatchObject({ kind: "malformed" });
  });
});
