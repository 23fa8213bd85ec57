/** What the planned encoder and decoder share: protobuf wire types, the one each scalar type is written with, and how a plan is compiled. */
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
