/**
 * A retry budget: retries may be at most `ratio` of the calls seen over a
 * sliding window (with a floor of `minRetries`), so that retries can never
 * multiply the load on an upstream that is already failing, as Envoy's and
 * failsafe-go's budgets do.
 */
import type { Clock } from "../api/call-context.js";

export interface RetryBudgetOptions {
  readonly ratio: number;
  readonly minRetries: number;
  /** Sliding window; 10 s by default. */
  readonly windowMs?: number;
  readonly clock: Clock;
}

const BUCKETS = 10;

export class RetryBudget {
  private readonly calls = new Array<number>(BUCKETS).fill(0);
  private readonly retries = new Array<number>(BUCKETS).fill(0);
  private readonly bucketMs: number;
  private current = 0;
  private currentStart: number;

  constructor(private readonly options: RetryBudgetOptions) {
    this.bucketMs = (options.windowMs ?? 10_000) / BUCKETS;
    this.currentStart = options.clock();
  }

  private rotate(): void {
    const now = this.options.clock();
    let steps = Math.floor((now - this.currentStart) / this.bucketMs);
    if (steps <= 0) return;
    this.currentStart += steps * this.bucketMs;
    steps = Math.min(steps, BUCKETS);
    for (let i = 0; i < steps; i++) {
      this.current = (this.current + 1) % BUCKETS;
      this.calls[this.current] = 0;
      this.retries[this.current] = 0;
    }
  }

  private sum(a: number[]): number {
    let s = 0;
    for (const x of a) s += x;
    return s;
  }

  /** Records a call (its first attempt). */
  recordCall(): void {
    this.rotate();
    this.calls[this.current] = (this.calls[this.current] as number) + 1;
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(): boolean {
    this.rotate();
    const allowed = Math.max(this.options.minRetries, this.options.ratio * this.sum(this.calls));
    if (this.sum(this.retries) + 1 > allowed) return false;
    this.retries[this.current] = (this.retries[this.current] as number) + 1;
    return true;
  }
}
