"""Anomaly detection: an IsolationForest over five workload signals.

The detector is trained at start-up on generated "normal" operating data with
a fixed seed, so its answers are reproducible. Requests name their metrics;
the five signals are read by name (the seed's names, or the sidecar's
45-feature names), and a signal that is absent takes its training median.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest

from .models import AnomalyDetectResponse, Metric

FLOAT32_MAX = float(np.finfo(np.float32).max)

SIGNALS: dict[str, tuple[str, ...]] = {
    "cpu": ("cpu_usage", "pod_cpu_usage_value", "node_cpu_utilization_value"),
    "memory": ("memory_usage", "pod_memory_usage_value", "node_memory_utilization_value"),
    "restarts": ("container_restarts", "container_restart_count_value"),
    "cpu_trend": ("cpu_trend_5m", "pod_cpu_usage_diff"),
    "memory_trend": ("memory_trend_1h", "pod_memory_usage_diff"),
}
ORDER = list(SIGNALS)

ADVICE = {
    "cpu": "Scale up replicas",
    "memory": "Check for memory leak",
    "restarts": "Inspect logs of restarting containers",
    "cpu_trend": "Watch CPU growth; consider an HPA",
    "memory_trend": "Memory is climbing; check for a leak",
}


class AnomalyDetector:
    """IsolationForest (200 trees, contamination 0.05) on standardised signals."""

    def __init__(self, seed: int = 42, samples: int = 4000) -> None:
        rng = np.random.default_rng(seed)
        normal = np.column_stack(
            [
                np.clip(rng.normal(0.40, 0.12, samples), 0, 1),  # cpu
                np.clip(rng.normal(0.50, 0.10, samples), 0, 1),  # memory
                rng.poisson(0.2, samples).astype(float),  # restarts
                rng.normal(0.0, 0.02, samples),  # cpu trend
                rng.normal(0.0, 0.01, samples),  # memory trend
            ]
        )
        self.median = np.median(normal, axis=0)
        self.scale = normal.std(axis=0)
        self.forest = IsolationForest(n_estimators=200, contamination=0.05, random_state=seed)
        self.forest.fit(self._standardise(normal))

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return (x - self.median) / self.scale

    def vector(self, metrics: list[Metric]) -> tuple[np.ndarray, int]:
        """The five signals, and how many were present."""
        by_name = {m.name: m.value for m in metrics}
        row, present = [], 0
        for i, key in enumerate(ORDER):
            value = next((by_name[n] for n in SIGNALS[key] if n in by_name), None)
            if value is None:
                row.append(self.median[i])
            else:
                row.append(value)
                present += 1
        return np.array(row, dtype=float), present

    def detect(self, metrics: list[Metric]) -> AnomalyDetectResponse:
        x, present = self.vector(metrics)
        # The forest works in float32, so a deviation past its range (a value
        # such as 1e300 is valid JSON) would overflow in the cast. It is as far
        # outside the normal region as any other: held at the range's edge.
        with np.errstate(over="ignore"):
            z = np.clip(self._standardise(x.reshape(1, -1)), -FLOAT32_MAX, FLOAT32_MAX)
        decision = float(self.forest.decision_function(z)[0])  # < 0: anomalous
        anomaly = decision < 0
        # Score: how far outside the normal region, on a 0-10 scale.
        score = round(float(np.clip(-decision * 40 + 5, 0, 10)), 3)
        # Confidence grows with the margin and with how many signals were given.
        confidence = round(float(min(0.99, 0.5 + min(abs(decision) * 4, 0.4) * (present / len(ORDER)) + 0.05)), 3)
        deviations = np.abs(z[0])
        recommendations = [ADVICE[ORDER[i]] for i in np.argsort(-deviations) if deviations[i] > 3] if anomaly else []
        return AnomalyDetectResponse(
            anomaly_detected=anomaly,
            confidence=confidence,
            anomaly_score=score,
            recommendations=recommendations,
        )
