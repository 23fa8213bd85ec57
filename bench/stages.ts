/**
 * What the sidecar's own per-call steps cost for the engine's two requests,
 * one metric and the anomaly model's 45 features, in one process: decode the
 * request, validate it, make its cache key, make the answer's metadata
 * features, write the REST body (or KServe V1's, the model's row), encode
 * the answer. For each step, time per call (median of rounds) and bytes
 * allocated per call; these steps are what grows with the number of
 * features (bench/FINDINGS.md, change 24).
 *
 *   npx tsc -p tsconfig.bench.json && taskset -c 0 node dist/bench/stages.js [--baseline DIR]
 *
 * With --baseline, DIR is another checkout built with `npm run build` (for
 * example `git worktree add /tmp/base REV`, its node_modules linked to
 * these): its steps run in this process too, each step of the two builds
 * back to back (which goes first alternating), so that the machine's drift
 * hits both alike, and the ratio this / baseline is printed per step.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { allocationWindow } from "./alloc-log.js";

type Pb = typeof import("../gen/aiops/ml/v1/ml_service_pb.js");

/** One build's modules, loaded from its dist/. */
interface Build {
  readonly name: string;
  readonly pb: Pb;
  readonly decoder: typeof import("../src/wire/binary-decoder.js");
  readonly encoder: typeof import("../src/wire/binary-encoder.js");
  readonly validate: typeof import("../src/api/validate.js");
  readonly key: typeof import("../src/resilience/cache-key.js");
  readonly rest: typeof import("../src/backend/rest-backend.js");
  readonly enrich: typeof import("../src/enrichment/enrich-request.js");
  readonly kserve: typeof import("../src/backend/kserve-mapping.js");
  readonly kserveV1: typeof import("../src/backend/kserve-v1.js");
}

async function load(name: string, dist: URL): Promise<Build> {
  const at = (path: string) => import(new URL(path, dist).href);
  return {
    name,
    pb: await at("gen/aiops/ml/v1/ml_service_pb.js"),
    decoder: await at("src/wire/binary-decoder.js"),
    encoder: await at("src/wire/binary-encoder.js"),
    validate: await at("src/api/validate.js"),
    key: await at("src/resilience/cache-key.js"),
    rest: await at("src/backend/rest-backend.js"),
    enrich: await at("src/enrichment/enrich-request.js"),
    kserve: await at("src/backend/kserve-mapping.js"),
    kserveV1: await at("src/backend/kserve-v1.js"),
  };
}

const FEATURES_45 = JSON.parse(
  readFileSync(new URL("../../test/fixtures/anomaly_feature_names_45.json", import.meta.url), "utf8"),
) as string[];

type Step = (i: number) => unknown;

/**
 * The steps for one request shape, on REQUESTS requests of random values
 * (15–17 digits, all different, as the engine's are). Nine short values,
 * as before, are quicker to write as text, and so few let V8's
 * number-to-string cache answer conversions: the steps that make text
 * looked cheaper than they are (bench/FINDINGS.md, change 25).
 */
function steps(b: Build, names: readonly string[]): Record<string, Step> {
  const { pb } = b;
  const random = seeded(7);
  const bytes = Array.from({ length: REQUESTS }, (_, i) =>
    Buffer.from(
      toBinary(
        pb.DetectAnomalyRequestSchema,
        create(pb.DetectAnomalyRequestSchema, {
          metrics: names.map((name) => ({ name, value: random() * 100 })),
          context: { namespace: "shop", resource: `api-${i}` },
        }),
      ),
    ),
  );
  const requests = bytes.map((x) =>
    b.decoder.decodeBinary<ReturnType<typeof create<typeof pb.DetectAnomalyRequestSchema>>>(pb.DetectAnomalyRequestSchema, x),
  );
  const features = (i: number) =>
    (requests[i] as (typeof requests)[number]).metrics.map((m) => b.enrich.feature(m.name, m.value, pb.Provenance.GIVEN));
  const answers = requests.map((_, i) =>
    create(pb.DetectAnomalyResponseSchema, {
      anomalyDetected: true,
      confidence: 0.9,
      anomalyScore: 0.8,
      recommendations: ["Scale up replicas"],
      metadata: {
        source: pb.Source.ML_SERVICE,
        backend: "rest",
        requestId: "7c9e6679-7425-40de-944b-e07fc1ee9a44",
        features: features(i),
      },
    }),
  );
  const req = (i: number) => requests[i] as (typeof requests)[number];
  return {
    "decode the request": (i) => b.decoder.decodeBinary(pb.DetectAnomalyRequestSchema, bytes[i] as Buffer),
    validate: (i) =>
      b.validate.validateDetectAnomaly(req(i), {
        maxRequestBytes: 1 << 20,
        enrichmentWillRun: false,
        messageBytes: (bytes[i] as Buffer).length,
      }),
    "cache key": keyStep(b.key, req),
    "metadata features": features,
    "REST body": (i) => Buffer.from(JSON.stringify(b.rest.encodeDetectAnomaly(req(i)))),
    "KServe V1 body": (i) =>
      Buffer.from(JSON.stringify(b.kserveV1.KSERVE_V1.encode([b.kserve.modelRow("anomaly-detector", names, req(i).metrics)]))),
    "encode the answer": (i) =>
      b.encoder.encodeBinary(pb.DetectAnomalyResponseSchema, answers[i] as (typeof answers)[number], { reserve: 5, pooled: true }),
  };
}

/**
 * Requests per shape: 1024 of 45 values are 46 080 different numbers, more
 * than V8's number-to-string cache holds, so that each call's conversions
 * are made afresh, as when every value is new.
 */
const REQUESTS = 1024;
const CALLS = 20_000;

/** Before change 25 (a baseline build), the canonical form was text made by a function of its own. */
interface TextKeys {
  canonicalRequest(rpc: "DetectAnomaly", req: unknown, quantum: number): string;
  cacheKey(parts: { backend: string; model: string; rpc: "DetectAnomaly"; timeBucket: number; canonical: string }): string;
}

/** The cache key step, in either build's form. */
function keyStep(key: Build["key"] | TextKeys, req: (i: number) => unknown): Step {
  // Literals, as the pipeline makes them: a spread of shared parts cost about 2 µs a call by itself.
  const backend = "rest http://127.0.0.1:8080";
  const rpc = "DetectAnomaly";
  if ("canonicalRequest" in key) {
    return (i) => key.cacheKey({ backend, model: "", rpc, timeBucket: 29_000_000, canonical: key.canonicalRequest(rpc, req(i), 0.001) });
  }
  type Request = Parameters<Build["key"]["cacheKey"]>[0]["request"];
  return (i) => key.cacheKey({ backend, model: "", rpc, timeBucket: 29_000_000, request: req(i) as Request, quantum: 0.001 });
}

/** Reproducible numbers in [0, 1) (a 32-bit LCG), the same for every build and run. */
function seeded(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}
const ROUNDS = 9;

/** Nanoseconds per call over one round. */
function time(step: Step): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) step(i % REQUESTS);
  return Number(process.hrtime.bigint() - t0) / CALLS;
}

/** Bytes allocated per call over one round, after a round of warm-up. */
function allocated(step: Step): number {
  for (let i = 0; i < CALLS; i++) step(i % REQUESTS);
  const close = allocationWindow();
  for (let i = 0; i < CALLS; i++) step(i % REQUESTS);
  return close() / CALLS;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const at = process.argv.indexOf("--baseline");
const builds = [await load("this build", new URL("../", import.meta.url))];
if (at > 0) {
  const dir = process.argv[at + 1];
  if (dir === undefined) throw new Error("--baseline needs a directory");
  builds.push(await load(`baseline (${dir})`, pathToFileURL(`${resolve(dir)}/dist/`)));
}

for (const [shape, names] of [
  ["one metric", ["cpu_usage"]],
  ["45 features", FEATURES_45],
] as const) {
  const sets = builds.map((b) => steps(b, names));
  const stepNames = Object.keys(sets[0] as Record<string, Step>);
  const ns = builds.map(() => new Map<string, number[]>());
  for (let r = 0; r < ROUNDS; r++) {
    // Each step of the builds back to back, which build goes first
    // alternating round by round, so that both see the same moment.
    const order = r % 2 === 0 ? builds.map((_, k) => k) : builds.map((_, k) => builds.length - 1 - k);
    for (const s of stepNames) {
      for (const k of order) {
        const list = (ns[k] as Map<string, number[]>).get(s) ?? [];
        list.push(time((sets[k] as Record<string, Step>)[s] as Step));
        (ns[k] as Map<string, number[]>).set(s, list);
      }
    }
  }
  process.stdout.write(`\n${shape}: ns per call (median of ${ROUNDS} rounds of ${CALLS}), bytes allocated per call\n`);
  const header = builds.map((b) => b.name.padStart(22)).join("");
  process.stdout.write(`${"".padEnd(20)}${header}${builds.length > 1 ? "   time ratio  bytes ratio" : ""}\n`);
  const totals = builds.map(() => ({ ns: 0, bytes: 0 }));
  for (const s of stepNames) {
    const cells = builds.map((_, k) => {
      const t = median((ns[k] as Map<string, number[]>).get(s) as number[]);
      const bytes = allocated((sets[k] as Record<string, Step>)[s] as Step);
      (totals[k] as { ns: number; bytes: number }).ns += t;
      (totals[k] as { ns: number; bytes: number }).bytes += bytes;
      return { t, bytes };
    });
    const ratio =
      cells.length > 1
        ? `   ${((cells[0]?.t ?? 0) / (cells[1]?.t ?? 1)).toFixed(2).padStart(10)}  ${((cells[0]?.bytes ?? 0) / (cells[1]?.bytes ?? 1)).toFixed(2).padStart(11)}`
        : "";
    process.stdout.write(
      `${s.padEnd(20)}${cells.map((c) => `${c.t.toFixed(0).padStart(9)} ns ${c.bytes.toFixed(0).padStart(7)} B`).join("")}${ratio}\n`,
    );
  }
  const ratio =
    totals.length > 1
      ? `   ${((totals[0]?.ns ?? 0) / (totals[1]?.ns ?? 1)).toFixed(2).padStart(10)}  ${((totals[0]?.bytes ?? 0) / (totals[1]?.bytes ?? 1)).toFixed(2).padStart(11)}`
      : "";
  process.stdout.write(
    `${"sum of the steps".padEnd(20)}${totals.map((c) => `${c.ns.toFixed(0).padStart(9)} ns ${c.bytes.toFixed(0).padStart(7)} B`).join("")}${ratio}\n`,
  );
}
