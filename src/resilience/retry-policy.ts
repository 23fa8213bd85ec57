/**
 * Retries with exponential backoff and full jitter, for faults that are
 * safe to retry: connection errors, 502, 503, 504, and 429 (waiting at least
 * its Retry-After). Bounded three ways: `retry.max_attempts`, the retry
 * budget, and the caller's deadline — a retry is never started unless its
 * backoff and `retry.min_attempt_time` fit in what is left.
 */
import type { CallContext } from "../api/call-context.js";
import { UpstreamError } from "../errors/upstream-error.js";
import type { RetryBudget } from "./retry-budget.js";

export interface RetryPolicyOptions {
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly minAttemptMs: number;
  readonly budget: RetryBudget;
  /** Uniform in [0, 1); injectable for tests. */
  readonly random?: () => number;
  /** Abortable sleep; injectable for tests. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/** Whether a failure is safe and useful to retry. */
export function isRetryable(e: unknown): e is UpstreamError {
  if (!(e instanceof UpstreamError)) return false;
  return e.kind === "connect" || (e.kind === "status" && RETRYABLE_STATUS.has(e.status ?? 0));
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export class RetryPolicy {
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(private readonly options: RetryPolicyOptions) {
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? abortableSleep;
  }

  /** The backoff before retry number `retry` (1-based), full jitter. */
  backoffMs(retry: number, retryAfterMs: number | undefined): number {
    const cap = Math.min(this.options.maxBackoffMs, this.options.initialBackoffMs * 2 ** (retry - 1));
    return Math.max(retryAfterMs ?? 0, this.random() * cap);
  }

  /**
   * Runs `attempt` until it succeeds or a bound says stop; rethrows the last
   * failure. `onRetry` is told of each retry and the failure that caused it.
   */
  async run<T>(attempt: () => Promise<T>, call: CallContext, onRetry?: (reason: string) => void): Promise<T> {
    this.options.budget.recordCall();
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (e) {
        if (n >= this.options.maxAttempts || !isRetryable(e) || call.signal.aborted) throw e;
        const wait = this.backoffMs(n, e.retryAfterMs);
        if (call.remainingMs() < wait + this.options.minAttemptMs) throw e;
        if (!this.options.budget.tryRetry()) throw e;
        onRetry?.(e.kind === "status" ? `http_${e.status}` : e.kind);
        try {
          await this.sleep(wait, call.signal);
        } catch {
          throw e;
        }
      }
    }
  }
}
