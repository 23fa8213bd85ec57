/**
 * A client of the Prometheus HTTP API that works against Prometheus and the
 * Thanos Querier: instant and range queries sent as POST forms, with the
 * `timeout` parameter and Thanos' `dedup` and `partial_response`. TLS is
 * always verified (a CA bundle may be added); the bearer token is read from
 * a file and read again when the file changes, as projected
 * service-account tokens rotate. Warnings (and Thanos' partial-response
 * warnings) are returned to the caller, never dropped.
 */
import { readFile, stat } from "node:fs/promises";
import { array, object, ShapeError, string } from "../backend/json-shape.js";
import { UpstreamError } from "../errors/upstream-error.js";
import type { UpstreamClient } from "../http/upstream-client.js";

export interface PrometheusOptions {
  /** Reads the bearer token; re-read when the file's mtime or inode changes. */
  readonly tokenFile?: string | undefined;
  /** Sent as Thanos' `dedup` (ignored by Prometheus). */
  readonly dedup: boolean;
  /** Sent as Thanos' `partial_response` (ignored by Prometheus). */
  readonly partialResponse: boolean;
  /** Clock for the token re-check interval (ms). */
  readonly clock?: () => number;
}

/** One series of a query result: its labels and samples (seconds, value). */
export interface Series {
  readonly metric: Readonly<Record<string, string>>;
  readonly points: readonly (readonly [number, number])[];
}

export interface QueryResult {
  readonly series: readonly Series[];
  readonly warnings: readonly string[];
}

/** Parses Prometheus' sample value strings ("1.5", "NaN", "+Inf"). */
function sampleValue(v: unknown, path: string): number {
  if (typeof v !== "string") throw new ShapeError(path, "a sample value string", v);
  return Number(v === "+Inf" ? "Infinity" : v === "-Inf" ? "-Infinity" : v);
}

function samplePair(v: unknown, path: string): readonly [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== "number") throw new ShapeError(path, "[time, value]", v);
  return [v[0], sampleValue(v[1], `${path}[1]`)];
}

export class PrometheusClient {
  private token: string | undefined;
  private tokenStamp = "";
  private lastCheck = Number.NEGATIVE_INFINITY;
  private readonly clock: () => number;

  constructor(
    private readonly http: UpstreamClient,
    private readonly options: PrometheusOptions,
  ) {
    this.clock = options.clock ?? (() => performance.now());
  }

  /** The bearer token, re-read when the file changed (checked at most once a second). */
  private async bearer(): Promise<string | undefined> {
    const file = this.options.tokenFile;
    if (file === undefined || file === "") return undefined;
    const now = this.clock();
    if (now - this.lastCheck < 1000 && this.token !== undefined) return this.token;
    this.lastCheck = now;
    try {
      const s = await stat(file);
      const stamp = `${s.ino}:${s.mtimeMs}:${s.size}`;
      if (stamp !== this.tokenStamp) {
        this.token = (await readFile(file, "utf8")).trim();
        this.tokenStamp = stamp;
      }
    } catch (e) {
      throw new UpstreamError(`prometheus: cannot read the token file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, {
        kind: "precondition",
        upstream: "prometheus",
        endpoint: "token_file",
        cause: e,
      });
    }
    return this.token;
  }

  private async post(endpoint: string, params: Record<string, string>, signal: AbortSignal, timeoutS: number): Promise<QueryResult> {
    const form = new URLSearchParams({
      ...params,
      // Seconds as a float: accepted by Prometheus and Thanos alike.
      timeout: Math.max(0.001, timeoutS).toFixed(3),
      dedup: String(this.options.dedup),
      partial_response: String(this.options.partialResponse),
    });
    const token = await this.bearer();
    const answer = await this.http.send(
      "POST",
      endpoint,
      form.toString(),
      {
        signal,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      },
      "application/x-www-form-urlencoded",
    );
    try {
      const o = object(answer.body, "");
      if (string(o, "status", "") !== "success") throw new ShapeError("status", '"success"', o.status);
      const data = object(o.data, "data");
      const kind = string(data, "resultType", "data");
      const series = array(data, "result", "data", (v, path) => {
        const s = object(v, path);
        const metric = object(s.metric, `${path}.metric`) as Record<string, string>;
        const points =
          kind === "matrix" ? array(s, "values", path, samplePair) : kind === "vector" ? [samplePair(s.value, `${path}.value`)] : [];
        return { metric, points };
      });
      const warnings = array(o, "warnings", "", (v, p) => (typeof v === "string" ? v : String(JSON.stringify(v) ?? p)), true);
      return { series, warnings };
    } catch (e) {
      if (!(e instanceof ShapeError)) throw e;
      throw new UpstreamError(`prometheus ${endpoint} answered a body that is not a query result: ${e.message}`, {
        kind: "malformed",
        upstream: "prometheus",
        endpoint,
        violations: [{ field: e.field, description: e.message }],
        cause: e,
      });
    }
  }

  /** Instant query at `time` (seconds). */
  query(expr: string, time: number, signal: AbortSignal, timeoutS: number): Promise<QueryResult> {
    return this.post("/api/v1/query", { query: expr, time: String(time) }, signal, timeoutS);
  }

  /** Range query over [start, end] every `step` seconds. */
  queryRange(expr: string, start: number, end: number, step: number, signal: AbortSignal, timeoutS: number): Promise<QueryResult> {
    return this.post("/api/v1/query_range", { query: expr, start: String(start), end: String(end), step: String(step) }, signal, timeoutS);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
