/**
 * The framework's floor: a bare connect-node server with the same proto and
 * the same one-port HTTP/2 listener, answering DetectAnomaly with a constant
 * and doing nothing else. Usage: node dist/bench/echo-server.js PORT
 */
import http2 from "node:http2";
import { create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { DetectAnomalyResponseSchema, MLService } from "../gen/aiops/ml/v1/ml_service_pb.js";

const answer = create(DetectAnomalyResponseSchema, {
  anomalyDetected: true,
  confidence: 0.95,
  anomalyScore: 8.7,
  recommendations: ["Scale up replicas", "Check for memory leak"],
});

const handler = connectNodeAdapter({
  jsonOptions: { useProtoFieldName: true },
  routes(router) {
    router.rpc(MLService.method.detectAnomaly, async () => answer);
  },
});
const server = http2.createServer({}, handler);
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  process.stdout.write(`ready ${(server.address() as { port: number }).port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
