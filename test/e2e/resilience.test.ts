/**
 * Resilience against a real HTTP upstream that the test makes fail (a
 * fault-injecting server on a real socket), through a real sidecar.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { MLService, Source } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { FakeUpstream } from "../helpers/fake-upstream.js";
import { fixture } from "../helpers/fixtures.js";
import { type RunningSidecar, startSidecar, TestClock } from "../helpers/sidecar.js";

const ANSWER = fixture("adr-009/adr009_anomaly_detect_response.json");
const DETECT = "/api/v1/anomaly/detect";
const upstream = new FakeUpstream();
let running: RunningSidecar[] = [];

beforeAll(() => upstream.start());
afterAll(() => upstream.stop());
afterEach(async () => {
  await Promise.all(running.map((r) => r.stop()));
  running = [];
  upstream.requests.length = 0;
});

async function sidecar(sets: Record<string, string | number | boolean>, clock?: TestClock) {
  const sc = await startSidecar({ "backend.url": upstream.url, ...sets }, clock ? { clock } : {});
  running.push(sc);
  const client = createClient(MLService, createGrpcWebTransport({ baseUrl: sc.apiUrl, httpVersion: "1.1" }));
  return { sc, client };
}

const req = (cpu = 0.5) => ({ metrics: [{ name: "cpu_usage", value: cpu }], context: { namespace: "prod", resource: "api" } });
const readyz = async (sc: RunningSidecar) =>
  (await (await fetch(`${sc.adminUrl}/readyz`)).json()) as { breakers: Record<string, string>; cache: { entries: number } };
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected failure");
    },
    (e: unknown) => ConnectError.from(e),
  );

describe("circuit breaker", () => {
  const noHelp = { "retry.max_attempts": 1, "fallback.enabled": false, "cache.max_entries": 0 };

  test("opens after exactly 3 consecutive failures; while open no request reaches the upstream", async () => {
    upstream.on(`POST ${DETECT}`, { status: 503, body: { error: "down" } });
    const { sc, client } = await sidecar(noHelp);
    for (let i = 0; i < 3; i++) expect((await failure(client.detectAnomaly(req(i)))).code).toBe(Code.Unavailable);
    expect(upstream.received(DETECT)).toHaveLength(3);
    expect((await readyz(sc)).breakers["rest DetectAnomaly"]).toBe("open");
    for (let i = 0; i < 5; i++) {
      const e = await failure(client.detectAnomaly(req(i)));
      expect(e.code).toBe(Code.Unavailable);
      expect(e.findDetails(ErrorInfoSchema)[0]?.reason).toBe("UPSTREAM_BREAKER_OPEN");
    }
    expect(upstream.received(DETECT)).toHaveLength(3);
    // Other endpoints have breakers of their own.
    expect((await readyz(sc)).breakers["rest Predict"]).toBe("closed");
    const metrics = await (await fetch(`${sc.adminUrl}/metrics`)).text();
    expect(metrics).toContain('aiops_sidecar_breaker_state{upstream="rest DetectAnomaly"} 2');
    expect(metrics).toContain('aiops_sidecar_breaker_transitions_total{upstream="rest DetectAnomaly",to="open"} 1');
  });

  test("a successful half-open probe closes it; a failed one reopens it", async () => {
    upstream.on(`POST ${DETECT}`, { status: 503, body: { error: "down" } });
    const { sc, client } = await sidecar({ ...noHelp, "breaker.reset_timeout": "200ms" });
    for (let i = 0; i < 3; i++) await failure(client.detectAnomaly(req(i)));
    await expect.poll(async () => (await readyz(sc)).breakers["rest DetectAnomaly"], { timeout: 3000 }).toBe("half_open");
    await failure(client.detectAnomaly(req())); // the probe fails
    expect((await readyz(sc)).breakers["rest DetectAnomaly"]).toBe("open");
    expect(upstream.received(DETECT)).toHaveLength(4);
    await expect.poll(async () => (await readyz(sc)).breakers["rest DetectAnomaly"], { timeout: 3000 }).toBe("half_open");
    upstream.on(`POST ${DETECT}`, { body: ANSWER });
    const ok = await client.detectAnomaly(req());
    expect(ok.anomalyDetected).toBe(true);
    expect((await readyz(sc)).breakers["rest DetectAnomaly"]).toBe("closed");
  });

  test("4xx answers and caller cancellations do not trip it", async () => {
    upstream.on(`POST ${DETECT}`, { status: 400, body: { error: "bad" } });
    const { sc, client } = await sidecar(noHelp);
    for (let i = 0; i < 5; i++) expect((await failure(client.detectAnomaly(req(i)))).code).toBe(Code.InvalidArgument);
    upstream.on(`POST ${DETECT}`, { delayMs: 2000, body: ANSWER });
    for (let i = 0; i < 4; i++) {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      await failure(client.detectAnomaly(req(10 + i), { signal: ac.signal }));
    }
    expect((await readyz(sc)).breakers["rest DetectAnomaly"]).toBe("closed");
    expect(upstream.received(DETECT)).toHaveLength(9);
  });
});

describe("retries", () => {
  test("a 503 then a 200: retried within count, answered fresh", async () => {
    upstream.on(`POST ${DETECT}`, (_r, n) => (n === 1 ? { status: 503, body: { error: "warming" } } : { body: ANSWER }));
    const { sc, client } = await sidecar({ "retry.max_attempts": 3, "fallback.enabled": false });
    const res = await client.detectAnomaly(req());
    expect(res.metadata?.source).toBe(Source.ML_SERVICE);
    expect(upstream.received(DETECT)).toHaveLength(2);
    const metrics = await (await fetch(`${sc.adminUrl}/metrics`)).text();
    expect(metrics).toContain('aiops_sidecar_upstream_retries_total{backend="rest",rpc="DetectAnomaly",reason="http_503"} 1');
  });

  test("retries stop at retry.max_attempts", async () => {
    upstream.on(`POST ${DETECT}`, { status: 502, body: { error: "gateway" } });
    const { client } = await sidecar({ "retry.max_attempts": 3, "fallback.enabled": false, "breaker.failure_threshold": 100 });
    expect((await failure(client.detectAnomaly(req()))).code).toBe(Code.Unavailable);
    expect(upstream.received(DETECT)).toHaveLength(3);
  });

  test("no retry starts past the deadline", async () => {
    const arrivals: number[] = [];
    let started = 0;
    upstream.on(`POST ${DETECT}`, () => {
      arrivals.push(Date.now() - started);
      return { status: 503, delayMs: 120, body: { error: "slow and down" } };
    });
    const { client } = await sidecar({
      "retry.max_attempts": 10,
      "retry.initial_backoff": "10ms",
      "fallback.enabled": false,
      "breaker.failure_threshold": 100,
    });
    started = Date.now();
    await failure(client.detectAnomaly(req(), { timeoutMs: 300 }));
    await new Promise((r) => setTimeout(r, 300));
    expect(arrivals.length).toBeGreaterThanOrEqual(2);
    expect(arrivals.length).toBeLessThan(10);
    // A retry starts only with >= 20 ms of the deadline left (retry.min_attempt_time); arrival
    // times are measured at the upstream from the client's start, so allow for transit.
    for (const at of arrivals) expect(at).toBeLessThan(300 + 20);
  });
});

describe("cache, stale-if-error and the degradation ladder", () => {
  test("fresh, then cached, then stale while the upstream is down, then fallback, then UNAVAILABLE", async () => {
    const clock = new TestClock();
    // Text outside ASCII too: a cached answer is kept as bytes and must come back byte for byte.
    const answer = { ...(ANSWER as object), recommendations: ["Speicher prüfen — Leck?", "扩容副本", "🔥 scale up"] };
    upstream.on(`POST ${DETECT}`, { body: answer });
    const { client } = await sidecar({ "retry.max_attempts": 1, "cache.ttl": "30s", "cache.stale_ttl": "5m" }, clock);

    const fresh = await client.detectAnomaly(req(0.855));
    expect(fresh.metadata?.source).toBe(Source.ML_SERVICE);
    expect(fresh.metadata?.degraded).toBe(false);

    // A near-identical vector (within cache.quantum) in another order is a hit: no upstream call.
    const hit = await client.detectAnomaly({ ...req(0.8551) });
    expect(hit.metadata?.source).toBe(Source.CACHE);
    expect(hit.anomalyScore).toBe(8.7);
    expect({ ...hit, metadata: undefined }).toEqual({ ...fresh, metadata: undefined });
    expect(hit.recommendations).toEqual(answer.recommendations);
    expect(upstream.received(DETECT)).toHaveLength(1);

    // The upstream goes down and the entry expires: the stale entry answers, flagged.
    upstream.on(`POST ${DETECT}`, { status: 503, body: { error: "down" } });
    clock.advance(31_000);
    const stale = await client.detectAnomaly(req(0.855));
    expect(stale.metadata?.source).toBe(Source.STALE_CACHE);
    expect(stale.metadata?.degraded).toBe(true);
    expect(stale.anomalyScore).toBe(8.7);
    expect(upstream.received(DETECT)).toHaveLength(2);

    // Nothing cached for this vector: the baseline answers, flagged.
    const fallback = await client.detectAnomaly(req(0.97));
    expect(fallback.metadata?.source).toBe(Source.FALLBACK);
    expect(fallback.metadata?.degraded).toBe(true);
    expect(fallback.metadata?.model).toBe("baseline-rules");
    expect(fallback.anomalyDetected).toBe(true); // cpu 0.97 ≥ 0.9
    expect(fallback.confidence).toBeLessThanOrEqual(0.7);
  });

  test("with fallback disabled and nothing cached, the answer is a clear UNAVAILABLE", async () => {
    upstream.on(`POST ${DETECT}`, { status: 503, body: { error: "down" } });
    const { client } = await sidecar({ "retry.max_attempts": 1, "fallback.enabled": false });
    expect((await failure(client.detectAnomaly(req()))).code).toBe(Code.Unavailable);
  });

  test("the caller's bad input is never papered over by a lower rung", async () => {
    upstream.on(`POST ${DETECT}`, { status: 422, body: { detail: [{ loc: ["body", "metrics"], msg: "too few" }] } });
    const { client } = await sidecar({ "retry.max_attempts": 1 });
    expect((await failure(client.detectAnomaly(req()))).code).toBe(Code.InvalidArgument);
  });
});

describe("coalescing and load shedding", () => {
  test("50 identical concurrent calls make one upstream call", async () => {
    upstream.on(`POST ${DETECT}`, { delayMs: 200, body: ANSWER });
    const { sc, client } = await sidecar({ "cache.max_entries": 0 });
    const all = await Promise.all(Array.from({ length: 50 }, () => client.detectAnomaly(req(0.42))));
    expect(all.every((r) => r.anomalyScore === 8.7 && r.metadata?.source === Source.ML_SERVICE)).toBe(true);
    expect(upstream.received(DETECT)).toHaveLength(1);
    const metrics = await (await fetch(`${sc.adminUrl}/metrics`)).text();
    expect(metrics).toContain('aiops_sidecar_coalesced_requests_total{rpc="DetectAnomaly"} 49');
  });

  test("coalesced callers each get an answer of their own, and the flight is cached once", async () => {
    upstream.on(`POST ${DETECT}`, { delayMs: 200, body: ANSWER });
    const { sc, client } = await sidecar({});
    const ids = Array.from({ length: 20 }, (_, i) => `flight-${i}`);
    const all = await Promise.all(ids.map((id) => client.detectAnomaly(req(0.77), { headers: { "x-request-id": id } })));
    // One shared answer object would carry the last caller's metadata for all.
    expect(all.map((r) => r.metadata?.requestId)).toEqual(ids);
    expect(all.every((r) => r.anomalyScore === 8.7 && r.recommendations.length === 2)).toBe(true);
    expect(upstream.received(DETECT)).toHaveLength(1);
    const metrics = await (await fetch(`${sc.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^aiops_sidecar_cache_entries 1$/m);
    // A hit decodes its own copy of the cached answer.
    const hit = await client.detectAnomaly(req(0.77), { headers: { "x-request-id": "after" } });
    expect(hit.metadata?.source).toBe(Source.CACHE);
    expect(hit.metadata?.requestId).toBe("after");
    expect(hit.anomalyScore).toBe(8.7);
  });

  test("a waiter with a short deadline fails alone; the shared call completes for the other", async () => {
    upstream.on(`POST ${DETECT}`, { delayMs: 400, body: ANSWER });
    const { client } = await sidecar({ "cache.max_entries": 0 });
    const [short, long] = await Promise.allSettled([
      client.detectAnomaly(req(0.31), { timeoutMs: 100 }),
      client.detectAnomaly(req(0.31), { timeoutMs: 3000 }),
    ]);
    expect(short.status).toBe("rejected");
    expect(ConnectError.from((short as PromiseRejectedResult).reason).code).toBe(Code.DeadlineExceeded);
    expect(long.status).toBe("fulfilled");
    expect(upstream.received(DETECT)).toHaveLength(1);
    expect(upstream.received(DETECT)[0]?.aborted).toBe(false);
  });

  test("excess load gets RESOURCE_EXHAUSTED instead of queuing", async () => {
    upstream.on(`POST ${DETECT}`, { delayMs: 300, body: ANSWER });
    const { sc, client } = await sidecar({ "server.max_concurrent_requests": 2, "cache.max_entries": 0 });
    const results = await Promise.allSettled([0.1, 0.2, 0.3, 0.4, 0.5].map((v) => client.detectAnomaly(req(v))));
    const codes = results.map((r) => (r.status === "fulfilled" ? "ok" : Code[ConnectError.from(r.reason).code]));
    expect(codes.filter((c) => c === "ok")).toHaveLength(2);
    expect(codes.filter((c) => c === "ResourceExhausted")).toHaveLength(3);
    const metrics = await (await fetch(`${sc.adminUrl}/metrics`)).text();
    expect(metrics).toContain('aiops_sidecar_shed_requests_total{method="DetectAnomaly"} 3');
  });
});
