/**
 * Counts the calls in flight, once, for both load shedding and graceful
 * shutdown. While draining, new calls are still served for
 * `server.drain_delay` (so a caller that is itself stopping can finish),
 * then refused with UNAVAILABLE; calls already in flight always finish.
 */
import { Code, ConnectError } from "@connectrpc/connect";

export class Drain {
  private inflight = 0;
  private refusing = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly maxConcurrent: number) {}

  /** Calls in flight now. */
  get active(): number {
    return this.inflight;
  }

  get isRefusing(): boolean {
    return this.refusing;
  }

  /**
   * Admits a call or throws: UNAVAILABLE while refusing (shutting down),
   * RESOURCE_EXHAUSTED beyond `server.max_concurrent_requests`.
   */
  enter(): void {
    if (this.refusing) throw new ConnectError("sidecar is shutting down; call again on the new instance", Code.Unavailable);
    if (this.inflight >= this.maxConcurrent) {
      throw new ConnectError(
        `server.max_concurrent_requests (${this.maxConcurrent}) calls are in flight; retry with backoff`,
        Code.ResourceExhausted,
      );
    }
    this.inflight++;
  }

  leave(): void {
    this.inflight--;
    if (this.inflight === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** From now on new calls are refused with UNAVAILABLE. */
  refuse(): void {
    this.refusing = true;
  }

  /** Resolves when no call is in flight, or after `timeoutMs` (true when idle). */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        resolve(true);
      };
      const t = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      this.idleWaiters.push(done);
    });
  }
}
