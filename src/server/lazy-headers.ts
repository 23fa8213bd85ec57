/**
 * Metadata for the unary path's HandlerContext. connect's HandlerContext
 * takes fetch Headers, and Node's Headers (its bundled undici) converts,
 * validates and sorts on every operation. Building the request's and the
 * answer's for every call, reading two request headers and setting one
 * took 4.5 % of the main thread's busy time in a profile of the miss path
 * (bench/FINDINGS.md, change 19).
 *
 * LazyHeaders answers what a call does with them (get, has, set, and
 * forEach while no name repeats) from a flat array of lowercase
 * [name, value] pairs, with fetch's own rules: names case-insensitive and
 * checked as HTTP tokens; values stripped of leading and trailing
 * whitespace and refused with NUL, CR, LF or a character past U+00FF;
 * iteration sorted by name; repeated names joined with ", ". Anything else
 * (append, delete, the iterators, getSetCookie, or a name or value fetch
 * would refuse) turns it into a real Headers once, which answers from then
 * on, errors included.
 */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A value fetch would refuse even after stripping it: NUL, CR, LF, or not a ByteString. */
const BAD_VALUE = /[\0\r\n\u0100-\uffff]/;
const EDGE_SPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

const space = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13;
/** A value as fetch stores it: without leading or trailing whitespace. */
function strip(v: string): string {
  return v.length > 0 && (space(v.charCodeAt(0)) || space(v.charCodeAt(v.length - 1))) ? v.replace(EDGE_SPACE, "") : v;
}

/** A name as Headers keys it, or undefined when it is not an HTTP token. */
function keyOf(name: string): string | undefined {
  return TOKEN.test(name) ? name.toLowerCase() : undefined;
}

export class LazyHeaders implements Headers {
  private real: Headers | undefined;

  /**
   * @param pairs name, value, name, value, …: names lowercase HTTP tokens,
   * values without NUL, CR or LF (what nghttp2 admits on a request, or
   * constants). A name may repeat. Owned by this object from now on.
   */
  constructor(private readonly pairs: string[]) {}

  /** HTTP/2 request headers as Node gives them (`rawHeaders`), without the pseudo-headers. */
  static fromRaw(raw: readonly string[]): LazyHeaders {
    const pairs: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i] as string;
      if (k.charCodeAt(0) !== 58 /* ':' */) pairs.push(k, raw[i + 1] as string);
    }
    return new LazyHeaders(pairs);
  }

  get(name: string): string | null {
    const key = this.real === undefined ? keyOf(name) : undefined;
    if (key === undefined) return this.materialize().get(name);
    let out: string | null = null;
    for (let i = 0; i < this.pairs.length; i += 2) {
      if (this.pairs[i] !== key) continue;
      const v = strip(this.pairs[i + 1] as string);
      out = out === null ? v : `${out}, ${v}`;
    }
    return out;
  }

  has(name: string): boolean {
    const key = this.real === undefined ? keyOf(name) : undefined;
    if (key === undefined) return this.materialize().has(name);
    for (let i = 0; i < this.pairs.length; i += 2) if (this.pairs[i] === key) return true;
    return false;
  }

  set(name: string, value: string): void {
    const key = this.real === undefined ? keyOf(name) : undefined;
    const v = key === undefined ? "" : strip(String(value));
    if (key === undefined || BAD_VALUE.test(v)) {
      this.materialize().set(name, value);
      return;
    }
    const pairs = this.pairs;
    let at = -1;
    for (let i = pairs.length - 2; i >= 0; i -= 2) {
      if (pairs[i] !== key) continue;
      if (at >= 0) pairs.splice(at, 2);
      at = i;
    }
    if (at >= 0) pairs[at + 1] = v;
    else pairs.push(key, v);
  }

  forEach(callbackfn: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    if (this.real === undefined && this.distinct()) {
      const pairs = this.pairs;
      // Insertion sort of a few indexes by name: no comparator closure per call.
      const order: number[] = [];
      for (let i = 0; i < pairs.length; i += 2) {
        let j = order.length;
        order.push(i);
        for (; j > 0 && (pairs[order[j - 1] as number] as string) > (pairs[i] as string); j--) order[j] = order[j - 1] as number;
        order[j] = i;
      }
      for (const i of order) callbackfn.call(thisArg, strip(pairs[i + 1] as string), pairs[i] as string, this);
      return;
    }
    this.materialize().forEach((v, k) => {
      callbackfn.call(thisArg, v, k, this);
    });
  }

  append(name: string, value: string): void {
    this.materialize().append(name, value);
  }

  delete(name: string): void {
    this.materialize().delete(name);
  }

  getSetCookie(): string[] {
    return this.materialize().getSetCookie();
  }

  keys(): ReturnType<Headers["keys"]> {
    return this.materialize().keys();
  }

  values(): ReturnType<Headers["values"]> {
    return this.materialize().values();
  }

  entries(): ReturnType<Headers["entries"]> {
    return this.materialize().entries();
  }

  [Symbol.iterator](): ReturnType<Headers["entries"]> {
    return this.materialize().entries();
  }

  /** Whether no name repeats (fetch joins repeats, or for set-cookie iterates each). */
  private distinct(): boolean {
    for (let i = 0; i < this.pairs.length; i += 2) {
      const k = this.pairs[i] as string;
      for (let j = i + 2; j < this.pairs.length; j += 2) if (this.pairs[j] === k) return false;
    }
    return true;
  }

  private materialize(): Headers {
    if (this.real === undefined) {
      const h = new Headers();
      for (let i = 0; i < this.pairs.length; i += 2) h.append(this.pairs[i] as string, this.pairs[i + 1] as string);
      this.real = h;
      this.pairs.length = 0;
    }
    return this.real;
  }
}
