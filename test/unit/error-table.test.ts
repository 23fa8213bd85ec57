import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, test } from "vitest";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { codeFor, toConnectError } from "../../src/errors/error-table.js";
import { type FailureKind, UpstreamError } from "../../src/errors/upstream-error.js";

const err = (kind: FailureKind, status?: number, extra: object = {}) =>
  new UpstreamError("x", { kind, upstream: "rest", endpoint: "/api/v1/anomaly/detect", status, ...extra });

describe("error table", () => {
  test.each([
    ["connect", undefined, Code.Unavailable],
    ["timeout", undefined, Code.DeadlineExceeded],
    ["cancelled", undefined, Code.Canceled],
    ["malformed", 200, Code.Internal],
    ["too_large", undefined, Code.Internal],
    ["precondition", undefined, Code.FailedPrecondition],
    ["status", 400, Code.InvalidArgument],
    ["status", 401, Code.Unauthenticated],
    ["status", 403, Code.PermissionDenied],
    ["status", 404, Code.NotFound],
    ["status", 409, Code.InvalidArgument],
    ["status", 422, Code.InvalidArgument],
    ["status", 429, Code.ResourceExhausted],
    ["status", 500, Code.Internal],
    ["status", 501, Code.Unimplemented],
    ["status", 502, Code.Unavailable],
    ["status", 503, Code.Unavailable],
    ["status", 504, Code.Unavailable],
    ["status", 599, Code.Unavailable],
  ] as const)("%s %s -> %s", (kind, status, code) => {
    expect(codeFor(err(kind, status))).toBe(code);
  });

  test("a call cut short by its own signal: CANCELLED when the caller left, UNAVAILABLE when the sidecar shuts down", () => {
    const left = UpstreamError.fromAbort(new ConnectError("gone", Code.Canceled), "rest", "/e", "calling");
    const shutdown = UpstreamError.fromAbort(new ConnectError("sidecar is shutting down", Code.Unavailable), "rest", "/e", "calling");
    const deadline = UpstreamError.fromAbort(new ConnectError("late", Code.DeadlineExceeded), "rest", "/e", "calling");
    expect([codeFor(left), codeFor(shutdown), codeFor(deadline)]).toEqual([Code.Canceled, Code.Unavailable, Code.DeadlineExceeded]);
    expect(shutdown.message).toBe("calling: sidecar is shutting down");
    expect(left.message).toBe("calling: the caller cancelled");
    expect(shutdown.isUpstreamFault).toBe(false);
  });

  test("details carry the upstream, endpoint, status and body excerpt; the cause is kept", () => {
    const e = err("status", 503, { bodyExcerpt: '{"error":"warming up"}' });
    const c = toConnectError(e);
    expect(c).toBeInstanceOf(ConnectError);
    expect(c.cause).toBe(e);
    const [info] = c.findDetails(ErrorInfoSchema);
    expect(info?.reason).toBe("UPSTREAM_HTTP_503");
    expect(info?.domain).toBe("aiops.ml.sidecar");
    expect(info?.metadata).toEqual({
      upstream: "rest",
      endpoint: "/api/v1/anomaly/detect",
      status: "503",
      body: '{"error":"warming up"}',
    });
  });

  test("429 carries Retry-After as RetryInfo", () => {
    const c = toConnectError(err("status", 429, { retryAfterMs: 2500 }));
    const [retry] = c.findDetails(RetryInfoSchema);
    expect(retry?.retryDelay?.seconds).toBe(2n);
    expect(retry?.retryDelay?.nanos).toBe(500_000_000);
  });

  test("422 violations become google.rpc.BadRequest field violations", () => {
    const c = toConnectError(err("status", 422, { violations: [{ field: "metrics[0].value", description: "not a number" }] }));
    const [bad] = c.findDetails(BadRequestSchema);
    expect(bad?.fieldViolations.map((v) => [v.field, v.description])).toEqual([["metrics[0].value", "not a number"]]);
  });

  test("only upstream faults count against the breaker", () => {
    expect(err("connect").isUpstreamFault).toBe(true);
    expect(err("timeout").isUpstreamFault).toBe(true);
    expect(err("status", 503).isUpstreamFault).toBe(true);
    expect(err("status", 429).isUpstreamFault).toBe(true);
    expect(err("status", 400).isUpstreamFault).toBe(false);
    expect(err("status", 404).isUpstreamFault).toBe(false);
    expect(err("status", 422).isUpstreamFault).toBe(false);
    expect(err("cancelled").isUpstreamFault).toBe(false);
  });
});
