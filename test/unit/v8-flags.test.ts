/**
 * The sidecar runs with V8's allocation-site pretenuring off
 * (src/v8-flags.ts). The pathology, shown on the V8 this suite runs on:
 * objects of a pretenured literal that die at once keep the young objects
 * they point to alive into old space. The control shows it happens here
 * (else this test would prove nothing, and says so); the module and the
 * sidecar's entry point each stop it.
 *
 * And it runs with 8 MB semi-spaces, set on its command line (the image's
 * ENTRYPOINT and `npm start`), since V8 sizes the young generation before
 * any module runs: the two agree, and the flag holds in a Pod's heap.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, test } from "vitest";
import { shippedNodeFlags } from "../helpers/process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WORKLOAD = `${ROOT}test/helpers/pretenuring-workload.mjs`;

/** What scavenges move into old space while 10 MB of short-lived arrays are made, after importing `module`. */
async function promoted(module: string): Promise<number> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--expose-gc", "--min-semi-space-size=1", "--max-semi-space-size=1", WORKLOAD, module],
    { cwd: ROOT, timeout: 30_000 },
  );
  const last = stdout.trim().split("\n").at(-1) as string;
  const { promotedBytes, made } = JSON.parse(last) as { promotedBytes: number; made: number };
  expect(made).toBe(10_000);
  return promotedBytes;
}

test("without it, dead pretenured objects drag their young arrays into old space", async () => {
  const bytes = await promoted("none");
  // About 10 MB is made; 0.5-1.1 MB of it was dragged along in 30 runs here. If
  // this fails, this V8 no longer pretenures this way: revisit src/v8-flags.ts.
  expect(bytes).toBeGreaterThan(256 * 1024);
});

test("src/v8-flags.ts stops it", async () => {
  expect(await promoted(`${ROOT}dist/src/v8-flags.js`)).toBeLessThan(64 * 1024);
});

test("the sidecar's entry point applies it before anything else", async () => {
  expect(await promoted(`${ROOT}dist/src/main.js`)).toBeLessThan(64 * 1024);
});

test("the image and npm start run the sidecar with the same node flags", () => {
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(`${ROOT}Containerfile`, "utf8"))?.[1];
  const image = JSON.parse(entrypoint ?? "[]") as string[];
  expect(image[0]).toBe("node");
  expect(image.at(-1)).toBe("dist/src/main.js");
  expect(image.slice(1, -1)).toEqual(shippedNodeFlags());
  expect(shippedNodeFlags()).toContain("--max-semi-space-size=8");
});

/** V8's heap_size_limit in MB for a node started with `flags`. */
async function heapLimitMb(flags: string[]): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [
    ...flags,
    "-p",
    "require('node:v8').getHeapStatistics().heap_size_limit / 1048576",
  ]);
  return Number(stdout.trim());
}

test("in a Pod's heap the shipped flags give the young generation 8 MB semi-spaces, not Node's 1 MB", async () => {
  // What Node sizes for itself under deploy/sidecar's 256Mi limit (bench/run.ts, POD_HEAP):
  // a 256 MB old generation and 1 MB semi-spaces; the young generation is three of them.
  const pod = ["--max-old-space-size=256", "--max-semi-space-size=1"];
  const nodeOwn = await heapLimitMb(pod);
  const shipped = await heapLimitMb([...pod, ...shippedNodeFlags()]);
  expect(nodeOwn).toBe(256 + 3 * 1);
  expect(shipped).toBe(256 + 3 * 8);
});
