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

const DATA = 0x0;
const HEADERS = 0x1;
const END_STREAM = 0x1;
/** The client's connection preface, before its first frame. */
const PREFACE = 24;

const [listen, target] = process.argv.slice(2).map(Number);
if (!Number.isInteger(listen) || !Number.isInteger(target)) {
  process.stderr.write("usage: node dist/bench/h2-relay.js LISTEN_PORT SERVER_PORT\n");
  process.exit(2);
}

let samples: number[] = [];

/** Calls `onEnd(stream)` for each DATA or HEADERS frame that ends a stream, across reads. */
function frames(skip: number, onEnd: (stream: number) => void): (bytes: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  let toSkip = skip;
  return (bytes) => {
    pending = pending.length > 0 ? Buffer.concat([pending, bytes]) : bytes;
    if (toSkip > 0) {
      const n = Math.min(toSkip, pending.length);
      toSkip -= n;
      pending = pending.subarray(n);
    }
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      const type = pending[3] as number;
      const stream = pending.readUInt32BE(5) & 0x7fffffff;
      if ((type === DATA || type === HEADERS) && ((pending[4] as number) & END_STREAM) !== 0 && stream !== 0) onEnd(stream);
      pending = pending.subarray(9 + length);
    }
  };
}

net
  .createServer((down) => {
    down.setNoDelay(true);
    const up = net.connect(target as number, "127.0.0.1");
    up.setNoDelay(true);
    const asked = new Map<number, bigint>();
    const fromClient = frames(PREFACE, (stream) => asked.set(stream, process.hrtime.bigint()));
    const fromServer = frames(0, (stream) => {
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
