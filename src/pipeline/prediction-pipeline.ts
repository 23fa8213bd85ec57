/**
 * The degradation ladder, in order: a fresh cached answer; the backend
 * (coalesced, retried within the deadline, behind a breaker per endpoint);
 * then, when the backend fails with an upstream fault or its breaker is
 * open, a stale cached answer; then the builtin baseline
 * (`fallback.enabled`); and last a clear error. Every answer says which rung
 * gave it.
 */
import { clone, type DescMessage, type Message } from "@bufbuild/protobuf";
import {
  type AnalyzePatternsRequest,
  type AnalyzePatternsResponse,
  AnalyzePatternsResponseSchema,
  type DetectAnomalyRequest,
  type DetectAnomalyResponse,
  DetectAnomalyResponseSchema,
  type PredictRequest,
  type PredictResponse,
  PredictResponseSchema,
  Source,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import type { CallContext, Clock } from "../api/call-context.js";
import type { Backend, BackendAnswer } from "../backend/backend.js";
import type { Config } from "../config/schema.js";
import { UpstreamError } from "../errors/upstream-error.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { cacheKey, type Rpc } from "../resilience/cache-key.js";
import { type BreakerState, CircuitBreaker } from "../resilience/circuit-breaker.js";
import { Coalescer } from "../resilience/coalescer.js";
import { PredictionCache } from "../resilience/prediction-cache.js";
import { RetryBudget } from "../resilience/retry-budget.js";
import { RetryPolicy } from "../resilience/retry-policy.js";
import { decodeBinary } from "../wire/binary-decoder.js";
import { encodeBinary } from "../wire/binary-encoder.js";

/** Request and response types of each RPC the ladder serves. */
export interface RpcTypes {
  DetectAnomaly: { req: DetectAnomalyRequest; res: DetectAnomalyResponse };
  Predict: { req: PredictRequest; res: PredictResponse };
  AnalyzePatterns: { req: AnalyzePatternsRequest; res: AnalyzePatternsResponse };
}

const SCHEMAS: { [R in Rpc]: DescMessage } = {
  DetectAnomaly: DetectAnomalyResponseSchema,
  Predict: PredictResponseSchema,
  AnalyzePatterns: AnalyzePatternsResponseSchema,
};

/** Bytes as a string of one latin1 char per byte (Buffer.from(s, "latin1") gives them back). */
const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");

/** A copy of a message, typed as the original. */
const copy = <T>(schema: DescMessage, m: T): T => clone(schema, m as never) as T;

/**
 * What a flight of coalesced callers shares: the backend's answer, handed
 * as-is to the first caller served and as a copy to the others (each sets
 * its own metadata on it).
 */
interface Shared {
  readonly answer: BackendAnswer<Message>;
  taken: boolean;
}

function invoke<R extends Rpc>(
  backend: Backend,
  rpc: R,
  req: RpcTypes[R]["req"],
  call: CallContext,
): Promise<BackendAnswer<RpcTypes[R]["res"]>> {
  switch (rpc) {
    case "DetectAnomaly":
      return backend.detectAnomaly(req as DetectAnomalyRequest, call) as Promise<BackendAnswer<RpcTypes[R]["res"]>>;
    case "Predict":
      return backend.predict(req as PredictRequest, call) as Promise<BackendAnswer<RpcTypes[R]["res"]>>;
    default:
      return backend.analyzePatterns(req as AnalyzePatternsRequest, call) as Promise<BackendAnswer<RpcTypes[R]["res"]>>;
  }
}

/** What the ladder answered, and how. */
export interface LadderAnswer<T> {
  readonly response: T;
  readonly source: Source;
  readonly degraded: boolean;
  readonly degradedReason: string;
  /** The backend kind that produced the response. */
  readonly backend: string;
  readonly model: string;
  readonly modelVersion: string;
}

export interface PipelineDeps {
  readonly backend: Backend;
  /** The builtin baseline: the last rung. */
  readonly fallback: Backend;
  readonly config: Config;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Monotonic milliseconds, for TTLs and budgets. */
  readonly clock: Clock;
  /** Wall-clock milliseconds, for evaluation-time buckets. */
  readonly wallClock: Clock;
}

/** Whether a failure lets a lower rung answer: the backend's fault, not the caller's. */
function degradable(e: unknown): e is UpstreamError {
  return e instanceof UpstreamError && (e.isUpstreamFault || e.kind === "breaker_open");
}

const BREAKER_GAUGE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export class PredictionPipeline {
  /**
   * Answers are cached encoded: a caller can never change a cached answer,
   * and cache.max_bytes counts exact sizes. The bytes are kept as a latin1
   * string (one char per byte, on V8's heap): one object per entry with
   * nothing inside for the collector to follow, where a Uint8Array is a
   * view, an ArrayBuffer and a backing store that every full GC sweeps.
   */
  private readonly cache: PredictionCache<string>;
  private readonly coalescers = new Map<Rpc, Coalescer<Shared>>();
  private readonly breakers = new Map<Rpc, CircuitBreaker>();
  private readonly retry: RetryPolicy;
  private readonly baselineOnly: boolean;
  /** The backend's part of every key: its kind and URL. */
  private readonly keyBackend: string;

  constructor(private readonly deps: PipelineDeps) {
    const { config, metrics, logger, clock } = deps;
    this.baselineOnly = deps.backend.kind === "builtin";
    this.keyBackend = `${deps.backend.kind} ${config.backend.url}`;
    this.cache = new PredictionCache({
      ttlMs: config.cache.ttl,
      staleTtlMs: config.cache.stale_ttl,
      maxEntries: config.cache.max_entries,
      maxBytes: config.cache.max_bytes,
      clock,
      onEvict: () => metrics.cacheEvictions.inc(),
    });
    const budget = new RetryBudget({ ratio: config.retry.budget_ratio, minRetries: config.retry.budget_min_retries, clock });
    this.retry = new RetryPolicy({
      maxAttempts: config.retry.max_attempts,
      initialBackoffMs: config.retry.initial_backoff,
      maxBackoffMs: config.retry.max_backoff,
      minAttemptMs: config.retry.min_attempt_time,
      budget,
    });
    for (const rpc of ["DetectAnomaly", "Predict", "AnalyzePatterns"] as const) {
      const name = `${deps.backend.kind} ${rpc}`;
      metrics.breakerState.set({ upstream: name }, 0);
      this.coalescers.set(rpc, new Coalescer(() => metrics.coalesced.inc({ rpc })));
      this.breakers.set(
        rpc,
        new CircuitBreaker({
          name,
          failureThreshold: config.breaker.failure_threshold,
          resetTimeoutMs: config.breaker.reset_timeout,
          errorThresholdPercentage: config.breaker.error_threshold_percentage,
          rollingWindowMs: config.breaker.rolling_window,
          volumeThreshold: config.breaker.volume_threshold,
          ...(deps.backend.ready !== undefined
            ? { beforeProbe: () => deps.backend.ready?.(rpc, AbortSignal.timeout(2000)) ?? Promise.resolve(true) }
            : {}),
          onTransition: (upstream, to) => {
            metrics.breakerState.set({ upstream }, BREAKER_GAUGE[to]);
            metrics.breakerTransitions.inc({ upstream, to });
            logger[to === "closed" ? "info" : "warn"]({ upstream, state: to }, `circuit breaker ${to.replace("_", "-")}`);
          },
        }),
      );
    }
  }

  /** Breaker state per endpoint, for /readyz. */
  breakerStates(): Record<string, BreakerState> {
    const out: Record<string, BreakerState> = {};
    for (const b of this.breakers.values()) out[b.name] = b.state;
    return out;
  }

  /** Cache state, for /readyz. */
  cacheState(): { enabled: boolean; entries: number; bytes: number } {
    return { enabled: this.cache.enabled, entries: this.cache.size, bytes: this.cache.bytes };
  }

  /** The cache and coalescing key of a request (backend, model, RPC, canonical request, time bucket). */
  keyFor<R extends Rpc>(rpc: R, req: RpcTypes[R]["req"], evaluationMs: number | undefined): string {
    const { config } = this.deps;
    const at = evaluationMs ?? this.deps.wallClock();
    return cacheKey({
      backend: this.keyBackend,
      model: this.deps.backend.modelFor?.(rpc) ?? "",
      rpc,
      timeBucket: Math.floor(at / config.cache.time_bucket),
      request: req,
      quantum: config.cache.quantum,
    });
  }

  /** Answers one call down the ladder. */
  async run<R extends Rpc>(
    rpc: R,
    req: RpcTypes[R]["req"],
    call: CallContext,
    evaluationMs?: number,
  ): Promise<LadderAnswer<RpcTypes[R]["res"]>> {
    const { backend, metrics } = this.deps;
    if (this.baselineOnly) {
      const a = await invoke(backend, rpc, req, call);
      return this.answer(a, Source.FALLBACK, "builtin", "no model backend configured (backend.kind builtin): baseline rules answered");
    }
    const schema = SCHEMAS[rpc];
    const key = this.keyFor(rpc, req, evaluationMs);
    const cached = this.cache.lookup(key);
    if (cached?.fresh) {
      metrics.cacheLookups.inc({ rpc, result: "hit" });
      return this.fromCache<RpcTypes[R]["res"]>(cached.answer, schema, Source.CACHE, "");
    }
    if (this.cache.enabled) metrics.cacheLookups.inc({ rpc, result: "miss" });
    try {
      const breaker = this.breakers.get(rpc) as CircuitBreaker;
      const coalescer = this.coalescers.get(rpc) as Coalescer<Shared>;
      const shared = await coalescer.run(key, call, async (flight) => {
        const answer = await this.retry.run(
          () => breaker.fire(() => invoke(backend, rpc, req, flight) as Promise<BackendAnswer<Message>>, rpc, backend.kind),
          flight,
          (reason) => metrics.retries.inc({ backend: backend.kind, rpc, reason }),
        );
        // Once per flight, however many callers share it.
        if (answer.model !== "") metrics.modelInfo.set({ backend: backend.kind, model: answer.model, version: answer.modelVersion }, 1);
        if (this.cache.enabled) {
          const encoded = latin1(encodeBinary(schema as DescMessage, answer.response as never, { pooled: true }));
          this.cache.store(key, { response: encoded, model: answer.model, modelVersion: answer.modelVersion, bytes: encoded.length });
          metrics.cacheEntries.set(this.cache.size);
          metrics.cacheBytes.set(this.cache.bytes);
        }
        return { answer, taken: false };
      });
      const fresh = shared.answer;
      const response = (shared.taken ? copy(schema, fresh.response) : fresh.response) as RpcTypes[R]["res"];
      shared.taken = true;
      // A literal, not { ...fresh, response }: see CachedAnswer on spreads and hidden classes.
      return this.answer({ response, model: fresh.model, modelVersion: fresh.modelVersion }, Source.ML_SERVICE, backend.kind, "");
    } catch (e) {
      if (!degradable(e) || call.callerGone()) throw e;
      const stale = this.cache.lookup(key);
      if (stale !== undefined) {
        metrics.cacheLookups.inc({ rpc, result: "stale" });
        metrics.degradedAnswers.inc({ rpc, source: "STALE_CACHE" });
        return this.fromCache<RpcTypes[R]["res"]>(
          stale.answer,
          schema,
          Source.STALE_CACHE,
          `backend failed (${e.message}); answered from an expired cache entry`,
        );
      }
      if (this.deps.config.fallback.enabled) {
        metrics.degradedAnswers.inc({ rpc, source: "FALLBACK" });
        const a = await invoke(this.deps.fallback, rpc, req, call);
        return this.answer(a, Source.FALLBACK, "builtin", `backend failed (${e.message}); baseline rules answered`);
      }
      throw e;
    }
  }

  private answer<T>(a: BackendAnswer<T>, source: Source, backend: string, reason: string): LadderAnswer<T> {
    return {
      response: a.response,
      source,
      degraded: source === Source.STALE_CACHE || source === Source.FALLBACK,
      degradedReason: reason,
      backend,
      model: a.model,
      modelVersion: a.modelVersion,
    };
  }

  private fromCache<T>(c: { response: string; model: string; modelVersion: string }, schema: DescMessage, source: Source, reason: string) {
    // Each caller decodes its own message: metadata is set on it afterwards.
    const response = decodeBinary(schema, Buffer.from(c.response, "latin1")) as unknown as T;
    return this.answer({ response, model: c.model, modelVersion: c.modelVersion }, source, this.deps.backend.kind, reason);
  }

  shutdown(): void {
    for (const b of this.breakers.values()) b.shutdown();
  }
}
