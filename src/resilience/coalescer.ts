/**
 * Request coalescing: identical requests in flight share one upstream call,
 * yet each waiter keeps its own deadline and cancellation. A waiter that
 * gives up leaves alone; the shared call is aborted only when every waiter
 * has gone, and from then on the next caller with that key starts a call of
 * its own rather than join one that is being torn down. (lru-cache's fetch
 * coalescing lets the first caller's signal govern every waiter, which is
 * wrong when each has its own deadline.)
 */
import type { CallContext } from "../api/call-context.js";
import { CallController } from "../api/call-signal.js";
import { UpstreamError } from "../errors/upstream-error.js";

class Flight<T> {
  readonly controller = new CallController();
  readonly waiters = new Set<CallContext>();
  promise!: Promise<T>;

  constructor(readonly key: string) {}

  /** The context the shared call runs under: alive while any waiter is. */
  sharedContext(first: CallContext): CallContext {
    return new SharedContext(this.controller.signal, first, this.waiters);
  }
}

/**
 * A class rather than an object literal with a getter: such a literal gets a
 * hidden class of its own in old space that points back at the flight, and
 * keeps it through every scavenge until the next full GC.
 */
class SharedContext implements CallContext {
  readonly requestId: string;
  readonly forwardHeaders: Readonly<Record<string, string>>;

  constructor(
    readonly signal: AbortSignal,
    private readonly first: CallContext,
    private readonly waiters: Set<CallContext>,
  ) {
    this.requestId = first.requestId;
    this.forwardHeaders = first.forwardHeaders;
  }

  get deadline(): number {
    let d = this.first.deadline;
    for (const w of this.waiters) d = Math.max(d, w.deadline);
    return d;
  }

  remainingMs(): number {
    let best = 0;
    for (const w of this.waiters) best = Math.max(best, w.remainingMs());
    return best;
  }

  callerGone(): boolean {
    return this.waiters.size === 0;
  }

  dispose(): void {}
}

const abortError = (reason: unknown): UpstreamError =>
  UpstreamError.fromAbort(reason, "coalescer", "", "waiting for a shared upstream call");

export class Coalescer<T> {
  private readonly flights = new Map<string, Flight<T>>();

  constructor(private readonly onJoin?: () => void) {}

  /** Calls in flight now. */
  get inFlight(): number {
    return this.flights.size;
  }

  /**
   * Runs `work` once per key at a time; callers with the same key while it
   * runs wait for the same result, each bounded by its own signal.
   */
  run(key: string, call: CallContext, work: (shared: CallContext) => Promise<T>): Promise<T> {
    // A caller already gone (its deadline passed while its message was read,
    // or while enrichment ran) neither starts work nor joins any. Were it to
    // start a flight and leave at once, nobody would hear how the work ended,
    // and a failure nobody hears is an unhandled rejection: the end of the
    // process.
    if (call.signal.aborted) return Promise.reject(abortError(call.signal.reason));
    let flight = this.flights.get(key);
    if (flight === undefined) {
      const f = new Flight<T>(key);
      flight = f;
      this.flights.set(key, f);
      // The first caller is a waiter before the work starts, so the shared
      // context sees its deadline from the first instant (join adds it again: a Set).
      f.waiters.add(call);
      f.promise = work(f.sharedContext(call)).finally(() => {
        if (this.flights.get(key) === f) this.flights.delete(key);
      });
    } else {
      this.onJoin?.();
    }
    return this.join(flight, call);
  }

  private join(flight: Flight<T>, call: CallContext): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      flight.waiters.add(call);
      const leave = (): void => {
        flight.waiters.delete(call);
        call.signal.removeEventListener("abort", onAbort);
      };
      const onAbort = (): void => {
        leave();
        reject(abortError(call.signal.reason));
        if (flight.waiters.size === 0) this.abandon(flight, call.signal.reason);
      };
      call.signal.addEventListener("abort", onAbort, { once: true });
      flight.promise.then(
        (v) => {
          leave();
          resolve(v);
        },
        (e: unknown) => {
          leave();
          reject(e);
        },
      );
    });
  }

  /**
   * Every waiter has gone: the shared call is aborted, and the flight leaves
   * the map now, not when the call has unwound, so that a caller arriving in
   * between (the engine retrying the call it just timed out) is not handed
   * an abort it did not ask for.
   */
  private abandon(flight: Flight<T>, reason: unknown): void {
    if (this.flights.get(flight.key) === flight) this.flights.delete(flight.key);
    flight.controller.abort(reason);
  }
}
