/** KServe V1: POST /v1/models/{name}:predict with {"instances": [...]} -> {"predictions": [...]}. */
import { array, object } from "./json-shape.js";
import { type KServeProtocol, numbers } from "./kserve-protocol.js";

export const KSERVE_V1: KServeProtocol = {
  kind: "kserve-v1",
  predictPath: (model) => `/v1/models/${encodeURIComponent(model)}:predict`,
  readyPath: (model) => `/v1/models/${encodeURIComponent(model)}`,
  encode: (rows) => ({ instances: rows }),
  decode(body, width) {
    const predictions = array(object(body, ""), "predictions", "", (v) => v);
    if (predictions.length === 0) return { output: numbers(undefined, width, "predictions[0]"), modelVersion: "" };
    return { output: numbers(predictions[0], width, "predictions[0]"), modelVersion: "" };
  },
};
