// Prints "<passed> <failed>" from vitest's JSON report. A test file that
// failed without a failed test (it could not load, or a hook threw) counts
// as one failure, so a broken suite can never pass as "0 failed".
import { readFileSync } from "node:fs";

const report = JSON.parse(readFileSync(process.argv[2] ?? ".cache/vitest-report.json", "utf8"));
let brokenFiles = 0;
for (const file of report.testResults) {
  const failedTests = file.assertionResults.filter((a) => a.status === "failed").length;
  if (file.status === "failed" && failedTests === 0) brokenFiles++;
}
console.log(`${report.numPassedTests} ${report.numFailedTests + brokenFiles}`);
