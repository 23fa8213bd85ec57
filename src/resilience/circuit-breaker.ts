/**
 * A circuit breaker per upstream endpoint, on opossum. opossum supplies the
 * state machine, the rolling error percentage (with a minimum volume) and a
 * single half-open probe; this wrapper adds what the engine's ADR promised
 * and opossum lacks: opening after N *consecutive* upstream faults. Only
 * upstream faults count (5xx, timeouts, connection errors): the caller's bad
 * input and its own cancellation never do.
 *
 * opossum's own timeout is off (`timeout: false`): one AbortController per
 * breaker would abort every call in flight (opossum#780); each call's own
 * deadline bounds it instead.
 */
import OpossumBreaker from "opossum";
import { UpstreamError } from "../errors/upstream-error.js";

export type BreakerState = "closed" | "open" | "half_open";

export interface CircuitBreakerOptions {
  /** Names the upstream endpoint, e.g. "rest /api/v1/anomaly/detect". */
  readonly name: string;
  /** Consecutive upstream faults that open the breaker (breaker.failure_threshold). */
  readonly failureThreshold: number;
  /** Open time before one probe is let through (breaker.reset_timeout). */
  readonly resetTimeoutMs: number;
  /** Opens when more than this percentage of calls in the window failed... */
  readonly errorThresholdPercentage: number;
  /** ...over this rolling window... */
  readonly rollingWindowMs: number;
  /** ...once the window holds this many calls. */
  readonly volumeThreshold: number;
  /** Told of every transition (logs, metrics). */
  readonly onTransition?: (name: string, to: BreakerState) => void;
  /**
   * Asked before the half-open probe goes through (e.g. KServe model
   * readiness): when it says no, the probe is withheld and the breaker
   * stays half-open, so a model that is still loading is not hit. One
   * probe at a time asks it: calls that come while it, or the probe it let
   * through, is under way are refused at once, as opossum refuses them;
   * so it must be bounded in time (the pipeline gives it 2 s).
   */
  readonly beforeProbe?: () => Promise<boolean>;
}

/** True for outcomes that say the upstream is unwell. */
const isFault = (e: unknown): boolean => e instanceof UpstreamError && e.isUpstreamFault;
const isCancellation = (e: unknown): boolean => e instanceof UpstreamError && e.kind === "cancelled";

export class CircuitBreaker {
  readonly name: string;
  private readonly breaker: OpossumBreaker<[() => Promise<unknown>], unknown>;
  private consecutiveFaults = 0;
  /** A half-open probe (its readiness check, then the call) is under way. */
  private probing = false;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.name = options.name;
    this.breaker = new OpossumBreaker((fn: () => Promise<unknown>) => fn(), {
      timeout: false,
      resetTimeout: options.resetTimeoutMs,
      errorThresholdPercentage: options.errorThresholdPercentage,
      rollingCountTimeout: options.rollingWindowMs,
      rollingCountBuckets: 10,
      volumeThreshold: options.volumeThreshold,
      // Errors for which this returns true are not failures to opossum.
      errorFilter: (e: unknown) => !isFault(e),
      // Nothing listens to opossum's 'snapshot' event or reads its latency
      // percentiles; left on, they keep every call's latency for the window
      // and sort them all once a bucket (per-call CPU and garbage for nothing).
      enableSnapshots: false,
      rollingPercentilesEnabled: false,
    });
    const tell = (to: BreakerState) => () => options.onTransition?.(this.name, to);
    this.breaker.on("open", tell("open"));
    this.breaker.on("halfOpen", tell("half_open"));
    this.breaker.on("close", () => {
      this.consecutiveFaults = 0;
      tell("closed")();
    });
  }

  get state(): BreakerState {
    if (this.breaker.opened) return "open";
    if (this.breaker.halfOpen) return "half_open";
    return "closed";
  }

  /** Consecutive upstream faults seen while closed. */
  get faults(): number {
    return this.consecutiveFaults;
  }

  /**
   * Runs `fn` unless the breaker is open. Throws UpstreamError
   * `breaker_open` (UNAVAILABLE) without calling `fn` while it is.
   */
  fire<T>(fn: () => Promise<T>, endpoint: string, upstream: string): Promise<T> {
    const { beforeProbe } = this.options;
    // Not async itself: every call passes here, and an async layer that
    // only returns another's promise costs a promise and two more turns.
    if (beforeProbe === undefined || this.state !== "half_open") return this.call(fn, endpoint, upstream);
    return this.probe(beforeProbe, fn, endpoint, upstream);
  }

  /** The half-open probe behind a readiness check, one at a time. */
  private async probe<T>(beforeProbe: () => Promise<boolean>, fn: () => Promise<T>, endpoint: string, upstream: string): Promise<T> {
    const withheld = (why: string) =>
      new UpstreamError(`circuit breaker for ${this.name} is half-open and ${why}; the upstream was not called`, {
        kind: "breaker_open",
        upstream,
        endpoint,
      });
    // Without this, every call in the half-open window would ask the
    // recovering upstream whether it is ready.
    if (this.probing) throw withheld("a probe is under way");
    this.probing = true;
    try {
      if (!(await beforeProbe())) throw withheld("the upstream is not ready");
      return await this.call(fn, endpoint, upstream);
    } finally {
      this.probing = false;
    }
  }

  /**
   * Through opossum. Not async: a frame of its own would cost every call a
   * promise and a turn; the success handler is made once.
   */
  private call<T>(fn: () => Promise<T>, endpoint: string, upstream: string): Promise<T> {
    return (this.breaker.fire(fn) as Promise<T>).then(this.succeeded as (r: T) => T, (e: unknown) => {
      throw this.failed(e, endpoint, upstream);
    });
  }

  private readonly succeeded = (result: unknown): unknown => {
    this.consecutiveFaults = 0;
    return result;
  };

  /** Counts a failure and gives what the caller sees of it. */
  private failed(e: unknown, endpoint: string, upstream: string): unknown {
    if ((e as { code?: string }).code === "EOPENBREAKER") {
      return new UpstreamError(`circuit breaker for ${this.name} is open; the upstream was not called`, {
        kind: "breaker_open",
        upstream,
        endpoint,
        cause: e,
      });
    }
    if (isFault(e)) {
      this.consecutiveFaults++;
      if (this.consecutiveFaults >= this.options.failureThreshold && this.state === "closed") this.breaker.open();
    } else if (!isCancellation(e)) {
      // The upstream answered (a 4xx): it is alive.
      this.consecutiveFaults = 0;
    }
    return e;
  }

  /** Stops opossum's timers. */
  shutdown(): void {
    this.breaker.shutdown();
  }
}
