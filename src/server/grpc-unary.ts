/**
 * The unary path: what the engine calls, every call. connect-node's
 * universal handler runs each call through a chain of async generators,
 * three linked AbortControllers and a DOMException at the end of every call
 * (bench/FINDINGS.md, change 1, has the profile); on this path that is most of the
 * sidecar's CPU. This handler serves unary methods over HTTP/2 directly on
 * Node's HTTP/2 request and stream, in two protocols:
 * - gRPC (binary, uncompressed): the message enveloped, the status in
 *   trailers (grpc-status, grpc-message, grpc-status-details-bin), in one
 *   write on Node 20 (grpc-answer.ts);
 * - Connect unary POST (application/proto or application/json,
 *   uncompressed): the bare message, the status as the HTTP status with a
 *   JSON error body, trailers as `trailer-` headers. Its answer goes out as
 *   one write, HEADERS and a DATA frame carrying END_STREAM.
 * Answers are not compressed on either (a caller's accept-encoding is a
 * preference the protocols let a server decline).
 * It uses connect's own pieces for the protocol details (timeout parsing,
 * status mapping, error bodies, JSON serialization) and the same service
 * implementations and HandlerContext. Everything else (gRPC-Web, gRPC+JSON,
 * Connect GET, compressed messages, streaming methods, unknown paths, and
 * HTTP/1.1) is declined and goes to connect-node unchanged.
 */
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { create, type DescMessage, type DescMethodUnary, type DescService, isMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { createMethodSerializationLookup, type MethodSerializationLookup } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  parseTimeout as parseConnectTimeout,
  parseContentType,
  trailerMux,
} from "@connectrpc/connect/protocol-connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { MESSAGE_BYTES } from "../api/call-context.js";
import { CallController } from "../api/call-signal.js";
import { decodeBinary } from "../wire/binary-decoder.js";
import { encodeBinary } from "../wire/binary-encoder.js";
import { answerGrpc } from "./grpc-answer.js";
import { LazyHeaders } from "./lazy-headers.js";

// biome-ignore lint/suspicious/noExplicitAny: connect's ServiceImpl is typed per service; this path calls it generically.
type AnyImpl = Record<string, any>;

interface Route {
  readonly method: DescMethodUnary;
  readonly service: DescService;
  readonly impl: (req: unknown, ctx: HandlerContext) => unknown;
  /** connect's own JSON (and bounds) for this method, as connect-node uses them. */
  readonly serialization: MethodSerializationLookup<DescMessage, DescMessage>;
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
  /** connect-node's JSON options, for Connect's JSON messages and error bodies. */
  readonly jsonOptions?: Parameters<typeof errorToJsonBytes>[1];
}

/** Serves a request and returns true, or returns false for connect-node to serve it. */
export type GrpcUnaryHandler = (req: Http2ServerRequest, res: Http2ServerResponse) => boolean;

const CONTENT_TYPE = /^application\/grpc(\+proto)?$/i;
/** The wire format of one call: gRPC, or Connect unary with a binary or JSON message. */
type Wire = "grpc" | "connect+proto" | "connect+json";
const GRPC_CONTENT_TYPE = "application/grpc+proto";
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
      routes.set(`/${service.typeName}/${method.name}`, {
        method: method as DescMethodUnary,
        service,
        impl: fn.bind(impl),
        serialization: createMethodSerializationLookup(method, undefined, options.jsonOptions, {
          readMaxBytes: options.readMaxBytes,
          writeMaxBytes: 0xffffffff,
        }),
      });
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

  return (req) => {
    const route = routes.get(req.url);
    const contentType = req.headers["content-type"];
    if (route === undefined || req.method !== "POST" || contentType === undefined) return false;
    const wire = wireOf(contentType, req.headers);
    if (wire === undefined) return false;
    serve(route, wire, req, options, inFlight);
    return true;
  };
}

const identity = (encoding: string | string[] | undefined): boolean => encoding === undefined || encoding === "identity";

/** The protocol of a request this path serves, or undefined for connect-node to serve it. */
function wireOf(contentType: string, headers: Http2ServerRequest["headers"]): Wire | undefined {
  if (CONTENT_TYPE.test(contentType)) return identity(headers["grpc-encoding"]) ? "grpc" : undefined;
  const connect = parseContentType(contentType);
  if (connect === undefined || connect.stream || !identity(headers["content-encoding"])) return undefined;
  return connect.binary ? "connect+proto" : "connect+json";
}

function serve(route: Route, wire: Wire, req: Http2ServerRequest, options: GrpcUnaryOptions, inFlight: Set<CallController>): void {
  const stream = req.stream;
  const grpc = wire === "grpc";
  const responseHeader = new LazyHeaders([
    "content-type",
    grpc ? GRPC_CONTENT_TYPE : wire === "connect+proto" ? contentTypeUnaryProto : contentTypeUnaryJson,
  ]);
  let ctx: UnaryContext | undefined;
  let answered = false;

  const timeout = grpc
    ? parseTimeout((req.headers["grpc-timeout"] as string | undefined) ?? null, options.maxTimeoutMs)
    : parseConnectTimeout((req.headers["connect-timeout-ms"] as string | undefined) ?? null, options.maxTimeoutMs);
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

  /** Answers with `body` (the encoded message, enveloped for gRPC) or, without one, with `error`. */
  const respond = (body: Uint8Array | undefined, error: ConnectError | undefined): void => {
    if (answered) return;
    answered = true;
    finish();
    if (stream.destroyed || stream.closed) return;
    if (grpc) respondGrpc(stream, responseHeader, ctx?.trailerIfAny(), body, error);
    else respondConnect(stream, responseHeader, ctx?.trailerIfAny(), body, error, options.jsonOptions);
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

  // Read the one message, bounded by readMaxBytes: for gRPC the length its
  // envelope declares; for Connect a content-length over the bound is refused
  // before reading (connect's readAllBytes, with its errors), and a body that
  // does not keep its content-length never gets here (nghttp2 resets it).
  const chunks: Buffer[] = [];
  let size = 0;
  let declared = -1;
  if (!grpc) {
    const hint = Number.parseInt(req.headers["content-length"] ?? "", 10);
    if (Number.isSafeInteger(hint) && hint > options.readMaxBytes) {
      req.resume();
      fail(tooLarge(hint, options.readMaxBytes));
      return;
    }
  }
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
    if (!grpc) {
      if (size > options.readMaxBytes) {
        stopReading(
          new ConnectError(`message size is larger than configured readMaxBytes ${options.readMaxBytes}`, Code.ResourceExhausted),
        );
      }
      return;
    }
    if (declared < 0 && size >= ENVELOPE) {
      const head = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      declared = head.readUInt32BE(1);
      if (declared > options.readMaxBytes) {
        stopReading(tooLarge(declared, options.readMaxBytes));
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
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
    try {
      input = grpc
        ? parseUnary(route.method.input, body)
        : wire === "connect+proto"
          ? parseBinary(route.method.input, body)
          : route.serialization.getI(false).parse(body);
    } catch (e) {
      fail(e);
      return;
    }
    ctx = new UnaryContext(
      route,
      grpc ? "grpc" : "connect",
      `http://${req.headers[":authority"] ?? "localhost"}${req.url}`,
      controller.signal,
      timeout.timeoutMs,
      LazyHeaders.fromRaw(req.rawHeaders),
      responseHeader,
      // The binary message's size as measured here; for JSON the service measures it.
      createContextValues().set(MESSAGE_BYTES, grpc ? size - ENVELOPE : wire === "connect+proto" ? size : undefined),
    );
    let out: unknown;
    try {
      out = route.impl(input, ctx);
    } catch (e) {
      fail(e);
      return;
    }
    Promise.resolve(out).then((message) => {
      let encoded: Uint8Array;
      try {
        const output = route.method.output;
        const m = isMessage(message, output) ? message : create(output, message as never);
        if (wire === "connect+json") encoded = route.serialization.getO(false).serialize(m);
        else {
          // The message is encoded behind room for its envelope: one buffer, no copy.
          const frame = encodeBinary(output, m, { reserve: grpc ? ENVELOPE : 0, pooled: true }) as Buffer;
          if (grpc) {
            frame[0] = 0;
            frame.writeUInt32BE(frame.byteLength - ENVELOPE, 1);
          }
          encoded = frame;
        }
      } catch (e) {
        fail(e instanceof ConnectError ? e : new ConnectError(`serialize binary: ${String(e)}`, Code.Internal));
        return;
      }
      respond(encoded, undefined);
    }, fail);
  };
  req.on("data", onData);
  req.once("end", onEnd);
}

const tooLarge = (size: number, readMaxBytes: number): ConnectError =>
  new ConnectError(`message size ${size} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);

/** A gRPC answer: the message, then the status in trailers, on the stream itself (grpc-answer.ts). */
function respondGrpc(
  stream: Http2ServerRequest["stream"],
  responseHeader: Headers,
  trailer: Headers | undefined,
  frame: Uint8Array | undefined,
  error: ConnectError | undefined,
): void {
  const head: Record<string, string | number> = { ":status": 200 };
  responseHeader.forEach((v, k) => {
    head[k] = v;
  });
  const tail: Record<string, string> = {};
  if (trailer !== undefined || error !== undefined) {
    setTrailerStatus(trailer ?? new Headers(), error).forEach((v, k) => {
      tail[k] = v;
    });
  } else tail["grpc-status"] = "0";
  answerGrpc(stream, head, tail, frame);
}

/**
 * A Connect unary answer, as connect-node makes it: the message, or the
 * error as JSON under its HTTP status with its metadata as headers; trailers
 * as `trailer-` headers. On the stream itself, so that HEADERS and the DATA
 * frame ending the stream leave in one write (Node's compatibility
 * response sends END_STREAM in a write of its own).
 */
function respondConnect(
  stream: Http2ServerRequest["stream"],
  responseHeader: Headers,
  trailer: Headers | undefined,
  message: Uint8Array | undefined,
  error: ConnectError | undefined,
  jsonOptions: GrpcUnaryOptions["jsonOptions"],
): void {
  let status = 200;
  let body = message ?? new Uint8Array(0);
  if (error !== undefined) {
    status = codeToHttpStatus(error.code);
    responseHeader.set("content-type", contentTypeUnaryJson);
    error.metadata.forEach((v, k) => {
      responseHeader.set(k, v);
    });
    body = errorToJsonBytes(error, jsonOptions);
  }
  const head: Record<string, string | number> = { ":status": status };
  const all = trailer === undefined ? responseHeader : trailerMux(responseHeader, trailer);
  all.forEach((v, k) => {
    head[k] = v;
  });
  head["content-length"] = String(body.byteLength);
  stream.respond(head);
  stream.end(body);
}

/** A Connect request's message: the body itself, with connect's error for a malformed one. */
function parseBinary(schema: DescMessage, body: Buffer): unknown {
  try {
    return decodeBinary(schema, body);
  } catch (e) {
    throw new ConnectError(`parse binary: ${e instanceof Error ? e.message : String(e)}`, Code.Internal);
  }
}

/** The one message of a unary gRPC request body, with connect's errors for malformed ones. */
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
  return parseBinary(schema, body.subarray(ENVELOPE, end));
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
  private readonly deadline: number | undefined;
  private trailer: Headers | undefined;

  constructor(
    route: Route,
    readonly protocolName: "grpc" | "connect",
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
