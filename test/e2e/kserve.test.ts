/**
 * The sidecar in front of a real KServe model server — the `kserve` package
 * from PyPI serving scikit-learn replicas of the platform's two models,
 * trained in the test setup — over V1 and V2, with the error cases produced
 * by that real server: unknown model, wrong width, model not ready.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MLService, Source } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { fixture } from "../helpers/fixtures.js";
import { type PythonService, startPythonService } from "../helpers/python.js";
import { type RunningSidecar, startSidecar } from "../helpers/sidecar.js";

const NAMES = fixture<string[]>("anomaly_feature_names_45.json");
const vector = (file: string) =>
  (fixture<{ instances: number[][] }>(`kserve-v1/${file}`).instances[0] as number[]).map((value, i) => ({
    name: NAMES[i] as string,
    value,
  }));
const PREDICTIVE = ["cpu_usage", "memory_usage", "disk_usage", "network_in", "network_out"];

let ks: PythonService;
const running: RunningSidecar[] = [];

beforeAll(async () => {
  ks = await startPythonService("kserve_models", ["--unready", "slow-model"], "/v1/models/anomaly-detector");
}, 180_000);
afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await ks?.stop();
});

async function sidecar(kind: "kserve-v1" | "kserve-v2", sets: Record<string, string | number> = {}) {
  const sc = await startSidecar({
    "backend.kind": kind,
    "backend.url": ks.url,
    "fallback.enabled": false,
    "retry.max_attempts": 1,
    ...sets,
  });
  running.push(sc);
  return { sc, client: createClient(MLService, createGrpcWebTransport({ baseUrl: sc.apiUrl, httpVersion: "1.1" })) };
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected failure");
    },
    (e: unknown) => ConnectError.from(e),
  );

describe.each(["kserve-v1", "kserve-v2"] as const)("%s", (kind) => {
  test("DetectAnomaly: the engine's default vector is an anomaly; an ordinary fraction-scale one is normal", async () => {
    const { client } = await sidecar(kind);
    const bad = await client.detectAnomaly({ metrics: vector("anomaly_request_go_default.json") });
    expect(bad.anomalyDetected).toBe(true);
    expect(bad.metadata?.source).toBe(Source.ML_SERVICE);
    expect(bad.metadata?.backend).toBe(kind);
    expect(bad.metadata?.model).toBe("anomaly-detector");
    expect(bad.recommendations.length).toBeGreaterThan(0);
    const normal = await client.detectAnomaly({ metrics: vector("anomaly_request_fraction_scale.json") });
    expect(normal.anomalyDetected).toBe(false);
    expect(normal.recommendations).toEqual([]);
  });

  test("Predict: the 5-value forecast becomes issues", async () => {
    const { client } = await sidecar(kind);
    const values = [0.95, 0.97, 0.5, 0.1, 0.1];
    const r = await client.predict({ issueContext: { metrics: PREDICTIVE.map((name, i) => ({ name, value: values[i] as number })) } });
    expect(r.metadata?.model).toBe("predictive-analytics");
    expect(r.predictedIssues.map((i) => i.issue)).toContain("pod_oom");
    expect(r.predictedIssues.every((i) => i.timeToOccurrence?.seconds === 3600n)).toBe(true);
  });

  test("an unknown model: NOT_FOUND, with KServe's own words", async () => {
    const { client } = await sidecar(kind, { "backend.models.anomaly.name": "no-such-model" });
    const e = await failure(client.detectAnomaly({ metrics: vector("anomaly_request_go_default.json") }));
    expect(e.code).toBe(Code.NotFound);
    expect(e.rawMessage).toContain("Model with name no-such-model does not exist");
  });

  test("a model that is not ready: UNAVAILABLE", async () => {
    const { client } = await sidecar(kind, { "backend.models.anomaly.name": "slow-model" });
    const e = await failure(client.detectAnomaly({ metrics: vector("anomaly_request_go_default.json") }));
    expect(e.code).toBe(Code.Unavailable);
    expect(e.rawMessage).toContain("is not ready");
  });

  test("a wrong width answered by the real server (a misconfigured feature set): FAILED_PRECONDITION", async () => {
    // The predictive model is pointed at the anomaly model: 5 features where it expects 45.
    const { client } = await sidecar(kind, { "backend.models.predictive.name": "anomaly-detector" });
    const e = await failure(client.predict({ issueContext: { metrics: PREDICTIVE.map((name) => ({ name, value: 0.5 })) } }));
    expect(e.code).toBe(Code.FailedPrecondition);
    expect(e.rawMessage).toContain("expects 45 features but was given 5");
  });

  test("a request without the model's features: FAILED_PRECONDITION naming what is missing", async () => {
    const { client } = await sidecar(kind);
    const e = await failure(client.detectAnomaly({ metrics: [{ name: "cpu_usage", value: 0.9 }] }));
    expect(e.code).toBe(Code.FailedPrecondition);
    expect(e.rawMessage).toContain("expects 45 features");
  });

  test("/readyz reports each model's readiness; metrics name the model", async () => {
    const { sc, client } = await sidecar(kind, { "backend.models.predictive.name": "slow-model" });
    await client.detectAnomaly({ metrics: vector("anomaly_request_go_default.json") });
    const r = (await (await fetch(`${sc.adminUrl}/readyz`)).json()) as { backend: { ready: boolean; detail: string } };
    expect(r.backend).toEqual(expect.objectContaining({ ready: false, detail: "anomaly-detector: ready, slow-model: not ready" }));
    const metrics = await (await fetch(`${sc.adminUrl}/metrics`)).text();
    const path = kind === "kserve-v1" ? "/v1/models/anomaly-detector:predict" : "/v2/models/anomaly-detector/infer";
    expect(metrics).toContain(`aiops_sidecar_upstream_request_duration_seconds_count{backend="${kind}",endpoint="${path}",outcome="ok"} 1`);
    // This server reports no model_version (V2 answers null), so the version label is empty.
    expect(metrics).toContain(`aiops_sidecar_model_info{backend="${kind}",model="anomaly-detector",version=""} 1`);
  });
});
