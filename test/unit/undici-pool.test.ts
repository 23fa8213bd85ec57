import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { Pool, poolLoadedFrom } from "../../src/http/undici-pool.js";

const require = createRequire(import.meta.url);

describe("undici's Pool, loaded on its own", () => {
  it("comes from its own module, not undici's main entry", () => {
    // If this fails, undici moved its Pool: the sidecar still works (it falls
    // back to the main entry) but carries fetch, cache and WebSocket in its heap.
    expect(poolLoadedFrom).toBe("lib/dispatcher/pool.js");
  });

  it("is the very class undici's main entry exports", () => {
    expect(Pool).toBe((require("undici") as typeof import("undici")).Pool);
  });

  it("leaves fetch and WebSocket unloaded", async () => {
    // A fresh process: only what importing the upstream client pulls in.
    const { execFileSync } = await import("node:child_process");
    const script = `
      const { pathToFileURL } = require("node:url");
      import(pathToFileURL(process.argv[1]).href).then(() => {
        const loaded = Object.keys(require.cache).filter((k) => /[\\\\/]undici[\\\\/]/.test(k));
        process.stdout.write(JSON.stringify(loaded));
      });`;
    const clientModule = new URL("../../dist/src/http/upstream-client.js", import.meta.url).pathname;
    const out = JSON.parse(execFileSync(process.execPath, ["-e", script, clientModule], { encoding: "utf8" })) as string[];
    expect(out.some((k) => k.endsWith("lib/dispatcher/pool.js"))).toBe(true);
    expect(out.some((k) => /[\\/]undici[\\/]index\.js$/.test(k))).toBe(false);
    expect(out.some((k) => /web[\\/]fetch[\\/]/.test(k))).toBe(false);
    expect(out.some((k) => /web[\\/]websocket[\\/]/.test(k))).toBe(false);
  });
});
