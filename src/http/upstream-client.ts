/**
 * JSON over HTTP to one upstream, through one undici Pool with keep-alive.
 * Every outcome that is not a 2xx JSON answer becomes an UpstreamError with
 * its kind decided here, once; every response body is consumed or dumped, on
 * error paths too, so no connection is leaked.
 */
import type { Dispatcher } from "undici";
import { excerpt, type FieldViolation, UpstreamError } from "../errors/upstream-error.js";
import { Pool } from "./undici-pool.js";

export interface UpstreamClientOptions {
  /** Names the upstream in errors, logs and metrics ("rest", "kserve-v1", ...). */
  readonly name: string;
  /** Base URL; paths are appended to it. */
  readonly baseUrl: string;
  /** Connections kept to the upstream (pool.connections). */
  readonly connections: number;
  /** Idle keep-alive timeout (pool.keep_alive_timeout). */
  readonly keepAliveTimeoutMs: number;
  /** TCP connect bound (pool.connect_timeout). */
  readonly connectTimeoutMs: number;
  /** Largest body read (pool.max_response_bytes). */
  readonly maxResponseBytes: number;
  /** Extra CA bundle (PEM) for https upstreams; verification is always on. */
  readonly ca?: string | undefined;
  /** Injected dispatcher (tests pass a MockAgent); default: a new Pool. */
  readonly dispatcher?: Dispatcher | undefined;
  /** Told of every request's outcome ("ok" or the failure kind) and duration, for metrics. */
  readonly observe?: ((endpoint: string, outcome: string, seconds: number) => void) | undefined;
}

/** Per-request options: the call's signal and headers to forward. */
export interface UpstreamRequest {
  readonly signal: AbortSignal;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** A 2xx answer, parsed. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_DESTROYED",
]);

/** Parses Retry-After (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v === "") return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Turns FastAPI's 422 `{"detail": [{"loc": ["body","metrics",0,"value"],
 * "msg": "..."}]}` into field violations named like the proto's fields
 * (`metrics[0].value`).
 */
export function violationsFromDetail(body: unknown): FieldViolation[] {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (!Array.isArray(detail)) return [];
  const out: FieldViolation[] = [];
  for (const d of detail.slice(0, 50)) {
    if (d === null || typeof d !== "object") continue;
    const { loc, msg } = d as { loc?: unknown; msg?: unknown };
    const parts = Array.isArray(loc) ? loc.filter((p, i) => !(i === 0 && p === "body")) : [];
    let field = "";
    for (const p of parts) field += typeof p === "number" ? `[${p}]` : field === "" ? String(p) : `.${String(p)}`;
    out.push({ field, description: typeof msg === "string" ? msg : "invalid" });
  }
  return out;
}

/** The upstream's own words for an error body: `{"error": ...}`, `{"detail": "..."}` or text. */
function errorText(body: unknown, text: string): string {
  if (body !== null && typeof body === "object") {
    const { error, detail, message } = body as Record<string, unknown>;
    for (const v of [error, detail, message]) if (typeof v === "string") return v;
  }
  return excerpt(text.trim());
}

/** A whole response: status, headers and the body as text. */
interface CollectedResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
}

/**
 * Collects one response for `dispatch`: the status, the headers and the body
 * chunks, then the text — what undici's `request` + `body.text()` give,
 * without the Readable stream, the consume machinery and the signal adapter
 * they put around every call. The call's signal aborts the request — and
 * answers at once when it is still queued behind busy connections, where
 * `request` waits for a connection first; the pool's maxResponseSize bounds
 * the body in the parser.
 */
class CollectingHandler implements Dispatcher.DispatchHandler {
  private statusCode = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  private readonly chunks: Buffer[] = [];
  private controller: Dispatcher.DispatchController | undefined;
  private readonly onAbort = (): void => {
    if (this.controller !== undefined) this.controller.abort(this.signal.reason);
    // Still queued for a connection: answer now, not when a connection
    // frees up; onRequestStart aborts the request when its turn comes.
    else this.reject(this.signal.reason);
  };

  constructor(
    private readonly signal: AbortSignal,
    private readonly resolve: (r: CollectedResponse) => void,
    private readonly reject: (e: unknown) => void,
  ) {
    // From the start: the request may wait in the pool's queue before
    // onRequestStart, and the deadline must hold there too.
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal.aborted) controller.abort(this.signal.reason);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return; // 1xx: informational, the answer is still to come
    this.statusCode = statusCode;
    this.headers = headers;
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.signal.removeEventListener("abort", this.onAbort);
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    // As body.text(): UTF-8, a byte-order mark dropped.
    const bom = all.length >= 3 && all[0] === 0xef && all[1] === 0xbb && all[2] === 0xbf ? 3 : 0;
    this.resolve({ statusCode: this.statusCode, headers: this.headers, text: all.toString("utf8", bom) });
  }

  onResponseError(_c: Dispatcher.DispatchController, error: Error): void {
    this.signal.removeEventListener("abort", this.onAbort);
    this.reject(error);
  }
}

/** The headers of one request: accept, the body's type where there is one, and the call's forwarded headers, without a spread per call. */
function requestHeaders(contentType: string | undefined, forwarded: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const h: Record<string, string> =
    contentType !== undefined ? { accept: "application/json", "content-type": contentType } : { accept: "application/json" };
  if (forwarded !== undefined) for (const k of Object.keys(forwarded)) h[k] = forwarded[k] as string;
  return h;
}

/** A pooled JSON client for one upstream. */
export class UpstreamClient {
  readonly name: string;
  private readonly base: URL;
  /** The base URL's path without its trailing slashes, worked out once rather than on every call. */
  private readonly basePath: string;
  private readonly dispatcher: Dispatcher;
  private readonly owned: boolean;

  constructor(readonly options: UpstreamClientOptions) {
    this.name = options.name;
    this.base = new URL(options.baseUrl);
    this.basePath = this.base.pathname.replace(/\/+$/, "");
    this.owned = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Pool(this.base.origin, {
        connections: options.connections,
        keepAliveTimeout: options.keepAliveTimeoutMs,
        maxResponseSize: options.maxResponseBytes,
        // The call's own signal bounds headers and body; these only catch a
        // stalled socket that no signal covers.
        headersTimeout: 0,
        bodyTimeout: 0,
        connect: {
          timeout: options.connectTimeoutMs,
          rejectUnauthorized: true,
          ...(options.ca !== undefined ? { ca: options.ca } : {}),
        },
      });
  }

  /** The full path for an endpoint, below the base URL's own path. */
  pathFor(endpoint: string): string {
    return this.basePath + endpoint;
  }

  /** POSTs JSON and returns the parsed 2xx body; throws UpstreamError otherwise. */
  postJson(endpoint: string, payload: unknown, req: UpstreamRequest): Promise<UpstreamAnswer> {
    return this.send("POST", endpoint, JSON.stringify(payload), req);
  }

  /** GETs JSON and returns the parsed 2xx body; throws UpstreamError otherwise. */
  getJson(endpoint: string, req: UpstreamRequest): Promise<UpstreamAnswer> {
    return this.send("GET", endpoint, undefined, req);
  }

  /**
   * Sends one request; the single place undici's outcomes are classified.
   * One async frame per request: this method's (the dispatch below is a
   * bare promise), since each frame costs every call a promise and a turn.
   */
  async send(
    method: "GET" | "POST",
    endpoint: string,
    body: string | undefined,
    req: UpstreamRequest,
    contentType = "application/json",
  ): Promise<UpstreamAnswer> {
    const observe = this.options.observe;
    const started = observe === undefined ? 0 : performance.now();
    try {
      if (req.signal.aborted) throw this.abortError(endpoint, req.signal.reason);
      const answer = this.interpret(method, endpoint, await this.dispatch(method, endpoint, body, req, contentType));
      observe?.(endpoint, "ok", (performance.now() - started) / 1000);
      return answer;
    } catch (e) {
      const error = this.classify(endpoint, e, req.signal);
      if (observe !== undefined) {
        const outcome = error.kind === "status" ? `http_${error.status}` : error.kind;
        observe(endpoint, outcome, (performance.now() - started) / 1000);
      }
      throw error;
    }
  }

  /** One exchange with undici, collected whole. */
  private dispatch(
    method: "GET" | "POST",
    endpoint: string,
    body: string | undefined,
    req: UpstreamRequest,
    contentType: string,
  ): Promise<CollectedResponse> {
    return new Promise<CollectedResponse>((resolve, reject) => {
      this.dispatcher.dispatch(
        {
          origin: this.base.origin,
          path: this.pathFor(endpoint),
          method,
          headers: requestHeaders(body !== undefined ? contentType : undefined, req.headers),
          body: body ?? null,
        },
        new CollectingHandler(req.signal, resolve, reject),
      );
    });
  }

  /** A whole response: its parsed 2xx JSON body, or the UpstreamError it stands for. */
  private interpret(method: string, endpoint: string, res: CollectedResponse): UpstreamAnswer {
    const text = res.text;
    let parsed: unknown;
    let parseError: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch (e) {
      parseError = e;
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      if (parseError !== undefined || parsed === undefined) {
        throw this.fail(
          "malformed",
          endpoint,
          `${this.name} ${method} ${endpoint} answered ${res.statusCode} with a body that is not JSON`,
          {
            status: res.statusCode,
            bodyExcerpt: excerpt(text),
            cause: parseError,
          },
        );
      }
      return { status: res.statusCode, body: parsed, headers: res.headers };
    }
    const status = res.statusCode;
    const words = errorText(parsed, text);
    throw this.fail("status", endpoint, `${this.name} ${method} ${endpoint} answered ${status}: ${words}`, {
      status,
      bodyExcerpt: excerpt(text),
      retryAfterMs: status === 429 || status === 503 ? parseRetryAfter(res.headers["retry-after"]) : undefined,
      violations: status === 422 ? violationsFromDetail(parsed) : [],
    } as Partial<UpstreamError>);
  }

  private fail(
    kind: UpstreamError["kind"],
    endpoint: string,
    message: string,
    extra: Partial<UpstreamError> & { cause?: unknown } = {},
  ): UpstreamError {
    return new UpstreamError(message, { kind, upstream: this.name, endpoint, ...extra });
  }

  private abortError(endpoint: string, reason: unknown): UpstreamError {
    return UpstreamError.fromAbort(reason, this.name, endpoint, `${this.name} ${endpoint}`);
  }

  private classify(endpoint: string, e: unknown, signal: AbortSignal): UpstreamError {
    if (e instanceof UpstreamError) return e;
    if (signal.aborted) return this.abortError(endpoint, signal.reason);
    const code = (e as { code?: string }).code ?? "";
    if (code === "UND_ERR_RES_EXCEEDED_MAX_SIZE") {
      return this.fail("too_large", endpoint, `${this.name} ${endpoint}: body larger than pool.max_response_bytes`, { cause: e });
    }
    if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
      return this.fail("timeout", endpoint, `${this.name} ${endpoint}: upstream too slow (${code})`, { cause: e });
    }
    if (CONNECT_CODES.has(code) || code.startsWith("E")) {
      return this.fail("connect", endpoint, `${this.name} ${endpoint}: connection failed (${code})`, { cause: e });
    }
    return this.fail("connect", endpoint, `${this.name} ${endpoint}: ${(e as Error).message ?? String(e)}`, { cause: e });
  }

  /** Closes the pool (when this client created it). */
  async close(): Promise<void> {
    if (this.owned) await this.dispatcher.close();
  }
}
