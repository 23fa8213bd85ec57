"""Request and response models, mirroring openapi/ml-service.yaml."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Seconds in a Go-style duration such as ``5m`` or ``1h30m``."""
    if not GO_DURATION.match(text):
        raise ValueError(f"not a Go duration: {text!r}")
    return sum(float(n) * _UNITS[u] for n, _, u in re.findall(r"([0-9]+(\.[0-9]+)?)(ns|us|µs|ms|s|m|h)", text))


def format_go_duration(seconds: float) -> str:
    """``300`` -> ``5m``, ``5400`` -> ``1h30m``: largest units first, zero parts left out."""
    s = max(0, int(round(seconds)))
    if s == 0:
        return "0s"
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        n, s = divmod(s, size)
        if n:
            out += f"{n}{unit}"
    return out


def _rfc3339(v: object) -> object:
    """Only RFC 3339 strings with a zone are timestamps (no epoch numbers, no naive times)."""
    if not isinstance(v, str):
        raise ValueError("must be an RFC 3339 date-time string")
    t = datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError("must carry a time zone (e.g. Z)")
    return t


RFC3339 = Annotated[datetime, BeforeValidator(_rfc3339)]


class Strict(BaseModel):
    """Request models: unknown fields and explicit nulls are refused (the document has neither)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def no_nulls(cls, data: object) -> object:
        if isinstance(data, dict):
            for key, value in data.items():
                if value is None and key in cls.model_fields:
                    raise ValueError(f"{key} must not be null")
        return data


class Metric(Strict):
    name: str = Field(min_length=1, max_length=256)
    value: float
    timestamp: RFC3339 | None = None

    @field_validator("value")
    @classmethod
    def finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class WorkloadContext(Strict):
    namespace: str
    resource: str
    pod: str | None = None


class AnomalyDetectRequest(Strict):
    metrics: list[Metric]
    context: WorkloadContext | None = None


class AnomalyDetectResponse(BaseModel):
    anomaly_detected: bool
    confidence: float = Field(ge=0, le=1)
    anomaly_score: float
    recommendations: list[str]


class IssueContext(Strict):
    current_state: str = Field(max_length=256)
    recent_events: list[str]
    metrics: list[Metric]

    @field_validator("recent_events")
    @classmethod
    def events_named(cls, v: list[str]) -> list[str]:
        for e in v:
            if not 1 <= len(e) <= 256:
                raise ValueError("event names must be 1 to 256 characters")
        return v


class PredictRequest(Strict):
    issue_context: IssueContext
    context: WorkloadContext | None = None


class PredictedIssue(BaseModel):
    issue: str
    probability: float = Field(ge=0, le=1)
    time_to_occurrence: str | None = None


class PredictResponse(BaseModel):
    predicted_issues: list[PredictedIssue]
    suggested_actions: list[str]


class Event(Strict):
    type: str = Field(min_length=1, max_length=256)
    timestamp: RFC3339 | None = None
    namespace: str | None = None
    resource: str | None = None
    value: float | None = None


class HistoricalData(Strict):
    time_range: str = Field(pattern=GO_DURATION.pattern)
    events: list[Event]
    metrics: list[Metric]


class PatternAnalyzeRequest(Strict):
    historical_data: HistoricalData
    context: WorkloadContext | None = None


class Pattern(BaseModel):
    pattern: str
    confidence: float = Field(ge=0, le=1)
    description: str | None = None


class Correlation(BaseModel):
    source: str
    target: str
    coefficient: float = Field(ge=-1, le=1)


class PatternAnalyzeResponse(BaseModel):
    patterns: list[Pattern]
    correlations: list[Correlation]
