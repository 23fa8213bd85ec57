import { describe, expect, test } from "vitest";
import { LazyHeaders } from "../../src/server/lazy-headers.js";

/** What an operation gave: its value, or the kind of error it threw. */
function outcome(f: () => unknown): unknown {
  try {
    return { value: f() };
  } catch (e) {
    return { threw: (e as Error).constructor.name };
  }
}

const NAMES = ["x-request-id", "X-Request-ID", "traceparent", "content-type", "set-cookie", "x-dup", "a b", "é", ""];
const VALUES = ["v", "  padded\t", "a\nb", "nul\0", "ü", "€", "", "1, 2", " "];

/** A deterministic generator, so that a failure names its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Op = (h: Headers, pick: <T>(a: readonly T[]) => T) => unknown;
const OPS: Record<string, Op> = {
  get: (h, pick) => h.get(pick(NAMES)),
  has: (h, pick) => h.has(pick(NAMES)),
  set: (h, pick) => h.set(pick(NAMES), pick(VALUES)),
  append: (h, pick) => h.append(pick(NAMES), pick(VALUES)),
  delete: (h, pick) => h.delete(pick(NAMES)),
  forEach: (h) => {
    const seen: [string, string, boolean][] = [];
    h.forEach(function (this: unknown, v, k, parent) {
      seen.push([k, v, parent === h && this === "this"]);
    }, "this");
    return seen;
  },
  getSetCookie: (h) => h.getSetCookie(),
  entries: (h) => [...h.entries()],
  iterate: (h) => [...h],
  keys: (h) => [...h.keys()],
  values: (h) => [...h.values()],
};
/** What a call does, weighted: reads and sets, then anything. */
const COMMON = ["get", "has", "set", "forEach"];

describe("LazyHeaders: fetch Headers for the unary path's HandlerContext", () => {
  test("answers every operation as fetch's Headers does, errors included (2000 random sequences)", () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const r = rng(seed);
      const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)] as T;
      // What a request can carry: lowercase tokens, values without NUL, CR or LF, names repeated.
      const initial: string[] = [];
      const n = Math.floor(r() * 4);
      for (let i = 0; i < n; i++) initial.push(pick(["x-request-id", "traceparent", "x-dup", "set-cookie"]), pick(["v", " w ", "ü", ""]));
      const reference = new Headers();
      for (let i = 0; i < initial.length; i += 2) reference.append(initial[i] as string, initial[i + 1] as string);
      const lazy = new LazyHeaders([...initial]);
      const steps = 1 + Math.floor(r() * 6);
      for (let s = 0; s < steps; s++) {
        const name = r() < 0.8 ? pick(COMMON) : pick(Object.keys(OPS));
        const op = OPS[name] as Op;
        const state = r() * 2 ** 32;
        // The same choices for both: each gets a generator from the same state.
        const pickFrom = (st: number) => {
          const g = rng(st);
          return <T>(a: readonly T[]): T => a[Math.floor(g() * a.length)] as T;
        };
        const want = outcome(() => op(reference, pickFrom(state)));
        const got = outcome(() => op(lazy, pickFrom(state)));
        expect(got, `seed ${seed}, step ${s} (${name}) from ${JSON.stringify(initial)}`).toEqual(want);
      }
      expect([...lazy], `seed ${seed}: final state`).toEqual([...reference]);
    }
  });

  test("a call's usual operations never build a fetch Headers", () => {
    const h = LazyHeaders.fromRaw([":method", "POST", ":path", "/x", "x-request-id", "engine-42", "te", "trailers"]);
    expect(h.get("X-Request-Id")).toBe("engine-42");
    expect(h.has("path")).toBe(false);
    expect(h.has("te")).toBe(true);
    expect(h.get("traceparent")).toBeNull();
    h.set("x-request-id", " id-1 ");
    const seen: string[] = [];
    h.forEach((v, k) => {
      seen.push(`${k}=${v}`);
    });
    expect(seen).toEqual(["te=trailers", "x-request-id=id-1"]);
    expect((h as unknown as { real: unknown }).real).toBeUndefined();
    h.append("x-request-id", "id-2");
    expect((h as unknown as { real: unknown }).real).toBeInstanceOf(Headers);
    expect(h.get("x-request-id")).toBe("id-1, id-2");
    expect(() => h.get(":path")).toThrow(TypeError);
  });
});
