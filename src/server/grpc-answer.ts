/**
 * A gRPC answer on a node:http2 stream: HEADERS, the message (if any) and
 * the status in trailers — in one write where this Node allows it.
 *
 * node:http2's public way (`respond({ waitForTrailers: true })`, `end()`,
 * `sendTrailers()` on 'wantTrailers') writes the trailers in a second write,
 * at the end of a chain that starts when the message's write completes: the
 * write callback, `_final`, the stream's shutdown, another pass of nghttp2
 * that emits 'wantTrailers', then `sendTrailers`, which submits them from a
 * `setImmediate` (lib/internal/http2/core.js: "so we don't do it on nghttp2
 * stack"). On the wire they left about 100 µs (median) after the message,
 * and a gRPC client has its answer only with them (bench/FINDINGS.md,
 * change 26).
 *
 * nghttp2 itself allows trailers to be submitted from inside the data
 * source's read callback, once the data has ended (its author, in
 * nghttp2/nghttp2#269: "the earliest point"), and that is where Node emits
 * 'wantTrailers'. So, on the Node these internals were read from (20), the
 * answer:
 * - lets Node shut the stream's writable side right after the last write,
 *   the shortcut it already takes for streams without trailers (it checks a
 *   has-trailers flag in the stream's state, which is cleared here);
 * - submits the trailers inside 'wantTrailers' through the stream's native
 *   handle, as `finishSendTrailers` does a loop turn later;
 * - holds the stream's destroy until the loop's check phase (below).
 * nghttp2 then packs HEADERS, DATA and the trailers into one send.
 *
 * The internals are looked for once, on the first stream, and checked
 * there: another major, a symbol or method missing, or the flag not set by
 * `waitForTrailers`, and every answer takes the public way.
 */
import type { ServerHttp2Stream } from "node:http2";

/** The major the internals below were read from (lib/internal/http2/core.js). */
const NODE_MAJOR = 20;
/** STREAM_FLAGS_HAS_TRAILERS in core.js. */
const HAS_TRAILERS = 0x20;

interface Internals {
  /** `kState`: { flags, ... } */
  readonly state: symbol;
  /** `kHandle`: the native Http2Stream, whose `trailers([list, count])` submits trailers. */
  readonly handle: symbol;
}

/** undefined: not looked for yet; null: this Node takes the public way. */
let internals: Internals | null | undefined;

/** Whether answers go out in one write (known after the first answer). */
export function oneWriteAnswers(): boolean | undefined {
  return internals === undefined ? undefined : internals !== null;
}

type Indexed = Record<symbol, unknown>;

/** Called right after `respond(…, { waitForTrailers: true })`, which sets the flag looked for. */
function find(stream: ServerHttp2Stream): Internals | null {
  if (Number(process.versions.node.split(".")[0]) !== NODE_MAJOR) return null;
  const symbols = Object.getOwnPropertySymbols(stream);
  const state = symbols.find((s) => s.description === "state");
  const handle = symbols.find((s) => s.description === "kHandle");
  if (state === undefined || handle === undefined) return null;
  const flags = ((stream as unknown as Indexed)[state] as { flags?: unknown } | undefined)?.flags;
  const native = (stream as unknown as Indexed)[handle] as { trailers?: unknown } | undefined;
  if (typeof flags !== "number" || (flags & HAS_TRAILERS) === 0 || typeof native?.trailers !== "function") return null;
  return { state, handle };
}

/**
 * The trailers as node:http2's header list (`mapToHeaders`): name NUL value
 * NUL flags for each, and the count. They come from fetch Headers (the
 * call's trailers, and connect's status with its message percent-encoded),
 * which refuse NUL, CR and LF in names and values.
 */
function headerList(trailers: Readonly<Record<string, string>>): [string, number] {
  let list = "";
  let count = 0;
  for (const name in trailers) {
    // NGHTTP2_NV_FLAG_NONE
    list += `${name}\0${trailers[name]}\0\0`;
    count++;
  }
  return [list, count];
}

/**
 * Once the caller has half-closed, the trailers close the stream in the
 * same pass of nghttp2 that sends them, and Node destroys it there
 * (`onStreamClose`), before the socket write carrying the message has
 * completed. The write's completion then finds the stream destroyed:
 * Node 20's Writable builds an ERR_STREAM_DESTROYED for finish callbacks
 * whether there are any or not (`errorBuffer`; about 3 µs and 0.7 KB per
 * call on the benchmark's VM, bench/FINDINGS.md change 28), and the stream
 * never emits 'finish'. So the next destroy waits for the loop's check
 * phase, past the write's completion and the stream's 'finish', as on the
 * public way. The own property stays, pointing back at the stream's own
 * destroy: deleting it turned the stream's properties into a dictionary,
 * 1.2 KB more per call.
 */
function holdDestroy(stream: ServerHttp2Stream): void {
  const destroy = stream.destroy;
  stream.destroy = function held(this: ServerHttp2Stream, error?: Error) {
    this.destroy = destroy;
    setImmediate(() => this.destroy(error));
    return this;
  };
}

/**
 * Answers on `stream`: `head` (`:status` and headers), then `body` if
 * given, then `trailers` (lower-case names, as gRPC's are). Any
 * 'wantTrailers' listener already on the stream (the compatibility
 * response's) is removed: the trailers are sent here, once. `way` "public"
 * takes node:http2's public way whatever this Node is (for tests of it).
 */
export function answerGrpc(
  stream: ServerHttp2Stream,
  head: Record<string, string | number>,
  trailers: Readonly<Record<string, string>>,
  body: Uint8Array | undefined,
  way: "best" | "public" = "best",
): void {
  stream.removeAllListeners("wantTrailers");
  stream.respond(head, { waitForTrailers: true });
  if (internals === undefined) internals = find(stream);
  if (internals === null || way === "public") {
    stream.once("wantTrailers", () => stream.sendTrailers(trailers));
  } else {
    const { state, handle } = internals;
    const list = headerList(trailers);
    ((stream as unknown as Indexed)[state] as { flags: number }).flags &= ~HAS_TRAILERS;
    stream.once("wantTrailers", () => {
      const native = (stream as unknown as Indexed)[handle] as { trailers(list: [string, number]): number } | undefined;
      if (stream.destroyed || native === undefined) return;
      holdDestroy(stream);
      // A negative return is nghttp2's error; the stream is destroyed off
      // nghttp2's stack, as Node does everything that may close it.
      const code = native.trailers(list);
      if (code < 0) setImmediate(() => stream.destroy(new Error(`http2: the trailers could not be submitted (nghttp2 ${code})`)));
    });
  }
  if (body === undefined) stream.end();
  else stream.end(body);
}
