/**
 * The gRPC unary path: what the engine calls, every call. connect-node's
 * universal handler runs each call through a chain of async generators,
 * three linked AbortControllers and a DOMException at the end of every call
 * (bench/README.md has the profile); on this path that is most of the
 * sidecar's CPU. This handler serves unary methods over gRPC (HTTP/2,
 * binary, uncompressed) directly on Node's HTTP/2 request and response,
 * with connect's own pieces for the protocol details — timeout parsing,
 * trailer status (grpc-status, grpc-message, grpc-status-details-bin) — and
 * the same service implementations and HandlerContext. Everything else
 * (Connect, gRPC-Web, gRPC+JSON, compressed messages, streaming methods,
 * unknown paths) is declined and goes to connect-node unchanged.
 */
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { create, type DescMessage, type DescMethodUnary, type DescService, isMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { MESSAGE_BYTES } from "../api/call-context.js";
import { CallController } from "../api/call-signal.js";
import { decodeBinary } from "../wire/binary-decoder.js";
import { encodeBinary } from "../wire/binary-encoder.js";

// biome-ignore lint/suspicious/noExplicitAny: connect's ServiceImpl is typed per service; this path calls it generically.
type AnyImpl = Record<string, any>;

interface Route {
  readonly method: DescMethodUnary;
  readonly service: DescService;
  readonly impl: (req: unknown, ctx: HandlerContext) => unknown;
}

export interface GrpcUnaryOptions {
  /** The services and their implementations, as given to connect's router. */
  readonly services: ReadonlyArray<readonly [DescService, AnyImpl]>;
  /** Largest accepted message, as connect's readMaxBytes. */
  readonly readMaxBytes: number;
  /** Largest accepted grpc-timeout, as connect's maxTimeoutMs. */
  readonly maxTimeoutMs: number;
  /** Aborts every call in flight (shutdown), as connect's shutdownSignal. */
  readonly shutdownSignal: AbortSignal;
}

/** Serves a request and returns true, or returns false for connect-node to serve it. */
export type GrpcUnaryHandler = (req: Http2ServerRequest, res: Http2ServerResponse) => boolean;

const CONTENT_TYPE = /^application\/grpc(\+proto)?$/i;
const RESPONSE_HEADER = { "content-type": "application/grpc+proto" };
const ENVELOPE = 5;

/** connect's words for a unary body holding more than one message. */
const extraMessage = (): ConnectError =>
  new ConnectError("protocol error: received extra input message for unary method", Code.Unimplemented);

/** The abort reason when the stream closes before the answer: the caller is gone. */
function closedReason(rstCode: number | undefined): ConnectError {
  return new ConnectError(`the caller closed the stream (http/2 code 0x${(rstCode ?? 0).toString(16)})`, Code.Canceled);
}

export function createGrpcUnaryHandler(options: GrpcUnaryOptions): GrpcUnaryHandler {
  const routes = new Map<string, Route>();
  for (const [service, impl] of options.services) {
    for (const method of service.methods) {
      const fn = impl[method.localName];
      if (method.methodKind !== "unary" || typeof fn !== "function") continue;
      routes.set(`/${service.typeName}/${method.name}`, { method: method as DescMethodUnary, service, impl: fn.bind(impl) });
    }
  }
  // One listener on the shutdown signal for every call, rather than one per
  // call: the first listener on a signal is what costs (~4 µs in Node 20).
  const inFlight = new Set<CallController>();
  options.shutdownSignal.addEventListener(
    "abort",
    () => {
      for (const c of inFlight) c.abort(options.shutdownSignal.reason);
    },
    { once: true },
  );

  return (req, res) => {
    const route = routes.get(req.url);
    const contentType = req.headers["content-type"];
    const encoding = req.headers["grpc-encoding"];
    if (
      route === undefined ||
      req.method !== "POST" ||
      contentType === undefined ||
      !CONTENT_TYPE.test(contentType) ||
      (encoding !== undefined && encoding !== "identity")
    ) {
      return false;
    }
    serve(route, req, res, options, inFlight);
    return true;
  };
}

function serve(
  route: Route,
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  options: GrpcUnaryOptions,
  inFlight: Set<CallController>,
): void {
  const stream = req.stream;
  const responseHeader = new Headers(RESPONSE_HEADER);
  let ctx: UnaryContext | undefined;
  let answered = false;

  const timeout = parseTimeout((req.headers["grpc-timeout"] as string | undefined) ?? null, options.maxTimeoutMs);
  const controller = new CallController();
  let timer: NodeJS.Timeout | undefined;
  if (timeout.timeoutMs !== undefined && timeout.error === undefined) {
    timer = setTimeout(() => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeout.timeoutMs);
  }
  const onClose = (): void => {
    if (!answered) controller.abort(closedReason(stream.rstCode));
    finish();
  };
  const finish = (): void => {
    clearTimeout(timer);
    inFlight.delete(controller);
    stream.off("close", onClose);
  };
  if (options.shutdownSignal.aborted) controller.abort(options.shutdownSignal.reason);
  else inFlight.add(controller);
  stream.once("close", onClose);

  /** Answers with `frame` (the enveloped message) or, without one, with trailers only. */
  const respond = (frame: Uint8Array | undefined, error: ConnectError | undefined): void => {
    if (answered) return;
    answered = true;
    finish();
    if (stream.destroyed || stream.closed) return;
    const head: Record<string, string> = {};
    responseHeader.forEach((v, k) => {
      head[k] = v;
    });
    const tail: Record<string, string> = {};
    const trailer = ctx?.trailerIfAny();
    if (trailer !== undefined || error !== undefined) {
      setTrailerStatus(trailer ?? new Headers(), error).forEach((v, k) => {
        tail[k] = v;
      });
    } else tail["grpc-status"] = "0";
    res.writeHead(200, head);
    res.addTrailers(tail);
    if (frame === undefined) res.end();
    else res.end(frame);
  };
  const fail = (e: unknown): void => {
    const error = e instanceof ConnectError ? e : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
    if (!controller.signal.aborted) controller.abort(error);
    respond(undefined, error);
  };

  if (timeout.error !== undefined) {
    req.resume();
    fail(timeout.error);
    return;
  }

  // Read the one enveloped message, bounded by readMaxBytes.
  const chunks: Buffer[] = [];
  let size = 0;
  let declared = -1;
  const stopReading = (error: ConnectError): void => {
    req.off("data", onData);
    req.off("end", onEnd);
    chunks.length = 0;
    req.resume();
    fail(error);
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.byteLength;
    if (declared < 0 && size >= ENVELOPE) {
      const head = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      declared = head.readUInt32BE(1);
      if (declared > options.readMaxBytes) {
        stopReading(
          new ConnectError(
            `message size ${declared} is larger than configured readMaxBytes ${options.readMaxBytes}`,
            Code.ResourceExhausted,
          ),
        );
        return;
      }
    }
    // A unary body is one message: bytes past it and past the bound are
    // never buffered, whatever the caller keeps sending.
    if (declared >= 0 && size > ENVELOPE + declared && size > ENVELOPE + options.readMaxBytes) {
      stopReading(extraMessage());
    }
  };
  const onEnd = (): void => {
    let input: unknown;
    try {
      input = parseUnary(route.method.input, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    } catch (e) {
      fail(e);
      return;
    }
    ctx = new UnaryContext(
      route,
      `http://${req.headers[":authority"] ?? "localhost"}${req.url}`,
      controller.signal,
      timeout.timeoutMs,
      requestHeaders(req),
      responseHeader,
      createContextValues().set(MESSAGE_BYTES, size - ENVELOPE),
    );
    let out: unknown;
    try {
      out = route.impl(input, ctx);
    } catch (e) {
      fail(e);
      return;
    }
    Promise.resolve(out).then((message) => {
      let frame: Buffer;
      try {
        const output = route.method.output;
        // The message is encoded behind room for its envelope: one buffer, no copy.
        frame = encodeBinary(output, isMessage(message, output) ? message : create(output, message as never), {
          reserve: ENVELOPE,
          pooled: true,
        }) as Buffer;
        frame[0] = 0;
        frame.writeUInt32BE(frame.byteLength - ENVELOPE, 1);
      } catch (e) {
        fail(new ConnectError(`serialize binary: ${String(e)}`, Code.Internal));
        return;
      }
      respond(frame, undefined);
    }, fail);
  };
  req.on("data", onData);
  req.once("end", onEnd);
}

/** The one message of a unary request body, with connect's errors for malformed ones. */
function parseUnary(schema: DescMessage, body: Buffer): unknown {
  if (body.byteLength === 0) {
    throw new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented);
  }
  if (body.byteLength < ENVELOPE) throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  const length = body.readUInt32BE(1);
  const end = ENVELOPE + length;
  if (body.byteLength < end) throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  if (body.byteLength > end) throw extraMessage();
  if (((body[0] as number) & 0b1) === 0b1) {
    throw new ConnectError("received compressed envelope, but do not know how to decompress", Code.Internal);
  }
  try {
    return decodeBinary(schema, body.subarray(ENVELOPE, end));
  } catch (e) {
    throw new ConnectError(`parse binary: ${e instanceof Error ? e.message : String(e)}`, Code.Internal);
  }
}

/**
 * The HandlerContext of one call. A class, not an object literal: a literal
 * with a getter closing over the call gets a hidden class of its own, which
 * lives in old space and points back at the call, so every scavenge had to
 * copy each finished call's objects until the next full GC (found with
 * --trace-gc-nvp: megabytes surviving each scavenge, ~3 ms pauses).
 */
class UnaryContext implements HandlerContext {
  readonly method: DescMethodUnary;
  readonly service: DescService;
  readonly requestMethod = "POST";
  readonly protocolName = "grpc";
  private readonly deadline: number | undefined;
  private trailer: Headers | undefined;

  constructor(
    route: Route,
    readonly url: string,
    readonly signal: AbortSignal,
    timeoutMs: number | undefined,
    readonly requestHeader: Headers,
    readonly responseHeader: Headers,
    readonly values: ContextValues,
  ) {
    this.method = route.method;
    this.service = route.service;
    this.deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  }

  /** The time left before the caller's deadline. */
  readonly timeoutMs = (): number | undefined => (this.deadline === undefined ? undefined : this.deadline - Date.now());

  /** Most calls never touch their trailers: made when first asked for. */
  get responseTrailer(): Headers {
    this.trailer ??= new Headers();
    return this.trailer;
  }

  trailerIfAny(): Headers | undefined {
    return this.trailer;
  }
}

/** The request's metadata as fetch Headers, without HTTP/2 pseudo-headers. */
function requestHeaders(req: Http2ServerRequest): Headers {
  const h = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i] as string;
    if (k.charCodeAt(0) !== 58 /* ':' */) h.append(k, raw[i + 1] as string);
  }
  return h;
}
