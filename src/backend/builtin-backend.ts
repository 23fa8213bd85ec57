/**
 * The `builtin` backend: the baseline rule set in-process, so that
 * `npm start` answers with nothing else running, and so that the
 * degradation ladder has a last rung that needs no network.
 */
import type { AnalyzePatternsRequest, DetectAnomalyRequest, PredictRequest } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import type { Backend, BackendAnswer, ProbeResult } from "./backend.js";
import { baselineAnomaly, baselinePatterns, baselinePredict } from "./baseline-rules.js";

/** The model name reported in metadata for baseline answers. */
export const BASELINE_MODEL = "baseline-rules";
/** Bumped whenever a rule or threshold in baseline-rules.ts changes. */
export const BASELINE_VERSION = "1";

const answer = <T>(response: T): Promise<BackendAnswer<T>> =>
  Promise.resolve({ response, model: BASELINE_MODEL, modelVersion: BASELINE_VERSION });

export class BuiltinBackend implements Backend {
  readonly kind = "builtin" as const;

  detectAnomaly(req: DetectAnomalyRequest) {
    return answer(baselineAnomaly(req.metrics));
  }

  predict(req: PredictRequest) {
    return answer(baselinePredict(req.issueContext?.metrics ?? [], req.issueContext?.recentEvents ?? []));
  }

  analyzePatterns(req: AnalyzePatternsRequest) {
    return answer(baselinePatterns(req.historicalData?.events ?? []));
  }

  probe(): Promise<ProbeResult> {
    return Promise.resolve({ ready: true, detail: "in-process" });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
