/**
 * Reads test/fixtures: real request and response bodies (copied from the
 * project's shared fixtures: the seed's examples and replies of replicas of
 * the deployed KServe models) and the 45 feature names.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const FIXTURES = fileURLToPath(new URL("../fixtures/", import.meta.url));

export function fixture<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(`${FIXTURES}${path}`, "utf8")) as T;
}
