import type * as protobuf from "@bufbuild/protobuf";
import { create, createFileRegistry, type DescField, type DescFile, type DescMessage, ScalarType, toBinary } from "@bufbuild/protobuf";
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

/** A seeded generator, so that a failure names a reproducible case. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = ["", "a", "DetectAnomaly", "héllo wörld", "日本語", "😀 emoji", "lone \ud800 surrogate", "x".repeat(200)];

function scalarValue(type: ScalarType, r: () => number, longAsString: boolean): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const int64 = (xs: bigint[]) => {
    const v = pick(xs);
    return longAsString ? v.toString() : v;
  };
  switch (type) {
    case ScalarType.STRING:
      return pick(STRINGS);
    case ScalarType.BYTES:
      return Uint8Array.from({ length: pick([0, 1, 5, 130]) }, () => Math.floor(r() * 256));
    case ScalarType.BOOL:
      return r() < 0.5;
    case ScalarType.DOUBLE:
      return pick([0, -0, 1.5, -2.25, 1e300, -1e-300, Number.NaN, Number.POSITIVE_INFINITY, r() * 1000]);
    case ScalarType.FLOAT:
      return pick([0, -0, 1.5, Math.fround(r() * 100), Number.NaN, Number.NEGATIVE_INFINITY]);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return pick([0, 1, -1, 127, 128, 300, -300, 2147483647, -2147483648]);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return pick([0, 1, 127, 128, 16384, 4294967295]);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return int64([0n, 1n, 128n, 2n ** 32n, 2n ** 35n + 7n, 2n ** 64n - 1n]);
    default:
      return int64([0n, 1n, -1n, 300n, -(2n ** 40n), 2n ** 63n - 1n, -(2n ** 63n)]);
  }
}

function fieldValue(f: DescField, r: () => number, depth: number): unknown {
  switch (f.fieldKind) {
    case "scalar":
      return scalarValue(f.scalar, r, f.longAsString);
    case "enum": {
      const values = f.enum.values.map((v) => v.number);
      return r() < 0.1 ? -7 : values[Math.floor(r() * values.length)];
    }
    case "message":
      return randomMessage(f.message, r, depth + 1);
    case "list": {
      const n = Math.floor(r() * 4);
      return Array.from({ length: n }, () => {
        if (f.listKind === "message") return randomMessage(f.message, r, depth + 1);
        if (f.listKind === "enum") return f.enum.values[Math.floor(r() * f.enum.values.length)]?.number;
        return scalarValue(f.scalar, r, f.longAsString);
      });
    }
    case "map": {
      const out: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 3); i > 0; i--) {
        const key = String(scalarValue(f.mapKey, r, true));
        out[key] =
          f.mapKind === "message"
            ? randomMessage(f.message, r, depth + 1)
            : f.mapKind === "enum"
              ? f.enum.values[0]?.number
              : scalarValue(f.scalar, r, false);
      }
      return out;
    }
  }
}

function randomMessage(desc: DescMessage, r: () => number, depth = 0): protobuf.Message {
  const m = create(desc) as unknown as Record<string, unknown>;
  if (depth > 3) return m as unknown as protobuf.Message;
  for (const f of desc.fields) {
    if (f.oneof !== undefined || r() < 0.3) continue;
    if (f.fieldKind === "message" && protobufWrapper(f.message)) {
      m[f.localName] = scalarValue((f.message.fields[0] as DescField & { scalar: ScalarType }).scalar, r, false);
      continue;
    }
    m[f.localName] = fieldValue(f, r, depth);
  }
  for (const o of desc.oneofs) {
    const f = o.fields[Math.floor(r() * (o.fields.length + 1))];
    if (f !== undefined) m[o.localName] = { case: f.localName, value: fieldValue(f, r, depth) };
  }
  if (r() < 0.1) m.$unknown = [{ no: 9999, wireType: 0, data: Uint8Array.of(0x96, 0x01) }];
  return m as unknown as protobuf.Message;
}

const protobufWrapper = (d: DescMessage) =>
  d.typeName.startsWith("google.protobuf.") && d.typeName.endsWith("Value") && d.fields.length === 1;

function messagesOf(file: DescFile): DescMessage[] {
  const out: DescMessage[] = [];
  const walk = (m: DescMessage) => {
    out.push(m);
    m.nestedMessages.forEach(walk);
  };
  file.messages.forEach(walk);
  return out;
}

/** Whether no message reachable from `d` has a required field. */
function withoutRequired(d: DescMessage, seen = new Set<DescMessage>()): boolean {
  if (seen.has(d)) return true;
  seen.add(d);
  return d.fields.every((f) => f.presence !== 3 && (f.message === undefined || withoutRequired(f.message, seen)));
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
    const m = create(DetectAnomalyResponseSchema, { confidence: 0.5 });
    (m as unknown as { metadata: unknown }).metadata = { $typeName: "aiops.ml.v1.ResponseMetadata", source: 1.5 };
    const err = (() => {
      try {
        toBinary(DetectAnomalyResponseSchema, m);
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(err).toMatch(/cannot encode/);
    expect(() => encodeBinary(DetectAnomalyResponseSchema, m)).toThrow(err as string);
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
