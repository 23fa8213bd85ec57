/**
 * A real Prometheus server for tests: Debian's `prometheus` package, loaded
 * with OpenMetrics the test generates (`promtool tsdb create-blocks-from
 * openmetrics`), listening on loopback. Missing binaries fail loudly.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { freePort } from "./process.js";
import { tool } from "./tools.js";

const run = promisify(execFile);

export interface PrometheusServer {
  readonly url: string;
  /** Evaluates PromQL at an instant (seconds); the single value, or undefined when empty. */
  value(expr: string, time: number): Promise<number | undefined>;
  stop(): Promise<void>;
}

export async function startPrometheus(openMetrics: string): Promise<PrometheusServer> {
  const dir = mkdtempSync(`${tmpdir()}/prom-`);
  writeFileSync(`${dir}/data.om`, openMetrics);
  writeFileSync(`${dir}/prometheus.yml`, "global:\n  scrape_interval: 1h\n  evaluation_interval: 1m\n");
  await run(tool("promtool"), ["tsdb", "create-blocks-from", "openmetrics", `${dir}/data.om`, `${dir}/data`], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    tool("prometheus"),
    [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      "--storage.tsdb.retention.time=100y",
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d) => (stderr += d));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {}
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`prometheus did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async value(expr, time) {
      const r = await fetch(`${url}/api/v1/query`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ query: expr, time: String(time) }),
      });
      const body = (await r.json()) as { status: string; error?: string; data: { result: { value: [number, string] }[] } };
      if (body.status !== "success") throw new Error(`${expr}: ${body.error}`);
      if (body.data.result.length > 1) throw new Error(`${expr}: ${body.data.result.length} series`);
      const v = body.data.result[0]?.value[1];
      return v === undefined ? undefined : Number(v);
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
