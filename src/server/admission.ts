/**
 * Admission at arrival. Every call to a method of the counted services is
 * admitted or refused the moment its request arrives, on every path
 * (the unary path, connect-node's handler, HTTP/2 and HTTP/1.1), and counted
 * in the Drain until its response closes. Beyond
 * `server.max_concurrent_requests`, or once shutting down, it is answered
 * at once in its own protocol (RESOURCE_EXHAUSTED or UNAVAILABLE) and none
 * of its message is read.
 *
 * Counting at the handler instead left a queue in front of the bound:
 * connect-node's handler reads a call through a chain of async generators
 * (about 40 KB a call) before the service sees it, so under an open-loop
 * overload, or a burst on one HTTP/2 connection, calls piled up there
 * unbounded and the process ran out of heap (bench/FINDINGS.md, change 29).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { type Metrics, toUpperSnake } from "../observability/metrics.js";
import type { Drain } from "./drain.js";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** Admits a request (true), or answers it (false). */
export type Admission = (req: Request, res: Response) => boolean;

export interface AdmissionOptions {
  readonly drain: Drain;
  readonly metrics: Metrics;
  /** The services whose calls are counted and shed; others (health, reflection) pass uncounted. */
  readonly services: readonly DescService[];
}

export function createAdmission(options: AdmissionOptions): Admission {
  const { drain, metrics } = options;
  /** Method name by path: only known methods, so that a label value is never the caller's text. */
  const methods = new Map<string, string>();
  for (const s of options.services) for (const m of s.methods) methods.set(`/${s.typeName}/${m.name}`, m.name);
  // One function for every call ('close' comes once): a closure and a once-wrapper per call were 0.4 KB.
  const left = (): void => {
    drain.leave();
    metrics.inflight.dec();
  };

  return (req, res) => {
    const method = methods.get(req.url ?? "");
    if (method === undefined) return true;
    try {
      drain.enter();
    } catch (e) {
      const err = e as ConnectError;
      if (err.code === Code.ResourceExhausted) metrics.shed.inc({ method });
      // Answered, so in the RPC histogram like every other answer (the error-ratio alerts read it); not logged,
      // which under an overload would be one more line per call refused.
      metrics.rpcDuration.observe({ method, code: toUpperSnake(Code[err.code]) }, 0);
      refuse(req, res, err);
      return false;
    }
    metrics.inflight.inc();
    res.on("close", left);
    return true;
  };
}

/**
 * The error as the request's protocol carries it, with no message: gRPC
 * and gRPC-Web as trailers-only (the status in the headers, which on HTTP/2
 * is one HEADERS frame ending the stream), Connect as its HTTP status and
 * JSON error body.
 */
function refuse(req: Request, res: Response, error: ConnectError): void {
  // Answered once the request has ended (its bytes discarded), as every
  // handler answers: answered before, under a burst one connection in three
  // was lost to an HTTP/2 protocol error (bench/FINDINGS.md, change 29).
  req.resume();
  req.once("end", () => answer(req, res, error));
}

function answer(req: Request, res: Response, error: ConnectError): void {
  const contentType = req.headers["content-type"] ?? "";
  const head: Record<string, string | number> = {};
  let body: Uint8Array | undefined;
  let status = 200;
  if (/^application\/grpc/i.test(contentType)) {
    head["content-type"] = contentType;
    setTrailerStatus(new Headers(), error).forEach((v, k) => {
      head[k] = v;
    });
  } else {
    status = codeToHttpStatus(error.code);
    head["content-type"] = "application/json";
    body = errorToJsonBytes(error, {});
    head["content-length"] = body.byteLength;
  }
  if ("stream" in req) {
    if (req.stream.destroyed || req.stream.closed) return;
    if (body === undefined) {
      // HTTP/2 gRPC: one HEADERS frame with END_STREAM, as a trailers-only answer must be.
      req.stream.respond({ ":status": status, ...head }, { endStream: true });
      return;
    }
  }
  res.writeHead(status, head);
  if (body === undefined) res.end();
  else res.end(body);
}
