import { describe, expect, test, vi } from "vitest";
import type { CallContext } from "../../src/api/call-context.js";
import { UpstreamError } from "../../src/errors/upstream-error.js";
import { RetryBudget } from "../../src/resilience/retry-budget.js";
import { isRetryable, RetryPolicy } from "../../src/resilience/retry-policy.js";

const status = (s: number, retryAfterMs?: number) =>
  new UpstreamError(`${s}`, { kind: "status", status: s, upstream: "rest", endpoint: "/x", retryAfterMs });
const connect = () => new UpstreamError("refused", { kind: "connect", upstream: "rest", endpoint: "/x" });

function call(remaining = 10_000): CallContext {
  return {
    signal: new AbortController().signal,
    deadline: remaining,
    requestId: "r",
    forwardHeaders: {},
    remainingMs: () => remaining,
    callerGone: () => false,
    dispose: () => {},
  };
}

function policy(over: Partial<ConstructorParameters<typeof RetryPolicy>[0]> = {}) {
  const sleeps: number[] = [];
  const p = new RetryPolicy({
    maxAttempts: 3,
    initialBackoffMs: 50,
    maxBackoffMs: 1000,
    minAttemptMs: 20,
    budget: new RetryBudget({ ratio: 1, minRetries: 100, clock: () => 0 }),
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...over,
  });
  return { p, sleeps };
}

describe("retry policy", () => {
  test("retryable: connection errors, 429, 502, 503, 504 only", () => {
    expect([connect(), status(429), status(502), status(503), status(504)].every(isRetryable)).toBe(true);
    expect([status(400), status(404), status(422), status(500), status(501)].some(isRetryable)).toBe(false);
    expect(isRetryable(new UpstreamError("t", { kind: "timeout", upstream: "r", endpoint: "" }))).toBe(false);
    expect(isRetryable(new UpstreamError("b", { kind: "breaker_open", upstream: "r", endpoint: "" }))).toBe(false);
  });

  test("retries a 503 then succeeds, with full-jitter exponential backoff", async () => {
    const { p, sleeps } = policy();
    const attempt = vi.fn().mockRejectedValueOnce(status(503)).mockRejectedValueOnce(connect()).mockResolvedValue("ok");
    await expect(p.run(attempt, call())).resolves.toBe("ok");
    expect(attempt).toHaveBeenCalledTimes(3);
    expect(sleeps).toEqual([25, 50]); // random 0.5 × cap 50, then × cap 100
  });

  test("stops at max_attempts and rethrows the last failure", async () => {
    const { p } = policy();
    const attempt = vi.fn().mockRejectedValue(status(503));
    await expect(p.run(attempt, call())).rejects.toMatchObject({ status: 503 });
    expect(attempt).toHaveBeenCalledTimes(3);
  });

  test("never retries the caller's bad input or a model error", async () => {
    const { p } = policy();
    for (const e of [status(400), status(500)]) {
      const attempt = vi.fn().mockRejectedValue(e);
      await expect(p.run(attempt, call())).rejects.toBe(e);
      expect(attempt).toHaveBeenCalledTimes(1);
    }
  });

  test("429 waits at least its Retry-After", async () => {
    const { p, sleeps } = policy();
    const attempt = vi.fn().mockRejectedValueOnce(status(429, 700)).mockResolvedValue("ok");
    await p.run(attempt, call());
    expect(sleeps).toEqual([700]);
  });

  test("no retry starts when the remaining deadline cannot hold its backoff and a minimal attempt", async () => {
    const { p, sleeps } = policy();
    const attempt = vi.fn().mockRejectedValue(status(503));
    // backoff 25 + min attempt 20 = 45 > 40 left
    await expect(p.run(attempt, call(40))).rejects.toMatchObject({ status: 503 });
    expect(attempt).toHaveBeenCalledTimes(1);
    expect(sleeps).toEqual([]);
    // A Retry-After longer than the deadline is not waited for either.
    const a2 = vi.fn().mockRejectedValue(status(429, 5000));
    await expect(p.run(a2, call(1000))).rejects.toMatchObject({ status: 429 });
    expect(a2).toHaveBeenCalledTimes(1);
  });

  test("the budget caps retries at a fraction of calls", async () => {
    let now = 0;
    const budget = new RetryBudget({ ratio: 0.2, minRetries: 0, clock: () => now });
    const { p } = policy({ budget, maxAttempts: 2 });
    let attempts = 0;
    const attempt = () => {
      attempts++;
      return Promise.reject(status(503));
    };
    for (let i = 0; i < 10; i++) await p.run(attempt, call()).catch(() => {});
    // 10 calls: at most 20 % of them (2) retried.
    expect(attempts).toBe(12);
    // The window slides: 10 s later the budget is new again.
    now = 11_000;
    attempts = 0;
    await p.run(attempt, call()).catch(() => {});
    await p.run(attempt, call()).catch(() => {});
    expect(attempts).toBe(2); // 2 calls × 20 % = 0.4: no retry yet
  });

  test("the budget's floor allows a few retries even at low volume", () => {
    const b = new RetryBudget({ ratio: 0.2, minRetries: 3, clock: () => 0 });
    b.recordCall();
    expect([b.tryRetry(), b.tryRetry(), b.tryRetry(), b.tryRetry()]).toEqual([true, true, true, false]);
  });
});
