import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { UpstreamError } from "../../src/errors/upstream-error.js";
import { parseRetryAfter, UpstreamClient, violationsFromDetail } from "../../src/http/upstream-client.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";

const upstream = new FakeUpstream();
let client: UpstreamClient;

const options = (baseUrl: string) => ({
  name: "rest",
  baseUrl,
  connections: 2,
  keepAliveTimeoutMs: 10_000,
  connectTimeoutMs: 1000,
  maxResponseBytes: 64 * 1024,
});

async function failure(p: Promise<unknown>): Promise<UpstreamError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(UpstreamError);
    return e as UpstreamError;
  }
  throw new Error("expected a failure");
}

const signal = () => AbortSignal.timeout(5000);

beforeAll(async () => {
  client = new UpstreamClient(options(await upstream.start()));
});
afterAll(async () => {
  await client.close();
  await upstream.stop();
});

describe("upstream client (real sockets)", () => {
  test("posts JSON with the forwarded headers and returns the parsed body", async () => {
    upstream.on("POST /ok", { body: { fine: true } });
    const a = await client.postJson("/ok", { a: 1 }, { signal: signal(), headers: { "x-request-id": "r-1" } });
    expect(a.body).toEqual({ fine: true });
    const [req] = upstream.received("/ok");
    expect(req?.body).toEqual({ a: 1 });
    expect(req?.headers["content-type"]).toBe("application/json");
    expect(req?.headers["x-request-id"]).toBe("r-1");
    expect(req?.headers.accept).toBe("application/json");
  });

  test("a GET asks for JSON and, having no body, names no content type", async () => {
    upstream.on("GET /health", { body: { status: "healthy" } });
    const a = await client.getJson("/health", { signal: signal(), headers: { "x-request-id": "r-2" } });
    expect(a.body).toEqual({ status: "healthy" });
    const [req] = upstream.received("/health");
    expect(req?.headers.accept).toBe("application/json");
    expect(req?.headers["content-type"]).toBeUndefined();
    expect(req?.headers["x-request-id"]).toBe("r-2");
  });

  test("keeps connections alive across calls", async () => {
    upstream.on("POST /ka", { body: {} });
    for (let i = 0; i < 5; i++) await client.postJson("/ka", {}, { signal: signal() });
    const ports = new Set(upstream.received("/ka").map((r) => r.remotePort));
    expect(ports.size).toBeLessThanOrEqual(2); // five calls over at most pool.connections sockets
  });

  test("a 422 with FastAPI's detail list becomes field violations", async () => {
    upstream.on("POST /v", {
      status: 422,
      body: { detail: [{ loc: ["body", "metrics", 0, "value"], msg: "Input should be a valid number", type: "float_parsing" }] },
    });
    const e = await failure(client.postJson("/v", {}, { signal: signal() }));
    expect(e.kind).toBe("status");
    expect(e.status).toBe(422);
    expect(e.violations).toEqual([{ field: "metrics[0].value", description: "Input should be a valid number" }]);
  });

  test("a 429 carries Retry-After; the error body's words are kept", async () => {
    upstream.on("POST /busy", { status: 429, body: { error: "slow down" }, headers: { "retry-after": "3" } });
    const e = await failure(client.postJson("/busy", {}, { signal: signal() }));
    expect(e.retryAfterMs).toBe(3000);
    expect(e.message).toContain("slow down");
    expect(e.bodyExcerpt).toBe('{"error":"slow down"}');
  });

  test("a 2xx that is not JSON is malformed", async () => {
    upstream.on("POST /html", { raw: "<html>oops</html>" });
    const e = await failure(client.postJson("/html", {}, { signal: signal() }));
    expect(e.kind).toBe("malformed");
    expect(e.bodyExcerpt).toBe("<html>oops</html>");
  });

  test("a body over pool.max_response_bytes is too_large", async () => {
    upstream.on("POST /big", { body: { x: "y".repeat(100 * 1024) } });
    const e = await failure(client.postJson("/big", {}, { signal: signal() }));
    expect(e.kind).toBe("too_large");
  });

  test("a reset connection is a connect failure", async () => {
    upstream.on("POST /reset", { reset: true });
    const e = await failure(client.postJson("/reset", {}, { signal: signal() }));
    expect(e.kind).toBe("connect");
  });

  test("connection refused is a connect failure", async () => {
    const dead = new UpstreamClient(options("http://127.0.0.1:1"));
    const e = await failure(dead.postJson("/x", {}, { signal: signal() }));
    expect(e.kind).toBe("connect");
    await dead.close();
  });

  test("a deadline aborts the request: timeout, and the upstream sees the abort", async () => {
    upstream.on("POST /slow", { delayMs: 2000, body: {} });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new ConnectError("deadline", Code.DeadlineExceeded)), 100);
    const started = performance.now();
    const e = await failure(client.postJson("/slow", {}, { signal: ac.signal }));
    expect(e.kind).toBe("timeout");
    expect(performance.now() - started).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 100));
    expect(upstream.received("/slow")[0]?.aborted).toBe(true);
  });

  test("a caller that goes away is cancelled, not a fault", async () => {
    upstream.on("POST /slow2", { delayMs: 2000, body: {} });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const e = await failure(client.postJson("/slow2", {}, { signal: ac.signal }));
    expect(e.kind).toBe("cancelled");
    expect(e.isUpstreamFault).toBe(false);
  });

  test("a deadline that passes while the call waits for a busy pool answers at the deadline", async () => {
    upstream.on("POST /queued", { delayMs: 1500, body: {} });
    const one = new UpstreamClient({ ...options(client.options.baseUrl), connections: 1 });
    try {
      const holding = one.postJson("/queued", {}, { signal: signal() });
      const ac = new AbortController();
      setTimeout(() => ac.abort(new ConnectError("deadline", Code.DeadlineExceeded)), 100);
      const started = performance.now();
      const e = await failure(one.postJson("/queued", {}, { signal: ac.signal }));
      expect(e.kind).toBe("timeout");
      // Not when the one connection frees up (1.5 s).
      expect(performance.now() - started).toBeLessThan(1000);
      expect((await holding).status).toBe(200);
      // The queued request never reached the upstream.
      expect(upstream.received("/queued")).toHaveLength(1);
    } finally {
      await one.close();
    }
  });

  test("the base URL's path prefixes every endpoint", () => {
    const c = new UpstreamClient(options("http://127.0.0.1:9/ml/"));
    expect(c.pathFor("/api/v1/anomaly/detect")).toBe("/ml/api/v1/anomaly/detect");
  });

  test("Retry-After: seconds or an HTTP date", () => {
    expect(parseRetryAfter("7")).toBe(7000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(violationsFromDetail({ detail: "plain" })).toEqual([]);
  });
});
