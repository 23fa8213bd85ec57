/**
 * Protobuf binary encoding for the answers the sidecar sends every call,
 * byte for byte what protobuf-es's `toBinary` writes, with less work.
 *
 * `toBinary` wraps each message and list in a reflection object (two Maps
 * each), and its writer makes a Uint8Array per string, a Uint8Array and a
 * DataView (an off-heap ArrayBuffer) per double, and another per run of
 * varints; on the miss path that was about a quarter of the bytes allocated
 * per call. This encoder plans each message type once and compiles the plan
 * into two functions of its own (`compile`): one pass measures (message and
 * string lengths noted in visit order), the second writes into one buffer
 * of the exact size — with room reserved in front for the caller's framing
 * (the gRPC envelope), so the frame is not copied again.
 *
 * Scope, decided once per type: proto3 and editions messages with scalar,
 * enum, message and repeated fields, oneofs and unknown fields. A type with
 * maps, groups (delimited encoding), proto2 required fields or unboxed
 * wrapper fields — or any value this encoder does not expect — goes to
 * `toBinary`, which then encodes it or throws its own error. Equality with
 * `toBinary` is tested over every message type the sidecar serves
 * (test/unit/binary-encoder.test.ts).
 */
import { type DescField, type DescMessage, type Message, ScalarType, toBinary } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";
import { BAIL, bail, compileGenerated, indexed, LENGTH_DELIMITED, SHORT_ASCII, wireTypeOf } from "./wire-types.js";

// google.protobuf.FeatureSet values protobuf-es exposes on DescField.presence.
const IMPLICIT = 2;
const LEGACY_REQUIRED = 3;

const FLOAT32_MAX = 3.4028234663852886e38;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

interface FieldPlan {
  readonly localName: string;
  /** The oneof's local name when the field is a member of one. */
  readonly oneof: string | undefined;
  /** Implicit presence: written unless it holds its zero value. */
  readonly implicit: boolean;
  readonly kind: "scalar" | "message" | "list";
  /** The scalar type of the field or of its elements (enums are INT32). */
  readonly scalar: ScalarType;
  /** The type of the field or of its elements, for messages. */
  readonly message: MessagePlan | undefined;
  readonly packed: boolean;
  /** The tag of each element (the length-delimited tag for packed lists), and its size. */
  readonly tag: number;
  readonly tagSize: number;
}

interface MessagePlan {
  ok: boolean;
  readonly fields: FieldPlan[];
}

const plans = new WeakMap<DescMessage, MessagePlan>();

function planFor(desc: DescMessage): MessagePlan {
  let plan = plans.get(desc);
  if (plan !== undefined) return plan;
  plan = { ok: true, fields: [] };
  // Registered before its fields are planned, so recursive types terminate.
  plans.set(desc, plan);
  for (const f of [...desc.fields].sort((a, b) => a.number - b.number)) {
    const p = planField(f);
    if (p === undefined) plan.ok = false;
    else plan.fields.push(p);
  }
  return plan;
}

function planField(f: DescField): FieldPlan | undefined {
  if (f.presence === LEGACY_REQUIRED || f.fieldKind === "map") return undefined;
  let scalar = ScalarType.INT32;
  let message: MessagePlan | undefined;
  let kind: FieldPlan["kind"] = "scalar";
  let packed = false;
  let delimited = false;
  switch (f.fieldKind) {
    case "scalar":
      scalar = f.scalar;
      break;
    case "enum":
      break;
    case "message":
      if (isWrapperDesc(f.message)) return undefined;
      kind = "message";
      message = planFor(f.message);
      delimited = f.delimitedEncoding;
      break;
    case "list":
      kind = "list";
      if (f.listKind === "message") {
        message = planFor(f.message);
        delimited = f.delimitedEncoding;
      } else if (f.listKind === "scalar") scalar = f.scalar;
      packed = f.packed;
      break;
  }
  if (delimited) return undefined;
  const wire = message !== undefined || packed ? LENGTH_DELIMITED : wireTypeOf(scalar);
  const tag = ((f.number << 3) | wire) >>> 0;
  return {
    localName: f.localName,
    oneof: f.oneof?.localName,
    implicit: f.presence === IMPLICIT,
    kind,
    scalar,
    message,
    packed,
    tag,
    tagSize: varint32Size(tag),
  };
}

export interface EncodeOptions {
  /** Bytes left free before the message, for the caller's framing. */
  readonly reserve?: number;
  /**
   * Take the buffer from Node's shared pool (cheapest; right for bytes that
   * are written and dropped). Off for bytes that are kept, such as cache
   * entries, which must not pin a shared 8 KiB slab.
   */
  readonly pooled?: boolean;
}

/**
 * Encodes `message` as `toBinary(schema, message)` does; with `reserve`,
 * the message starts at that offset and the bytes before it are the caller's.
 */
export function encodeBinary(schema: DescMessage, message: Message, options: EncodeOptions = {}): Uint8Array {
  const reserve = options.reserve ?? 0;
  const plan = planFor(schema);
  // BAILING: out of scope, or nothing compiled (code generation disallowed).
  const compiledPlan = plan.ok ? compile(plan) : BAILING;
  if (compiledPlan !== BAILING) {
    try {
      const lengths: number[] = [];
      const { size: sizeOf, write } = compiledPlan;
      const size = sizeOf(message, lengths);
      const buf = allocate(reserve + size, options.pooled === true);
      const cursor = { at: reserve, next: 0 };
      write(message, buf, cursor, lengths);
      if (cursor.at !== reserve + size) throw new Error(`binary encoder: wrote ${cursor.at - reserve} bytes of ${size}`);
      return buf;
    } catch (e) {
      if (e !== BAIL) throw e;
    }
  }
  const bytes = toBinary(schema, message);
  if (reserve === 0) return bytes;
  const out = allocate(reserve + bytes.byteLength, options.pooled === true);
  out.set(bytes, reserve);
  return out;
}

function allocate(size: number, pooled: boolean): Buffer {
  return pooled ? Buffer.allocUnsafe(size) : Buffer.allocUnsafeSlow(size);
}

/** The size of `toBinary(schema, message)`, measured without writing it. */
export function binarySize(schema: DescMessage, message: Message): number {
  const plan = planFor(schema);
  const compiledPlan = plan.ok ? compile(plan) : BAILING;
  if (compiledPlan !== BAILING) {
    try {
      return compiledPlan.size(message, []);
    } catch (e) {
      if (e !== BAIL) throw e;
    }
  }
  return toBinary(schema, message).byteLength;
}

// biome-ignore lint/suspicious/noExplicitAny: messages are read by field name, as protobuf-es's own reflection does.
type Target = Record<string, any>;

/**
 * The two passes of one message type, compiled once from its plan into
 * functions of their own. Walking the plan instead read every field by a
 * name held in a variable, which V8 looks up in a dictionary each time (a
 * megamorphic keyed access); written out, each read is a named one that V8
 * caches, and each field's presence test is the one its kind needs, not a
 * switch over all kinds (bench/FINDINGS.md, change 24). The source is made
 * from the descriptor alone: tags, property names as JSON strings and
 * indexes into the arrays passed in; nothing of the message is in it.
 */
interface Compiled {
  /** The message's size; string and nested-message lengths noted in `lengths`, in visit order. */
  readonly size: (m: Target, lengths: number[]) => number;
  /** Writes the message at `c.at`, using the lengths `size` noted. */
  readonly write: (m: Target, buf: Buffer, c: Cursor, lengths: number[]) => void;
}

const compiled = new WeakMap<MessagePlan, Compiled>();

/** A type this encoder does not write: toBinary does. */
const BAILING: Compiled = { size: bail, write: bail };

/**
 * The test for "this field is set" that protobuf-es's unsafeIsSet makes, on
 * `v`, the field's value: an empty list writes nothing, whatever the field's
 * presence; implicit presence writes all but the zero value (-0 is not zero:
 * proto3's own rule); explicit presence writes an own property that is not
 * undefined.
 */
function isSet(f: FieldPlan, k: string): string {
  if (f.kind === "list") return "v.length > 0";
  if (!f.implicit) return `v !== undefined && hasOwn(m, ${k})`;
  switch (f.scalar) {
    case ScalarType.BOOL:
      return "v !== false";
    case ScalarType.STRING:
      return 'v !== ""';
    case ScalarType.BYTES:
      return "!(v instanceof Uint8Array && v.byteLength === 0)";
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return "!Object.is(v, 0)";
    default:
      // protobuf-es's zero test, loose on purpose (0, 0n, "0").
      return "v != 0";
  }
}

/**
 * Code that measures one value `x` of a scalar type (adding its size to
 * `acc`, its length noted in `L` where it has one) and code that writes it.
 * Strings, doubles, enums (int32) and bools, which every answer carries,
 * are written out here, with the generic helpers' checks: a double handed
 * to them is boxed, a heap number per value and pass (1.4 KB of the 4 KB
 * the 45-feature answer's encoding allocated), and each other value pays
 * for a switch over every scalar type.
 * A short string whose UTF-8 length is its length is ASCII (every other
 * code unit takes two bytes or more), and is copied a code unit at a time:
 * for names like the features' (18–34 characters) that takes about a third
 * of `buf.write`'s time, whose way into native code costs more than the
 * copy (bench/FINDINGS.md, change 25).
 */
function scalarCode(scalar: ScalarType, x: string, acc: string): { size: string; write: string } {
  switch (scalar) {
    case ScalarType.STRING:
      return {
        size: `if (typeof ${x} !== "string") throw BAIL; { const len = byteLength(${x}, "utf8"); L.push(len); ${acc} += varint32Size(len) + len; }`,
        write: `{ const len = L[c.next++]; let at = writeVarint32(buf, c.at, len);
          if (len === ${x}.length && len <= ${SHORT_ASCII}) { for (let i = 0; i < len; i++) buf[at++] = ${x}.charCodeAt(i); c.at = at; }
          else c.at = at + buf.write(${x}, at, len, "utf8"); }`,
      };
    case ScalarType.DOUBLE:
      return { size: `if (typeof ${x} !== "number") throw BAIL; ${acc} += 8;`, write: `c.at = buf.writeDoubleLE(${x}, c.at);` };
    case ScalarType.INT32:
      return {
        size: `${acc} += int32Size(checkInt32(${x}));`,
        write: `c.at = ${x} >= 0 ? writeVarint32(buf, c.at, ${x}) : writeVarint64(buf, c.at, ${x} >>> 0, 0xffffffff);`,
      };
    case ScalarType.BOOL:
      return { size: `${acc} += 1;`, write: `buf[c.at++] = ${x} ? 1 : 0;` };
    default:
      return { size: `${acc} += sizeOfScalar(${scalar}, ${x});`, write: `writeScalar(${scalar}, ${x}, buf, c);` };
  }
}

function compile(plan: MessagePlan): Compiled {
  const known = compiled.get(plan);
  if (known !== undefined) return known;
  if (!plan.ok) {
    compiled.set(plan, BAILING);
    return BAILING;
  }
  const subPlans = indexed<MessagePlan>();
  const sizes: string[] = [];
  const writes: string[] = [];
  for (const f of plan.fields) {
    const k = JSON.stringify(f.localName);
    const read =
      f.oneof === undefined
        ? `v = m[${k}];${f.kind === "list" ? " if (!Array.isArray(v)) throw BAIL;" : ""}`
        : `o = m[${JSON.stringify(f.oneof)}]; if (o === undefined) throw BAIL; v = o.case === ${k} ? o.value : undefined;`;
    const set = f.oneof === undefined ? isSet(f, k) : "v !== undefined";
    const t = f.tagSize;
    let size: string;
    let write: string;
    if (f.kind === "message" || (f.kind === "list" && f.message !== undefined)) {
      const i = subPlans.of(f.message as MessagePlan);
      const one = (x: string) => ({
        size: `size += ${t} + nested(S[${i}], ${x}, L);`,
        write: `c.at = writeVarint32(buf, c.at, ${f.tag}); c.at = writeVarint32(buf, c.at, L[c.next++]); W[${i}](${x}, buf, c, L);`,
      });
      const each = one(f.kind === "list" ? "x" : "v");
      size = f.kind === "list" ? `for (const x of v) ${each.size}` : each.size;
      write = f.kind === "list" ? `for (const x of v) { ${each.write} }` : each.write;
    } else if (f.kind === "scalar") {
      const one = scalarCode(f.scalar, "v", "size");
      size = `size += ${t}; ${one.size}`;
      write = `c.at = writeVarint32(buf, c.at, ${f.tag}); ${one.write}`;
    } else if (f.packed) {
      const each = scalarCode(f.scalar, "x", "n");
      size = `{ const slot = L.length; L.push(0); let n = 0; for (const x of v) { ${each.size} } L[slot] = n; size += ${t} + varint32Size(n) + n; }`;
      write = `c.at = writeVarint32(buf, c.at, ${f.tag}); c.at = writeVarint32(buf, c.at, L[c.next++]); for (const x of v) { ${each.write} }`;
    } else {
      const each = scalarCode(f.scalar, "x", "size");
      size = `for (const x of v) { size += ${t}; ${each.size} }`;
      write = `for (const x of v) { c.at = writeVarint32(buf, c.at, ${f.tag}); ${each.write} }`;
    }
    sizes.push(`${read} if (${set}) { ${size} }`);
    writes.push(`${read} if (${set}) { ${write} }`);
  }
  const source = `
const size = function size(m, L) {
  let size = 0, v, o;
  ${sizes.join("\n  ")}
  const u = m.$unknown;
  if (u !== undefined) for (const x of u) size += varint32Size(((x.no << 3) | x.wireType) >>> 0) + x.data.byteLength;
  return size;
};
const write = function write(m, buf, c, L) {
  let v, o;
  ${writes.join("\n  ")}
  const u = m.$unknown;
  if (u !== undefined) for (const x of u) { c.at = writeVarint32(buf, c.at, ((x.no << 3) | x.wireType) >>> 0); buf.set(x.data, c.at); c.at += x.data.byteLength; }
};
return { size, write };`;
  const S: Compiled["size"][] = [];
  const W: Compiled["write"][] = [];
  const c =
    (compileGenerated(
      [
        "BAIL",
        "hasOwn",
        "byteLength",
        "nested",
        "sizeOfScalar",
        "writeScalar",
        "checkInt32",
        "int32Size",
        "varint32Size",
        "writeVarint32",
        "writeVarint64",
        "S",
        "W",
      ],
      source,
      [
        BAIL,
        Object.hasOwn,
        Buffer.byteLength,
        sizeOfNested,
        sizeOfScalar,
        writeScalar,
        checkInt32,
        int32Size,
        varint32Size,
        writeVarint32,
        writeVarint64,
        S,
        W,
      ],
    ) as Compiled | undefined) ?? BAILING;
  // Registered before the nested types are compiled, so recursive types terminate.
  compiled.set(plan, c);
  for (const p of subPlans.items) {
    const sub = compile(p);
    S.push(sub.size);
    W.push(sub.write);
  }
  return c;
}

/** A nested message: its length prefix and its content; the length is noted for the write pass. */
function sizeOfNested(size: Compiled["size"], m: Target, lengths: number[]): number {
  if (m === null || typeof m !== "object") throw BAIL;
  const slot = lengths.length;
  lengths.push(0);
  const n = size(m, lengths);
  lengths[slot] = n;
  return varint32Size(n) + n;
}

/** The size of a value of a scalar type that `scalarCode` does not write out itself (not a string, double, int32 or bool). */
function sizeOfScalar(type: ScalarType, v: unknown): number {
  switch (type) {
    case ScalarType.BYTES:
      if (!(v instanceof Uint8Array)) throw BAIL;
      return varint32Size(v.byteLength) + v.byteLength;
    case ScalarType.FLOAT:
      if (typeof v !== "number" || (Number.isFinite(v) && (v > FLOAT32_MAX || v < -FLOAT32_MAX))) throw BAIL;
      return 4;
    case ScalarType.SINT32: {
      const x = checkInt32(v);
      return varint32Size(((x << 1) ^ (x >> 31)) >>> 0);
    }
    case ScalarType.UINT32:
      return varint32Size(checkUint32(v));
    case ScalarType.FIXED32:
      checkUint32(v);
      return 4;
    case ScalarType.SFIXED32:
      checkInt32(v);
      return 4;
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      to64(type, v);
      return 8;
    default: {
      const [lo, hi] = to64(type, v);
      return varint64Size(lo, hi);
    }
  }
}

interface Cursor {
  /** The next byte to write. */
  at: number;
  /** The next noted length to use. */
  next: number;
}

/** Writes a value of a scalar type that `scalarCode` does not write out itself. */
function writeScalar(type: ScalarType, v: unknown, buf: Buffer, c: Cursor): void {
  switch (type) {
    case ScalarType.BYTES: {
      const b = v as Uint8Array;
      c.at = writeVarint32(buf, c.at, b.byteLength);
      buf.set(b, c.at);
      c.at += b.byteLength;
      return;
    }
    case ScalarType.FLOAT:
      c.at = buf.writeFloatLE(v as number, c.at);
      return;
    case ScalarType.SINT32: {
      const x = v as number;
      c.at = writeVarint32(buf, c.at, ((x << 1) ^ (x >> 31)) >>> 0);
      return;
    }
    case ScalarType.UINT32:
      c.at = writeVarint32(buf, c.at, v as number);
      return;
    case ScalarType.FIXED32:
      c.at = buf.writeUInt32LE(v as number, c.at);
      return;
    case ScalarType.SFIXED32:
      c.at = buf.writeInt32LE(v as number, c.at);
      return;
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64: {
      const [lo, hi] = to64(type, v);
      c.at = buf.writeUInt32LE(hi, buf.writeUInt32LE(lo, c.at));
      return;
    }
    default: {
      const [lo, hi] = to64(type, v);
      c.at = writeVarint64(buf, c.at, lo, hi);
    }
  }
}

function checkInt32(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v > 0x7fffffff || v < -0x80000000) throw BAIL;
  return v;
}

function checkUint32(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v > 0xffffffff || v < 0) throw BAIL;
  return v;
}

/** A 64-bit field's value (bigint, or a decimal string with jstype = JS_STRING) as two's-complement halves. */
function to64(type: ScalarType, v: unknown): [number, number] {
  let b: bigint;
  if (typeof v === "bigint") b = v;
  else if (typeof v === "string" && /^-?\d+$/.test(v)) b = BigInt(v);
  else throw BAIL;
  const unsigned = type === ScalarType.UINT64 || type === ScalarType.FIXED64;
  if (unsigned ? b < 0n || b > UINT64_MAX : b < INT64_MIN || b > INT64_MAX) throw BAIL;
  if (type === ScalarType.SINT64) b = (b << 1n) ^ (b >> 63n);
  const u = BigInt.asUintN(64, b);
  return [Number(u & 0xffffffffn), Number(u >> 32n)];
}

function varint32Size(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Negative int32 values are sign-extended to ten bytes, as in every protobuf runtime. */
function int32Size(v: number): number {
  return v < 0 ? 10 : varint32Size(v);
}

function varint64Size(lo: number, hi: number): number {
  if (hi === 0) return varint32Size(lo);
  const bits = 64 - Math.clz32(hi);
  return Math.ceil(bits / 7);
}

function writeVarint32(buf: Buffer, at: number, v: number): number {
  while (v > 0x7f) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

function writeVarint64(buf: Buffer, at: number, lo: number, hi: number): number {
  while (hi !== 0 || lo > 0x7f) {
    buf[at++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[at++] = lo;
  return at;
}
