/**
 * The JSON backend every row of the benchmark calls: a minimal HTTP/1.1
 * server, in its own process, answering the contract's anomaly response,
 * and, as the platform's KServe V1 model server does, `{"predictions":
 * [-1]}` to `POST /v1/models/{name}:predict` and the model's readiness to
 * `GET /v1/models/{name}`.
 * Usage: node dist/bench/backend.js PORT
 */
import http from "node:http";

const BODY = JSON.stringify({
  anomaly_detected: true,
  confidence: 0.95,
  anomaly_score: 8.7,
  recommendations: ["Scale up replicas", "Check for memory leak"],
});

const KSERVE_PREDICTION = JSON.stringify({ predictions: [-1] });
const MODEL = /^\/v1\/models\/([\w.-]+)$/;

const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on("end", () => {
    const url = req.url ?? "";
    const model = req.method === "GET" ? MODEL.exec(url)?.[1] : undefined;
    let body = BODY;
    if (model !== undefined) body = JSON.stringify({ name: model, ready: true });
    else if (url.endsWith(":predict")) body = KSERVE_PREDICTION;
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  process.stdout.write(`ready ${(server.address() as { port: number }).port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
