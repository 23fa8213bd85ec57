"""python -m kserve_models --port 8080 [--unready NAME]

Trains both replicas and serves them with kserve.ModelServer (REST, V1 and
V2). ``--unready NAME`` also registers a model that never becomes ready, so
tests can see KServe's own 503 "Model with name X is not ready."
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from kserve import Model, ModelServer
from kserve.utils.utils import get_predict_input, get_predict_response
from sklearn.ensemble import IsolationForest, RandomForestRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import RobustScaler

FEATURES = json.loads((Path(__file__).resolve().parents[2] / "test" / "fixtures" / "anomaly_feature_names_45.json").read_text())


def training_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    """Normal operation, feature by feature: 5 base metrics x (value, 4 window stats, 2 lags, diff, pct)."""
    base = {
        "node_cpu_utilization": (0.45, 0.1),
        "node_memory_utilization": (0.55, 0.08),
        "pod_cpu_usage": (0.3, 0.1),
        "pod_memory_usage": (0.5, 0.1),
        "container_restart_count": (0.2, 0.4),
    }
    cols = []
    for metric, (mu, sd) in base.items():
        level = np.clip(rng.normal(mu, sd, n), 0, None)
        noise = lambda s: rng.normal(0, s, n)  # noqa: E731
        lag1 = np.clip(level + noise(sd / 10), 0, None)
        lag5 = np.clip(level + noise(sd / 5), 0, None)
        diff = level - lag1
        pct = np.where(lag1 == 0, 0, diff / np.where(lag1 == 0, 1, lag1))
        cols += [level, level + noise(sd / 20), np.abs(noise(sd / 10)), level - np.abs(noise(sd / 5)), level + np.abs(noise(sd / 5)), lag1, lag5, diff, pct]
    return np.column_stack(cols)


class AnomalyDetector(Model):
    def __init__(self, name: str, seed: int) -> None:
        super().__init__(name)
        self.seed = seed

    def load(self) -> bool:
        rng = np.random.default_rng(self.seed)
        self.pipeline = make_pipeline(RobustScaler(), IsolationForest(n_estimators=200, contamination=0.05, random_state=self.seed))
        self.pipeline.fit(training_vectors(rng, 3000))
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None, response_headers=None):
        instances = get_predict_input(payload)
        result = self.pipeline.predict(np.asarray(instances, dtype=float))
        return get_predict_response(payload, result, self.name)


class PredictiveAnalytics(Model):
    """5 inputs [cpu, memory, disk, network_in, network_out] -> their forecast one horizon ahead."""

    def __init__(self, name: str, seed: int) -> None:
        super().__init__(name)
        self.seed = seed

    def load(self) -> bool:
        rng = np.random.default_rng(self.seed)
        now = rng.uniform(0, 1, (2000, 5))
        drift = np.array([0.05, 0.08, 0.01, 0.02, 0.02])
        later = np.clip(now + drift * (now > 0.5) + rng.normal(0, 0.01, now.shape), 0, 1)
        self.model = RandomForestRegressor(n_estimators=50, random_state=self.seed).fit(now, later)
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None, response_headers=None):
        instances = get_predict_input(payload)
        result = self.model.predict(np.asarray(instances, dtype=float))
        return get_predict_response(payload, result, self.name)


class NeverReady(Model):
    """A registered model whose load never finishes: KServe answers 503 for it."""

    def load(self) -> bool:
        self.ready = False
        return False


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--unready", default="")
    a = p.parse_args()
    models = [AnomalyDetector("anomaly-detector", a.seed), PredictiveAnalytics("predictive-analytics", a.seed)]
    for m in models:
        m.load()
    server = ModelServer(http_port=a.port, enable_grpc=False, workers=1, enable_latency_logging=False)
    if a.unready:
        # start() registers only ready models; register this one ourselves.
        server.register_model(NeverReady(a.unready))
    server.start(models)


if __name__ == "__main__":
    main()
