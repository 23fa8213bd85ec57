/** The project's Python virtual environment (.venv, created by the test command) and its services. */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { freePort } from "./process.js";
import { ROOT } from "./tools.js";

export function venvPython(): string {
  const py = `${ROOT}.venv/bin/python`;
  if (!existsSync(py)) throw new Error(".venv is missing: run the test command (npm test), which creates it");
  return py;
}

export interface PythonService {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts `python -m <module> ...args --port P` from python/ and waits until `readyPath` answers 200. */
export async function startPythonService(module: string, args: string[], readyPath: string, timeoutMs = 120_000): Promise<PythonService> {
  const port = await freePort();
  const child: ChildProcess = spawn(venvPython(), ["-m", module, ...args, "--port", String(port)], {
    cwd: `${ROOT}python`,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${url}${readyPath}`)).ok) break;
    } catch {}
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill("SIGKILL");
      throw new Error(`python -m ${module} did not become ready:\n${out.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    port,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    },
  };
}
