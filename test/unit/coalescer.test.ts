import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, test } from "vitest";
import type { CallContext } from "../../src/api/call-context.js";
import { UpstreamError } from "../../src/errors/upstream-error.js";
import { Coalescer } from "../../src/resilience/coalescer.js";

function call(remaining = 10_000): CallContext & { abort: (deadline?: boolean) => void } {
  const ac = new AbortController();
  return {
    signal: ac.signal,
    deadline: remaining,
    requestId: `r${remaining}`,
    forwardHeaders: {},
    remainingMs: () => remaining,
    callerGone: () => ac.signal.aborted,
    dispose: () => {},
    abort: (deadline = true) => ac.abort(deadline ? new ConnectError("deadline", Code.DeadlineExceeded) : undefined),
  };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("coalescer", () => {
  test("50 identical concurrent calls share one piece of work", async () => {
    let joined = 0;
    const c = new Coalescer<string>(() => joined++);
    const d = deferred<string>();
    let runs = 0;
    const work = () => {
      runs++;
      return d.promise;
    };
    const all = Array.from({ length: 50 }, () => c.run("k", call(), work));
    d.resolve("answer");
    expect(await Promise.all(all)).toEqual(Array(50).fill("answer"));
    expect(runs).toBe(1);
    expect(joined).toBe(49);
    expect(c.inFlight).toBe(0);
  });

  test("a waiter that gives up fails alone; the shared call goes on for the others", async () => {
    const c = new Coalescer<string>();
    const d = deferred<string>();
    let shared!: CallContext;
    const impatient = call(100);
    const patient = call(5000);
    const p1 = c.run("k", impatient, (s) => {
      shared = s;
      return d.promise;
    });
    const p2 = c.run("k", patient, () => Promise.reject(new Error("not called")));
    impatient.abort();
    await expect(p1).rejects.toMatchObject({ kind: "timeout" });
    expect(shared.signal.aborted).toBe(false);
    expect(shared.remainingMs()).toBe(5000); // the shared call lives on the patient waiter's deadline
    d.resolve("late answer");
    await expect(p2).resolves.toBe("late answer");
  });

  test("the shared call is aborted only when every waiter has gone", async () => {
    const c = new Coalescer<string>();
    let shared!: CallContext;
    const a = call();
    const b = call();
    const pa = c.run("k", a, (s) => {
      shared = s;
      return new Promise(() => {});
    });
    const pb = c.run("k", b, () => new Promise(() => {}));
    a.abort(false);
    await expect(pa).rejects.toBeInstanceOf(UpstreamError);
    expect(shared.signal.aborted).toBe(false);
    b.abort(false);
    await expect(pb).rejects.toMatchObject({ kind: "cancelled" });
    expect(shared.signal.aborted).toBe(true);
    expect(shared.callerGone()).toBe(true);
  });

  test("a caller that comes after every waiter has gone starts afresh, not on the call being torn down", async () => {
    const c = new Coalescer<string>();
    let runs = 0;
    // Like an upstream call: it honours its signal, a little later.
    const work = (s: CallContext) => {
      runs++;
      return new Promise<string>((_, reject) =>
        s.signal.addEventListener("abort", () => setTimeout(() => reject(new Error("aborted upstream call")), 20)),
      );
    };
    const timedOut = call();
    const first = c.run("k", timedOut, work);
    timedOut.abort();
    await expect(first).rejects.toMatchObject({ kind: "timeout" });
    // The engine retries at once, while the abandoned call is still unwinding.
    const retry = c.run("k", call(), async () => {
      runs++;
      return "fresh answer";
    });
    await expect(retry).resolves.toBe("fresh answer");
    expect(runs).toBe(2);
  });

  test("a caller that comes while some waiters remain still joins", async () => {
    let joined = 0;
    const c = new Coalescer<string>(() => joined++);
    const d = deferred<string>();
    const leaving = call();
    const staying = call();
    const p1 = c.run("k", leaving, () => d.promise);
    const p2 = c.run("k", staying, () => Promise.reject(new Error("not called")));
    leaving.abort();
    await expect(p1).rejects.toBeInstanceOf(UpstreamError);
    const p3 = c.run("k", call(), () => Promise.reject(new Error("not called")));
    d.resolve("shared");
    await expect(Promise.all([p2, p3])).resolves.toEqual(["shared", "shared"]);
    expect(joined).toBe(2);
  });

  test("different keys do not share", async () => {
    const c = new Coalescer<string>();
    let runs = 0;
    await Promise.all([c.run("a", call(), async () => `${++runs}`), c.run("b", call(), async () => `${++runs}`)]);
    expect(runs).toBe(2);
  });
});

describe("a caller already gone", () => {
  test("is refused at once, and starts no work", async () => {
    const c = new Coalescer<string>();
    const gone = call();
    gone.abort(false);
    let ran = 0;
    const p = c.run("k", gone, () => {
      ran++;
      return new Promise(() => {});
    });
    await expect(p).rejects.toMatchObject({ kind: "cancelled" });
    expect(ran).toBe(0);
    expect(c.inFlight).toBe(0);
  });

  test("does not join a flight in the air, which goes on for its own caller", async () => {
    const c = new Coalescer<string>();
    const d = deferred<string>();
    const first = c.run("k", call(), () => d.promise);
    const gone = call();
    gone.abort();
    await expect(c.run("k", gone, () => Promise.resolve("not run"))).rejects.toMatchObject({ kind: "timeout" });
    d.resolve("answer");
    expect(await first).toBe("answer");
  });

  // Found by the benchmark at its max rate: a caller whose deadline had
  // passed started a flight alone, and the breaker refused the work at once.
  test("starts nothing whose failure could go unheard (the breaker refuses at once)", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on("unhandledRejection", onUnhandled);
    try {
      const c = new Coalescer<string>();
      const gone = call();
      gone.abort();
      const refused = new UpstreamError("circuit breaker is open", { kind: "breaker_open", upstream: "rest", endpoint: "DetectAnomaly" });
      let ran = 0;
      const p = c.run("k", gone, async () => {
        ran++;
        throw refused;
      });
      await expect(p).rejects.toMatchObject({ kind: "timeout" });
      // Node reports unhandled rejections once the microtasks have run.
      await new Promise((r) => setTimeout(r, 20));
      expect(ran).toBe(0);
      expect(unhandled).toEqual([]);
      // The key is free: the next caller starts work of its own.
      expect(await c.run("k", call(), async () => "fresh")).toBe("fresh");
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
