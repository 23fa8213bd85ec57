/**
 * Merges a workload's fetched feature vector with the metrics the caller
 * gave, per the request's enrichment mode, and decides whether the result is
 * fit for a model: every feature carries its provenance (GIVEN, FETCHED,
 * IMPUTED with the reason), and a vector with more imputed features than
 * `enrichment.max_imputed` never reaches a model.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { EnrichmentMode, type Feature, type Metric, MetricSchema, Provenance } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import type { CallContext } from "../api/call-context.js";
import type { FeatureBuilder, FeatureVector, Workload } from "./feature-builder.js";

export interface Enriched {
  /** The metrics to send: the set's features in model order, then any extra given metrics. */
  readonly metrics: Metric[];
  /** What metadata.features reports. */
  readonly features: Feature[];
  readonly warnings: readonly string[];
  readonly imputed: number;
}

/** Whether this call must fetch anything: ALWAYS, or MISSING_ONLY with a feature not given. */
export function needsFetch(mode: EnrichmentMode, setNames: readonly string[], given: readonly Metric[]): boolean {
  if (mode === EnrichmentMode.NEVER) return false;
  if (mode === EnrichmentMode.ALWAYS) return true;
  const names = new Set(given.map((m) => m.name));
  return setNames.some((n) => !names.has(n));
}

/**
 * A Feature message, as `create(FeatureSchema, ...)` makes it (proto3: a
 * plain object with every field), written as a literal: a call reports up
 * to one per feature of the vector, 45 for the anomaly model, and create()
 * walks the descriptor for each (bench/FINDINGS.md, change 23). A test
 * holds the two equal, so a field added to Feature fails it here first.
 */
export const feature = (name: string, value: number, provenance: Provenance, reason = ""): Feature => ({
  $typeName: "aiops.ml.v1.Feature",
  name,
  value,
  provenance,
  reason,
});

/** The features of a built vector, as metadata reports them. */
export function vectorFeatures(v: FeatureVector): Feature[] {
  return v.features.map(vectorFeature);
}

/** One feature of a vector: FETCHED, or IMPUTED with the reason. */
function vectorFeature(f: FeatureVector["features"][number]): Feature {
  return f.imputed === undefined ? feature(f.name, f.value, Provenance.FETCHED) : feature(f.name, f.value, Provenance.IMPUTED, f.imputed);
}

/**
 * Refuses a vector with too many imputed features: UNAVAILABLE when
 * Prometheus could not be reached, FAILED_PRECONDITION when it had no data.
 */
export function assertUsable(v: FeatureVector, imputed: number, maxImputed: number): void {
  if (imputed <= maxImputed) return;
  const missing = [...new Set(v.features.filter((f) => f.imputed !== undefined).map((f) => f.imputed as string))].slice(0, 3);
  const what = `${imputed} of ${v.features.length} features of the ${v.set} vector would be imputed (enrichment.max_imputed is ${maxImputed}): ${missing.join("; ")}`;
  throw new ConnectError(
    v.unreachable > 0 ? `Prometheus unreachable: ${what}` : `not enough data in Prometheus for ${v.scope.namespace}: ${what}`,
    v.unreachable > 0 ? Code.Unavailable : Code.FailedPrecondition,
  );
}

/** UNAVAILABLE when no base metric's query reached Prometheus. */
export function assertReachable(v: FeatureVector): void {
  if (v.baseMetrics > 0 && v.unreachable === v.baseMetrics) assertUsable(v, v.features.length, -1);
}

/** Fetches and merges; see the file comment. */
export async function enrich(
  builder: FeatureBuilder,
  setName: string,
  mode: EnrichmentMode,
  given: readonly Metric[],
  workload: Workload,
  evaluationS: number | undefined,
  maxImputed: number,
  call: CallContext,
): Promise<Enriched> {
  const names = builder.names(setName);
  const byName = new Map(given.map((m) => [m.name, m]));
  const vector = await builder.build(setName, workload, evaluationS, call);
  const timestamp = timestampFromMs(vector.time * 1000);
  const metrics: Metric[] = [];
  const features: Feature[] = [];
  let imputed = 0;
  vector.features.forEach((f, i) => {
    const mine = mode === EnrichmentMode.MISSING_ONLY ? byName.get(f.name) : undefined;
    if (mine !== undefined) {
      metrics.push(mine);
      features.push(feature(mine.name, mine.value, Provenance.GIVEN));
      return;
    }
    metrics.push(create(MetricSchema, { name: names[i] ?? f.name, value: f.value, timestamp }));
    features.push(vectorFeature(f));
    if (f.imputed !== undefined) imputed++;
  });
  const setNames = new Set(names);
  for (const m of given) {
    if (!setNames.has(m.name)) {
      metrics.push(m);
      features.push(feature(m.name, m.value, Provenance.GIVEN));
    }
  }
  assertUsable(vector, imputed, maxImputed);
  return { metrics, features, warnings: vector.warnings, imputed };
}
