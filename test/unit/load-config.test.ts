import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { buildConfig, ConfigError, loadConfig, parseArgs } from "../../src/config/load-config.js";

const repoYaml = readFileSync(new URL("../../sidecar.yaml", import.meta.url), "utf8");

describe("configuration", () => {
  test("the documented sidecar.yaml loads and equals the built-in defaults", () => {
    const fromFile = buildConfig({ file: { name: "sidecar.yaml", text: repoYaml }, env: {}, sets: [] });
    const defaults = buildConfig({ env: {}, sets: [] });
    expect(fromFile.problems).toEqual([]);
    expect(fromFile.config).toEqual(defaults.config);
    expect(defaults.config?.backend.kind).toBe("builtin");
    expect(defaults.config?.server.grpc_addr).toBe("127.0.0.1:50051");
    expect(defaults.config?.server.admin_addr).toBe("127.0.0.1:9464");
    expect(defaults.config?.backend.timeout).toBe(30_000);
    expect(defaults.config?.breaker.failure_threshold).toBe(3);
    expect(defaults.config?.breaker.reset_timeout).toBe(30_000);
  });

  test("precedence: defaults < file < env < --set", () => {
    const file = { name: "f.yaml", text: "backend:\n  timeout: 10s\ncache:\n  ttl: 1m\nlogging:\n  level: warn\n" };
    const { config } = buildConfig({
      file,
      env: { ML_SERVICE_TIMEOUT: "5s", LOG_LEVEL: "debug" },
      sets: ["backend.timeout=2s"],
    });
    expect(config?.backend.timeout).toBe(2000); // --set beats env and file
    expect(config?.logging.level).toBe("debug"); // env beats file
    expect(config?.cache.ttl).toBe(60_000); // file beats default
    expect(config?.pool.connections).toBe(10); // default
  });

  test("ADR-009's variables set their keys; ML_SERVICE_URL alone selects the rest backend", () => {
    const { config } = buildConfig({
      env: {
        ML_SERVICE_URL: "http://aiops-ml-service:8080/",
        ML_CIRCUIT_BREAKER_THRESHOLD: "5",
        ML_CIRCUIT_BREAKER_TIMEOUT: "1m",
        THANOS_URL: "https://thanos:9091",
        PROMETHEUS_TOKEN_FILE: "/var/run/secrets/token",
        SIDECAR_GRPC_ADDR: "0.0.0.0:6000",
      },
      sets: [],
    });
    expect(config?.backend.kind).toBe("rest");
    expect(config?.backend.url).toBe("http://aiops-ml-service:8080");
    expect(config?.breaker.failure_threshold).toBe(5);
    expect(config?.breaker.reset_timeout).toBe(60_000);
    expect(config?.enrichment.prometheus.url).toBe("https://thanos:9091");
    expect(config?.enrichment.prometheus.token_file).toBe("/var/run/secrets/token");
    expect(config?.server.grpc_addr).toBe("0.0.0.0:6000");
  });

  test("PROMETHEUS_URL wins over its alias THANOS_URL", () => {
    const { config } = buildConfig({ env: { THANOS_URL: "https://thanos:9091", PROMETHEUS_URL: "http://prom:9090" }, sets: [] });
    expect(config?.enrichment.prometheus.url).toBe("http://prom:9090");
  });

  test("an explicit kind is kept when ML_SERVICE_URL is set", () => {
    const { config } = buildConfig({ env: { ML_SERVICE_URL: "http://m:8080" }, sets: ["backend.kind=builtin"] });
    expect(config?.backend.kind).toBe("builtin");
  });

  test("every problem is reported, one line each, naming key or variable, value and rule", () => {
    const file = { name: "bad.yaml", text: "backend:\n  timeout: soon\n  tiemout: 5s\nbreaker:\n  failure_threshold: 0\nbogus: 1\n" };
    const { config, problems } = buildConfig({
      file,
      env: { ML_SERVICE_URL: "ftp://x", LOG_LEVEL: "loud" },
      sets: ["cache.ttl=forever", "nope.key=1", "novalue"],
    });
    expect(config).toBeUndefined();
    expect(problems).toHaveLength(9);
    expect(problems).toContain('--set "novalue": must be dotted.key=value');
    expect(problems).toContain('bad.yaml: backend.timeout: "soon" must be a Go duration such as 500ms, 30s or 5m');
    expect(problems).toContain('bad.yaml: unknown key "backend.tiemout"');
    expect(problems).toContain('bad.yaml: unknown key "bogus"');
    expect(problems.some((p) => p.startsWith("bad.yaml: breaker.failure_threshold: 0 must be an integer from 1"))).toBe(true);
    expect(problems).toContain('env ML_SERVICE_URL: backend.url: "ftp://x" must use http:// or https://');
    expect(problems.some((p) => p.startsWith('env LOG_LEVEL: logging.level: "loud" must be one of trace'))).toBe(true);
    expect(problems).toContain('--set cache.ttl: cache.ttl: "forever" must be a Go duration such as 500ms, 30s or 5m');
    expect(problems).toContain('--set nope.key: unknown key "nope.key"');
  });

  test("a rest backend without a URL is a problem", () => {
    const { problems } = buildConfig({ env: {}, sets: ["backend.kind=rest"] });
    expect(problems).toEqual(["backend.url: required when backend.kind is rest (set ML_SERVICE_URL or backend.url)"]);
  });

  test("the configuration is frozen", () => {
    const { config } = buildConfig({ env: {}, sets: [] });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config?.backend)).toBe(true);
  });

  test("flags: --config and --set in both spellings; unknown flags are problems", () => {
    const r = parseArgs(["--config", "a.yaml", "--set", "cache.ttl=1s", "--set=pool.connections=4", "--verbose"]);
    expect(r.args.configPath).toBe("a.yaml");
    expect(r.args.sets).toEqual(["cache.ttl=1s", "pool.connections=4"]);
    expect(r.problems).toEqual(["flag --verbose: unknown (flags: --config PATH, --set dotted.key=value, --help)"]);
  });

  test("loadConfig: --config beats SIDECAR_CONFIG, and a missing file is a problem", () => {
    const files: Record<string, string> = { "a.yaml": "cache:\n  ttl: 3s\n", "b.yaml": "cache:\n  ttl: 4s\n" };
    const fs = {
      readFile: (p: string) =>
        files[p] ??
        (() => {
          throw Object.assign(new Error("no"), { code: "ENOENT" });
        })(),
      exists: (p: string) => p in files,
    };
    expect(loadConfig(["--config", "a.yaml"], { SIDECAR_CONFIG: "b.yaml" }, fs).cache.ttl).toBe(3000);
    expect(loadConfig([], { SIDECAR_CONFIG: "b.yaml" }, fs).cache.ttl).toBe(4000);
    expect(() => loadConfig(["--config", "missing.yaml"], {}, fs)).toThrow(ConfigError);
    try {
      loadConfig(["--config", "missing.yaml"], {}, fs);
    } catch (e) {
      expect((e as ConfigError).problems).toEqual(["config file missing.yaml: cannot be read: ENOENT"]);
    }
  });
});
