/**
 * The REST contract (openapi/ml-service.yaml) as validators, so that every
 * request the sidecar sends to a stand-in upstream in the test suite is
 * checked on the wire against the document.
 */
import { readFileSync } from "node:fs";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse } from "yaml";
import { ROOT } from "./tools.js";

export interface OpenApiDoc {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { $ref: string } }> } }>>;
  components: { schemas: Record<string, Record<string, unknown>> };
}

export const CONTRACT: OpenApiDoc = parse(readFileSync(`${ROOT}openapi/ml-service.yaml`, "utf8"));

const ajv = new Ajv2020({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
ajv.addSchema({ $id: "contract", components: CONTRACT.components });

const cache = new Map<string, ValidateFunction>();

/** A validator for a component schema, e.g. "AnomalyDetectRequest". */
export function schemaValidator(name: string): ValidateFunction {
  let v = cache.get(name);
  if (v === undefined) {
    v = ajv.compile({ $ref: `contract#/components/schemas/${name}` });
    cache.set(name, v);
  }
  return v;
}

/** The request-body schema of `POST path`, when the contract has one. */
export function requestSchemaFor(method: string, path: string): string | undefined {
  const ref = CONTRACT.paths[path]?.[method.toLowerCase()]?.requestBody?.content["application/json"]?.schema.$ref;
  return ref?.split("/").pop();
}

/** The contract violations of a request body, or [] (also [] for paths outside the contract). */
export function contractViolations(method: string, path: string, body: unknown): string[] {
  const name = requestSchemaFor(method, path);
  if (name === undefined) return [];
  const v = schemaValidator(name);
  if (v(body)) return [];
  return (v.errors ?? []).map((e) => `${method} ${path}: ${e.instancePath || "(body)"} ${e.message}`);
}
