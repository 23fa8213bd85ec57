import { describe, expect, test } from "vitest";
import { formatDuration, parseDuration } from "../../src/config/duration.js";

describe("Go durations", () => {
  test.each([
    ["0", 0],
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1m30s", 90_000],
    ["1.5h", 5_400_000],
    ["250us", 0.25],
    ["2h45m", 9_900_000],
  ])("parses %s as %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(["", "5", "m", "-5m", "5 m", "5mm", "1d", "abc", "5m!"])("rejects %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  test.each([
    [300_000, "5m"],
    [90_000, "1m30s"],
    [1500, "1s500ms"],
    [0, "0s"],
    [3_600_000, "1h"],
  ])("formats %d ms as %s, and back", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
