/**
 * The JSON backend every row of the benchmark calls: a minimal HTTP/1.1
 * server answering the contract's anomaly response, in its own process.
 * Usage: node dist/bench/backend.js PORT
 */
import http from "node:http";

const BODY = JSON.stringify({
  anomaly_detected: true,
  confidence: 0.95,
  anomaly_score: 8.7,
  recommendations: ["Scale up replicas", "Check for memory leak"],
});

const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(BODY) });
    res.end(BODY);
  });
});
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  process.stdout.write(`ready ${(server.address() as { port: number }).port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
