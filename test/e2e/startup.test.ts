/**
 * The real entry point as an operator runs it (`node dist/src/main.js`,
 * built by the test command): a bad configuration stops start-up before any
 * port is opened, with exit status 2 and one line per problem.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = `${ROOT}dist/src/main.js`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

describe("start-up", () => {
  test("the build exists (the test command builds before testing)", () => {
    expect(existsSync(MAIN)).toBe(true);
  });

  test("a bad configuration exits 2, naming each problem, before opening a port", async () => {
    const dir = mkdtempSync(`${tmpdir()}/sidecar-`);
    writeFileSync(`${dir}/bad.yaml`, "backend:\n  timeout: forever\ncache:\n  max_entries: -1\nunknown_section: {}\n");
    const port = await freePort();
    const r = spawnSync(process.execPath, [MAIN, "--config", `${dir}/bad.yaml`, "--set", "breaker.reset_timeout=soon"], {
      env: { PATH: process.env.PATH, ML_CIRCUIT_BREAKER_THRESHOLD: "three", SIDECAR_GRPC_ADDR: `127.0.0.1:${port}` },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toEqual([
      `config: ${dir}/bad.yaml: backend.timeout: "forever" must be a Go duration such as 500ms, 30s or 5m`,
      `config: ${dir}/bad.yaml: cache.max_entries: -1 must be an integer from 0 to 10000000`,
      `config: ${dir}/bad.yaml: unknown key "unknown_section"`,
      'config: env ML_CIRCUIT_BREAKER_THRESHOLD: breaker.failure_threshold: "three" must be an integer from 1 to 10000',
      'config: --set breaker.reset_timeout: breaker.reset_timeout: "soon" must be a Go duration such as 500ms, 30s or 5m',
    ]);
    // Nothing listened on the API port.
    const connected = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    expect(connected).toBe(false);
  });

  test("with no ML_SERVICE_URL the builtin backend answers, and the log says so", async () => {
    const [api, admin] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, SIDECAR_GRPC_ADDR: `127.0.0.1:${api}`, SIDECAR_ADMIN_ADDR: `127.0.0.1:${admin}` },
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    try {
      await expect.poll(() => out.includes("sidecar serving"), { timeout: 10_000 }).toBe(true);
      const lines = out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { msg: string; backend?: string });
      expect(lines.some((l) => l.msg.includes("builtin baseline backend answers"))).toBe(true);
      const r = await fetch(`http://127.0.0.1:${api}/aiops.ml.v1.MLService/DetectAnomaly`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ metrics: [{ name: "memory_usage", value: 0.95 }] }),
      });
      const body = (await r.json()) as { anomaly_detected: boolean; metadata: { backend: string; source: string } };
      expect(body.anomaly_detected).toBe(true);
      expect(body.metadata.backend).toBe("builtin");
      expect(body.metadata.source).toBe("FALLBACK");
    } finally {
      child.kill("SIGTERM");
    }
    const code = await new Promise((resolve) => child.once("exit", resolve));
    expect(code).toBe(0);
  });
});
