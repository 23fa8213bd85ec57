/**
 * Building PromQL safely. Every label value that goes into a query is
 * escaped as a PromQL string literal, and values used inside a regex matcher
 * are regex-escaped first, so no namespace or pod name can change what a
 * query means (the engine pasted them in raw).
 */

/** Escapes a value for a double-quoted PromQL string literal. */
export function escapeLabelValue(value: string): string {
  let out = "";
  for (const ch of value) {
    switch (ch) {
      case "\\":
        out += "\\\\";
        break;
      case '"':
        out += '\\"';
        break;
      case "\n":
        out += "\\n";
        break;
      case "\r":
        out += "\\r";
        break;
      case "\t":
        out += "\\t";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

/** Escapes RE2 metacharacters so that a name matches only itself. */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");
}

/** `label="value"`, escaped. */
export function eq(label: string, value: string): string {
  return `${label}="${escapeLabelValue(value)}"`;
}

/** `label=~"^(?:a|b)$"` matching exactly the given values (none: matches nothing). */
export function oneOf(label: string, values: readonly string[]): string {
  if (values.length === 0) return `${label}=~"^$",${label}!~"^$"`;
  return `${label}=~"${escapeLabelValue(`^(?:${[...values].sort().map(escapeRegex).join("|")})$`)}"`;
}

/** The placeholders a feature query may use, and what they stand for. */
export interface QueryScope {
  /** `$namespace`: `namespace="<ns>"`. */
  readonly namespace: string;
  /** `$pod`: `namespace="<ns>",pod=~"^(?:<pods>)$"`. */
  readonly pods: readonly string[];
  /** `$node`: `<node_label>=~"^(?:<nodes>)$"`. */
  readonly nodes: readonly string[];
  readonly nodeLabel: string;
}

export const PLACEHOLDERS = ["$namespace", "$pod", "$node"] as const;

/** Substitutes the scope's matchers into a query template. */
export function renderQuery(template: string, scope: QueryScope): string {
  return template
    .replaceAll("$namespace", eq("namespace", scope.namespace))
    .replaceAll("$pod", `${eq("namespace", scope.namespace)},${oneOf("pod", scope.pods)}`)
    .replaceAll("$node", oneOf(scope.nodeLabel, scope.nodes));
}
