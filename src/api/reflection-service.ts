/**
 * gRPC server reflection, v1 and v1alpha (connect-es has none, issue #507),
 * so that `grpcurl list`, `describe` and calls by name work with no proto
 * files at hand. Files are served from a descriptor set built with source
 * info, so `describe` shows the proto's comments; each answer carries the
 * file and all of its transitive dependencies.
 */
import { createFileRegistry, type DescFile, type FileRegistry, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import { DESCRIPTOR_SET_BASE64 } from "../../gen/descriptor_set.js";
import {
  type ServerReflectionRequest as RequestV1,
  type ServerReflectionResponseSchema,
  ServerReflection as ServerReflectionV1,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** The registry of every file in proto/, with comments. */
export function loadDescriptorRegistry(): FileRegistry {
  const set = fromBinary(FileDescriptorSetSchema, Buffer.from(DESCRIPTOR_SET_BASE64, "base64"));
  return createFileRegistry(set);
}

function withDependencies(file: DescFile): DescFile[] {
  const out: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (f: DescFile): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    out.push(f);
    for (const d of f.dependencies) visit(d);
  };
  visit(file);
  return out;
}

/** Finds the file declaring a symbol; methods and fields resolve to their parent. */
function fileForSymbol(registry: FileRegistry, symbol: string): DescFile | undefined {
  let name = symbol.replace(/^\./, "");
  while (name !== "") {
    const d = registry.get(name);
    if (d !== undefined) return d.file;
    const dot = name.lastIndexOf(".");
    if (dot < 0) return undefined;
    name = name.slice(0, dot);
  }
  return undefined;
}

/** Answers one reflection request (v1 and v1alpha share the message shapes). */
type ResponseV1 = MessageInitShape<typeof ServerReflectionResponseSchema>;

export function answerReflection(registry: FileRegistry, services: readonly string[], req: RequestV1): ResponseV1 {
  const base = { validHost: req.host, originalRequest: req };
  const files = (f: DescFile | undefined, what: string) =>
    f === undefined
      ? {
          ...base,
          messageResponse: {
            case: "errorResponse" as const,
            value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
          },
        }
      : {
          ...base,
          messageResponse: {
            case: "fileDescriptorResponse" as const,
            value: { fileDescriptorProto: withDependencies(f).map((d) => toBinary(FileDescriptorProtoSchema, d.proto)) },
          },
        };
  const m = req.messageRequest;
  switch (m.case) {
    case "listServices":
      return {
        ...base,
        messageResponse: { case: "listServicesResponse", value: { service: services.map((name) => ({ name })) } },
      };
    case "fileByFilename":
      return files(registry.getFile(m.value), `file ${m.value}`);
    case "fileContainingSymbol":
      return files(fileForSymbol(registry, m.value), `symbol ${m.value}`);
    case "fileContainingExtension":
      return files(
        registry.getExtensionFor(registry.getMessage(m.value.containingType) as never, m.value.extensionNumber)?.file,
        `extension ${m.value.containingType}(${m.value.extensionNumber})`,
      );
    case "allExtensionNumbersOfType": {
      if (registry.getMessage(m.value) === undefined) return files(undefined, `type ${m.value}`);
      return {
        ...base,
        messageResponse: { case: "allExtensionNumbersResponse", value: { baseTypeName: m.value, extensionNumber: [] } },
      };
    }
    default:
      return {
        ...base,
        messageResponse: {
          case: "errorResponse",
          value: { errorCode: Code.InvalidArgument, errorMessage: "no request set" },
        },
      };
  }
}

/** Creates both reflection services over one registry. */
export function createReflectionServices(registry: FileRegistry, services: readonly string[]) {
  const impl = {
    async *serverReflectionInfo(requests: AsyncIterable<RequestV1>) {
      for await (const req of requests) yield answerReflection(registry, services, req);
    },
  };
  return {
    v1: impl as unknown as ServiceImpl<typeof ServerReflectionV1>,
    v1alpha: impl as unknown as ServiceImpl<typeof ServerReflectionV1alpha>,
  };
}

export { ServerReflectionV1, ServerReflectionV1alpha };
