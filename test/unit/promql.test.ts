import { describe, expect, test } from "vitest";
import { escapeLabelValue, escapeRegex, oneOf, renderQuery } from "../../src/enrichment/promql.js";
import { podsOfDeploymentQuery } from "../../src/enrichment/workload-scope.js";

describe("PromQL escaping", () => {
  test.each([
    ['"} or vector(1) #', '\\"} or vector(1) #'],
    ["a\\b", "a\\\\b"],
    ["line\nbreak", "line\\nbreak"],
    ["plain-name", "plain-name"],
  ])("escapes %j inside a string literal", (raw, escaped) => {
    expect(escapeLabelValue(raw)).toBe(escaped);
  });

  test("a hostile value stays inside its string literal", () => {
    const q = podsOfDeploymentQuery('"} or vector(1) #', "api");
    // Every quote in the value is escaped: the only unescaped quotes are the literal delimiters.
    const literal = /namespace="((?:[^"\\]|\\.)*)"/.exec(q)?.[1];
    expect(literal).toBe('\\"} or vector(1) #');
  });

  test("regex metacharacters in names match only themselves, anchored", () => {
    expect(escapeRegex("api.v1(x)")).toBe("api\\.v1\\(x\\)");
    expect(oneOf("pod", ["b", "a.1"])).toBe('pod=~"^(?:a\\\\.1|b)$"');
    expect(oneOf("pod", [])).toBe('pod=~"^$",pod!~"^$"');
  });

  test("placeholders expand to the scope's matchers", () => {
    const q = renderQuery("sum(x{$pod}) + avg(y{$node}) + z{$namespace}", {
      namespace: "shop",
      pods: ["api-2", "api-1"],
      nodes: ["node-a"],
      nodeLabel: "instance",
    });
    expect(q).toBe('sum(x{namespace="shop",pod=~"^(?:api-1|api-2)$"}) + avg(y{instance=~"^(?:node-a)$"}) + z{namespace="shop"}');
  });
});
