/**
 * The KServe backends (`kserve-v1`, `kserve-v2`): the models the platform
 * really deploys, one per RPC, each with its own URL. Rows are built from
 * the feature vector in the model's order and checked before sending; the
 * bare outputs become typed answers by the rules of kserve-mapping.ts.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { DetectAnomalyRequest, PredictRequest } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import type { CallContext } from "../api/call-context.js";
import { UpstreamError } from "../errors/upstream-error.js";
import type { UpstreamClient } from "../http/upstream-client.js";
import type { Backend, BackendAnswer, ProbeResult } from "./backend.js";
import { ShapeError } from "./json-shape.js";
import { anomalyVerdict, forecastIssues, modelRow, reclassifyWidthError } from "./kserve-mapping.js";
import type { KServeProtocol } from "./kserve-protocol.js";

export interface KServeModel {
  readonly name: string;
  /** The model's input features, in training order. */
  readonly features: readonly string[];
  readonly client: UpstreamClient;
}

export interface KServeBackendOptions {
  readonly protocol: KServeProtocol;
  readonly anomaly: KServeModel;
  readonly predictive: KServeModel & { readonly horizonMs: number };
}

export class KServeBackend implements Backend {
  readonly kind: KServeProtocol["kind"];
  /** The last version each model reported (V2 reports one). */
  private readonly versions = new Map<string, string>();

  constructor(private readonly o: KServeBackendOptions) {
    this.kind = o.protocol.kind;
  }

  modelFor(rpc: "DetectAnomaly" | "Predict" | "AnalyzePatterns"): string {
    const m = rpc === "Predict" ? this.o.predictive : this.o.anomaly;
    const version = this.versions.get(m.name);
    return version ? `${m.name}@${version}` : m.name;
  }

  private async infer(model: KServeModel, row: number[], width: number, call: CallContext) {
    const endpoint = this.o.protocol.predictPath(model.name);
    let body: unknown;
    try {
      body = (await model.client.postJson(endpoint, this.o.protocol.encode([row]), { signal: call.signal, headers: call.forwardHeaders }))
        .body;
    } catch (e) {
      throw reclassifyWidthError(e);
    }
    try {
      const r = this.o.protocol.decode(body, width);
      if (r.modelVersion !== "") this.versions.set(model.name, r.modelVersion);
      return r;
    } catch (e) {
      if (!(e instanceof ShapeError)) throw e;
      throw new UpstreamError(`${model.name} answered a body that is not a ${this.kind} prediction: ${e.message}`, {
        kind: "malformed",
        upstream: this.kind,
        endpoint,
        violations: [{ field: e.field, description: e.message }],
        cause: e,
      });
    }
  }

  async detectAnomaly(req: DetectAnomalyRequest, call: CallContext): Promise<BackendAnswer<ReturnType<typeof anomalyVerdict>>> {
    const m = this.o.anomaly;
    const row = modelRow(m.name, m.features, req.metrics);
    const { output, modelVersion } = await this.infer(m, row, 1, call);
    const label = output[0] as number;
    if (label !== -1 && label !== 1) {
      throw new UpstreamError(`${m.name} answered ${label}; the anomaly model answers -1 (anomaly) or 1 (normal)`, {
        kind: "malformed",
        upstream: this.kind,
        endpoint: this.o.protocol.predictPath(m.name),
        violations: [{ field: "predictions[0]", description: "must be -1 or 1" }],
      });
    }
    return { response: anomalyVerdict(label, req.metrics), model: m.name, modelVersion };
  }

  async predict(req: PredictRequest, call: CallContext): Promise<BackendAnswer<ReturnType<typeof forecastIssues>>> {
    const m = this.o.predictive;
    const row = modelRow(m.name, m.features, req.issueContext?.metrics ?? []);
    const { output, modelVersion } = await this.infer(m, row, m.features.length, call);
    return { response: forecastIssues(output, m.horizonMs), model: m.name, modelVersion };
  }

  async analyzePatterns(): Promise<never> {
    throw new ConnectError(
      `backend.kind ${this.kind} serves no pattern model: AnalyzePatterns needs the REST ML service (backend.kind rest)`,
      Code.Unimplemented,
    );
  }

  /** Whether the model behind an RPC is ready (withholds the breaker's half-open probe when not). */
  async ready(rpc: "DetectAnomaly" | "Predict" | "AnalyzePatterns", signal: AbortSignal): Promise<boolean> {
    const m = rpc === "Predict" ? this.o.predictive : this.o.anomaly;
    try {
      const a = await m.client.getJson(this.o.protocol.readyPath(m.name), { signal });
      return (a.body as { ready?: unknown } | null)?.ready === true;
    } catch {
      return false;
    }
  }

  async probe(signal: AbortSignal): Promise<ProbeResult> {
    const states = await Promise.all(
      [this.o.anomaly, this.o.predictive].map(
        async (m) => `${m.name}: ${(await this.ready(m === this.o.anomaly ? "DetectAnomaly" : "Predict", signal)) ? "ready" : "not ready"}`,
      ),
    );
    return { ready: states.every((s) => s.endsWith(": ready")), detail: states.join(", ") };
  }

  async close(): Promise<void> {
    await Promise.all([
      this.o.anomaly.client.close(),
      this.o.predictive.client === this.o.anomaly.client ? undefined : this.o.predictive.client.close(),
    ]);
  }
}
