/** What the planned encoder and decoder share: protobuf wire types, the one each scalar type is written with, how a plan is compiled, and how either hands a message to protobuf-es. */
import { ScalarType } from "@bufbuild/protobuf";

export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
export const FIXED32 = 5;

/** The wire type a value of `scalar` is written with (enums are varints). */
export function wireTypeOf(scalar: ScalarType): number {
  switch (scalar) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return FIXED64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return FIXED32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return LENGTH_DELIMITED;
    default:
      return VARINT;
  }
}

/**
 * A function made from `source` (the body of a function of `params`),
 * called with `args`: how the encoder and decoder compile a plan. Undefined
 * where Node runs with `--disallow-code-generation-from-strings`; each then
 * leaves every message to protobuf-es, as for a type it does not plan.
 */
export function compileGenerated(params: readonly string[], source: string, args: readonly unknown[]): unknown {
  let make: (...a: unknown[]) => unknown;
  try {
    make = new Function(...params, source) as (...a: unknown[]) => unknown;
  } catch (e) {
    if (e instanceof EvalError) return undefined;
    throw e;
  }
  return make(...args);
}

/**
 * Thrown inside an encode or decode when a value or an input is not what
 * the plan expects: the caller catches it and protobuf-es (toBinary or
 * fromBinary) takes the whole message over.
 */
export const BAIL = Symbol("bail");

/** A compiled function's stand-in where nothing is compiled: every call hands over to protobuf-es. */
export const bail = (): never => {
  throw BAIL;
};

/**
 * The nested types a compiled function calls, each listed once: `of(p)` is
 * p's index in `items`, which the generated source refers to.
 */
export function indexed<T>(): { readonly items: T[]; of(item: T): number } {
  const items: T[] = [];
  return {
    items,
    of(item) {
      const i = items.indexOf(item);
      return i >= 0 ? i : items.push(item) - 1;
    },
  };
}

/**
 * The longest ASCII string the encoder and the cache key copy in
 * JavaScript, a code unit at a time (about 3 ns a character), rather than
 * by `buf.write` (~110 ns a call, far less a character): the two cross near
 * 40 characters (bench/FINDINGS.md, change 25).
 */
export const SHORT_ASCII = 48;
