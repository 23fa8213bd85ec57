/**
 * The request decoder against protobuf-es's fromBinary, in one process:
 * time per decode of the requests the engine sends (and of a cached answer,
 * which a cache hit decodes), alternating rounds so
 * that drift hits both alike. Prints the ratio (planned / fromBinary).
 * Run: npx tsc -p tsconfig.bench.json && taskset -c 0 node dist/bench/decode.js
 */
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { DetectAnomalyRequestSchema, DetectAnomalyResponseSchema, PredictRequestSchema } from "../gen/aiops/ml/v1/ml_service_pb.js";
import { decodeBinary } from "../src/wire/binary-decoder.js";

const at = timestampFromDate(new Date("2026-01-25T10:00:00Z"));
const context = { namespace: "production", resource: "payment-service" };
const cases: [string, DescMessage, Buffer][] = [
  [
    "DetectAnomaly, 1 metric",
    DetectAnomalyRequestSchema,
    Buffer.from(
      toBinary(
        DetectAnomalyRequestSchema,
        create(DetectAnomalyRequestSchema, { metrics: [{ name: "cpu_usage", value: 0.855, timestamp: at }], context }),
      ),
    ),
  ],
  [
    "DetectAnomaly, 45 features",
    DetectAnomalyRequestSchema,
    Buffer.from(
      toBinary(
        DetectAnomalyRequestSchema,
        create(DetectAnomalyRequestSchema, {
          metrics: Array.from({ length: 45 }, (_, i) => ({ name: `feature_${i}`, value: i / 7, timestamp: at })),
          context,
        }),
      ),
    ),
  ],
  ["Predict, workload only", PredictRequestSchema, Buffer.from(toBinary(PredictRequestSchema, create(PredictRequestSchema, { context })))],
  [
    // What a cache hit decodes: the backend's answer as it was stored.
    "DetectAnomaly answer, cached",
    DetectAnomalyResponseSchema,
    Buffer.from(
      toBinary(
        DetectAnomalyResponseSchema,
        create(DetectAnomalyResponseSchema, {
          anomalyDetected: true,
          confidence: 0.95,
          anomalyScore: 8.7,
          recommendations: ["Scale up replicas", "Check for memory leak"],
        }),
      ),
    ),
  ],
];

function time(fn: () => unknown, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / n;
}

const N = 20_000;
const ROUNDS = 7;
for (const [name, desc, bytes] of cases) {
  const planned: number[] = [];
  const reflective: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    reflective.push(time(() => fromBinary(desc, bytes), N));
    planned.push(time(() => decodeBinary(desc, bytes), N));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const a = median(reflective);
  const b = median(planned);
  process.stdout.write(
    `${name.padEnd(28)} ${bytes.length} bytes  fromBinary ${a.toFixed(0)} ns  planned ${b.toFixed(0)} ns  ratio ${(b / a).toFixed(2)}\n`,
  );
}
