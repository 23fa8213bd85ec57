/**
 * The one table that maps upstream outcomes to gRPC codes. The README shows
 * it. Unlike Envoy's canonical table (400 -> INTERNAL, 404 -> UNIMPLEMENTED)
 * it keeps the meaning for the caller: bad input stays INVALID_ARGUMENT, a
 * missing model stays NOT_FOUND, overload carries its Retry-After.
 */

import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { FieldViolation, UpstreamError } from "./upstream-error.js";

/** An error detail as ConnectError takes it: a message schema and its value. */
export type OutgoingDetail = { desc: DescMessage; value: MessageInitShape<DescMessage> };

/** Domain of every ErrorInfo the sidecar sends. */
export const ERROR_DOMAIN = "aiops.ml.sidecar";

/** HTTP statuses with a code of their own; other 4xx are INVALID_ARGUMENT, other 5xx UNAVAILABLE. */
export const STATUS_CODES: ReadonlyMap<number, Code> = new Map([
  [400, Code.InvalidArgument],
  [401, Code.Unauthenticated],
  [403, Code.PermissionDenied],
  [404, Code.NotFound],
  [408, Code.DeadlineExceeded],
  [413, Code.InvalidArgument],
  [422, Code.InvalidArgument],
  [429, Code.ResourceExhausted],
  [500, Code.Internal],
  [501, Code.Unimplemented],
  [502, Code.Unavailable],
  [503, Code.Unavailable],
  [504, Code.Unavailable],
]);

/** The code for an upstream outcome. */
export function codeFor(e: UpstreamError): Code {
  switch (e.kind) {
    case "connect":
    case "breaker_open":
      return Code.Unavailable;
    case "timeout":
      return Code.DeadlineExceeded;
    case "cancelled":
      // Cut short by the call's own signal: the caller left (CANCELLED), or
      // the sidecar is shutting down (UNAVAILABLE, which callers may retry).
      return e.cause instanceof ConnectError ? e.cause.code : Code.Canceled;
    case "malformed":
    case "too_large":
      return Code.Internal;
    case "precondition":
      return Code.FailedPrecondition;
    case "status": {
      const s = e.status ?? 0;
      return STATUS_CODES.get(s) ?? (s >= 500 ? Code.Unavailable : Code.InvalidArgument);
    }
  }
}

/** Reason strings of the ErrorInfo detail, stable for callers to match on. */
function reasonFor(e: UpstreamError): string {
  return e.kind === "status" ? `UPSTREAM_HTTP_${e.status}` : `UPSTREAM_${e.kind.toUpperCase()}`;
}

/**
 * Builds the ConnectError that leaves the RPC: the chosen code, an
 * ErrorInfo with the upstream, endpoint, status and body excerpt, field
 * violations as google.rpc.BadRequest, Retry-After as google.rpc.RetryInfo,
 * and the original error as `cause`.
 */
export function toConnectError(e: UpstreamError): ConnectError {
  const metadata: Record<string, string> = { upstream: e.upstream, endpoint: e.endpoint };
  if (e.status !== undefined) metadata.status = String(e.status);
  if (e.bodyExcerpt !== undefined && e.bodyExcerpt !== "") metadata.body = e.bodyExcerpt;
  const details: OutgoingDetail[] = [{ desc: ErrorInfoSchema, value: { reason: reasonFor(e), domain: ERROR_DOMAIN, metadata } }];
  if (e.violations.length > 0) details.push(badRequest(e.violations));
  if (e.retryAfterMs !== undefined) {
    const seconds = Math.floor(e.retryAfterMs / 1000);
    details.push({
      desc: RetryInfoSchema,
      value: {
        retryDelay: create(DurationSchema, {
          seconds: BigInt(seconds),
          nanos: Math.round((e.retryAfterMs - seconds * 1000) * 1e6),
        }),
      },
    });
  }
  return new ConnectError(e.message, codeFor(e), undefined, details, e);
}

/** The google.rpc.BadRequest detail for a list of violations. */
export function badRequest(violations: readonly FieldViolation[]): OutgoingDetail {
  return {
    desc: BadRequestSchema,
    value: { fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })) },
  };
}

/** INVALID_ARGUMENT for the caller's own bad input; nothing went upstream. */
export function invalidArgument(violations: readonly FieldViolation[]): ConnectError {
  const first = violations[0];
  const message =
    first === undefined
      ? "invalid request"
      : `${first.field}: ${first.description}${violations.length > 1 ? ` (and ${violations.length - 1} more)` : ""}`;
  return new ConnectError(message, Code.InvalidArgument, undefined, [badRequest(violations)]);
}
