"""Trend-based prediction: when will a resource run out, from its slope.

Memory and CPU are read from the request's metrics. With several samples of
one metric (a time series), the slope is a least-squares fit per hour; with
one sample, the ``*_trend_1h`` metric (or the 45-feature ``*_diff``, per
minute) gives it. Time to exhaustion is ``(1 - level) / slope``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .models import Metric, PredictedIssue, PredictResponse, format_go_duration

HORIZON_H = 24.0


def _series(metrics: list[Metric], names: tuple[str, ...]) -> list[tuple[float, float]]:
    by_name: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for m in metrics:
        if m.name in names:
            t = m.timestamp.timestamp() if m.timestamp else 0.0
            by_name[m.name].append((t, m.value))
    for n in names:
        if by_name[n]:
            return sorted(by_name[n])
    return []


def _level_and_slope(metrics: list[Metric], names: tuple[str, ...], trend: tuple[str, ...], per_minute: tuple[str, ...]):
    series = _series(metrics, names)
    if not series:
        return None, None
    level = series[-1][1]
    times = {t for t, _ in series}
    if len(times) >= 2:
        t = np.array([p[0] for p in series]) / 3600.0
        v = np.array([p[1] for p in series])
        slope = float(np.polyfit(t, v, 1)[0])
        return level, slope
    by_name = {m.name: m.value for m in metrics}
    for n in trend:
        if n in by_name:
            return level, by_name[n]
    for n in per_minute:
        if n in by_name:
            return level, by_name[n] * 60.0
    return level, None


def _exhaustion(level: float, slope: float | None) -> float | None:
    if slope is None or slope <= 0 or level >= 1:
        return 0.0 if level >= 1 else None
    return (1.0 - level) / slope


def _probability(hours: float) -> float:
    """Closer exhaustion is likelier: 0.95 now, 0.5 at 12h, ~0.1 at the 24h horizon."""
    return round(float(np.clip(0.95 * np.exp(-hours / 18.0), 0.05, 0.95)), 3)


def predict(metrics: list[Metric], recent_events: list[str]) -> PredictResponse:
    issues: list[PredictedIssue] = []
    actions: list[str] = []
    mem, mem_slope = _level_and_slope(
        metrics, ("memory_usage", "pod_memory_usage_value"), ("memory_trend_1h",), ("pod_memory_usage_diff",)
    )
    if mem is not None:
        hours = _exhaustion(mem, mem_slope)
        if hours is not None and hours <= HORIZON_H:
            issues.append(PredictedIssue(issue="pod_oom", probability=_probability(hours), time_to_occurrence=format_go_duration(hours * 3600)))
            actions += ["increase_memory_limit", "check_for_memory_leak"]
    cpu, cpu_slope = _level_and_slope(metrics, ("cpu_usage", "pod_cpu_usage_value"), ("cpu_trend_1h",), ("pod_cpu_usage_diff",))
    if cpu is not None:
        hours = _exhaustion(cpu, cpu_slope)
        if hours is not None and hours <= HORIZON_H:
            issues.append(PredictedIssue(issue="cpu_saturation", probability=_probability(hours), time_to_occurrence=format_go_duration(hours * 3600)))
            actions.append("add_hpa")
    restarts = sum(1 for e in recent_events if e == "pod_restart")
    if restarts:
        issues.append(PredictedIssue(issue="crash_loop", probability=round(min(0.9, 0.3 + 0.2 * restarts), 3), time_to_occurrence="10m"))
        actions.append("inspect_container_logs")
    issues.sort(key=lambda i: -i.probability)
    return PredictResponse(predicted_issues=issues, suggested_actions=list(dict.fromkeys(actions)))
