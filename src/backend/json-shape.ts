/**
 * Checks an upstream's JSON against the shape the contract promises, naming
 * the first field that breaks it. A wrongly typed answer must become an
 * INTERNAL error that says which field, never a half-filled message.
 */

/** Thrown by the readers below; the adapter turns it into an UpstreamError. */
export class ShapeError extends Error {
  constructor(
    readonly field: string,
    readonly expected: string,
    got: unknown,
  ) {
    super(`${field || "(body)"}: expected ${expected}, got ${describe(got)}`);
    this.name = "ShapeError";
  }
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v).slice(0, 40)}`;
}

const at = (path: string, key: string | number): string =>
  typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`;

/** A JSON object at `path`. */
export function object(v: unknown, path: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new ShapeError(path, "an object", v);
  return v as Record<string, unknown>;
}

/** A finite number field, within [min, max] when given. */
export function number(o: Record<string, unknown>, key: string, path: string, min = -Infinity, max = Infinity): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ShapeError(at(path, key), "a finite number", v);
  if (v < min || v > max) throw new ShapeError(at(path, key), `a number from ${min} to ${max}`, v);
  return v;
}

/** A boolean field. */
export function boolean(o: Record<string, unknown>, key: string, path: string): boolean {
  const v = o[key];
  if (typeof v !== "boolean") throw new ShapeError(at(path, key), "a boolean", v);
  return v;
}

/** A string field; optional ones give "" when absent. */
export function string(o: Record<string, unknown>, key: string, path: string, optional = false): string {
  const v = o[key];
  if (v === undefined && optional) return "";
  if (typeof v !== "string") throw new ShapeError(at(path, key), "a string", v);
  return v;
}

/** An array field, each element read by `each`; optional ones give [] when absent. */
export function array<T>(
  o: Record<string, unknown>,
  key: string,
  path: string,
  each: (v: unknown, path: string) => T,
  optional = false,
): T[] {
  const v = o[key];
  if (v === undefined && optional) return [];
  if (!Array.isArray(v)) throw new ShapeError(at(path, key), "an array", v);
  return v.map((x, i) => each(x, at(at(path, key), i)));
}

/** An element reader for arrays of strings. */
export function stringItem(v: unknown, path: string): string {
  if (typeof v !== "string") throw new ShapeError(path, "a string", v);
  return v;
}
