/**
 * Request validation, before anything goes upstream. Every rule names the
 * field it guards with the proto's own path (`metrics[2].value`), and all
 * violations are collected so that a caller fixes them in one round.
 */
import {
  type AnalyzePatternsRequest,
  AnalyzePatternsRequestSchema,
  type DetectAnomalyRequest,
  DetectAnomalyRequestSchema,
  type GetFeaturesRequest,
  type Metric,
  type PredictRequest,
  PredictRequestSchema,
  type WorkloadContext,
} from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { parseDuration } from "../config/duration.js";
import type { FieldViolation } from "../errors/upstream-error.js";
import { binarySize } from "../wire/binary-encoder.js";

/** Longest metric, event or state name accepted. */
export const MAX_NAME_LENGTH = 256;
/** Longest history a pattern analysis may cover. */
export const MAX_TIME_RANGE_MS = 90 * 86_400_000;

/** Kubernetes names: a namespace is a DNS label, a Deployment or pod a DNS subdomain. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** What validation needs to know beyond the request itself. */
export interface ValidationRules {
  /** server.max_request_bytes. */
  readonly maxRequestBytes: number;
  /** Whether this call will fetch features, so the workload must be named. */
  readonly enrichmentWillRun: boolean;
  /** The request's size on the wire when the transport knows it; else it is encoded to be measured. */
  readonly messageBytes?: number | undefined;
}

class Violations {
  readonly list: FieldViolation[] = [];
  add(field: string, description: string): void {
    if (this.list.length < 100) this.list.push({ field, description });
  }
}

/** What is wrong with a name, if anything. */
function nameProblem(name: string): string | undefined {
  if (name.trim() === "") return "must not be empty";
  if (name.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters`;
  return undefined;
}

/**
 * Each metric's name and value. A field's path is built only for a
 * violation: a valid request of 45 features builds none (bench/FINDINGS.md,
 * change 23).
 */
function checkMetrics(v: Violations, path: string, metrics: readonly Metric[]): void {
  for (let i = 0; i < metrics.length; i++) {
    const m = metrics[i] as Metric;
    const problem = nameProblem(m.name);
    if (problem !== undefined) v.add(`${path}[${i}].name`, problem);
    if (!Number.isFinite(m.value)) v.add(`${path}[${i}].value`, `must be a finite number, got ${m.value}`);
  }
}

/** The workload's names; when enrichment will run, its namespace and resource are required. */
function checkContext(v: Violations, c: WorkloadContext | undefined, enrichmentWillRun: boolean): void {
  if (c !== undefined) {
    if (c.namespace !== "" && !DNS_LABEL.test(c.namespace)) {
      v.add("context.namespace", "must be a Kubernetes namespace name (lower-case DNS label, at most 63 characters)");
    }
    if (c.resource !== "" && !DNS_SUBDOMAIN.test(c.resource)) {
      v.add("context.resource", "must be a Kubernetes object name (lower-case DNS subdomain)");
    }
    if (c.pod !== "" && !DNS_SUBDOMAIN.test(c.pod)) {
      v.add("context.pod", "must be a Kubernetes pod name (lower-case DNS subdomain)");
    }
  }
  if (enrichmentWillRun) {
    if ((c?.namespace ?? "") === "") v.add("context.namespace", "required: enrichment fetches this workload's features");
    if ((c?.resource ?? "") === "") v.add("context.resource", "required: enrichment fetches this workload's features");
  }
}

function checkSize(v: Violations, bytes: number, rules: ValidationRules, largest: string): void {
  if (bytes > rules.maxRequestBytes) {
    v.add(largest, `request is ${bytes} bytes, more than server.max_request_bytes (${rules.maxRequestBytes})`);
  }
}

/** Validates DetectAnomaly; returns every violation found. */
export function validateDetectAnomaly(req: DetectAnomalyRequest, rules: ValidationRules): FieldViolation[] {
  const v = new Violations();
  checkSize(v, rules.messageBytes ?? binarySize(DetectAnomalyRequestSchema, req), rules, "metrics");
  checkMetrics(v, "metrics", req.metrics);
  checkContext(v, req.context, rules.enrichmentWillRun);
  if (req.metrics.length === 0 && !rules.enrichmentWillRun) {
    v.add("metrics", "must not be empty when no features are fetched (enrichment off or PROMETHEUS_URL unset)");
  }
  return v.list;
}

/** Validates Predict; returns every violation found. */
export function validatePredict(req: PredictRequest, rules: ValidationRules): FieldViolation[] {
  const v = new Violations();
  checkSize(v, rules.messageBytes ?? binarySize(PredictRequestSchema, req), rules, "issue_context.metrics");
  const ic = req.issueContext;
  checkMetrics(v, "issue_context.metrics", ic?.metrics ?? []);
  if ((ic?.currentState.length ?? 0) > MAX_NAME_LENGTH) {
    v.add("issue_context.current_state", `must be at most ${MAX_NAME_LENGTH} characters`);
  }
  (ic?.recentEvents ?? []).forEach((e, i) => {
    const problem = nameProblem(e);
    if (problem !== undefined) v.add(`issue_context.recent_events[${i}]`, problem);
  });
  checkContext(v, req.context, rules.enrichmentWillRun);
  if ((ic?.metrics.length ?? 0) === 0 && !rules.enrichmentWillRun) {
    v.add("issue_context.metrics", "must not be empty when no features are fetched (enrichment off or PROMETHEUS_URL unset)");
  }
  return v.list;
}

/** Validates AnalyzePatterns; returns every violation found. */
export function validateAnalyzePatterns(req: AnalyzePatternsRequest, rules: ValidationRules): FieldViolation[] {
  const v = new Violations();
  checkSize(v, rules.messageBytes ?? binarySize(AnalyzePatternsRequestSchema, req), rules, "historical_data.events");
  const h = req.historicalData;
  if (h === undefined) v.add("historical_data", "required");
  else {
    const ms = parseDuration(h.timeRange);
    if (ms === undefined || ms <= 0) v.add("historical_data.time_range", 'must be a positive Go duration such as "24h"');
    else if (ms > MAX_TIME_RANGE_MS) v.add("historical_data.time_range", "must be at most 90 days (2160h)");
    h.events.forEach((e, i) => {
      const problem = nameProblem(e.type);
      if (problem !== undefined) v.add(`historical_data.events[${i}].type`, problem);
      if (!Number.isFinite(e.value)) v.add(`historical_data.events[${i}].value`, `must be a finite number, got ${e.value}`);
    });
    checkMetrics(v, "historical_data.metrics", h.metrics);
  }
  checkContext(v, req.context, false);
  return v.list;
}

/** Validates GetFeatures: the workload must be named. */
export function validateGetFeatures(req: GetFeaturesRequest): FieldViolation[] {
  const v = new Violations();
  checkContext(v, req.context, true);
  return v.list;
}
