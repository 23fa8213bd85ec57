"""Behaviour of the reference service's models."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from ml_service.app import create_app
from ml_service.models import format_go_duration, parse_go_duration

from .conftest import fixture_body


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app())


def test_the_seeds_metrics_are_an_anomaly(client):
    r = client.post("/api/v1/anomaly/detect", json=fixture_body("adr009_anomaly_detect_request.json")).json()
    assert r["anomaly_detected"] is True
    assert r["confidence"] > 0.7
    assert "Check for memory leak" in r["recommendations"]


def test_ordinary_load_is_normal(client):
    r = client.post("/api/v1/anomaly/detect", json={"metrics": [{"name": "cpu_usage", "value": 0.42}, {"name": "memory_usage", "value": 0.48}]}).json()
    assert r["anomaly_detected"] is False
    assert r["recommendations"] == []


def test_the_sidecars_45_feature_names_are_understood(client):
    r = client.post("/api/v1/anomaly/detect", json={"metrics": [{"name": "pod_memory_usage_value", "value": 0.99}, {"name": "container_restart_count_value", "value": 9}]}).json()
    assert r["anomaly_detected"] is True


@pytest.mark.parametrize("value", [1e300, -1e300, 3.5e38])
def test_a_value_past_float32s_range_answers_as_the_edge_of_it_without_overflow(client, value):
    def detect(v):
        body = {"metrics": [{"name": "memory_usage", "value": v}, {"name": "container_restarts", "value": 9}]}
        return client.post("/api/v1/anomaly/detect", json=body)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = detect(value)
    assert r.status_code == 200
    assert r.json()["anomaly_detected"] is True
    assert r.json() == detect(3e38 if value > 0 else -3e38).json()


def test_trained_with_a_fixed_seed_answers_are_reproducible():
    a = TestClient(create_app(seed=7)).post("/api/v1/anomaly/detect", json={"metrics": [{"name": "cpu_usage", "value": 0.7}]}).json()
    b = TestClient(create_app(seed=7)).post("/api/v1/anomaly/detect", json={"metrics": [{"name": "cpu_usage", "value": 0.7}]}).json()
    assert a == b


def test_memory_slope_gives_time_to_exhaustion(client):
    body = {"issue_context": {"current_state": "degraded", "recent_events": [], "metrics": [{"name": "memory_usage", "value": 0.9}, {"name": "memory_trend_1h", "value": 0.05}]}}
    r = client.post("/api/v1/prediction/predict", json=body).json()
    assert r["predicted_issues"][0] == {"issue": "pod_oom", "probability": pytest.approx(0.95 * 2.718281828 ** (-2 / 18), abs=1e-3), "time_to_occurrence": "2h"}


def test_a_memory_time_series_is_fitted(client):
    t0 = datetime(2026, 1, 25, 8, tzinfo=timezone.utc)
    series = [{"name": "memory_usage", "value": 0.5 + 0.1 * h, "timestamp": (t0 + timedelta(hours=h)).isoformat()} for h in range(4)]
    r = client.post("/api/v1/prediction/predict", json={"issue_context": {"current_state": "degraded", "recent_events": [], "metrics": series}}).json()
    assert r["predicted_issues"][0]["issue"] == "pod_oom"
    assert r["predicted_issues"][0]["time_to_occurrence"] == "2h"  # 0.8 now, +0.1 per hour


def test_daily_events_and_their_followers(client):
    t0 = datetime(2026, 1, 20, 9, tzinfo=timezone.utc)
    events = []
    for d in range(4):
        events.append({"type": "high_cpu", "timestamp": (t0 + timedelta(days=d)).isoformat()})
        events.append({"type": "pod_restart", "timestamp": (t0 + timedelta(days=d, minutes=5)).isoformat()})
    r = client.post("/api/v1/pattern/analyze", json={"historical_data": {"time_range": "168h", "events": events, "metrics": []}}).json()
    assert {p["pattern"] for p in r["patterns"]} == {"daily_high_cpu", "daily_pod_restart"}
    assert any(c["source"] == "high_cpu" and c["target"] == "pod_restart" for c in r["correlations"])


def test_errors_have_the_documented_shapes(client):
    r = client.post("/api/v1/anomaly/detect", json={"metrics": [{"name": "", "value": 1}]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "metrics", 0, "name"]
    r = client.post("/api/v1/pattern/analyze", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code in (400, 422)
    r = client.get("/api/v1/nothing")
    assert r.status_code == 404
    assert r.json() == {"error": "Not Found"}


def test_go_durations_round_trip():
    assert parse_go_duration("1h30m") == 5400
    assert format_go_duration(5400) == "1h30m"
    assert format_go_duration(300) == "5m"
