/**
 * Protobuf binary decoding for the requests the sidecar reads every call,
 * giving exactly what protobuf-es's `fromBinary` gives, with less work.
 *
 * `fromBinary` wraps every message it builds in a reflection object (two
 * Maps), creates each zero message by walking the descriptor, and looks each
 * field up through the wrapper; on the miss path that was about 3 % of the
 * sidecar's CPU. This decoder walks a plan compiled once per message type:
 * fields by number, the wire type each expects, and a zero message copied
 * from the one protobuf-es makes, so that the zero state is protobuf-es's own.
 *
 * Scope, decided once per type: proto3 messages (no field presence on the
 * prototype) with scalar, enum, message and repeated fields and oneofs. A
 * type with maps, groups, closed enums, wrapper or Struct fields, 64-bit
 * fields as strings, or non-zero defaults goes to `fromBinary`. So does any
 * input this decoder does not expect — an unknown field, a wire type that
 * does not match, a truncated or overlong varint, invalid UTF-8, a
 * sub-message that overruns its length, deep nesting: `fromBinary` then
 * decodes it or throws its own error, so errors and unknown fields
 * (`$unknown`) are exactly protobuf-es's. Equality with `fromBinary` is
 * tested over every request type the sidecar serves
 * (test/unit/binary-decoder.test.ts).
 */
import { isUtf8 } from "node:buffer";
import { create, type DescField, type DescMessage, fromBinary, type Message, ScalarType } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";
import { LENGTH_DELIMITED, VARINT, wireTypeOf } from "./wire-types.js";

const IMPLICIT = 2;
const EDITION_PROTO3 = 999;
/** protobuf-es's default recursion limit. */
const MAX_DEPTH = 100;

interface FieldPlan {
  readonly localName: string;
  /** The oneof's local name when the field is a member of one. */
  readonly oneof: string | undefined;
  readonly kind: "scalar" | "message" | "list";
  /** The scalar type of the field or of its elements (enums are INT32). */
  readonly scalar: ScalarType;
  /** The wire type a (non-packed) value of this field has. */
  readonly wireType: number;
  /** Lists of numbers and bools also accept the packed form. */
  readonly packable: boolean;
  readonly message: MessagePlan | undefined;
}

interface MessagePlan {
  ok: boolean;
  /** Indexed by field number. */
  readonly byNumber: (FieldPlan | undefined)[];
  /**
   * protobuf-es's zero message as its properties in order, each a value
   * to copy or a list or oneof to make anew for each message.
   */
  readonly zero: ZeroProperty[];
}

type ZeroProperty =
  | { readonly name: string; readonly kind: "value"; readonly value: unknown }
  | { readonly name: string; readonly kind: "list" | "oneof" };

/** Thrown inside a decode when the input is not what the plan expects: fromBinary takes over. */
const BAIL = Symbol("bail");

const plans = new WeakMap<DescMessage, MessagePlan>();

function planFor(desc: DescMessage): MessagePlan {
  let plan = plans.get(desc);
  if (plan !== undefined) return plan;
  plan = { ok: desc.file.edition === EDITION_PROTO3, byNumber: [], zero: [] };
  // Registered before its fields are planned, so recursive types terminate.
  plans.set(desc, plan);
  if (!plan.ok) return plan;
  const fresh = new Map<string, "list" | "oneof">();
  for (const member of desc.members) {
    if (member.kind === "oneof") fresh.set(member.localName, "oneof");
    else if (member.fieldKind === "list") fresh.set(member.localName, "list");
  }
  for (const [name, value] of Object.entries(create(desc))) {
    const kind = fresh.get(name);
    plan.zero.push(kind === undefined ? { name, kind: "value", value } : { name, kind });
  }
  for (const f of desc.fields) {
    const p = planField(f);
    if (p === undefined || f.number > 4096) {
      plan.ok = false;
      continue;
    }
    plan.byNumber[f.number] = p;
  }
  return plan;
}

function planField(f: DescField): FieldPlan | undefined {
  const oneof = f.oneof?.localName;
  switch (f.fieldKind) {
    case "scalar":
      if (f.longAsString || f.getDefaultValue() !== undefined) return undefined;
      if (f.presence !== IMPLICIT && oneof === undefined) return undefined;
      return {
        localName: f.localName,
        oneof,
        kind: "scalar",
        scalar: f.scalar,
        wireType: wireTypeOf(f.scalar),
        packable: false,
        message: undefined,
      };
    case "enum":
      if (!f.enum.open || (f.presence !== IMPLICIT && oneof === undefined)) return undefined;
      return {
        localName: f.localName,
        oneof,
        kind: "scalar",
        scalar: ScalarType.INT32,
        wireType: VARINT,
        packable: false,
        message: undefined,
      };
    case "message": {
      if (f.delimitedEncoding || (oneof === undefined && isWrapperDesc(f.message))) return undefined;
      if (f.message.typeName === "google.protobuf.Struct" && f.parent.typeName !== "google.protobuf.Value") return undefined;
      const message = planFor(f.message);
      return {
        localName: f.localName,
        oneof,
        kind: "message",
        scalar: ScalarType.INT32,
        wireType: LENGTH_DELIMITED,
        packable: false,
        message,
      };
    }
    case "list": {
      if (f.listKind === "message") {
        if (f.delimitedEncoding) return undefined;
        const message = planFor(f.message);
        return {
          localName: f.localName,
          oneof,
          kind: "list",
          scalar: ScalarType.INT32,
          wireType: LENGTH_DELIMITED,
          packable: false,
          message,
        };
      }
      if (f.listKind === "enum" && !f.enum.open) return undefined;
      const scalar = f.listKind === "enum" ? ScalarType.INT32 : f.scalar;
      if (f.listKind === "scalar" && f.longAsString) return undefined;
      const wireType = wireTypeOf(scalar);
      return { localName: f.localName, oneof, kind: "list", scalar, wireType, packable: wireType !== LENGTH_DELIMITED, message: undefined };
    }
    default:
      return undefined;
  }
}

/** Whether every type reachable from `plan` is in scope (checked once per type). */
const usable = new WeakMap<MessagePlan, boolean>();
function inScope(plan: MessagePlan): boolean {
  const known = usable.get(plan);
  if (known !== undefined) return known;
  usable.set(plan, true); // recursion: assume yes while walking
  let ok = plan.ok;
  for (const f of plan.byNumber) if (ok && f?.message !== undefined) ok = inScope(f.message);
  usable.set(plan, ok);
  return ok;
}

/** One decode's input and position. */
class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  /** The low 32 bits of a varint (all of int32, uint32, enum, sint32, tags and lengths). */
  varint32(): number {
    const buf = this.buf;
    let pos = this.pos;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw BAIL;
      const b = buf[pos++] as number;
      if (shift < 32) result |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) {
        this.pos = pos;
        return result >>> 0;
      }
    }
    throw BAIL;
  }

  /** A whole varint as [low 32 bits, high 32 bits]. */
  varint64(): [number, number] {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw BAIL;
      const b = buf[pos++] as number;
      const bits = b & 0x7f;
      const shift = i * 7;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if (b < 0x80) {
        this.pos = pos;
        return [lo >>> 0, hi >>> 0];
      }
    }
    throw BAIL;
  }

  /** The end of a length-delimited value starting here, checked against `limit`. */
  lengthEnd(limit: number): number {
    const len = this.varint32();
    const end = this.pos + len;
    if (end > limit) throw BAIL;
    return end;
  }

  scalar(type: ScalarType, limit: number): unknown {
    const buf = this.buf;
    switch (type) {
      case ScalarType.STRING: {
        const end = this.lengthEnd(limit);
        const start = this.pos;
        this.pos = end;
        let ascii = true;
        for (let i = start; i < end; i++) {
          if ((buf[i] as number) >= 0x80) {
            ascii = false;
            break;
          }
        }
        if (ascii) return buf.toString("latin1", start, end);
        if (!isUtf8(buf.subarray(start, end))) throw BAIL;
        // fromBinary's TextDecoder drops a leading byte order mark; Buffer keeps it.
        if (buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) throw BAIL;
        return buf.toString("utf8", start, end);
      }
      case ScalarType.BYTES: {
        const end = this.lengthEnd(limit);
        const start = this.pos;
        this.pos = end;
        return buf.subarray(start, end);
      }
      case ScalarType.DOUBLE:
        return buf.readDoubleLE(this.fixed(8, limit));
      case ScalarType.FLOAT:
        return buf.readFloatLE(this.fixed(4, limit));
      case ScalarType.FIXED32:
        return buf.readUInt32LE(this.fixed(4, limit));
      case ScalarType.SFIXED32:
        return buf.readInt32LE(this.fixed(4, limit));
      case ScalarType.FIXED64:
        return buf.readBigUInt64LE(this.fixed(8, limit));
      case ScalarType.SFIXED64:
        return buf.readBigInt64LE(this.fixed(8, limit));
      case ScalarType.BOOL: {
        const [lo, hi] = this.varint64();
        return lo !== 0 || hi !== 0;
      }
      case ScalarType.INT32:
        return this.varint32() | 0;
      case ScalarType.UINT32:
        return this.varint32();
      case ScalarType.SINT32: {
        const z = this.varint32();
        return (z >>> 1) ^ -(z & 1);
      }
      case ScalarType.INT64: {
        const [lo, hi] = this.varint64();
        // Most values (seconds since 1970, counts) fit in 32 bits: one BigInt, not four.
        if (hi === 0) return BigInt(lo);
        if (hi === 0xffffffff && lo >= 0x80000000) return BigInt(lo | 0);
        return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
      }
      case ScalarType.UINT64: {
        const [lo, hi] = this.varint64();
        if (hi === 0) return BigInt(lo);
        return (BigInt(hi) << 32n) | BigInt(lo);
      }
      case ScalarType.SINT64: {
        const [lo, hi] = this.varint64();
        const u = (BigInt(hi) << 32n) | BigInt(lo);
        return (u >> 1n) ^ -(u & 1n);
      }
      default:
        throw BAIL;
    }
  }

  /** Advances past `n` fixed bytes and returns where they start, or bails when they are not there. */
  private fixed(n: number, limit: number): number {
    const start = this.pos;
    if (start + n > limit) throw BAIL;
    this.pos = start + n;
    return start;
  }
}

/**
 * A new zero message, property by property. Not `{ ...zero }`: once
 * optimized, V8 (11.3, Node 20) gives an object made by a spread a hidden
 * class that takes no transitions, so each message field set on it later
 * made a map and a descriptor array of their own, in old space, for every
 * call (`--log-maps`); built up from `{}`, every message of a type shares
 * its maps.
 */
function zeroOf(plan: MessagePlan): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  for (const p of plan.zero) m[p.name] = p.kind === "value" ? p.value : p.kind === "list" ? [] : { case: undefined };
  return m;
}

function decodeInto(plan: MessagePlan, m: Record<string, unknown>, r: Reader, end: number, depth: number): void {
  if (depth > MAX_DEPTH) throw BAIL;
  while (r.pos < end) {
    const tag = r.varint32();
    const f = plan.byNumber[tag >>> 3];
    if (f === undefined) throw BAIL;
    const wireType = tag & 7;
    if (f.kind === "list") {
      const list = m[f.localName] as unknown[];
      if (f.message !== undefined) {
        if (wireType !== LENGTH_DELIMITED) throw BAIL;
        const subEnd = r.lengthEnd(end);
        const sub = zeroOf(f.message);
        decodeInto(f.message, sub, r, subEnd, depth + 1);
        if (r.pos !== subEnd) throw BAIL;
        list.push(sub);
      } else if (wireType === f.wireType) {
        list.push(r.scalar(f.scalar, end));
      } else if (f.packable && wireType === LENGTH_DELIMITED) {
        const packedEnd = r.lengthEnd(end);
        while (r.pos < packedEnd) list.push(r.scalar(f.scalar, packedEnd));
        if (r.pos !== packedEnd) throw BAIL;
      } else throw BAIL;
      continue;
    }
    if (wireType !== f.wireType) throw BAIL;
    let value: unknown;
    if (f.kind === "message") {
      const subPlan = f.message as MessagePlan;
      const subEnd = r.lengthEnd(end);
      // A message field seen again is merged into the first, as fromBinary does.
      const current = f.oneof === undefined ? m[f.localName] : oneofValue(m[f.oneof], f.localName);
      const sub = (current as Record<string, unknown> | undefined) ?? zeroOf(subPlan);
      decodeInto(subPlan, sub, r, subEnd, depth + 1);
      if (r.pos !== subEnd) throw BAIL;
      value = sub;
    } else value = r.scalar(f.scalar, end);
    if (f.oneof === undefined) m[f.localName] = value;
    else m[f.oneof] = { case: f.localName, value };
  }
  if (r.pos !== end) throw BAIL;
}

function oneofValue(o: unknown, name: string): unknown {
  const oneof = o as { case: string | undefined; value?: unknown };
  return oneof.case === name ? oneof.value : undefined;
}

/** fromBinary(desc, bytes), planned where the type allows it. */
export function decodeBinary<T extends Message>(desc: DescMessage, bytes: Buffer): T {
  const plan = planFor(desc);
  if (inScope(plan)) {
    try {
      const m = zeroOf(plan);
      decodeInto(plan, m, new Reader(bytes, 0), bytes.length, 1);
      return m as unknown as T;
    } catch (e) {
      if (e !== BAIL) throw e;
    }
  }
  return fromBinary(desc, bytes) as T;
}
