import type * as protobuf from "@bufbuild/protobuf";
import { create, createFileRegistry, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
} from "@bufbuild/protobuf/wkt";
import { describe, expect, test, vi } from "vitest";
import {
  type DetectAnomalyRequest,
  DetectAnomalyRequestSchema,
  file_aiops_ml_v1_ml_service,
  MetricSchema,
  PredictRequestSchema,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { decodeBinary, StringTable } from "../../src/wire/binary-decoder.js";
import { messagesOf, randomMessage, rng, withoutRequired } from "../helpers/random-messages.js";

// Counts the decoder's hand-overs to protobuf-es, so that a test can tell
// "decoded here" from "fell back and therefore matched trivially".
const fallbacks = vi.hoisted(() => ({ count: 0 }));
vi.mock("@bufbuild/protobuf", async (importOriginal) => {
  const real = await importOriginal<typeof protobuf>();
  return {
    ...real,
    fromBinary: (...args: Parameters<typeof real.fromBinary>) => {
      fallbacks.count++;
      return real.fromBinary(...args);
    },
  };
});

/**
 * fromBinary's answer or its error, without counting as a fallback. Given a
 * Buffer, as the unary path gives it (bytes fields and unknown fields are
 * views of the input, so their class is the input's).
 */
function expected(desc: DescMessage, bytes: Uint8Array): { value?: unknown; error?: string } {
  const before = fallbacks.count;
  try {
    return { value: fromBinary(desc, Buffer.from(bytes)) };
  } catch (e) {
    return { error: String(e) };
  } finally {
    fallbacks.count = before;
  }
}

/** Decodes `bytes` both ways, requires the same message (or the same error), and returns how many calls fell back. */
function check(desc: DescMessage, bytes: Uint8Array): number {
  const want = expected(desc, bytes);
  fallbacks.count = 0;
  let got: { value?: unknown; error?: string };
  try {
    got = { value: decodeBinary(desc, Buffer.from(bytes)) };
  } catch (e) {
    got = { error: String(e) };
  }
  const used = fallbacks.count;
  expect(got.error, `${desc.typeName} ${Buffer.from(bytes).toString("hex")}`).toBe(want.error);
  expect(got.value, `${desc.typeName} ${Buffer.from(bytes).toString("hex")}`).toStrictEqual(want.value);
  return used;
}

/** Whether the message or any message inside it carries unknown fields. */
function hasUnknown(v: unknown): boolean {
  if (v === null || typeof v !== "object" || v instanceof Uint8Array) return false;
  if (Array.isArray((v as { $unknown?: unknown }).$unknown)) return true;
  return Object.values(v).some(hasUnknown);
}

const served = [
  file_aiops_ml_v1_ml_service,
  file_grpc_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_google_protobuf_timestamp,
  file_google_protobuf_duration,
].flatMap(messagesOf);

describe("binary decoder", () => {
  test("reads what fromBinary reads, itself, for every message type the sidecar serves", () => {
    expect(served.length).toBeGreaterThan(30);
    const r = rng(42);
    let planned = 0;
    for (const desc of served) {
      for (let i = 0; i < 150; i++) {
        const m = randomMessage(desc, r);
        const used = check(desc, toBinary(desc, m));
        // Unknown fields anywhere inside go to fromBinary, which keeps them in $unknown.
        if (!hasUnknown(m)) {
          expect(used, `${desc.typeName} fell back to fromBinary`).toBe(0);
          planned++;
        }
      }
    }
    expect(planned).toBeGreaterThan(served.length * 100);
  });

  test("merges as fromBinary does: concatenated messages, repeated fields appended, message fields merged, oneofs replaced", () => {
    const r = rng(9);
    for (const desc of served) {
      for (let i = 0; i < 60; i++) {
        const a = toBinary(desc, randomMessage(desc, r));
        const b = toBinary(desc, randomMessage(desc, r));
        check(desc, Buffer.concat([a, b]));
      }
    }
    // A concrete case: the context sent twice is one merged context.
    const first = toBinary(DetectAnomalyRequestSchema, create(DetectAnomalyRequestSchema, { context: { namespace: "shop" } }));
    const second = toBinary(DetectAnomalyRequestSchema, create(DetectAnomalyRequestSchema, { context: { resource: "api" } }));
    const merged = decodeBinary<DetectAnomalyRequest>(DetectAnomalyRequestSchema, Buffer.concat([first, second]));
    expect(merged.context?.namespace).toBe("shop");
    expect(merged.context?.resource).toBe("api");
  });

  test("accepts repeated numbers unpacked as well as packed", () => {
    // The served types have no repeated numbers, so a proto3 type is made for it.
    const fdp = create(FileDescriptorProtoSchema, {
      name: "dec_lists.proto",
      package: "dec",
      syntax: "proto3",
      messageType: [
        {
          name: "Lists",
          field: [
            { name: "ints", number: 1, label: Label.REPEATED, type: Type.INT32, jsonName: "ints" },
            { name: "doubles", number: 2, label: Label.REPEATED, type: Type.DOUBLE, jsonName: "doubles" },
            { name: "flags", number: 3, label: Label.REPEATED, type: Type.BOOL, jsonName: "flags" },
          ],
        },
      ],
    });
    const desc = createFileRegistry(fdp, () => undefined).getMessage("dec.Lists") as DescMessage;
    const packed = toBinary(desc, create(desc, { ints: [1, -1, 300], doubles: [1.5, -0.25], flags: [true, false] } as never));
    // Unpacked: each element with its own tag.
    const unpacked = Buffer.from([0x08, 0x01, 0x08, 0x96, 0x02, 0x10 | 1, ...new Uint8Array(new Float64Array([2.5]).buffer), 0x18, 0x01]);
    fallbacks.count = 0;
    expect(check(desc, packed)).toBe(0);
    expect(check(desc, unpacked)).toBe(0);
    expect(check(desc, Buffer.concat([packed, unpacked]))).toBe(0);
    const both = decodeBinary<{ ints: number[] } & protobuf.Message>(desc, Buffer.concat([packed, unpacked]));
    expect(both.ints).toEqual([1, -1, 300, 1, 278]);
  });

  test("anything unexpected goes to fromBinary: same message or same error for truncated and corrupted input", () => {
    const r = rng(3);
    let errors = 0;
    for (const desc of [DetectAnomalyRequestSchema, PredictRequestSchema, MetricSchema, ...served.slice(0, 12)]) {
      for (let i = 0; i < 80; i++) {
        const bytes = Buffer.from(toBinary(desc, randomMessage(desc, r)));
        if (bytes.length === 0) continue;
        const cut = bytes.subarray(0, Math.floor(r() * bytes.length));
        const flipped = Buffer.from(bytes);
        const at = Math.floor(r() * bytes.length);
        flipped[at] = (flipped[at] as number) ^ (1 << Math.floor(r() * 8));
        for (const b of [cut, flipped]) {
          check(desc, b);
          if (expected(desc, b).error !== undefined) errors++;
        }
      }
    }
    // The corpus did exercise error paths, not only lucky valid inputs.
    expect(errors).toBeGreaterThan(50);
  });

  test("strings: invalid UTF-8 and a leading byte order mark are left to fromBinary", () => {
    const tag = 0x0a; // Metric.name, field 1, length-delimited
    for (const raw of [
      [0xff, 0xfe],
      [0xef, 0xbb, 0xbf, 0x61],
      [0xc3, 0xa9],
      [0xe2, 0x82],
    ]) {
      check(MetricSchema, Buffer.from([tag, raw.length, ...raw]));
    }
    fallbacks.count = 0;
    check(MetricSchema, Buffer.from([tag, 2, 0xc3, 0xa9]));
    expect(fallbacks.count).toBe(0);
    check(MetricSchema, Buffer.from([tag, 4, 0xef, 0xbb, 0xbf, 0x61]));
    expect(fallbacks.count).toBe(1);
  });

  test("types it does not plan for (proto2, maps) go to fromBinary, with the same result", () => {
    const r = rng(11);
    const fdp = create(FileDescriptorProtoSchema, {
      name: "dec_maps.proto",
      package: "dec",
      syntax: "proto3",
      messageType: [
        {
          name: "WithMap",
          field: [
            {
              name: "labels",
              number: 1,
              label: Label.REPEATED,
              type: Type.MESSAGE,
              typeName: ".dec.WithMap.LabelsEntry",
              jsonName: "labels",
            },
          ],
          nestedType: [
            {
              name: "LabelsEntry",
              options: { mapEntry: true },
              field: [
                { name: "key", number: 1, label: Label.OPTIONAL, type: Type.STRING, jsonName: "key" },
                { name: "value", number: 2, label: Label.OPTIONAL, type: Type.INT32, jsonName: "value" },
              ],
            },
          ],
        },
      ],
    });
    const withMap = createFileRegistry(fdp, () => undefined).getMessage("dec.WithMap") as DescMessage;
    const proto2 = messagesOf(file_google_protobuf_descriptor).filter((d) => withoutRequired(d));
    expect(proto2.length).toBeGreaterThan(10);
    for (const desc of [withMap, ...proto2]) {
      for (let i = 0; i < 20; i++) expect(check(desc, toBinary(desc, randomMessage(desc, r))), desc.typeName).toBe(1);
    }
    // The wrappers are plain proto3 messages at the top level, and decoded here.
    for (const desc of messagesOf(file_google_protobuf_wrappers)) {
      for (let i = 0; i < 20; i++) {
        const m = randomMessage(desc, r);
        expect(check(desc, toBinary(desc, m)), desc.typeName).toBe(hasUnknown(m) ? 1 : 0);
      }
    }
  });
});

/** A Buffer of `text` that counts the strings made from it by `toString`. */
function counting(text: string): { buf: Buffer; made: () => number } {
  const buf = Buffer.from(text, "utf8");
  const real = buf.toString.bind(buf);
  let made = 0;
  buf.toString = ((...args: Parameters<Buffer["toString"]>) => {
    made++;
    return real(...args);
  }) as Buffer["toString"];
  return { buf, made: () => made };
}

/** Reads the whole of `text` through `table`, from a Buffer of its own: the string and how many strings Buffer made. */
function readThrough(table: StringTable, text: string): { s: string; made: number } {
  const { buf, made } = counting(text);
  return { s: table.read(buf, 0, buf.length), made: made() };
}

describe("string table (the decoder's short strings)", () => {
  test("a short ASCII string read again is the one read before, not a new one from the bytes", () => {
    const table = new StringTable(512, 64);
    expect(readThrough(table, "pod_cpu_usage_lag_5")).toEqual({ s: "pod_cpu_usage_lag_5", made: 1 });
    expect(readThrough(table, "pod_cpu_usage_lag_5")).toEqual({ s: "pod_cpu_usage_lag_5", made: 0 });
    // From the middle of a larger message, as the decoder reads it.
    const { buf, made } = counting("xxpod_cpu_usage_lag_5yy");
    expect(table.read(buf, 2, buf.length - 2)).toBe("pod_cpu_usage_lag_5");
    expect(made()).toBe(0);
  });

  test("strings that share a slot each read as their own bytes", () => {
    const table = new StringTable(1, 64); // one slot: every string collides
    const reads = ["abc", "abd", "abc", "abc", "abcd", "", "", "bbc"].map((t) => [t, readThrough(table, t)] as const);
    for (const [t, r] of reads) expect(r.s).toBe(t);
    // Only a repeat of the slot's last string is served from it.
    expect(reads.map(([, r]) => r.made)).toEqual([1, 1, 1, 0, 1, 1, 0, 1]);
  });

  test("strings past the length bound and strings that are not ASCII are read from the bytes every time", () => {
    const table = new StringTable(8, 4);
    for (const t of ["abcde", "café", "日本"]) {
      expect(readThrough(table, t)).toEqual({ s: t, made: 1 });
      expect(readThrough(table, t)).toEqual({ s: t, made: 1 });
    }
    expect(readThrough(table, "abcd").made).toBe(1);
    expect(readThrough(table, "abcd").made).toBe(0);
  });

  test("a table's size is a power of two", () => {
    expect(() => new StringTable(3, 64)).toThrow(RangeError);
    expect(() => new StringTable(0, 64)).toThrow(RangeError);
  });
});
