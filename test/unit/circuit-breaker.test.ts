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

  test("one probe at a time asks: calls during its readiness check and its call are refused without asking", async () => {
    breaker.shutdown();
    let asked = 0;
    let answerReady!: (ready: boolean) => void;
    breaker = make({
      beforeProbe: () => {
        asked++;
        return new Promise<boolean>((r) => (answerReady = r));
      },
    });
    for (let i = 0; i < 3; i++) await fail(fault());
    vi.advanceTimersByTime(30_000);
    let finishProbe!: (v: string) => void;
    const probeCall = vi.fn(() => new Promise<string>((r) => (finishProbe = r)));
    const probe = breaker.fire(probeCall, "/x", "rest");
    const others = vi.fn(() => Promise.resolve("ok"));
    const during = await Promise.all(
      Array.from({ length: 9 }, () => breaker.fire(others, "/x", "rest").catch((x: unknown) => x as UpstreamError)),
    );
    expect(asked).toBe(1);
    expect(during.map((e) => (e as UpstreamError).kind)).toEqual(Array(9).fill("breaker_open"));
    answerReady(true);
    await vi.waitFor(() => expect(probeCall).toHaveBeenCalledTimes(1));
    // The probe's call is under way: still one at a time.
    const whileCalling = await breaker.fire(others, "/x", "rest").catch((x: unknown) => x as UpstreamError);
    expect((whileCalling as UpstreamError).kind).toBe("breaker_open");
    expect(asked).toBe(1);
    finishProbe("ok");
    await expect(probe).resolves.toBe("ok");
    expect(breaker.state).toBe("closed");
    expect(others).not.toHaveBeenCalled();
    await expect(breaker.fire(others, "/x", "rest")).resolves.toBe("ok");
  });

  test("a readiness check that fails lets the next call ask again", async () => {
    breaker.shutdown();
    let asked = 0;
    breaker = make({
      beforeProbe: async () => {
        asked++;
        if (asked === 1) throw fault();
        return true;
      },
    });
    for (let i = 0; i < 3; i++) await fail(fault());
    vi.advanceTimersByTime(30_000);
    await expect(breaker.fire(() => Promise.resolve("ok"), "/x", "rest")).rejects.toMatchObject({ kind: "status" });
    expect(breaker.state).toBe("half_open");
    await expect(breaker.fire(() => Promise.resolve("ok"), "/x", "rest")).resolves.toBe("ok");
    expect(asked).toBe(2);
  });
});
