/** Runs the built sidecar (dist/src/main.js) as a real process, as an operator does. */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { ROOT } from "./tools.js";

/**
 * The node flags the sidecar ships with: those before dist/src/main.js in
 * `npm start`, which the image's ENTRYPOINT repeats
 * (test/unit/v8-flags.test.ts holds the two together). `root` is the
 * checkout's (compiled into dist/, as the benchmark is, ROOT is dist/).
 */
export function shippedNodeFlags(root: string = ROOT): string[] {
  const start = (JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { scripts: { start: string } }).scripts.start;
  const words = start.split(" ");
  return words.slice(1, words.indexOf("dist/src/main.js"));
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export interface SidecarProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly apiPort: number;
  readonly adminPort: number;
  readonly address: string;
  /** Log lines so far, parsed. */
  logs(): { msg: string; [k: string]: unknown }[];
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

export async function spawnSidecar(env: Record<string, string> = {}, args: string[] = []): Promise<SidecarProcess> {
  const [apiPort, adminPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [...shippedNodeFlags(), `${ROOT}dist/src/main.js`, ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      SIDECAR_GRPC_ADDR: `127.0.0.1:${apiPort}`,
      SIDECAR_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
      ...env,
    },
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const logs = () =>
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string });
  const deadline = Date.now() + 15_000;
  while (!logs().some((l) => l.msg === "sidecar serving")) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`sidecar did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, apiPort, adminPort, address: `127.0.0.1:${apiPort}`, logs, exited };
}
