"""Pattern analysis over history.

- ``daily_<type>``: an event type recurring in the same UTC hour on at least
  three distinct days; confidence is the share of its events in that hour.
- ``daily_spike``: a metric series whose mean in one UTC hour is more than two
  standard deviations above its overall mean, on at least two days.
- Correlations ``A -> B``: the Pearson correlation of the per-10-minute counts
  of two event types, B shifted one bucket after A, when at least 0.5.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .models import Correlation, Event, Metric, Pattern, PatternAnalyzeResponse, parse_go_duration

BUCKET_S = 600


def analyze(time_range: str, events: list[Event], metrics: list[Metric]) -> PatternAnalyzeResponse:
    window = parse_go_duration(time_range)
    timed = [(e.type, e.timestamp.timestamp()) for e in events if e.timestamp is not None]
    if timed:
        end = max(t for _, t in timed)
        timed = [(k, t) for k, t in timed if t >= end - window]
    patterns: list[Pattern] = []

    by_type: dict[str, list[float]] = defaultdict(list)
    for kind, t in timed:
        by_type[kind].append(t)
    for kind, times in by_type.items():
        hours: dict[int, set[int]] = defaultdict(set)
        for t in times:
            hours[int(t // 3600) % 24].add(int(t // 86400))
        for hour, days in sorted(hours.items()):
            if len(days) >= 3:
                share = sum(1 for t in times if int(t // 3600) % 24 == hour) / len(times)
                patterns.append(Pattern(pattern=f"daily_{kind}", confidence=round(share, 3), description=f"{kind} recurs around {hour:02d}:00 UTC on {len(days)} days"))

    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for m in metrics:
        if m.timestamp is not None:
            series[m.name].append((m.timestamp.timestamp(), m.value))
    for name, points in series.items():
        if len(points) < 8:
            continue
        values = np.array([v for _, v in points])
        mean, std = values.mean(), values.std()
        if std == 0:
            continue
        by_hour: dict[int, list[float]] = defaultdict(list)
        days_by_hour: dict[int, set[int]] = defaultdict(set)
        for t, v in points:
            by_hour[int(t // 3600) % 24].append(v)
            days_by_hour[int(t // 3600) % 24].add(int(t // 86400))
        for hour, vs in by_hour.items():
            z = (np.mean(vs) - mean) / std
            if z > 2 and len(days_by_hour[hour]) >= 2:
                patterns.append(Pattern(pattern="daily_spike", confidence=round(float(min(0.99, z / 4)), 3), description=f"{name} peaks around {hour:02d}:00 UTC"))

    correlations: list[Correlation] = []
    if timed:
        start = min(t for _, t in timed)
        n = int((max(t for _, t in timed) - start) // BUCKET_S) + 2
        counts = {k: np.zeros(n) for k in by_type}
        for k, t in timed:
            counts[k][int((t - start) // BUCKET_S)] += 1
        for a, ca in counts.items():
            for b, cb in counts.items():
                if a == b or len(by_type[a]) < 3:
                    continue
                # Same 10-minute bucket, or B one bucket after A.
                same = np.corrcoef(ca, cb)[0, 1] if ca.std() and cb.std() else 0.0
                a_then, b_next = ca[:-1], cb[1:]
                lagged = np.corrcoef(a_then, b_next)[0, 1] if a_then.std() and b_next.std() else 0.0
                r = float(max(same, lagged))
                if r >= 0.5:
                    correlations.append(Correlation(source=a, target=b, coefficient=round(min(1.0, r), 3)))
    patterns.sort(key=lambda p: -p.confidence)
    correlations.sort(key=lambda c: -c.coefficient)
    return PatternAnalyzeResponse(patterns=patterns, correlations=correlations)
