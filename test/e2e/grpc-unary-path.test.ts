/**
 * The unary path (src/server/grpc-unary.ts) against connect-node's own
 * gRPC and Connect handlers: two real sidecars, one with
 * server.grpc_unary_fast_path on (the default) and one with it off, get the
 * same requests byte for byte over a raw HTTP/2 client, good and malformed,
 * in gRPC and in Connect (binary and JSON), and must answer the same:
 * status, message, error details, headers set by the service, response
 * bytes. Deadlines, cancellation and shutdown must reach the upstream call
 * on both. Then the routing: what the unary path serves and what it leaves
 * to connect-node.
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { createContextValues } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { DetectAnomalyRequestSchema, DetectAnomalyResponseSchema, MLService } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { HealthCheckRequestSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { MESSAGE_BYTES } from "../../src/api/call-context.js";
import { createGrpcUnaryHandler } from "../../src/server/grpc-unary.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { envelope } from "../helpers/h2-frames.js";
import { type RunningSidecar, startSidecar } from "../helpers/sidecar.js";

const upstream = new FakeUpstream();
const SETTINGS = {
  "retry.max_attempts": 1,
  "cache.max_entries": 0,
  "fallback.enabled": false,
  "breaker.failure_threshold": 10000,
  "breaker.volume_threshold": 1000000,
  "backend.timeout": "5s",
  "server.max_request_bytes": 1024,
  "server.max_timeout": "1m",
};
const ANSWER = { anomaly_detected: true, confidence: 0.95, anomaly_score: 8.7, recommendations: ["Scale up replicas"] };
let fast: RunningSidecar;
let slow: RunningSidecar;

beforeAll(async () => {
  await upstream.start();
  fast = await startSidecar({ ...SETTINGS, "backend.url": upstream.url });
  slow = await startSidecar({ ...SETTINGS, "backend.url": upstream.url, "server.grpc_unary_fast_path": false });
  expect(fast.config.server.grpc_unary_fast_path).toBe(true);
});
afterAll(async () => {
  await Promise.all([fast.stop(), slow.stop()]);
  await upstream.stop();
});
beforeEach(() => {
  upstream.requests.length = 0;
  upstream.on("POST /api/v1/anomaly/detect", { body: ANSWER });
});

/** What a gRPC call produced on the wire. */
interface Wire {
  status: number;
  headers: Record<string, string>;
  trailers: Record<string, string>;
  body: Buffer;
}

/** One gRPC request over a fresh HTTP/2 connection; `cancelAfterMs` resets the stream (CANCEL) instead of waiting. */
function call(
  port: number,
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
  cancelAfterMs?: number,
): Promise<Wire | "cancelled"> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    const out: Wire = { status: 0, headers: {}, trailers: {}, body: Buffer.alloc(0) };
    const keep = (h: http2.IncomingHttpHeaders): Record<string, string> =>
      Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith(":") && k !== "date") as [string, string][]);
    req.on("response", (h) => {
      out.status = Number(h[":status"]);
      out.headers = keep(h);
    });
    req.on("trailers", (t) => {
      out.trailers = keep(t);
    });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      out.body = Buffer.concat(chunks);
      session.close();
      resolve(out);
    });
    req.on("error", reject);
    req.end(body);
    if (cancelAfterMs !== undefined) {
      setTimeout(() => {
        req.close(http2.constants.NGHTTP2_CANCEL);
        session.close();
        resolve("cancelled");
      }, cancelAfterMs);
    }
  });
}

/** The same request to both sidecars. */
async function both(path: string, body: Buffer, headers: Record<string, string> = {}): Promise<[Wire, Wire]> {
  const a = await call(fast.apiPort, path, body, headers);
  const b = await call(slow.apiPort, path, body, headers);
  return [a as Wire, b as Wire];
}

/** grpc-status wherever it came (trailers, or headers for trailers-only). */
const statusOf = (w: Wire) => Number(w.trailers["grpc-status"] ?? w.headers["grpc-status"]);
const messageOf = (w: Wire) => decodeURIComponent(w.trailers["grpc-message"] ?? w.headers["grpc-message"] ?? "");
/** The error details (google.rpc.Status in grpc-status-details-bin), decoded by connect's own reader. */
const detailsOf = (w: Wire) => findTrailerError(new Headers({ ...w.headers, ...w.trailers }))?.details;

const DETECT = "/aiops.ml.v1.MLService/DetectAnomaly";
const detect = (init: Parameters<typeof create<typeof DetectAnomalyRequestSchema>>[1]) =>
  envelope(toBinary(DetectAnomalyRequestSchema, create(DetectAnomalyRequestSchema, init)));
const GOOD = detect({ metrics: [{ name: "cpu_usage", value: 0.5 }], context: { namespace: "shop", resource: "api" } });

describe("the unary path answers exactly as connect-node does", () => {
  test("a good call: the same response bytes, the same headers and trailers", async () => {
    const [a, b] = await both(DETECT, GOOD, { "x-request-id": "parity-1" });
    expect(a.status).toBe(200);
    expect(statusOf(a)).toBe(0);
    expect(a.body.equals(b.body)).toBe(true);
    expect(a.headers).toEqual(b.headers);
    expect(a.headers["x-request-id"]).toBe("parity-1");
    expect(a.trailers).toEqual(b.trailers);
    const res = fromBinary(DetectAnomalyResponseSchema, a.body.subarray(5));
    expect(res.anomalyScore).toBe(8.7);
    expect(res.metadata?.requestId).toBe("parity-1");
    expect(upstream.received("/api/v1/anomaly/detect")).toHaveLength(2);
  });

  const malformed: [string, Buffer, Record<string, string>, number][] = [
    ["invalid argument with BadRequest details", detect({ metrics: [] }), {}, 3],
    [
      "a message over server.max_request_bytes, measured without re-encoding",
      detect({ metrics: Array.from({ length: 40 }, (_, i) => ({ name: `metric_number_${i}`, value: i })) }),
      {},
      3,
    ],
    [
      "a message over the transport bound (readMaxBytes)",
      detect({ metrics: Array.from({ length: 200 }, (_, i) => ({ name: `metric_number_${i}`, value: i })) }),
      {},
      8,
    ],
    ["an unreadable grpc-timeout", GOOD, { "grpc-timeout": "soon" }, 3],
    ["a grpc-timeout over server.max_timeout", GOOD, { "grpc-timeout": "2H" }, 3],
    ["bytes that are not the message", envelope(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])), {}, 13],
    ["no message at all", Buffer.alloc(0), {}, 12],
    ["two messages for a unary method", Buffer.concat([GOOD, GOOD]), {}, 12],
    ["a truncated envelope", GOOD.subarray(0, GOOD.length - 3), {}, 3],
    ["a compressed flag on an uncompressed call", envelope(Buffer.from("x"), 1), {}, 13],
  ];
  test.each(malformed)("%s: the same code, message and details, and no upstream call", async (_name, body, headers, code) => {
    const [a, b] = await both(DETECT, body, headers);
    expect(statusOf(a)).toBe(code);
    expect(statusOf(b)).toBe(code);
    expect(messageOf(a)).toBe(messageOf(b));
    expect(messageOf(a)).not.toBe("");
    expect(detailsOf(a)).toEqual(detailsOf(b));
    expect(a.body.length).toBe(0);
    expect(upstream.requests).toHaveLength(0);
  });

  test("bytes past the one message and past the bound are refused at once, not buffered until the caller stops", async () => {
    // max_request_bytes 1024, so the transport bound is 4096: a good message
    // and 8 KiB more, and the request stream is left open. Buffering to the
    // end would never answer.
    const session = http2.connect(`http://127.0.0.1:${fast.apiPort}`);
    try {
      const req = session.request({ ":method": "POST", ":path": DETECT, "content-type": "application/grpc", te: "trailers" });
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.on("trailers", resolve));
      req.on("data", () => {});
      req.on("error", () => {});
      req.write(Buffer.concat([GOOD, Buffer.alloc(8 * 1024, 0x41)]));
      const t = await trailers;
      expect(t["grpc-status"]).toBe("12");
      expect(decodeURIComponent(String(t["grpc-message"]))).toBe("protocol error: received extra input message for unary method");
      expect(upstream.requests).toHaveLength(0);
    } finally {
      session.destroy();
    }
  });

  test("the size rule names the field and the size the transport measured", async () => {
    const body = detect({ metrics: Array.from({ length: 40 }, (_, i) => ({ name: `metric_number_${i}`, value: i })) });
    const a = (await call(fast.apiPort, DETECT, body)) as Wire;
    expect((detailsOf(a)?.[0] as { type: string } | undefined)?.type).toBe("google.rpc.BadRequest");
    expect(messageOf(a)).toContain(`metrics: request is ${body.length - 5} bytes, more than server.max_request_bytes (1024)`);
  });

  test("Health/Check: the same answer", async () => {
    const [a, b] = await both(
      "/grpc.health.v1.Health/Check",
      envelope(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: MLService.typeName }))),
    );
    expect(statusOf(a)).toBe(0);
    expect(a.body.equals(b.body)).toBe(true);
    expect(a.body.toString("hex")).toBe("00000000020801"); // SERVING
  });
});

const PROTO = { "content-type": "application/proto" };
const JSON_CT = { "content-type": "application/json" };
const GOOD_MESSAGE = GOOD.subarray(5);
const GOOD_JSON = Buffer.from(
  JSON.stringify({ metrics: [{ name: "cpu_usage", value: 0.5 }], context: { namespace: "shop", resource: "api" } }),
);

describe("Connect unary calls: the unary path answers exactly as connect-node does", () => {
  test.each([
    ["binary", GOOD_MESSAGE, PROTO],
    ["JSON", GOOD_JSON, JSON_CT],
  ])("a good %s call: the same status, headers and bytes", async (_n, body, headers) => {
    const [a, b] = await both(DETECT, Buffer.from(body), { ...headers, "x-request-id": "parity-c" });
    expect(a.status).toBe(200);
    expect(a.body.equals(b.body)).toBe(true);
    expect(a.headers).toEqual(b.headers);
    expect(a.headers["content-type"]).toBe(headers["content-type"]);
    expect(a.headers["x-request-id"]).toBe("parity-c");
    expect(a.headers["content-length"]).toBe(String(a.body.length));
    expect(a.trailers).toEqual({});
    const res =
      headers === PROTO
        ? fromBinary(DetectAnomalyResponseSchema, a.body)
        : (JSON.parse(a.body.toString()) as { anomaly_score: number; metadata: { request_id: string } });
    expect("anomalyScore" in res ? res.anomalyScore : res.anomaly_score).toBe(8.7);
    expect(upstream.received("/api/v1/anomaly/detect")).toHaveLength(2);
  });

  const bigMetrics = (n: number) => ({ metrics: Array.from({ length: n }, (_, i) => ({ name: `metric_number_${i}`, value: i })) });
  const proto = (init: Parameters<typeof create<typeof DetectAnomalyRequestSchema>>[1]) =>
    Buffer.from(toBinary(DetectAnomalyRequestSchema, create(DetectAnomalyRequestSchema, init)));
  const malformed: [string, Buffer, Record<string, string>, number][] = [
    ["binary: invalid argument with BadRequest details", proto({ metrics: [] }), PROTO, 400],
    ["JSON: invalid argument with BadRequest details", Buffer.from('{"metrics":[]}'), JSON_CT, 400],
    ["binary: over server.max_request_bytes, measured without re-encoding", proto(bigMetrics(40)), PROTO, 400],
    ["JSON: over server.max_request_bytes", Buffer.from(JSON.stringify(bigMetrics(40))), JSON_CT, 400],
    ["binary: over the transport bound (readMaxBytes)", proto(bigMetrics(200)), PROTO, 429],
    [
      "binary: a content-length over the transport bound",
      proto(bigMetrics(200)),
      { ...PROTO, "content-length": String(proto(bigMetrics(200)).length) },
      429,
    ],
    ["an unreadable connect-timeout-ms", GOOD_MESSAGE, { ...PROTO, "connect-timeout-ms": "soon" }, 400],
    ["a connect-timeout-ms over server.max_timeout", GOOD_MESSAGE, { ...PROTO, "connect-timeout-ms": "7200000" }, 400],
    ["binary: bytes that are not the message", Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), PROTO, 500],
    ["JSON: a field the message does not have", Buffer.from('{"bogus":1}'), JSON_CT, 400],
    ["JSON: not JSON", Buffer.from("{metrics"), JSON_CT, 400],
  ];
  test.each(malformed)("%s: the same status, headers and error body, and no upstream call", async (_name, body, headers, status) => {
    const [a, b] = await both(DETECT, body, { ...headers, "x-request-id": "parity-e" });
    expect(a.status).toBe(status);
    expect(b.status).toBe(status);
    expect(a.headers["content-type"]).toBe("application/json");
    expect(a.headers).toEqual(b.headers);
    expect(a.body.toString()).toBe(b.body.toString());
    expect((JSON.parse(a.body.toString()) as { message: string }).message).not.toBe("");
    expect(upstream.requests).toHaveLength(0);
  });

  test("a body that does not keep its content-length is reset by HTTP/2, and nothing goes upstream", async () => {
    for (const port of [fast.apiPort, slow.apiPort]) {
      await expect(call(port, DETECT, Buffer.from(GOOD_MESSAGE), { ...PROTO, "content-length": "100" })).rejects.toThrow(
        /NGHTTP2_PROTOCOL_ERROR/,
      );
    }
    expect(upstream.requests).toHaveLength(0);
  });

  test("a deadline from connect-timeout-ms: DEADLINE_EXCEEDED in time, as 504 with connect-node's body, and the upstream call aborted", async () => {
    upstream.on("POST /api/v1/anomaly/detect", { body: ANSWER, delayMs: 3000 });
    const started = performance.now();
    const a = (await call(fast.apiPort, DETECT, GOOD_MESSAGE, { ...PROTO, "connect-timeout-ms": "300" })) as Wire;
    expect(performance.now() - started).toBeLessThan(2000);
    await expect.poll(() => upstream.received("/api/v1/anomaly/detect")[0]?.aborted).toBe(true);
    const b = (await call(slow.apiPort, DETECT, GOOD_MESSAGE, { ...PROTO, "connect-timeout-ms": "300" })) as Wire;
    expect(a.status).toBe(504);
    expect(a.body.toString()).toBe(b.body.toString());
    expect(JSON.parse(a.body.toString())).toMatchObject({ code: "deadline_exceeded" });
  });
});

describe("deadlines, cancellation and shutdown reach the upstream call", () => {
  test.each([
    ["unary path", () => fast],
    ["connect-node", () => slow],
  ])("%s: grpc-timeout 300m against a 3 s upstream is DEADLINE_EXCEEDED in time, and the upstream call is aborted", async (_n, sc) => {
    upstream.on("POST /api/v1/anomaly/detect", { body: ANSWER, delayMs: 3000 });
    const started = performance.now();
    const w = (await call(sc().apiPort, DETECT, GOOD, { "grpc-timeout": "300m" })) as Wire;
    expect(statusOf(w)).toBe(4);
    expect(performance.now() - started).toBeLessThan(2000);
    await expect.poll(() => upstream.received("/api/v1/anomaly/detect")[0]?.aborted).toBe(true);
  });

  test.each([
    ["unary path", () => fast],
    ["connect-node", () => slow],
  ])("%s: a caller that resets its stream aborts the upstream call", async (_n, sc) => {
    upstream.on("POST /api/v1/anomaly/detect", { body: ANSWER, delayMs: 3000 });
    expect(await call(sc().apiPort, DETECT, GOOD, {}, 200)).toBe("cancelled");
    await expect.poll(() => upstream.received("/api/v1/anomaly/detect")[0]?.aborted).toBe(true);
  });

  test("shutdown past the grace ends a call in flight on the unary path with UNAVAILABLE, and aborts its upstream call", async () => {
    const sc = await startSidecar({
      ...SETTINGS,
      "backend.url": upstream.url,
      "server.drain_delay": "0s",
      "server.shutdown_grace": "300ms",
    });
    upstream.on("POST /api/v1/anomaly/detect", { body: ANSWER, delayMs: 3000 });
    const pending = call(sc.apiPort, DETECT, GOOD);
    await expect.poll(() => upstream.received("/api/v1/anomaly/detect").length).toBe(1);
    const stopped = sc.stop();
    const w = (await pending) as Wire;
    await stopped;
    expect(statusOf(w)).toBe(14); // UNAVAILABLE: the sidecar is shutting down
    await expect.poll(() => upstream.received("/api/v1/anomaly/detect")[0]?.aborted).toBe(true);
  });
});

describe("what the unary path serves, and what it leaves to connect-node", () => {
  let server: http2.Http2Server;
  let port: number;
  const declined: string[] = [];
  const seenBytes: (number | undefined)[] = [];

  beforeAll(async () => {
    const impl = {
      async detectAnomaly(_req: unknown, ctx: { values: ReturnType<typeof createContextValues> }) {
        seenBytes.push(ctx.values.get(MESSAGE_BYTES));
        return { anomalyScore: 1 };
      },
    };
    const services = [[MLService, impl]] as const;
    const shutdown = new AbortController();
    const first = createGrpcUnaryHandler({ services, readMaxBytes: 4096, maxTimeoutMs: 60_000, shutdownSignal: shutdown.signal });
    const rest = connectNodeAdapter({ routes: (r) => r.service(MLService, impl as never) });
    server = http2.createServer((req, res) => {
      if (!first(req, res)) {
        declined.push(`${req.method} ${req.url} ${req.headers["content-type"]} ${req.headers["grpc-encoding"] ?? ""}`.trim());
        rest(req, res);
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    declined.length = 0;
    seenBytes.length = 0;
  });

  test.each(["application/grpc", "application/grpc+proto"])("%s unary calls are served here, with their size known", async (ct) => {
    const w = (await call(port, DETECT, GOOD, { "content-type": ct })) as Wire;
    expect(statusOf(w)).toBe(0);
    expect(fromBinary(DetectAnomalyResponseSchema, w.body.subarray(5)).anomalyScore).toBe(1);
    expect(declined).toEqual([]);
    expect(seenBytes).toEqual([GOOD.length - 5]);
  });

  test.each([
    ["application/proto", GOOD_MESSAGE, GOOD_MESSAGE.length],
    ["application/json", GOOD_JSON, undefined],
    ["application/json; charset=utf-8", GOOD_JSON, undefined],
  ])("Connect unary %s calls are served here (the binary ones with their size known)", async (ct, body, bytes) => {
    const w = (await call(port, DETECT, Buffer.from(body), { "content-type": ct })) as Wire;
    expect(w.status).toBe(200);
    expect(w.headers["content-type"]).toBe(ct.startsWith("application/proto") ? "application/proto" : "application/json");
    expect(declined).toEqual([]);
    expect(seenBytes).toEqual([bytes]);
  });

  test.each([
    ["gRPC with JSON messages", { "content-type": "application/grpc+json" }, "/aiops.ml.v1.MLService/DetectAnomaly"],
    ["gzip-compressed gRPC", { "grpc-encoding": "gzip" }, "/aiops.ml.v1.MLService/DetectAnomaly"],
    ["gRPC-Web", { "content-type": "application/grpc-web+proto" }, "/aiops.ml.v1.MLService/DetectAnomaly"],
    [
      "gzip-compressed Connect",
      { "content-type": "application/proto", "content-encoding": "gzip" },
      "/aiops.ml.v1.MLService/DetectAnomaly",
    ],
    ["Connect streaming", { "content-type": "application/connect+proto" }, "/aiops.ml.v1.MLService/DetectAnomaly"],
    ["a method not routed here (streaming, or another service)", {}, "/grpc.health.v1.Health/Watch"],
    ["an unknown path", {}, "/nope.Service/Method"],
  ])("%s goes to connect-node", async (_n, headers, path) => {
    await call(port, path, Buffer.from(GOOD), headers);
    expect(declined).toHaveLength(1);
    expect(seenBytes.every((b) => b === undefined)).toBe(true);
  });
});
