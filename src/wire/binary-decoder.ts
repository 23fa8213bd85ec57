/**
 * Protobuf binary decoding for the requests the sidecar reads every call
 * and the cached answers a cache hit reads, giving exactly what
 * protobuf-es's `fromBinary` gives, with less work.
 *
 * `fromBinary` wraps every message it builds in a reflection object (two
 * Maps), creates each zero message by walking the descriptor, and looks each
 * field up through the wrapper; on the miss path that was about 3 % of the
 * sidecar's CPU. This decoder plans each message type once (fields by
 * number, the wire type each expects, and a zero message copied from the one
 * protobuf-es makes, so that the zero state is protobuf-es's own) and
 * compiles the plan into a function of its own (`decoderFor`).
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
import { BAIL, bail, compileGenerated, indexed, LENGTH_DELIMITED, VARINT, wireTypeOf } from "./wire-types.js";

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
    // In an object literal this key would set the prototype, not a property
    // (protobuf-es's names cannot be it today): left to fromBinary.
    if (name === "__proto__") plan.ok = false;
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

  string(limit: number): string {
    const end = this.lengthEnd(limit);
    const start = this.pos;
    this.pos = end;
    return SHORT_STRINGS.read(this.buf, start, end);
  }

  bytes(limit: number): Buffer {
    const end = this.lengthEnd(limit);
    const start = this.pos;
    this.pos = end;
    return this.buf.subarray(start, end);
  }

  double(limit: number): number {
    return this.buf.readDoubleLE(this.fixed(8, limit));
  }

  float(limit: number): number {
    return this.buf.readFloatLE(this.fixed(4, limit));
  }

  fixed32(limit: number): number {
    return this.buf.readUInt32LE(this.fixed(4, limit));
  }

  sfixed32(limit: number): number {
    return this.buf.readInt32LE(this.fixed(4, limit));
  }

  fixed64(limit: number): bigint {
    return this.buf.readBigUInt64LE(this.fixed(8, limit));
  }

  sfixed64(limit: number): bigint {
    return this.buf.readBigInt64LE(this.fixed(8, limit));
  }

  bool(): boolean {
    const [lo, hi] = this.varint64();
    return lo !== 0 || hi !== 0;
  }

  int32(): number {
    return this.varint32() | 0;
  }

  sint32(): number {
    const z = this.varint32();
    return (z >>> 1) ^ -(z & 1);
  }

  int64(): bigint {
    const [lo, hi] = this.varint64();
    // Most values (seconds since 1970, counts) fit in 32 bits: one BigInt, not four.
    if (hi === 0) return BigInt(lo);
    if (hi === 0xffffffff && lo >= 0x80000000) return BigInt(lo | 0);
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }

  uint64(): bigint {
    const [lo, hi] = this.varint64();
    if (hi === 0) return BigInt(lo);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  sint64(): bigint {
    const [lo, hi] = this.varint64();
    const u = (BigInt(hi) << 32n) | BigInt(lo);
    return (u >> 1n) ^ -(u & 1n);
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
 * The short ASCII strings read last, one per slot of a table indexed by a
 * hash of their bytes. The engine sends the same names on every call (the
 * anomaly model's 45 feature names, the namespace); a string read before is
 * returned as the one made then, after its bytes are compared one by one,
 * instead of a new one made by a call into Buffer's native code (about
 * 1.7 KB and a tenth of the decode for 45 features: bench/FINDINGS.md,
 * change 25). A slot holds the last string that hashed to it, so the table
 * stays at `slots` strings of at most `maxLength` characters; bytes chosen
 * to collide only miss.
 */
export class StringTable {
  private readonly strings: (string | undefined)[];
  private readonly mask: number;

  /** `slots` is a power of two. */
  constructor(
    slots: number,
    private readonly maxLength: number,
  ) {
    if (slots < 1 || (slots & (slots - 1)) !== 0) throw new RangeError(`slots must be a power of two, not ${slots}`);
    this.strings = new Array<string | undefined>(slots).fill(undefined);
    this.mask = slots - 1;
  }

  /** The bytes from `start` to `end` as a string; UTF-8 that is not ASCII goes to `utf8`. */
  read(buf: Buffer, start: number, end: number): string {
    const len = end - start;
    if (len > this.maxLength) {
      for (let i = start; i < end; i++) {
        if ((buf[i] as number) >= 0x80) return utf8(buf, start, end);
      }
      return buf.toString("latin1", start, end);
    }
    // FNV-1a over the bytes, in the same pass that checks they are ASCII.
    let h = 0x811c9dc5 ^ len;
    for (let i = start; i < end; i++) {
      const b = buf[i] as number;
      if (b >= 0x80) return utf8(buf, start, end);
      h = Math.imul(h ^ b, 0x01000193);
    }
    const slot = (h ^ (h >>> 16)) & this.mask;
    const seen = this.strings[slot];
    if (seen !== undefined && seen.length === len && sameBytes(seen, buf, start)) return seen;
    const s = buf.toString("latin1", start, start + len);
    this.strings[slot] = s;
    return s;
  }
}

/** Whether `s` (ASCII) is the bytes at `start`, `s.length` of them. */
function sameBytes(s: string, buf: Buffer, start: number): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== buf[start + i]) return false;
  return true;
}

/** 512 strings of up to 64 characters (about 40 KB at most), for every decode in the process. */
const SHORT_STRINGS = new StringTable(512, 64);

/** A string that is not ASCII: valid UTF-8 is read here; anything else is fromBinary's to judge. */
function utf8(buf: Buffer, start: number, end: number): string {
  if (!isUtf8(buf.subarray(start, end))) throw BAIL;
  // fromBinary's TextDecoder drops a leading byte order mark; Buffer keeps it.
  if (buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) throw BAIL;
  return buf.toString("utf8", start, end);
}

/** Decodes one message from `r` up to `end` into `m`, or into a new zero message when `m` is undefined. */
type Decode = (r: Reader, end: number, depth: number, m: Record<string, unknown> | undefined) => Record<string, unknown>;

/** The Reader call that reads one value of a scalar type, `LIMIT` standing for the bound it is read within. */
const READ: Record<ScalarType, string> = {
  [ScalarType.STRING]: "r.string(LIMIT)",
  [ScalarType.BYTES]: "r.bytes(LIMIT)",
  [ScalarType.DOUBLE]: "r.double(LIMIT)",
  [ScalarType.FLOAT]: "r.float(LIMIT)",
  [ScalarType.FIXED32]: "r.fixed32(LIMIT)",
  [ScalarType.SFIXED32]: "r.sfixed32(LIMIT)",
  [ScalarType.FIXED64]: "r.fixed64(LIMIT)",
  [ScalarType.SFIXED64]: "r.sfixed64(LIMIT)",
  [ScalarType.BOOL]: "r.bool()",
  [ScalarType.INT32]: "r.int32()",
  [ScalarType.UINT32]: "r.varint32()",
  [ScalarType.SINT32]: "r.sint32()",
  [ScalarType.INT64]: "r.int64()",
  [ScalarType.UINT64]: "r.uint64()",
  [ScalarType.SINT64]: "r.sint64()",
};

const decoders = new WeakMap<MessagePlan, Decode>();

/**
 * The decoder of one message type, compiled once from its plan into a
 * function of its own: a `switch` on the tag, with each field read and
 * stored under its name, and the zero message written as one object
 * literal. Walking the plan instead read and wrote every field by a name
 * held in a variable, which V8 looks up in a dictionary each time (a
 * megamorphic keyed access); written out, each access is a named one that
 * V8 caches, and every message of a type is made from one literal with one
 * hidden class — half the time for the 45-feature request
 * (bench/FINDINGS.md, change 24). The source is made from the descriptor
 * alone: field numbers, property names as JSON strings, and indexes into
 * the arrays passed in; nothing of the input is in it.
 */
function decoderFor(plan: MessagePlan): Decode {
  const known = decoders.get(plan);
  if (known !== undefined) return known;
  const zeros: unknown[] = [];
  const subPlans = indexed<MessagePlan>();
  const q = (name: string) => JSON.stringify(name);
  const zero = plan.zero
    .map((p) => {
      if (p.kind !== "value") return p.kind === "list" ? `${q(p.name)}: []` : `${q(p.name)}: { case: undefined }`;
      return `${q(p.name)}: z[${zeros.push(p.value) - 1}]`;
    })
    .join(", ");
  const cases: string[] = [];
  for (const [no, f] of plan.byNumber.entries()) {
    if (f === undefined) continue;
    const k = q(f.localName);
    const read = (limit: string) => READ[f.scalar].replace("LIMIT", limit);
    const tag = (wireType: number) => `case ${((no << 3) | wireType) >>> 0}:`;
    if (f.kind === "list") {
      if (f.message !== undefined) {
        cases.push(
          `${tag(LENGTH_DELIMITED)} { const e = r.lengthEnd(end); m[${k}].push(f[${subPlans.of(f.message)}](r, e, depth + 1, undefined)); break; }`,
        );
        continue;
      }
      cases.push(`${tag(f.wireType)} m[${k}].push(${read("end")}); break;`);
      if (f.packable) {
        cases.push(
          `${tag(LENGTH_DELIMITED)} { const e = r.lengthEnd(end); const l = m[${k}]; while (r.pos < e) l.push(${read("e")}); if (r.pos !== e) throw BAIL; break; }`,
        );
      }
      continue;
    }
    if (f.kind === "message") {
      // A message field seen again is merged into the first, as fromBinary does.
      const sub = `f[${subPlans.of(f.message as MessagePlan)}]`;
      if (f.oneof === undefined) {
        cases.push(`${tag(LENGTH_DELIMITED)} { const e = r.lengthEnd(end); m[${k}] = ${sub}(r, e, depth + 1, m[${k}]); break; }`);
      } else {
        const o = q(f.oneof);
        cases.push(
          `${tag(LENGTH_DELIMITED)} { const e = r.lengthEnd(end); const o = m[${o}]; m[${o}] = { case: ${k}, value: ${sub}(r, e, depth + 1, o.case === ${k} ? o.value : undefined) }; break; }`,
        );
      }
      continue;
    }
    if (f.oneof === undefined) cases.push(`${tag(f.wireType)} m[${k}] = ${read("end")}; break;`);
    else cases.push(`${tag(f.wireType)} m[${q(f.oneof)}] = { case: ${k}, value: ${read("end")} }; break;`);
  }
  const source = `return function decode(r, end, depth, m) {
  if (depth > ${MAX_DEPTH}) throw BAIL;
  if (m === undefined) m = { ${zero} };
  while (r.pos < end) {
    switch (r.varint32()) {
      ${cases.join("\n      ")}
      default: throw BAIL;
    }
  }
  if (r.pos !== end) throw BAIL;
  return m;
};`;
  const subs: Decode[] = [];
  const decode = (compileGenerated(["BAIL", "z", "f"], source, [BAIL, zeros, subs]) as Decode | undefined) ?? bail;
  // Registered before the nested types are compiled, so recursive types terminate.
  decoders.set(plan, decode);
  for (const p of subPlans.items) subs.push(decoderFor(p));
  return decode;
}

/** fromBinary(desc, bytes), planned where the type allows it. */
export function decodeBinary<T extends Message>(desc: DescMessage, bytes: Buffer): T {
  const plan = planFor(desc);
  const decode = inScope(plan) ? decoderFor(plan) : bail;
  // bail: out of scope, or nothing compiled (code generation disallowed).
  if (decode !== bail) {
    try {
      return decode(new Reader(bytes, 0), bytes.length, 1, undefined) as unknown as T;
    } catch (e) {
      if (e !== BAIL) throw e;
    }
  }
  return fromBinary(desc, bytes) as T;
}
