// Reads `go test -json` output on stdin and prints "<passed> <failed>",
// counting every test and subtest; a package that fails to build, or fails
// outside any test, counts as one failure.
import { createInterface } from "node:readline";

let passed = 0;
let failed = 0;
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.startsWith("{")) {
    process.stderr.write(`${line}\n`);
    continue;
  }
  const ev = JSON.parse(line);
  if (ev.Action === "output" && ev.Output) process.stderr.write(ev.Output);
  if (ev.Action === "pass" && ev.Test) passed++;
  if (ev.Action === "fail" && ev.Test) failed++;
  if (ev.Action === "build-fail" || (ev.Action === "fail" && !ev.Test && ev.FailedBuild)) failed++;
}
console.log(`${passed} ${failed}`);
