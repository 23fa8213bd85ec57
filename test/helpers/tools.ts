/**
 * Locates the command-line peers the test command installs (grpcurl,
 * grpc-health-probe, ...). A missing tool fails the test that needs it with
 * a clear message: suites never skip quietly.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export function tool(name: string): string {
  const local = `${ROOT}.cache/bin/${name}`;
  if (existsSync(local)) return local;
  try {
    return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(`${name} is not installed: run the test command (npm test), which installs it`);
  }
}
