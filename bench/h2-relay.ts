/**
 * A TCP relay in front of an HTTP/2 server that times each call as the
 * server gives it: from the request's END_STREAM to the answer's, per
 * stream, parsing the frames both ways. Put on another CPU than the server,
 * it measures the server's own time without the client's (bench/FINDINGS.md,
 * change 26, used it for an A/B of two sidecar builds).
 *
 *   npx tsc -p tsconfig.bench.json
 *   taskset -c 1 node dist/bench/h2-relay.js LISTEN_PORT SERVER_PORT &
 *   ... drive 127.0.0.1:LISTEN_PORT ...
 *   kill -USR2 <relay's pid>   # prints "n N p50 µs p90 µs p99 µs" and starts over
 */
import net from "node:net";
import { CLIENT_PREFACE, DATA, END_STREAM, frameReader, HEADERS } from "../test/helpers/h2-frames.js";

const [listen, target] = process.argv.slice(2).map(Number);
if (!Number.isInteger(listen) || !Number.isInteger(target)) {
  process.stderr.write("usage: node dist/bench/h2-relay.js LISTEN_PORT SERVER_PORT\n");
  process.exit(2);
}

let samples: number[] = [];

/** Calls `onEnd(stream)` for each DATA or HEADERS frame that ends a stream. */
function ends(onEnd: (stream: number) => void, skip = 0): (bytes: Buffer) => void {
  return frameReader((type, flags, stream) => {
    if ((type === DATA || type === HEADERS) && (flags & END_STREAM) !== 0 && stream !== 0) onEnd(stream);
  }, skip);
}

net
  .createServer((down) => {
    down.setNoDelay(true);
    const up = net.connect(target as number, "127.0.0.1");
    up.setNoDelay(true);
    const asked = new Map<number, bigint>();
    const fromClient = ends((stream) => asked.set(stream, process.hrtime.bigint()), CLIENT_PREFACE);
    const fromServer = ends((stream) => {
      const at = asked.get(stream);
      if (at === undefined) return;
      asked.delete(stream);
      samples.push(Number(process.hrtime.bigint() - at) / 1000);
    });
    down.on("data", (b: Buffer) => {
      fromClient(b);
      up.write(b);
    });
    up.on("data", (b: Buffer) => {
      fromServer(b);
      down.write(b);
    });
    up.on("close", () => down.destroy());
    down.on("close", () => up.destroy());
    up.on("error", () => down.destroy());
    down.on("error", () => up.destroy());
  })
  .listen(listen, "127.0.0.1");

process.on("SIGUSR2", () => {
  const s = samples.sort((a, b) => a - b);
  samples = [];
  const at = (p: number) => (s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? Number.NaN).toFixed(0);
  process.stdout.write(`n ${s.length} p50 ${at(0.5)} p90 ${at(0.9)} p99 ${at(0.99)}\n`);
});
