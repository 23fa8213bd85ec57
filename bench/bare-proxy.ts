/**
 * What any Node.js sidecar pays: gRPC DetectAnomaly on node:http2, turned
 * into the JSON call to the backend with a pooled undici client, and the
 * answer encoded back — no validation, cache, breaker, retries, metrics,
 * deadlines or error mapping. Not a product: the floor the sidecar's
 * features are measured against.
 * Usage: node dist/bench/bare-proxy.js PORT BACKEND_URL
 */
import http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Pool } from "undici";
import { DetectAnomalyRequestSchema, DetectAnomalyResponseSchema } from "../gen/aiops/ml/v1/ml_service_pb.js";

const pool = new Pool(process.argv[3] as string, { connections: 16 });

const server = http2.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", async () => {
    const r = fromBinary(DetectAnomalyRequestSchema, Buffer.concat(chunks).subarray(5));
    const up = await pool.request({
      path: "/api/v1/anomaly/detect",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ metrics: r.metrics.map((m) => ({ name: m.name, value: m.value })) }),
    });
    const j = (await up.body.json()) as { anomaly_detected: boolean; confidence: number; anomaly_score: number; recommendations: string[] };
    const msg = toBinary(
      DetectAnomalyResponseSchema,
      create(DetectAnomalyResponseSchema, {
        anomalyDetected: j.anomaly_detected,
        confidence: j.confidence,
        anomalyScore: j.anomaly_score,
        recommendations: j.recommendations,
      }),
    );
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt32BE(msg.length, 1);
    frame.set(msg, 5);
    res.writeHead(200, { "content-type": "application/grpc" });
    res.addTrailers({ "grpc-status": "0" });
    res.end(frame);
  });
});
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  process.stdout.write(`ready ${(server.address() as { port: number }).port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
