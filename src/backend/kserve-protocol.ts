/**
 * A KServe inference protocol: where to send a row and how to read the
 * answer. V1 and V2 (Open Inference Protocol) are one file each; the
 * adapter (kserve-backend.ts) is the same for both.
 */
import { ShapeError } from "./json-shape.js";

export interface KServeProtocol {
  readonly kind: "kserve-v1" | "kserve-v2";
  predictPath(model: string): string;
  readyPath(model: string): string;
  encode(rows: readonly (readonly number[])[]): unknown;
  /** The first row's output, and the model version when the server reports one. */
  decode(body: unknown, width: number): { output: number[]; modelVersion: string };
}

/** Reads a number array of `width` (1 for a scalar output). */
export function numbers(v: unknown, width: number, path: string): number[] {
  const arr = width === 1 && typeof v === "number" ? [v] : v;
  if (!Array.isArray(arr) || arr.length !== width || !arr.every((x) => typeof x === "number" && Number.isFinite(x))) {
    throw new ShapeError(path, `${width} finite number(s)`, v);
  }
  return arr as number[];
}
