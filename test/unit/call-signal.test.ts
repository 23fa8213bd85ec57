import { addAbortListener } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, test } from "vitest";
import { CallController } from "../../src/api/call-signal.js";

describe("CallController: an AbortController for one call", () => {
  test("aborts once, with its reason, and tells every kind of listener", () => {
    const c = new CallController();
    const s = c.signal;
    expect(s).toBeInstanceOf(AbortSignal);
    expect(s.aborted).toBe(false);
    expect(() => s.throwIfAborted()).not.toThrow();
    const heard: string[] = [];
    s.addEventListener("abort", () => heard.push("listener"), { once: true });
    s.onabort = () => heard.push("onabort");
    addAbortListener(s, () => heard.push("node"));
    const reason = new ConnectError("deadline", Code.DeadlineExceeded);
    c.abort(reason);
    c.abort(new Error("second"));
    expect(s.aborted).toBe(true);
    expect(s.reason).toBe(reason);
    expect(() => s.throwIfAborted()).toThrow(reason);
    expect(heard.sort()).toEqual(["listener", "node", "onabort"]);
  });

  test("without a reason, the reason is an AbortError, as AbortController's", () => {
    const c = new CallController();
    c.abort();
    expect((c.signal.reason as DOMException).name).toBe("AbortError");
  });

  test("a removed listener is not called", () => {
    const c = new CallController();
    let called = 0;
    const f = () => called++;
    c.signal.addEventListener("abort", f);
    c.signal.removeEventListener("abort", f);
    c.abort();
    expect(called).toBe(0);
  });

  test("Node's own signal consumers accept it (timers/promises)", async () => {
    const c = new CallController();
    const pending = sleep(10_000, undefined, { signal: c.signal });
    c.abort(new Error("gone"));
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });
});
