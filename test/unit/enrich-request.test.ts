import { create } from "@bufbuild/protobuf";
import { describe, test } from "vitest";
import { FeatureSchema, Provenance } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { feature } from "../../src/enrichment/enrich-request.js";
import { expectAsCreated } from "../helpers/literals.js";

describe("feature()", () => {
  // The literal stands in for create(FeatureSchema, ...) on every call; a
  // field added to Feature in the proto must fail here, not go missing.
  test.each([
    ["pod_cpu_usage_value", 0.42, Provenance.GIVEN, undefined],
    ["pod_cpu_usage_lag_5", -0, Provenance.FETCHED, undefined],
    ["node_memory_utilization_std_5m", 0, Provenance.IMPUTED, "no samples in the last 5m"],
  ] as const)("is the message create() makes: %s", (name, value, provenance, reason) => {
    const literal = feature(name, value, provenance, reason);
    const made = create(FeatureSchema, { name, value, provenance, reason: reason ?? "" });
    expectAsCreated(FeatureSchema, literal, made);
  });
});
