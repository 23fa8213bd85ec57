"""Reference implementation of the AIOps Python ML service (ADR-009).

It implements ``openapi/ml-service.yaml`` for real: an IsolationForest anomaly
detector trained at start-up on generated data with a fixed seed, a
trend-based predictor, and a pattern analyser. It is the sidecar's contract
test peer and its demo backend: ``python -m ml_service --port 8080``.
"""
