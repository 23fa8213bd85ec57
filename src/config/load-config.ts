/**
 * Loads the configuration once at start-up: built-in defaults < the file <
 * environment variables < `--set dotted.key=value` flags. Every problem is
 * collected (not just the first) so an operator fixes them in one go; the
 * result is frozen.
 */
import { parse as parseYaml } from "yaml";
import { type Config, type Leaf, SCHEMA } from "./schema.js";

/** Environment variables and the keys they set, with ADR-009's names kept. */
export const ENV_VARS: readonly { readonly name: string; readonly key: string }[] = [
  { name: "ML_SERVICE_URL", key: "backend.url" },
  { name: "ML_SERVICE_TIMEOUT", key: "backend.timeout" },
  { name: "ML_CIRCUIT_BREAKER_THRESHOLD", key: "breaker.failure_threshold" },
  { name: "ML_CIRCUIT_BREAKER_TIMEOUT", key: "breaker.reset_timeout" },
  // THANOS_URL is an alias; PROMETHEUS_URL wins when both are set.
  { name: "THANOS_URL", key: "enrichment.prometheus.url" },
  { name: "PROMETHEUS_URL", key: "enrichment.prometheus.url" },
  { name: "PROMETHEUS_TOKEN_FILE", key: "enrichment.prometheus.token_file" },
  { name: "PROMETHEUS_CA_FILE", key: "enrichment.prometheus.ca_file" },
  { name: "SIDECAR_GRPC_ADDR", key: "server.grpc_addr" },
  { name: "SIDECAR_ADMIN_ADDR", key: "server.admin_addr" },
  { name: "LOG_LEVEL", key: "logging.level" },
];

/** Thrown when the configuration is unusable; one line per problem. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.join("\n")}`);
    this.name = "ConfigError";
  }
}

/** What the command line asked for. */
export interface CliArgs {
  readonly configPath: string | undefined;
  readonly sets: readonly string[];
  readonly help: boolean;
}

/** Parses `--config PATH`, `--set k=v` (repeatable, also `--flag=value`) and `--help`. */
export function parseArgs(argv: readonly string[]): { args: CliArgs; problems: string[] } {
  const problems: string[] = [];
  const sets: string[] = [];
  let configPath: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string | undefined => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined) {
        problems.push(`flag ${flag}: needs a value`);
        return undefined;
      }
      i++;
      return next;
    };
    if (flag === "--config") configPath = value();
    else if (flag === "--set") {
      const v = value();
      if (v !== undefined) sets.push(v);
    } else if (flag === "--help" || flag === "-h") help = true;
    else problems.push(`flag ${arg}: unknown (flags: --config PATH, --set dotted.key=value, --help)`);
  }
  return { args: { configPath, sets, help }, problems };
}

type Tree = { [key: string]: Tree | Leaf<unknown> };
const isLeaf = (n: Tree | Leaf<unknown>): n is Leaf<unknown> => (n as Leaf<unknown>).leaf === true;

function leafAt(key: string): Leaf<unknown> | undefined {
  let node: Tree | Leaf<unknown> = SCHEMA as unknown as Tree;
  for (const part of key.split(".")) {
    if (isLeaf(node) || !Object.hasOwn(node, part)) return undefined;
    node = node[part] as Tree | Leaf<unknown>;
  }
  return isLeaf(node) ? node : undefined;
}

function defaults(node: Tree): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = isLeaf(v) ? v.default : defaults(v);
  return out;
}

function assign(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split(".");
  let obj = target;
  for (const p of parts.slice(0, -1)) obj = obj[p] as Record<string, unknown>;
  obj[parts[parts.length - 1] as string] = value;
}

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : String(JSON.stringify(v)));

/** Inputs of {@link buildConfig}; all of them plain data, so tests need no files. */
export interface ConfigInputs {
  /** The file's text and the name to cite in problems; undefined for defaults only. */
  readonly file?: { readonly name: string; readonly text: string } | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly sets: readonly string[];
}

/** Merges and validates; returns the frozen configuration or every problem. */
export function buildConfig(inputs: ConfigInputs): { config?: Config; problems: string[] } {
  const problems: string[] = [];
  const merged = defaults(SCHEMA as unknown as Tree);

  const put = (source: string, key: string, raw: unknown): void => {
    const leaf = leafAt(key);
    if (leaf === undefined) {
      problems.push(`${source}: unknown key ${JSON.stringify(key)}`);
      return;
    }
    const r = leaf.read(raw);
    if (!r.ok) problems.push(`${source}: ${key}: ${show(raw)} ${r.rule}`);
    else {
      assign(merged, key, r.value);
    }
  };

  if (inputs.file !== undefined) {
    const { name, text } = inputs.file;
    let doc: unknown;
    try {
      doc = parseYaml(text, { uniqueKeys: true, maxAliasCount: 0 });
    } catch (e) {
      problems.push(`${name}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
    }
    const walk = (node: unknown, prefix: string): void => {
      if (node === null || node === undefined) return;
      if (typeof node !== "object" || Array.isArray(node)) {
        problems.push(`${name}: ${prefix || "(document)"}: must be a mapping of keys`);
        return;
      }
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
        const key = prefix ? `${prefix}.${k}` : k;
        const leaf = leafAt(key);
        if (leaf !== undefined) put(name, key, v);
        else if (v !== null && typeof v === "object" && !Array.isArray(v) && isSection(key)) walk(v, key);
        else problems.push(`${name}: unknown key ${JSON.stringify(key)}`);
      }
    };
    walk(doc, "");
  }

  for (const { name, key } of ENV_VARS) {
    const raw = inputs.env[name];
    if (raw !== undefined && raw !== "") put(`env ${name}`, key, raw);
  }

  for (const s of inputs.sets) {
    const eq = s.indexOf("=");
    if (eq <= 0) problems.push(`--set ${JSON.stringify(s)}: must be dotted.key=value`);
    else put(`--set ${s.slice(0, eq)}`, s.slice(0, eq), s.slice(eq + 1));
  }

  const backend = merged.backend as { kind: string; url: string; models: { anomaly: { url: string }; predictive: { url: string } } };
  if (backend.kind === "") backend.kind = backend.url !== "" ? "rest" : "builtin";
  const kserve = backend.kind.startsWith("kserve");
  const perModel = kserve && backend.models.anomaly.url !== "" && backend.models.predictive.url !== "";
  if (backend.kind !== "builtin" && backend.url === "" && !perModel) {
    problems.push(
      `backend.url: required when backend.kind is ${backend.kind} (set ML_SERVICE_URL or backend.url${kserve ? ", or both backend.models.*.url" : ""})`,
    );
  }

  if (problems.length > 0) return { problems };
  return { config: deepFreeze(merged) as unknown as Config, problems };
}

function isSection(key: string): boolean {
  let node: Tree | Leaf<unknown> = SCHEMA as unknown as Tree;
  for (const part of key.split(".")) {
    if (isLeaf(node) || !Object.hasOwn(node, part)) return false;
    node = node[part] as Tree | Leaf<unknown>;
  }
  return !isLeaf(node);
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** File access, injected so that tests need no disk. */
export interface ConfigFs {
  readFile(path: string): string;
  exists(path: string): boolean;
}

/**
 * The whole start-up path: flags, then the file (`--config`, else
 * `SIDECAR_CONFIG`, else `sidecar.yaml` in the working directory when it
 * exists), then the merge. Throws {@link ConfigError} listing every problem.
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, fs: ConfigFs): Config {
  const { args, problems } = parseArgs(argv);
  const explicitPath = args.configPath ?? (env.SIDECAR_CONFIG || undefined);
  const path = explicitPath ?? (fs.exists("sidecar.yaml") ? "sidecar.yaml" : undefined);
  let file: ConfigInputs["file"];
  if (path !== undefined) {
    try {
      file = { name: path, text: fs.readFile(path) };
    } catch (e) {
      problems.push(`config file ${path}: cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const built = buildConfig({ file, env, sets: args.sets });
  const all = [...problems, ...built.problems];
  if (all.length > 0 || built.config === undefined) throw new ConfigError(all);
  return built.config;
}
