/**
 * The admin listener (HTTP/1.1): GET /metrics (Prometheus text format),
 * GET /healthz (liveness: the process answers), GET /readyz (readiness: 200
 * while the sidecar can answer, degraded or not, with a JSON body giving the
 * state of each part; 503 only while draining).
 */
import http from "node:http";
import type { Registry } from "prom-client";

/** A part's state as /readyz reports it. */
export type ReadinessReport = Record<string, unknown> & { readonly draining: boolean };

export interface AdminServerDeps {
  readonly registry: Registry;
  /** Builds the /readyz body: upstream, breaker, cache, enrichment. */
  readonly readiness: () => Promise<ReadinessReport>;
}

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
};

export function createAdminServer(deps: AdminServerDeps): http.Server {
  return http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 10_000 }, (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    switch (path) {
      case "/healthz":
        json(res, 200, { status: "ok" });
        return;
      case "/readyz":
        deps.readiness().then(
          (report) => json(res, report.draining ? 503 : 200, { status: report.draining ? "draining" : "ready", ...report }),
          (e: Error) => json(res, 500, { status: "error", error: e.message }),
        );
        return;
      case "/metrics":
        deps.registry.metrics().then(
          (text) => {
            res.writeHead(200, { "content-type": deps.registry.contentType });
            res.end(text);
          },
          (e: Error) => json(res, 500, { error: e.message }),
        );
        return;
      default:
        json(res, 404, { error: `no such path ${path}; try /metrics, /healthz or /readyz` });
    }
  });
}
