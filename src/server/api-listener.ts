/**
 * One TCP port for every protocol the engine or an operator may speak:
 * HTTP/2 cleartext with prior knowledge (gRPC, Connect, gRPC-Web) and
 * HTTP/1.1 (Connect, gRPC-Web, curl). Node's http2 server has no cleartext
 * HTTP/1.1 fallback (nodejs/node#44887), so each new connection's first
 * bytes are read: the HTTP/2 preface "PRI * HTTP/2.0" sends it to the HTTP/2
 * server, anything else to the HTTP/1.1 server.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Admission } from "./admission.js";

type NodeHandlerFn = ReturnType<typeof connectNodeAdapter>;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface ApiListenerOptions {
  /**
   * Runs first on every request, HTTP/2 and HTTP/1.1: false when it has
   * answered the request itself (admission.ts refusing a call).
   */
  readonly admit?: Admission | undefined;
  /** Serves what it can of HTTP/2 requests first (the gRPC unary path); the rest go to `handler`. */
  readonly first?: ((req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => boolean) | undefined;
  /**
   * Streams one HTTP/2 connection may have open at once (the SETTINGS the
   * server sends); past it the client waits, or nghttp2 refuses the stream
   * before Node makes any object for it. Unlimited by default in Node.
   */
  readonly maxConcurrentStreams?: number;
  /** Idle HTTP/1.1 keep-alive connections are closed after this. */
  readonly keepAliveTimeoutMs?: number;
  /** A connection that sends nothing this long is closed. */
  readonly firstByteTimeoutMs?: number;
}

/** The listener, its two protocol servers, and the open sockets (for draining). */
export interface ApiListener {
  readonly server: net.Server;
  readonly h1: http.Server;
  readonly h2: http2.Http2Server;
  /** HTTP/2 sessions open now; closed gracefully on shutdown. */
  readonly sessions: Set<http2.ServerHttp2Session>;
}

export function createApiListener(handler: NodeHandlerFn, options: ApiListenerOptions = {}): ApiListener {
  const { admit, first } = options;
  const h1 = http.createServer(
    { keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000 },
    admit === undefined
      ? handler
      : (req, res) => {
          if (admit(req, res)) handler(req, res);
        },
  );
  const settings = options.maxConcurrentStreams === undefined ? {} : { maxConcurrentStreams: options.maxConcurrentStreams };
  const h2 = http2.createServer({ settings }, (req, res) => {
    if (admit !== undefined && !admit(req, res)) return;
    if (first === undefined || !first(req, res)) handler(req, res);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  const firstByteTimeoutMs = options.firstByteTimeoutMs ?? 10_000;

  const server = net.createServer((socket) => {
    let seen: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), firstByteTimeoutMs);
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const prefaceSoFar = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (prefaceSoFar && n < PREFACE.length) return; // could still be HTTP/2: wait for more
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.pause();
      socket.unshift(seen);
      // Both servers take the bytes read so far from the socket's buffer:
      // http2 reads them on the next tick (nodejs/node#35475); the
      // HTTP/1.1 server once the socket flows again.
      if (prefaceSoFar) h2.emit("connection", socket);
      else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    const onError = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on("data", onData);
    socket.on("error", onError);
    socket.once("close", () => clearTimeout(timer));
  });
  return { server, h1, h2, sessions };
}
