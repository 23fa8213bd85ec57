/**
 * What went wrong talking to an upstream (the ML backend or Prometheus),
 * classified once where it happens so that the error table, the breaker and
 * the retry policy all decide on the same facts.
 */

/** The classes of upstream outcome the error table distinguishes. */
export type FailureKind =
  /** Refused, reset, closed, DNS: the connection itself failed. */
  | "connect"
  /** The deadline (the caller's, or backend.timeout) passed first. */
  | "timeout"
  /** The caller went away, or the sidecar is shutting down; not the upstream's fault. */
  | "cancelled"
  /** The upstream answered with an HTTP error status. */
  | "status"
  /** The upstream answered 2xx with a body that breaks the contract. */
  | "malformed"
  /** The upstream's body was larger than pool.max_response_bytes. */
  | "too_large"
  /** The request was refused before sending: it cannot suit the model. */
  | "precondition"
  /** The circuit breaker is open: the upstream was not called. */
  | "breaker_open";

/** A field a validator found wrong, as google.rpc.BadRequest carries it. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

export interface UpstreamErrorInit {
  readonly kind: FailureKind;
  /** Which upstream: "rest", "kserve-v1", "prometheus", ... */
  readonly upstream: string;
  /** The path called, e.g. /api/v1/anomaly/detect. */
  readonly endpoint: string;
  readonly status?: number | undefined;
  /** A bounded excerpt of the upstream's body, for the error details. */
  readonly bodyExcerpt?: string | undefined;
  /** From Retry-After, for 429 and 503. */
  readonly retryAfterMs?: number | undefined;
  /** From a 422 `detail` list, or from validating a malformed answer. */
  readonly violations?: readonly FieldViolation[] | undefined;
  readonly cause?: unknown;
}

import { Code, ConnectError } from "@connectrpc/connect";
import { isDeadlineReason } from "../api/call-context.js";

/** Thrown by every upstream adapter; mapped to a ConnectError by the error table. */
export class UpstreamError extends Error {
  readonly kind: FailureKind;
  readonly upstream: string;
  readonly endpoint: string;
  readonly status: number | undefined;
  readonly bodyExcerpt: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly violations: readonly FieldViolation[];

  constructor(message: string, init: UpstreamErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "UpstreamError";
    this.kind = init.kind;
    this.upstream = init.upstream;
    this.endpoint = init.endpoint;
    this.status = init.status;
    this.bodyExcerpt = init.bodyExcerpt;
    this.retryAfterMs = init.retryAfterMs;
    this.violations = init.violations ?? [];
  }

  /**
   * The error for a call ended by its signal: `timeout` when the reason is
   * a deadline, else `cancelled` (the caller went away). Neither counts
   * against the breaker.
   */
  static fromAbort(reason: unknown, upstream: string, endpoint: string, what: string): UpstreamError {
    const deadline = isDeadlineReason(reason);
    // The sidecar's own shutdown aborts with UNAVAILABLE: say so, not "the caller cancelled".
    const ownReason = !deadline && reason instanceof ConnectError && reason.code !== Code.Canceled;
    return new UpstreamError(
      `${what}: ${deadline ? "the deadline passed first" : ownReason ? reason.rawMessage : "the caller cancelled"}`,
      {
        kind: deadline ? "timeout" : "cancelled",
        upstream,
        endpoint,
        cause: reason,
      },
    );
  }

  /**
   * True for faults of the upstream itself: they count against the breaker
   * and may be retried. The caller's bad input (4xx), its cancellation and
   * a refused precondition never do.
   */
  get isUpstreamFault(): boolean {
    switch (this.kind) {
      case "connect":
      case "timeout":
      case "malformed":
      case "too_large":
        return true;
      case "status":
        return this.status !== undefined && (this.status >= 500 || this.status === 429 || this.status === 408);
      default:
        return false;
    }
  }
}

/** Longest body excerpt carried in error details and logs. */
export const BODY_EXCERPT_MAX = 512;

/** Cuts a body to {@link BODY_EXCERPT_MAX} characters, marking the cut. */
export function excerpt(body: string): string {
  return body.length <= BODY_EXCERPT_MAX ? body : `${body.slice(0, BODY_EXCERPT_MAX)}…`;
}
