/**
 * Go-style durations (`500ms`, `30s`, `1m30s`, `5m`), as the engine's own
 * settings and the REST contract's `time_to_occurrence` use them.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a Go duration string into milliseconds. Returns undefined when the
 * text is not one (Go's own grammar: `0`, or one or more number+unit pairs,
 * optionally signed; negative durations are rejected here because no setting
 * or contract field can be negative).
 */
export function parseDuration(text: string): number | undefined {
  if (text === "0") return 0;
  if (text.length === 0 || text.length > 64) return undefined;
  let ms = 0;
  let pos = text[0] === "+" ? 1 : 0;
  if (pos === text.length) return undefined;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (m === null) return undefined;
    ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    pos = PART.lastIndex;
  }
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Formats milliseconds the way a person writes a Go duration: the largest
 * units first and zero parts left out (`300000` -> `5m`, `90000` -> `1m30s`,
 * `1500` -> `1s500ms`). Parsing the result gives back the same value.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`duration ${ms} ms is not a finite non-negative number`);
  if (ms === 0) return "0s";
  let rest = Math.round(ms * 1e6); // nanoseconds, integral
  let out = "";
  for (const [unit, size] of [
    ["h", 3_600_000_000_000],
    ["m", 60_000_000_000],
    ["s", 1_000_000_000],
    ["ms", 1_000_000],
    ["us", 1_000],
    ["ns", 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
