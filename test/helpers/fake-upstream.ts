/**
 * A real HTTP server standing in for an upstream in tests, over a real
 * socket. Each route answers with a scripted reply (or a function of the
 * request); every request is recorded with its parsed body and headers, and
 * whether the client aborted it before the answer.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { contractViolations } from "./contract.js";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: unknown;
  readonly raw: string;
  /** The client's port: equal ports mean a reused keep-alive connection. */
  readonly remotePort: number;
  /** Set when the client closed the connection before the reply was sent. */
  aborted: boolean;
}

export interface Reply {
  readonly status?: number;
  readonly body?: unknown;
  /** Sent as-is instead of JSON.stringify(body). */
  readonly raw?: string;
  readonly headers?: Record<string, string>;
  /** Wait this long before answering. */
  readonly delayMs?: number;
  /** Destroy the socket instead of answering (a reset). */
  readonly reset?: boolean;
}

export type Route = Reply | ((req: RecordedRequest, n: number) => Reply);

export class FakeUpstream {
  readonly requests: RecordedRequest[] = [];
  /**
   * Requests to the REST contract's paths that broke openapi/ml-service.yaml.
   * stop() fails the suite when there are any: every request the sidecar
   * sends in the test suite is checked on the wire.
   */
  readonly violations: string[] = [];
  private readonly routes = new Map<string, Route>();
  private readonly server: http.Server;
  private readonly counts = new Map<string, number>();
  url = "";

  constructor() {
    this.server = http.createServer((req, res) => {
      let raw = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (raw += c));
      req.on("end", () => {
        let body: unknown;
        try {
          body = raw === "" ? undefined : JSON.parse(raw);
        } catch {
          body = undefined;
        }
        const path = (req.url ?? "/").split("?")[0] as string;
        const rec: RecordedRequest = {
          method: req.method ?? "",
          path,
          headers: req.headers,
          body,
          raw,
          remotePort: req.socket.remotePort ?? 0,
          aborted: false,
        };
        this.requests.push(rec);
        this.violations.push(...contractViolations(rec.method, path, body));
        res.on("close", () => {
          if (!res.writableFinished) rec.aborted = true;
        });
        const key = `${req.method} ${path}`;
        const n = (this.counts.get(key) ?? 0) + 1;
        this.counts.set(key, n);
        const route = this.routes.get(key) ?? this.routes.get(`* ${path}`);
        const reply: Reply =
          route === undefined ? { status: 404, body: { error: `no route ${key}` } } : typeof route === "function" ? route(rec, n) : route;
        const send = (): void => {
          if (res.destroyed) return;
          if (reply.reset) {
            req.socket.destroy();
            return;
          }
          const text = reply.raw ?? JSON.stringify(reply.body ?? {});
          res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers });
          res.end(text);
        };
        if (reply.delayMs) setTimeout(send, reply.delayMs);
        else send();
      });
    });
  }

  /** Sets the reply for `METHOD /path` (`*` for any method); a function route counts from 1 again. */
  on(methodAndPath: string, route: Route): this {
    this.routes.set(methodAndPath, route);
    this.counts.delete(methodAndPath);
    return this;
  }

  /** Requests received on a path. */
  received(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.violations.length > 0) {
      throw new Error(`the sidecar sent requests that break openapi/ml-service.yaml:\n${this.violations.join("\n")}`);
    }
  }
}
