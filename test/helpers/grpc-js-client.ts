/**
 * An independent gRPC client for tests: @grpc/grpc-js with the proto loaded
 * from proto/ at run time (no generated code of ours involved).
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

export const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: grpc-js clients are untyped by design
type AnyClient = any;

export interface GrpcJsClient {
  /** Calls a unary method; resolves with the response or rejects with a grpc.ServiceError. */
  call<T = Record<string, unknown>>(
    method: string,
    request: unknown,
    options?: { deadlineMs?: number; metadata?: Record<string, string>; onCall?: (c: grpc.ClientUnaryCall) => void },
  ): Promise<T>;
  close(): void;
}

export function grpcJsClient(port: number): GrpcJsClient {
  const def = protoLoader.loadSync("aiops/ml/v1/ml_service.proto", {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as AnyClient;
  const client: AnyClient = new pkg.aiops.ml.v1.MLService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    call(method, request, options = {}) {
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
      const callOptions: grpc.CallOptions = {};
      if (options.deadlineMs !== undefined) callOptions.deadline = new Date(Date.now() + options.deadlineMs);
      return new Promise((resolve, reject) => {
        const c = client[method](request, md, callOptions, (err: grpc.ServiceError | null, res: unknown) =>
          err ? reject(err) : resolve(res as never),
        );
        options.onCall?.(c);
      });
    },
    close: () => client.close(),
  };
}

export { grpc };
