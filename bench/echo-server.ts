/**
 * The framework's floor: a server with the same proto answering
 * DetectAnomaly with a constant and doing nothing else.
 * Usage: node dist/bench/echo-server.js PORT [connect|unary]
 *   connect (default): a bare connect-node server, every protocol through its handler;
 *   unary: the sidecar's own gRPC unary path (src/server/grpc-unary.ts) in front of
 *   connect-node, as the sidecar serves it.
 */
import http2 from "node:http2";
import { create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { DetectAnomalyResponseSchema, MLService } from "../gen/aiops/ml/v1/ml_service_pb.js";
import { createGrpcUnaryHandler } from "../src/server/grpc-unary.js";

const answer = create(DetectAnomalyResponseSchema, {
  anomalyDetected: true,
  confidence: 0.95,
  anomalyScore: 8.7,
  recommendations: ["Scale up replicas", "Check for memory leak"],
});
const impl = { detectAnomaly: async () => answer };

const handler = connectNodeAdapter({
  jsonOptions: { useProtoFieldName: true },
  routes(router) {
    router.service(MLService, impl);
  },
});
const first =
  process.argv[3] === "unary"
    ? createGrpcUnaryHandler({
        services: [[MLService, impl]],
        readMaxBytes: 4 << 20,
        maxTimeoutMs: 300_000,
        shutdownSignal: new AbortController().signal,
      })
    : undefined;
const server = http2.createServer({}, (req, res) => {
  if (first === undefined || !first(req, res)) handler(req, res);
});
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  process.stdout.write(`ready ${(server.address() as { port: number }).port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
