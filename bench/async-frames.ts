/**
 * What one level of the call's promise chain allocates on V8's heap: an
 * async function that awaits the level below it once, against the same
 * level written as a `.then` on the promise below, and against no level at
 * all. Each level of the sidecar's miss path (the service's handler and its
 * body, the ladder, the coalescer's flight, the retry loop, the upstream
 * exchange) does work after the level below answers, so each needs one
 * continuation or the other (bench/FINDINGS.md, "Next, in detail").
 *
 *   npx tsc -p tsconfig.bench.json && node dist/bench/async-frames.js
 *
 * Bytes per call are counted as the benchmark counts them
 * (bench/alloc-log.ts), and hardly move with the machine's speed.
 */
import { allocationWindow } from "./alloc-log.js";

const CALLS = 200_000;

/** The level below: a promise that is still pending when it is awaited, as an upstream call is. */
const below = (i: number): Promise<number> => new Promise<number>((resolve) => setImmediate(resolve, i));

type Level = (i: number) => Promise<number>;

/** Where the finally of the try/catch/finally variant records its outcome, as the handler records its metrics. */
let outcome = "";

const variants: ReadonlyArray<readonly [string, Level]> = [
  ["no level (the promise below itself)", below],
  [
    "async, one await",
    async (i) => {
      const v = await below(i);
      return v + 1;
    },
  ],
  ["a .then on the promise below", (i) => below(i).then((v) => v + 1)],
  [
    "async, one await in try/catch/finally",
    async (i) => {
      let code = "ok";
      try {
        return (await below(i)) + 1;
      } catch (e) {
        code = "failed";
        throw e;
      } finally {
        outcome = code;
      }
    },
  ],
  [
    "a .then with both handlers (the same, as a chain)",
    (i) =>
      below(i).then(
        (v) => v + 1,
        (e: unknown) => {
          throw e;
        },
      ),
  ],
];

async function bytesPerCall(level: Level): Promise<number> {
  for (let i = 0; i < 20_000; i++) await level(i);
  const close = allocationWindow();
  for (let i = 0; i < CALLS; i++) await level(i);
  return close() / CALLS;
}

const base = new Map<string, number[]>();
for (let round = 0; round < 3; round++) {
  for (const [name, level] of variants) {
    const list = base.get(name) ?? [];
    list.push(await bytesPerCall(level));
    base.set(name, list);
  }
}
const floor = Math.min(...(base.get(variants[0]?.[0] as string) ?? [0]));
process.stdout.write(
  `Node ${process.version}, ${CALLS} calls a variant, three rounds (last outcome: ${outcome}); bytes per call over "no level":\n`,
);
for (const [name, list] of base) {
  const median = [...list].sort((a, b) => a - b)[1] as number;
  process.stdout.write(`${name.padEnd(52)} ${(median - floor).toFixed(0).padStart(5)} B\n`);
}
