/**
 * The request decoder's messages share their hidden classes. Made with
 * `{ ...zero }` and filled in afterwards, each message got a map of its own
 * once V8 had optimized the decoder: a map and a descriptor array in old
 * space for every call, and two to three times the decode time
 * (bench/decode.ts). V8's own `%HaveSameMap` tells, with natives syntax
 * turned on for this file's functions alone.
 */
import { setFlagsFromString } from "node:v8";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { expect, test } from "vitest";
import { type DetectAnomalyRequest, DetectAnomalyRequestSchema } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { decodeBinary } from "../../src/wire/binary-decoder.js";

setFlagsFromString("--allow-natives-syntax");
const haveSameMap = new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean;

test("decoded messages of one type share a hidden class once the decoder is optimized", () => {
  const bytes = Buffer.from(
    toBinary(
      DetectAnomalyRequestSchema,
      create(DetectAnomalyRequestSchema, {
        metrics: [{ name: "cpu_usage", value: 0.85, timestamp: timestampFromDate(new Date("2026-01-25T10:00:00Z")) }],
        context: { namespace: "production", resource: "payment-service" },
      }),
    ),
  );
  // Enough calls for V8 to optimize the decoder (the spread's maps appeared only then).
  const decoded: DetectAnomalyRequest[] = [];
  for (let i = 0; i < 20_000; i++) {
    const m = decodeBinary<DetectAnomalyRequest>(DetectAnomalyRequestSchema, bytes);
    if (i >= 19_998) decoded.push(m);
  }
  const [a, b] = decoded as [DetectAnomalyRequest, DetectAnomalyRequest];
  expect(b.context?.resource).toBe("payment-service");
  expect(haveSameMap(a, b)).toBe(true);
  expect(haveSameMap(a.context as object, b.context as object)).toBe(true);
  expect(haveSameMap(a.metrics[0] as object, b.metrics[0] as object)).toBe(true);
});
