import type * as protobuf from "@bufbuild/protobuf";
import { create, createFileRegistry, type DescMessage, toBinary } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
} from "@bufbuild/protobuf/wkt";
import { describe, expect, test, vi } from "vitest";
import { DetectAnomalyResponseSchema, file_aiops_ml_v1_ml_service, Provenance, Source } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { binarySize, encodeBinary } from "../../src/wire/binary-encoder.js";
import { messagesOf, randomMessage, rng, withoutRequired } from "../helpers/random-messages.js";

// Counts the encoder's hand-overs to protobuf-es, so that a test can tell
// "encoded here" from "fell back and therefore matched trivially".
const fallbacks = vi.hoisted(() => ({ count: 0 }));
vi.mock("@bufbuild/protobuf", async (importOriginal) => {
  const real = await importOriginal<typeof protobuf>();
  return {
    ...real,
    toBinary: (...args: Parameters<typeof real.toBinary>) => {
      fallbacks.count++;
      return real.toBinary(...args);
    },
  };
});

/** toBinary, without counting as a fallback. */
function expected(schema: DescMessage, m: protobuf.Message): Uint8Array {
  const before = fallbacks.count;
  const bytes = toBinary(schema, m);
  fallbacks.count = before;
  return bytes;
}

/** Encodes `m` both ways and with framing room, and returns how many of the calls fell back. */
function check(desc: DescMessage, m: protobuf.Message): number {
  const want = expected(desc, m);
  fallbacks.count = 0;
  const plain = encodeBinary(desc, m);
  const framed = encodeBinary(desc, m, { reserve: 5, pooled: true });
  const size = binarySize(desc, m);
  const used = fallbacks.count;
  expect(size).toBe(want.byteLength);
  expect(Buffer.from(plain).equals(Buffer.from(want)), `${desc.typeName}: ${Buffer.from(plain).toString("hex")}`).toBe(true);
  expect(framed.byteLength).toBe(want.byteLength + 5);
  expect(Buffer.from(framed.subarray(5)).equals(Buffer.from(want))).toBe(true);
  return used;
}

describe("binary encoder", () => {
  const served = [
    file_aiops_ml_v1_ml_service,
    file_grpc_health_v1_health,
    file_grpc_reflection_v1_reflection,
    file_google_protobuf_timestamp,
    file_google_protobuf_duration,
  ].flatMap(messagesOf);

  test("writes what toBinary writes, itself, for every message type the sidecar serves", () => {
    expect(served.length).toBeGreaterThan(30);
    const r = rng(42);
    for (const desc of served) {
      for (let i = 0; i < 150; i++) {
        const m = randomMessage(desc, r);
        expect(check(desc, m), `${desc.typeName} fell back to toBinary`).toBe(0);
      }
    }
  });

  test("proto2 messages (defaults on the prototype, unpacked lists, closed enums) are encoded too", () => {
    const r = rng(7);
    const proto2 = messagesOf(file_google_protobuf_descriptor).filter((d) => withoutRequired(d));
    expect(proto2.length).toBeGreaterThan(10);
    for (const desc of proto2) for (let i = 0; i < 40; i++) expect(check(desc, randomMessage(desc, r))).toBe(0);
  });

  test("types it does not plan for (maps, groups, required, unboxed wrappers) go to toBinary, with the same bytes", () => {
    const fdp = create(FileDescriptorProtoSchema, {
      name: "enc_test.proto",
      package: "enc",
      syntax: "proto2",
      dependency: ["google/protobuf/wrappers.proto"],
      messageType: [
        { name: "Required", field: [{ name: "r", number: 1, label: Label.REQUIRED, type: Type.INT32, jsonName: "r" }] },
        {
          name: "Grouped",
          field: [{ name: "g", number: 1, label: Label.OPTIONAL, type: Type.GROUP, typeName: ".enc.Grouped.G", jsonName: "g" }],
          nestedType: [{ name: "G", field: [{ name: "x", number: 2, label: Label.OPTIONAL, type: Type.INT32, jsonName: "x" }] }],
        },
        {
          name: "Wrapped",
          field: [
            { name: "w", number: 1, label: Label.OPTIONAL, type: Type.MESSAGE, typeName: ".google.protobuf.Int32Value", jsonName: "w" },
          ],
        },
      ],
    });
    const reg = createFileRegistry(fdp, (name) => (name === "google/protobuf/wrappers.proto" ? file_google_protobuf_wrappers : undefined));
    const cases: [DescMessage, Record<string, unknown>][] = [
      [reg.getMessage("enc.Required") as DescMessage, { r: 5 }],
      [reg.getMessage("enc.Grouped") as DescMessage, { g: { x: 3 } }],
      [reg.getMessage("enc.Wrapped") as DescMessage, { w: 12 }],
      [file_google_protobuf_struct.messages[0] as DescMessage, { fields: { a: { kind: { case: "numberValue", value: 1 } } } }],
      [messagesOf(file_google_rpc_error_details).find((d) => d.name === "ErrorInfo") as DescMessage, { reason: "R", metadata: { k: "v" } }],
    ];
    for (const [desc, init] of cases) {
      const m = create(desc, init as never);
      expect(check(desc, m), desc.typeName).toBeGreaterThan(0);
    }
  });

  test("a value of the wrong kind gets toBinary's own error", () => {
    // An enum that is not an integer, and ones past int32 either way.
    for (const source of [1.5, 2 ** 31, -(2 ** 31) - 1]) {
      // A whole metadata message, so that the encoder's own checks meet the value.
      const m = create(DetectAnomalyResponseSchema, {
        confidence: 0.5,
        metadata: { backend: "rest", features: [{ name: "cpu", value: 1 }] },
      });
      (m.metadata as unknown as { source: unknown }).source = source;
      const err = (() => {
        try {
          toBinary(DetectAnomalyResponseSchema, m);
        } catch (e) {
          return (e as Error).message;
        }
      })();
      expect(err, String(source)).toBeTypeOf("string");
      expect(() => encodeBinary(DetectAnomalyResponseSchema, m)).toThrow(err as string);
    }
  });

  test("a typical answer: the bytes and the framing room", () => {
    const m = create(DetectAnomalyResponseSchema, {
      anomalyDetected: true,
      confidence: 0.95,
      anomalyScore: 8.7,
      recommendations: ["Scale up replicas"],
      metadata: {
        source: Source.ML_SERVICE,
        requestId: "r-1",
        features: [{ name: "cpu_usage", value: 0.5, provenance: Provenance.GIVEN }],
      },
    });
    const framed = encodeBinary(DetectAnomalyResponseSchema, m, { reserve: 5 });
    expect(Buffer.from(framed.subarray(5)).equals(Buffer.from(expected(DetectAnomalyResponseSchema, m)))).toBe(true);
    expect(framed.byteLength - 5).toBe(expected(DetectAnomalyResponseSchema, m).byteLength);
  });
});
