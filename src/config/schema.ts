/**
 * The configuration schema: every key of `sidecar.yaml`, its type, default
 * and rule, in one place. The typed `Config` is inferred from it, so a key
 * cannot be read that is not declared and validated here.
 */
import { checkFeatureSets, DEFAULT_FEATURE_SETS, type FeatureSets } from "../enrichment/feature-definitions.js";
import { parseDuration } from "./duration.js";

/** A rule broken by a value; the loader adds the key and the source. */
export type Check<T> = { ok: true; value: T } | { ok: false; rule: string };

/** One leaf of the schema: its default and how to read a raw value. */
export interface Leaf<T> {
  readonly leaf: true;
  readonly default: T;
  /** Reads a value from YAML (typed) or from a string (env, --set). */
  read(raw: unknown): Check<T>;
  /** Human description of the accepted values, for docs and errors. */
  readonly describe: string;
}

const ok = <T>(value: T): Check<T> => ({ ok: true, value });
const bad = <T>(rule: string): Check<T> => ({ ok: false, rule });

/** A string setting; `pattern` is the rule when given. */
export function str(def: string, pattern?: RegExp, rule = "a string"): Leaf<string> {
  return {
    leaf: true,
    default: def,
    describe: rule,
    read(raw) {
      if (typeof raw !== "string") return bad(`must be ${rule}`);
      if (pattern !== undefined && raw !== "" && !pattern.test(raw)) return bad(`must be ${rule}`);
      return ok(raw);
    },
  };
}

function toNumber(raw: unknown): number | undefined {
  if (typeof raw === "number") return raw;
  if (typeof raw === "string" && raw.trim() !== "" && /^[-+]?[\d.e+-]+$/i.test(raw.trim())) return Number(raw);
  return undefined;
}

/** An integer setting within [min, max]. */
export function int(def: number, min: number, max: number): Leaf<number> {
  const describe = `an integer from ${min} to ${max}`;
  return {
    leaf: true,
    default: def,
    describe,
    read(raw) {
      const n = toNumber(raw);
      if (n === undefined || !Number.isInteger(n) || n < min || n > max) return bad(`must be ${describe}`);
      return ok(n);
    },
  };
}

/** A real-number setting within [min, max]. */
export function num(def: number, min: number, max: number): Leaf<number> {
  const describe = `a number from ${min} to ${max}`;
  return {
    leaf: true,
    default: def,
    describe,
    read(raw) {
      const n = toNumber(raw);
      if (n === undefined || !Number.isFinite(n) || n < min || n > max) return bad(`must be ${describe}`);
      return ok(n);
    },
  };
}

/** A boolean setting: YAML booleans, or the strings true/false. */
export function bool(def: boolean): Leaf<boolean> {
  return {
    leaf: true,
    default: def,
    describe: "true or false",
    read(raw) {
      if (typeof raw === "boolean") return ok(raw);
      if (raw === "true") return ok(true);
      if (raw === "false") return ok(false);
      return bad("must be true or false");
    },
  };
}

/** A Go-style duration, held as milliseconds. */
export function dur(def: string, minMs = 0, maxMs = 86_400_000): Leaf<number> {
  const describe = `a Go duration (e.g. 500ms, 30s, 5m) from ${minMs}ms to ${maxMs / 1000}s`;
  const value = parseDuration(def);
  if (value === undefined) throw new TypeError(`schema default ${def} is not a duration`);
  return {
    leaf: true,
    default: value,
    describe,
    read(raw) {
      const ms = typeof raw === "string" ? parseDuration(raw.trim()) : undefined;
      if (ms === undefined) return bad("must be a Go duration such as 500ms, 30s or 5m");
      if (ms < minMs || ms > maxMs) return bad(`must be ${describe}`);
      return ok(ms);
    },
  };
}

/** One of a fixed set of strings. */
export function oneOf<const V extends string>(values: readonly V[], def: V | ""): Leaf<V | ""> {
  const describe = `one of ${values.join(", ")}`;
  return {
    leaf: true,
    default: def,
    describe,
    read(raw) {
      return typeof raw === "string" && (values as readonly string[]).includes(raw) ? ok(raw as V) : bad(`must be ${describe}`);
    },
  };
}

/** An http(s) URL, or empty for "not set". */
export function url(def = ""): Leaf<string> {
  return {
    leaf: true,
    default: def,
    describe: "an http:// or https:// URL",
    read(raw) {
      if (raw === "") return ok("");
      if (typeof raw !== "string") return bad("must be an http:// or https:// URL");
      try {
        const u = new URL(raw);
        if (u.protocol !== "http:" && u.protocol !== "https:") return bad("must use http:// or https://");
        if (u.search !== "" || u.hash !== "") return bad("must not carry a query or fragment");
        if (u.username !== "" || u.password !== "") return bad("must not carry credentials (use a token file)");
        return ok(raw.replace(/\/+$/, ""));
      } catch {
        return bad("must be an http:// or https:// URL");
      }
    },
  };
}

/** A listen address, host:port (port 0 picks a free one). */
export function addr(def: string): Leaf<string> {
  return {
    leaf: true,
    default: def,
    describe: "host:port",
    read(raw) {
      if (typeof raw !== "string") return bad("must be host:port");
      const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
      if (m === null || Number(m[2]) > 65535) return bad("must be host:port with a port from 0 to 65535");
      return ok(raw);
    },
  };
}

/** Feature-set definitions (a structure, so only settable in the file). */
export function featureSets(): Leaf<FeatureSets> {
  return {
    leaf: true,
    default: DEFAULT_FEATURE_SETS,
    describe: "a mapping of set name to {derived, metrics: [{name, query, impute}]}",
    read(raw) {
      if (typeof raw === "string") return bad("must be set in the configuration file, as a mapping");
      const problems = checkFeatureSets(raw);
      if (problems.length > 0) return bad(`is not a valid feature definition: ${problems.join("; ")}`);
      const sets = raw as Record<string, unknown>;
      for (const required of ["anomaly", "predictive"]) {
        if (!(required in sets)) return bad(`must define the ${required} set`);
      }
      return ok(raw as FeatureSets);
    },
  };
}

/** Backend kinds; `""` resolves to rest when backend.url is set, else builtin. */
export const BACKEND_KINDS = ["rest", "kserve-v1", "kserve-v2", "builtin"] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/** The schema of sidecar.yaml. Sections and the keys named in the interface spec are fixed. */
export const SCHEMA = {
  server: {
    /** API listener: gRPC, gRPC-Web and Connect. */
    grpc_addr: addr("127.0.0.1:50051"),
    /** Admin listener: /metrics, /healthz, /readyz. */
    admin_addr: addr("127.0.0.1:9464"),
    /**
     * Optional listener serving only grpc.health.v1 (empty: none). Kubelet's
     * gRPC probes dial the pod IP, so in a pod this lets the API itself stay
     * on loopback.
     */
    health_addr: str("", /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "host:port, or empty for none"),
    /** Largest request accepted; larger ones are INVALID_ARGUMENT naming the field. */
    max_request_bytes: int(1_048_576, 1024, 64 * 1_048_576),
    /** Longest deadline a caller may ask for. */
    max_timeout: dur("5m", 1),
    /** Calls served at once; more are shed with RESOURCE_EXHAUSTED instead of queuing. */
    max_concurrent_requests: int(256, 1, 100_000),
    /** After SIGTERM, new calls are still served this long (health already NOT_SERVING), then refused. */
    drain_delay: dur("2s", 0, 600_000),
    /** After SIGTERM the process exits (0) within this, calls in flight given until then to finish. */
    shutdown_grace: dur("25s", 100, 3_600_000),
    /**
     * Serve unary calls over HTTP/2 — gRPC (binary) and Connect POST
     * (binary or JSON), uncompressed — on the sidecar's own unary path
     * instead of connect-node's generic handler: same answers, a third less
     * CPU per call (bench/RESULTS.md). The name predates Connect on this
     * path. false: connect-node serves every call.
     */
    grpc_unary_fast_path: bool(true),
  },
  backend: {
    kind: oneOf(BACKEND_KINDS, ""),
    url: url(""),
    /** Caps every upstream call that carries no (or a longer) deadline. */
    timeout: dur("30s", 1),
    /** KServe: the model behind each RPC, each with its own URL (default backend.url). */
    models: {
      anomaly: {
        name: str("anomaly-detector", /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "a KServe model name"),
        url: url(""),
      },
      predictive: {
        name: str("predictive-analytics", /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "a KServe model name"),
        url: url(""),
        /** How far ahead the model forecasts: reported as time_to_occurrence. */
        horizon: dur("1h", 1000),
      },
    },
  },
  pool: {
    /** Connections per upstream (the engine used 10 per host). */
    connections: int(10, 1, 1024),
    /** Idle keep-alive connections are closed after this (the engine used 90s). */
    keep_alive_timeout: dur("90s", 1),
    /** Bound on establishing a TCP connection. */
    connect_timeout: dur("5s", 1),
    /** Largest upstream response body read; larger is an INTERNAL error. */
    max_response_bytes: int(4 * 1_048_576, 1024, 256 * 1_048_576),
  },
  breaker: {
    /** Consecutive upstream faults that open the breaker. */
    failure_threshold: int(3, 1, 10_000),
    /** How long the breaker stays open before one probe is let through. */
    reset_timeout: dur("30s", 1),
    /** Also open when more than this percentage of calls in the window fail... */
    error_threshold_percentage: int(50, 1, 100),
    /** ...over this rolling window... */
    rolling_window: dur("10s", 1000, 600_000),
    /** ...once it holds at least this many calls. */
    volume_threshold: int(10, 1, 1_000_000),
  },
  retry: {
    /** Attempts per call, the first one included (1 disables retries). */
    max_attempts: int(3, 1, 10),
    /** Backoff cap of the first retry; doubles each retry (full jitter). */
    initial_backoff: dur("50ms", 1),
    /** Largest backoff. */
    max_backoff: dur("1s", 1),
    /** Retries at most this fraction of calls over the last 10 s... */
    budget_ratio: num(0.2, 0, 1),
    /** ...but always allows this many retries per 10 s. */
    budget_min_retries: int(3, 0, 1_000_000),
    /** A retry is not started unless at least this much of the deadline is left after its backoff. */
    min_attempt_time: dur("20ms", 0),
  },
  cache: {
    /** How long a cached answer is fresh (0 disables the cache). */
    ttl: dur("30s"),
    /** After ttl, an entry is kept this long to answer while the backend fails. */
    stale_ttl: dur("5m"),
    /** Entry bound (0 disables the cache). */
    max_entries: int(10_000, 0, 10_000_000),
    /** Byte bound of the cached answers and keys. */
    max_bytes: int(16 * 1_048_576, 1024, 1024 * 1_048_576),
    /** Metric values are rounded to multiples of this in cache keys. */
    quantum: num(0.001, 0, 1_000_000),
    /** Evaluation times fall into buckets of this width in cache keys. */
    time_bucket: dur("1m", 1),
  },
  enrichment: {
    prometheus: {
      url: url(""),
      token_file: str(""),
      ca_file: str(""),
      /** Per-query bound, also sent as Prometheus' `timeout` parameter. */
      timeout: dur("5s", 1),
      /** Thanos' `dedup` parameter (ignored by Prometheus). */
      dedup: bool(true),
      /** Thanos' `partial_response` parameter: false fails rather than answering from part of the stores. */
      partial_response: bool(false),
    },
    /** The label that names a node on node-exporter series (OpenShift: instance). */
    node_label: str("instance", /^[a-zA-Z_][a-zA-Z0-9_]*$/, "a Prometheus label name"),
    /** Resolution of the 5m statistics, as in `(Q)[5m:<step>]`. */
    step: dur("1m", 1000, 300_000),
    /** closed: [t-5m, t] as Prometheus 2 selects ranges; left_open: (t-5m, t] as Prometheus 3 does. */
    range_selection: oneOf(["closed", "left_open"], "closed"),
    /** Feature vectors are reused this long for the same workload ("now" only). */
    cache_ttl: dur("15s"),
    /** More imputed features than this: the model is not called (FAILED_PRECONDITION, or UNAVAILABLE when Prometheus is unreachable). */
    max_imputed: int(9, 0, 1000),
    /** Share of the caller's remaining deadline enrichment may use; the rest is the model's. */
    deadline_share: num(0.5, 0.05, 0.95),
    features: featureSets(),
  },
  fallback: {
    enabled: bool(true),
  },
  logging: {
    level: oneOf(["trace", "debug", "info", "warn", "error", "fatal", "silent"], "info"),
  },
} as const;

/** The configuration type, inferred from the schema. */
export type Infer<S> = S extends Leaf<infer T> ? T : { readonly [K in keyof S]: Infer<S[K]> };
export type Config = Omit<Infer<typeof SCHEMA>, "backend"> & {
  readonly backend: Omit<Infer<typeof SCHEMA.backend>, "kind"> & { readonly kind: BackendKind };
};
