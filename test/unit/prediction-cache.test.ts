import * as v8 from "node:v8";
import { create } from "@bufbuild/protobuf";
import { describe, expect, test } from "vitest";
import { DetectAnomalyRequestSchema, PredictRequestSchema } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { cacheKey } from "../../src/resilience/cache-key.js";
import { PredictionCache } from "../../src/resilience/prediction-cache.js";

const entry = (n: number, bytes = 10) => ({ response: { n }, model: "m", modelVersion: "1", bytes });

describe("prediction cache", () => {
  test("fresh for ttl, then stale for stale_ttl, then gone (injected clock, no sleeping)", () => {
    let now = 1000;
    const c = new PredictionCache<{ n: number }>({
      ttlMs: 30_000,
      staleTtlMs: 300_000,
      maxEntries: 10,
      maxBytes: 10_000,
      clock: () => now,
    });
    c.store("k", entry(1));
    expect(c.lookup("k")?.fresh).toBe(true);
    now += 29_999;
    expect(c.lookup("k")?.fresh).toBe(true);
    now += 1;
    expect(c.lookup("k")?.fresh).toBe(false);
    expect(c.lookup("k")?.answer.response).toEqual({ n: 1 });
    now += 299_999;
    expect(c.lookup("k")?.fresh).toBe(false);
    now += 2;
    expect(c.lookup("k")).toBeUndefined();
  });

  test("max_entries evicts the least recently used", () => {
    let evicted = 0;
    const c = new PredictionCache<{ n: number }>({
      ttlMs: 1000,
      staleTtlMs: 0,
      maxEntries: 2,
      maxBytes: 10_000,
      clock: () => 0,
      onEvict: () => evicted++,
    });
    c.store("a", entry(1));
    c.store("b", entry(2));
    c.lookup("a");
    c.store("c", entry(3));
    expect(c.lookup("b")).toBeUndefined();
    expect(c.lookup("a")).toBeDefined();
    expect(evicted).toBe(1);
  });

  test("max_bytes bounds the total size", () => {
    const c = new PredictionCache<{ n: number }>({ ttlMs: 1000, staleTtlMs: 0, maxEntries: 100, maxBytes: 100, clock: () => 0 });
    for (let i = 0; i < 10; i++) c.store(`k${i}`, entry(i, 30));
    expect(c.bytes).toBeLessThanOrEqual(100);
    expect(c.size).toBe(3);
    c.store("huge", entry(99, 500));
    expect(c.lookup("huge")).toBeUndefined();
  });

  test("max_entries 0 disables it", () => {
    const c = new PredictionCache<{ n: number }>({ ttlMs: 1000, staleTtlMs: 0, maxEntries: 0, maxBytes: 100, clock: () => 0 });
    c.store("a", entry(1));
    expect(c.enabled).toBe(false);
    expect(c.lookup("a")).toBeUndefined();
  });

  test("every entry has the same hidden class, however many are stored", () => {
    // A cache that fills and turns over must not add a V8 map per entry (an
    // object spread with properties after it did: two maps and a descriptor
    // array per entry, in old space). %HaveSameMap answers it directly.
    v8.setFlagsFromString("--allow-natives-syntax");
    const sameMap = new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean;
    let now = 0;
    const c = new PredictionCache<Uint8Array>({ ttlMs: 60_000, staleTtlMs: 0, maxEntries: 5000, maxBytes: 1 << 30, clock: () => now });
    // Enough stores for V8 to optimize the store path, which is where the spread went wrong.
    for (let i = 0; i < 5000; i++) {
      now += 0.5;
      c.store(`k${i}`, { response: new Uint8Array(100), model: `m${i % 3}`, modelVersion: "1", bytes: 100 });
    }
    const answers = [0, 1, 2500, 4998, 4999].map((i) => c.lookup(`k${i}`)?.answer as object);
    for (const a of answers) expect(a).toBeDefined();
    expect(answers.filter((a) => !sameMap(a, answers[0] as object))).toHaveLength(0);
  });
});

describe("cache keys", () => {
  const req = (metrics: { name: string; value: number }[], ns = "prod") =>
    create(DetectAnomalyRequestSchema, { metrics, context: { namespace: ns, resource: "api" } });
  const key = (r: ReturnType<typeof req>, bucket = 0, model = "") =>
    cacheKey({ backend: "rest", model, rpc: "DetectAnomaly", timeBucket: bucket, request: r, quantum: 0.001 });

  test("independent of metric order", () => {
    expect(
      key(
        req([
          { name: "a", value: 1 },
          { name: "b", value: 2 },
        ]),
      ),
    ).toBe(
      key(
        req([
          { name: "b", value: 2 },
          { name: "a", value: 1 },
        ]),
      ),
    );
  });

  test("each value stays with its name, and repeated names sort by value", () => {
    const ab = (a: number, b: number) =>
      key(
        req([
          { name: "b", value: b },
          { name: "a", value: a },
        ]),
      );
    expect(ab(1, 2)).not.toBe(ab(2, 1));
    const twice = (first: number, second: number) =>
      key(
        req([
          { name: "a", value: first },
          { name: "a", value: second },
        ]),
      );
    expect(twice(1, 2)).toBe(twice(2, 1));
    expect(twice(1, 2)).not.toBe(twice(1, 3));
  });

  test("an order seen before is reused only for the same names, and carries each call's own values", () => {
    const cab = (c: number, a: number, b: number) =>
      req([
        { name: "c", value: c },
        { name: "a", value: a },
        { name: "b", value: b },
      ]);
    const abc = (a: number, b: number, c: number) =>
      req([
        { name: "a", value: a },
        { name: "b", value: b },
        { name: "c", value: c },
      ]);
    const first = key(cab(3, 1, 2));
    // The same order again, with other values: the remembered order, this call's values.
    const second = key(cab(6, 4, 5));
    expect(second).not.toBe(first);
    expect(second).toBe(key(abc(4, 5, 6)));
    expect(key(cab(3, 1, 2))).toBe(first);
    // As many names, not the same ones: sorted afresh.
    const xyz = key(
      req([
        { name: "z", value: 1 },
        { name: "y", value: 2 },
        { name: "x", value: 3 },
      ]),
    );
    expect(xyz).toBe(
      key(
        req([
          { name: "x", value: 3 },
          { name: "y", value: 2 },
          { name: "z", value: 1 },
        ]),
      ),
    );
    expect(xyz).not.toBe(key(cab(1, 3, 2)));
  });

  test("no name can be read as another name and value", () => {
    // Without the lengths, both would read "2:a:1000:b:2000:c:3000".
    expect(
      key(
        req([
          { name: "a:1000:b", value: 2 },
          { name: "c", value: 3 },
        ]),
      ),
    ).not.toBe(
      key(
        req([
          { name: "a", value: 1 },
          { name: "b:2000:c", value: 3 },
        ]),
      ),
    );
    const predict = (events: string[]) =>
      cacheKey({
        backend: "rest",
        model: "",
        rpc: "Predict",
        timeBucket: 0,
        request: create(PredictRequestSchema, { issueContext: { recentEvents: events } }),
        quantum: 0.001,
      });
    expect(predict(["a:1:b"])).not.toBe(predict(["a", "b"]));
    expect(predict(["b", "a"])).toBe(predict(["a", "b"]));
  });

  test("values within a quantum share a key; values a quantum apart do not", () => {
    expect(key(req([{ name: "cpu", value: 0.8551 }]))).toBe(key(req([{ name: "cpu", value: 0.8549 }])));
    expect(key(req([{ name: "cpu", value: 0.855 }]))).not.toBe(key(req([{ name: "cpu", value: 0.857 }])));
    // Math.round gives -0 for a small negative value; it is the same quanta as 0.
    expect(key(req([{ name: "cpu", value: -0.0001 }]))).toBe(key(req([{ name: "cpu", value: 0.0001 }])));
  });

  test("names and workloads that are not ASCII, or long, are keyed by their own bytes", () => {
    const long = "x".repeat(200);
    expect(key(req([{ name: "café", value: 1 }]))).not.toBe(key(req([{ name: "cafe", value: 1 }])));
    expect(key(req([{ name: "café", value: 1 }]))).toBe(key(req([{ name: "café", value: 1 }])));
    expect(key(req([{ name: `${long}a`, value: 1 }]))).not.toBe(key(req([{ name: `${long}b`, value: 1 }])));
    expect(key(req([{ name: "cpu", value: 1 }], "名前空間"))).not.toBe(key(req([{ name: "cpu", value: 1 }], "名前空")));
    // "Ā" is C4 80 in UTF-8; "Ä\u0080" would be C4 80 too if written one byte per code unit.
    expect(key(req([{ name: "Ā", value: 1 }]))).not.toBe(key(req([{ name: "Ä\u0080", value: 1 }])));
    expect(key(req([{ name: "cpu", value: 1 }], "Ā"))).not.toBe(key(req([{ name: "cpu", value: 1 }], "Ä\u0080")));
  });

  test("a request larger than the key's first buffer is keyed whole, and a small one after it as before", () => {
    const small = key(req([{ name: "cpu", value: 0.5 }]));
    // About 100 KB of canonical bytes, past the 16 KB a key starts with.
    const many = (last: number) =>
      req(Array.from({ length: 2000 }, (_, i) => ({ name: `pod_memory_working_set_bytes_${i}_lag_5m`, value: i === 1999 ? last : i })));
    const big = key(many(1));
    expect(key(many(1))).toBe(big);
    // The last value decides: the key covers the whole request, not its first 16 KB.
    expect(key(many(2))).not.toBe(big);
    // So do the parts written before the buffer grew.
    expect(key(many(1), 1)).not.toBe(big);
    expect(key(req([{ name: "cpu", value: 0.5 }]))).toBe(small);
  });

  test("the workload, the time bucket and the model are part of the key", () => {
    const r = req([{ name: "cpu", value: 0.5 }]);
    expect(key(r)).not.toBe(key(req([{ name: "cpu", value: 0.5 }], "staging")));
    expect(key(r, 0)).not.toBe(key(r, 1));
    expect(key(r, 0, "anomaly-detector")).not.toBe(key(r, 0, "other"));
  });
});
