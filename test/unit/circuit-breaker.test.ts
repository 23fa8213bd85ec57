import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { UpstreamError } from "../../src/errors/upstream-error.js";
import { type BreakerState, CircuitBreaker } from "../../src/resilience/circuit-breaker.js";

const fault = () => new UpstreamError("503", { kind: "status", status: 503, upstream: "rest", endpoint: "/x" });
const badInput = () => new UpstreamError("400", { kind: "status", status: 400, upstream: "rest", endpoint: "/x" });
const cancelled = () => new UpstreamError("gone", { kind: "cancelled", upstream: "rest", endpoint: "/x" });

let transitions: BreakerState[];
let breaker: CircuitBreaker;

function make(overrides: Partial<ConstructorParameters<typeof CircuitBreaker>[0]> = {}) {
  return new CircuitBreaker({
    name: "rest DetectAnomaly",
    failureThreshold: 3,
    resetTimeoutMs: 30_000,
    errorThresholdPercentage: 50,
    rollingWindowMs: 10_000,
    volumeThreshold: 1000,
    onTransition: (_n, to) => transitions.push(to),
    ...overrides,
  });
}

const fail = (e: Error) => breaker.fire(() => Promise.reject(e), "/x", "rest").catch((x: unknown) => x as UpstreamError);
const succeed = () => breaker.fire(() => Promise.resolve("ok"), "/x", "rest");

beforeEach(() => {
  vi.useFakeTimers();
  transitions = [];
  breaker = make();
});
afterEach(() => {
  breaker.shutdown();
  vi.useRealTimers();
});

describe("circuit breaker", () => {
  test("opens after exactly 3 consecutive upstream faults", async () => {
    await fail(fault());
    await fail(fault());
    expect(breaker.state).toBe("closed");
    await fail(fault());
    expect(breaker.state).toBe("open");
    expect(transitions).toEqual(["open"]);
  });

  test("while open, calls are refused as breaker_open without running", async () => {
    for (let i = 0; i < 3; i++) await fail(fault());
    const fn = vi.fn(() => Promise.resolve("ok"));
    const e = await breaker.fire(fn, "/x", "rest").catch((x: unknown) => x as UpstreamError);
    expect(fn).not.toHaveBeenCalled();
    expect(e).toBeInstanceOf(UpstreamError);
    expect((e as UpstreamError).kind).toBe("breaker_open");
  });

  test("after reset_timeout one probe goes through; its success closes the breaker", async () => {
    for (let i = 0; i < 3; i++) await fail(fault());
    vi.advanceTimersByTime(29_999);
    expect(breaker.state).toBe("open");
    vi.advanceTimersByTime(1);
    expect(breaker.state).toBe("half_open");
    // While the probe is pending, a second call is refused: a bounded (1) number of probes.
    let release!: (v: string) => void;
    const probe = breaker.fire(() => new Promise<string>((r) => (release = r)), "/x", "rest");
    const second = await breaker.fire(() => Promise.resolve("x"), "/x", "rest").catch((x: unknown) => x as UpstreamError);
    expect((second as UpstreamError).kind).toBe("breaker_open");
    release("ok");
    await expect(probe).resolves.toBe("ok");
    expect(breaker.state).toBe("closed");
    expect(transitions).toEqual(["open", "half_open", "closed"]);
  });

  test("a failed probe reopens it", async () => {
    for (let i = 0; i < 3; i++) await fail(fault());
    vi.advanceTimersByTime(30_000);
    await fail(fault());
    expect(breaker.state).toBe("open");
    expect(transitions).toEqual(["open", "half_open", "open"]);
  });

  test("the caller's bad input (4xx) never trips it, and resets the streak", async () => {
    for (let i = 0; i < 10; i++) await fail(badInput());
    expect(breaker.state).toBe("closed");
    await fail(fault());
    await fail(fault());
    await fail(badInput());
    await fail(fault());
    expect(breaker.state).toBe("closed");
    expect(breaker.faults).toBe(1);
  });

  test("the caller's cancellations never trip it nor break a streak", async () => {
    for (let i = 0; i < 10; i++) await fail(cancelled());
    expect(breaker.state).toBe("closed");
    await fail(fault());
    await fail(cancelled());
    await fail(fault());
    expect(breaker.faults).toBe(2);
  });

  test("a success resets the streak", async () => {
    await fail(fault());
    await fail(fault());
    await succeed();
    await fail(fault());
    expect(breaker.state).toBe("closed");
  });

  test("also opens on an error percentage over the window once the minimum volume is reached", async () => {
    breaker.shutdown();
    breaker = make({ failureThreshold: 1000, volumeThreshold: 10, errorThresholdPercentage: 50 });
    // Alternating: never 2 faults in a row, but 60 % of 10 calls fail.
    for (const ok of [true, false, true, false, false, true, false, true, false, false]) {
      if (ok) await succeed();
      else await fail(fault());
    }
    expect(breaker.state).toBe("open");
  });

  test("below the minimum volume, a high error percentage does not open it", async () => {
    breaker.shutdown();
    breaker = make({ failureThreshold: 1000, volumeThreshold: 10 });
    for (let i = 0; i < 9; i++) await fail(fault());
    expect(breaker.state).toBe("closed");
  });
});

describe("readiness gates the half-open probe", () => {
  test("while the upstream says it is not ready, the probe is withheld and the breaker stays half-open", async () => {
    breaker.shutdown();
    let ready = false;
    breaker = make({ beforeProbe: async () => ready });
    for (let i = 0; i < 3; i++) await fail(fault());
    vi.advanceTimersByTime(30_000);
    const fn = vi.fn(() => Promise.resolve("ok"));
    const e = await breaker.fire(fn, "/x", "rest").catch((x: unknown) => x as UpstreamError);
    expect((e as UpstreamError).kind).toBe("breaker_open");
    expect(fn).not.toHaveBeenCalled();
    expect(breaker.state).toBe("half_open");
    ready = true;
    await expect(breaker.fire(fn, "/x", "rest")).resolves.toBe("ok");
    expect(breaker.state).toBe("closed");
  });
});
