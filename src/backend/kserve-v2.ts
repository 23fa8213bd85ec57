/**
 * KServe V2, the Open Inference Protocol (also MLServer's and Triton's):
 * POST /v2/models/{name}/infer with a tensor {name, shape, datatype, data}.
 */
import { array, object, ShapeError, string } from "./json-shape.js";
import { type KServeProtocol, numbers } from "./kserve-protocol.js";

export const KSERVE_V2: KServeProtocol = {
  kind: "kserve-v2",
  predictPath: (model) => `/v2/models/${encodeURIComponent(model)}/infer`,
  readyPath: (model) => `/v2/models/${encodeURIComponent(model)}/ready`,
  encode: (rows) => ({
    inputs: [{ name: "input-0", shape: [rows.length, rows[0]?.length ?? 0], datatype: "FP64", data: rows.flat() }],
  }),
  decode(body, width) {
    const o = object(body, "");
    const outputs = array(o, "outputs", "", (v, p) => object(v, p));
    const first = outputs[0];
    if (first === undefined) throw new ShapeError("outputs", "at least one output tensor", outputs);
    const data = array(first, "data", "outputs[0]", (v) => v);
    const version = o.model_version;
    return {
      output: numbers(data.slice(0, width), width, "outputs[0].data"),
      modelVersion: typeof version === "string" ? string(o, "model_version", "") : "",
    };
  },
};
