/**
 * The per-call context that flows from the RPC handler down to undici and to
 * Prometheus: one signal that aborts at the caller's deadline, when the
 * caller goes away, or when `backend.timeout` passes for a call that carries
 * no (or a longer) deadline. Its abort reason is always a ConnectError, so
 * every layer below tells a deadline from a cancellation the same way.
 */
import { Code, ConnectError, createContextKey } from "@connectrpc/connect";
import { CallController } from "./call-signal.js";

/**
 * The request message's size on the wire, when the transport knows it (the
 * gRPC unary path does): validation then need not encode the message again
 * to check server.max_request_bytes.
 */
export const MESSAGE_BYTES = createContextKey<number | undefined>(undefined, { description: "request message bytes on the wire" });

/** A clock in milliseconds; injectable so that tests need no sleeping. */
export type Clock = () => number;

/** What every layer below the handler receives for one call. */
export interface CallContext {
  /** Aborts at the deadline or when the caller goes away. */
  readonly signal: AbortSignal;
  /** Absolute deadline on {@link Clock}'s scale. */
  readonly deadline: number;
  /** Correlates logs, the upstream's x-request-id and response metadata. */
  readonly requestId: string;
  /** Headers passed on to the upstream (x-request-id, traceparent). */
  readonly forwardHeaders: Readonly<Record<string, string>>;
  /** Milliseconds left before the deadline (never negative). */
  remainingMs(): number;
  /** True once the caller itself is gone (its deadline passed or it cancelled). */
  callerGone(): boolean;
  /** Releases the timer and listener; call once the RPC is answered. */
  dispose(): void;
}

export interface CallContextInit {
  /** The RPC's own signal (connect's HandlerContext.signal). */
  readonly signal: AbortSignal;
  /** The caller's remaining time (HandlerContext.timeoutMs()), if it set one. */
  readonly timeoutMs: number | undefined;
  /** Cap for calls without a deadline: backend.timeout. */
  readonly capMs: number;
  readonly requestId: string;
  readonly traceparent?: string | undefined;
  readonly clock: Clock;
}

/** Whether an abort reason means the deadline passed (else the caller cancelled). */
export function isDeadlineReason(reason: unknown): boolean {
  return reason instanceof ConnectError && reason.code === Code.DeadlineExceeded;
}

/**
 * A signal that aborts when `parent` does (with its reason) or after `ms`
 * (with DEADLINE_EXCEEDED and `what` in the message); `dispose` releases the
 * timer and the listener.
 */
export function linkedDeadline(parent: AbortSignal, ms: number, what: string): { signal: AbortSignal; dispose: () => void } {
  const controller = new CallController();
  const onAbort = (): void => controller.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new ConnectError(`${what} of ${Math.round(ms)}ms passed`, Code.DeadlineExceeded)), ms);
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      parent.removeEventListener("abort", onAbort);
    },
  };
}

/**
 * One call's context. A class, not a literal with three closures: one object
 * per call, its methods shared.
 */
class Call implements CallContext {
  constructor(
    readonly signal: AbortSignal,
    readonly deadline: number,
    readonly requestId: string,
    readonly forwardHeaders: Readonly<Record<string, string>>,
    /** The RPC's own signal: aborted only when the caller is gone. */
    private readonly caller: AbortSignal,
    private readonly clock: Clock,
    private readonly release: (() => void) | undefined,
  ) {}

  remainingMs(): number {
    return Math.max(0, this.deadline - this.clock());
  }

  callerGone(): boolean {
    return this.caller.aborted;
  }

  dispose(): void {
    this.release?.();
  }
}

/** Creates the context for one call; see {@link CallContext}. */
export function createCallContext(init: CallContextInit): CallContext {
  const now = init.clock();
  const callerCapped = init.timeoutMs !== undefined && init.timeoutMs <= init.capMs;
  const budget = callerCapped ? (init.timeoutMs as number) : init.capMs;
  const deadline = now + budget;
  const forwardHeaders: Record<string, string> = { "x-request-id": init.requestId };
  if (init.traceparent !== undefined) forwardHeaders.traceparent = init.traceparent;

  // When the caller's deadline is the binding one, connect already aborts
  // its signal with DEADLINE_EXCEEDED: reuse it and allocate nothing more.
  if (callerCapped) return new Call(init.signal, deadline, init.requestId, forwardHeaders, init.signal, init.clock, undefined);
  const linked = linkedDeadline(init.signal, budget, "backend.timeout");
  return new Call(linked.signal, deadline, init.requestId, forwardHeaders, init.signal, init.clock, linked.dispose);
}
