/**
 * The sidecar with V8's default pretenuring, for `bench/run.ts --gc-share`:
 * runs the sidecar's entry point, whose first import turns allocation-site
 * pretenuring off (src/v8-flags.ts), then turns it back on. `await import`
 * returns once the entry point's modules are evaluated, before the server
 * is listening, so no call is served with the sidecar's own setting.
 */
import { setFlagsFromString } from "node:v8";

await import("../src/main.js");
setFlagsFromString("--allocation-site-pretenuring");
