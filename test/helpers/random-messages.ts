/**
 * Random protobuf-es messages of any type, from a seeded generator: the
 * wire tests (encoder and decoder) compare the sidecar's codecs with
 * protobuf-es's own over them.
 */
import type * as protobuf from "@bufbuild/protobuf";
import { create, type DescField, type DescFile, type DescMessage, ScalarType } from "@bufbuild/protobuf";

/** A seeded generator, so that a failure names a reproducible case. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const STRINGS = [
  "",
  "a",
  "DetectAnomaly",
  // ASCII at the encoder's bound for copying in JavaScript (binary-encoder.ts, SHORT_ASCII).
  "pod_cpu_usage_lag_5".padEnd(48, "_"),
  "héllo wörld",
  "日本語",
  "😀 emoji",
  "lone \ud800 surrogate",
  "x".repeat(200),
];

export function scalarValue(type: ScalarType, r: () => number, longAsString: boolean): unknown {
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

export function fieldValue(f: DescField, r: () => number, depth: number): unknown {
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

export function randomMessage(desc: DescMessage, r: () => number, depth = 0): protobuf.Message {
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

export const protobufWrapper = (d: DescMessage) =>
  d.typeName.startsWith("google.protobuf.") && d.typeName.endsWith("Value") && d.fields.length === 1;

export function messagesOf(file: DescFile): DescMessage[] {
  const out: DescMessage[] = [];
  const walk = (m: DescMessage) => {
    out.push(m);
    m.nestedMessages.forEach(walk);
  };
  file.messages.forEach(walk);
  return out;
}

/** Whether no message reachable from `d` has a required field. */
export function withoutRequired(d: DescMessage, seen = new Set<DescMessage>()): boolean {
  if (seen.has(d)) return true;
  seen.add(d);
  return d.fields.every((f) => f.presence !== 3 && (f.message === undefined || withoutRequired(f.message, seen)));
}
