/**
 * The unary path's metadata work per call, with fetch Headers (as before
 * change 19) and with LazyHeaders, in one process: build the request's
 * metadata from the headers the engine's Go client sends, read
 * x-request-id and traceparent, build the answer's, set x-request-id, and
 * turn it into the object node:http2 writes. Alternating rounds, so that
 * drift hits both alike. Prints the ratio (lazy / fetch).
 * Run: npx tsc -p tsconfig.bench.json && taskset -c 0 node dist/bench/headers.js
 */
import { LazyHeaders } from "../src/server/lazy-headers.js";

/** `rawHeaders` of a call from clients/go/mlclient (connect-go, gRPC), as node:http2 gives it. */
const RAW = [
  ":authority",
  "127.0.0.1:38893",
  ":method",
  "POST",
  ":path",
  "/aiops.ml.v1.MLService/DetectAnomaly",
  ":scheme",
  "http",
  "content-type",
  "application/grpc",
  "accept-encoding",
  "identity",
  "grpc-accept-encoding",
  "gzip",
  "te",
  "trailers",
  "grpc-timeout",
  "9999982u",
  "user-agent",
  "grpc-go-connect/1.21.1 (go1.26.8)",
  "content-length",
  "35",
];
const ID = "0b7d6c1e-8f5e-4c55-9d0f-3f4a3b2c1d0e";

/** What a call does with its metadata, on either kind of Headers. */
function call(request: Headers, response: Headers): Record<string, string> {
  request.get("x-request-id");
  request.get("traceparent");
  response.set("x-request-id", ID);
  const head: Record<string, string> = {};
  response.forEach((v, k) => {
    head[k] = v;
  });
  return head;
}

function withFetch(): Record<string, string> {
  const request = new Headers();
  for (let i = 0; i < RAW.length; i += 2) {
    const k = RAW[i] as string;
    if (k.charCodeAt(0) !== 58) request.append(k, RAW[i + 1] as string);
  }
  return call(request, new Headers({ "content-type": "application/grpc+proto" }));
}

function withLazy(): Record<string, string> {
  return call(LazyHeaders.fromRaw(RAW), new LazyHeaders(["content-type", "application/grpc+proto"]));
}

function time(fn: () => unknown, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / n;
}

if (JSON.stringify(withFetch()) !== JSON.stringify(withLazy())) throw new Error("the two ways answer differently");
const N = 50_000;
const ROUNDS = 9;
const fetchNs: number[] = [];
const lazyNs: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  fetchNs.push(time(withFetch, N));
  lazyNs.push(time(withLazy, N));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const a = median(fetchNs);
const b = median(lazyNs);
process.stdout.write(`metadata per call  fetch Headers ${a.toFixed(0)} ns  LazyHeaders ${b.toFixed(0)} ns  ratio ${(b / a).toFixed(2)}\n`);
