/**
 * The abort signal of one call (and of one coalesced upstream call), made
 * without Node's AbortController.
 *
 * Node 20 makes every AbortSignal as an EventTarget whose prototype is then
 * changed (`Object.setPrototypeOf`). Measured with `--trace-gc-nvp` on the
 * unary path: creating one such signal per call — even one nothing keeps —
 * made about 0.5 KB per call survive two scavenges and move to old space,
 * doubling scavenge pauses and filling old space for mark-compacts (the
 * benchmark's p99); a plain EventTarget subclass made per call does not
 * (bench/FINDINGS.md, change 7). A CallSignal is such a subclass: an EventTarget that
 * dispatches "abort" once, with `aborted`, `reason`, `throwIfAborted()` and
 * `onabort`, and `instanceof AbortSignal` — what undici, Node's timers and
 * this code read of a signal.
 */

const ABORT = Symbol("abort");

class CallSignal extends EventTarget {
  #aborted = false;
  #reason: unknown = undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }

  [ABORT](reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
    this.dispatchEvent(new Event("abort"));
  }
}
// AbortSignal's prototype above ours: `instanceof AbortSignal` holds and
// `onabort` is AbortSignal's own event-handler property; ours shadow the rest.
Object.setPrototypeOf(CallSignal.prototype, AbortSignal.prototype);

/** An AbortController for one call: the same two members. */
export class CallController {
  readonly #signal = new CallSignal();

  get signal(): AbortSignal {
    return this.#signal as unknown as AbortSignal;
  }

  abort(reason?: unknown): void {
    this.#signal[ABORT](reason);
  }
}
