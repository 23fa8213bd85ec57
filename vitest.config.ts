import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Real servers on real sockets: keep files in separate workers but
    // don't oversubscribe the 2-core machine.
    maxWorkers: 2,
    reporters: ["default", "json"],
    outputFile: { json: ".cache/vitest-report.json" },
  },
});
