"""The FastAPI application: the endpoints of openapi/ml-service.yaml."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .anomaly import AnomalyDetector
from .models import (
    AnomalyDetectRequest,
    AnomalyDetectResponse,
    PatternAnalyzeRequest,
    PatternAnalyzeResponse,
    PredictRequest,
    PredictResponse,
)
from .patterns import analyze
from .predictor import predict


def create_app(seed: int = 42) -> FastAPI:
    app = FastAPI(title="AIOps ML service (reference)", version="1.0.0", openapi_url=None, docs_url=None, redoc_url=None)
    detector = AnomalyDetector(seed=seed)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, e: HTTPException) -> JSONResponse:
        # Body parse errors, unknown paths, wrong methods: the document's {"error": ...} shape.
        return JSONResponse(status_code=e.status_code, content={"error": str(e.detail)}, headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def failure(_: Request, e: Exception) -> JSONResponse:
        return JSONResponse(status_code=500, content={"error": f"{type(e).__name__}: {e}"})

    @app.post("/api/v1/anomaly/detect", response_model=AnomalyDetectResponse)
    def detect(req: AnomalyDetectRequest) -> AnomalyDetectResponse:
        return detector.detect(req.metrics)

    @app.post("/api/v1/prediction/predict", response_model=PredictResponse, response_model_exclude_none=True)
    def prediction(req: PredictRequest) -> PredictResponse:
        return predict(req.issue_context.metrics, req.issue_context.recent_events)

    @app.post("/api/v1/pattern/analyze", response_model=PatternAnalyzeResponse, response_model_exclude_none=True)
    def patterns(req: PatternAnalyzeRequest) -> PatternAnalyzeResponse:
        h = req.historical_data
        return analyze(h.time_range, h.events, h.metrics)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "models": {"anomaly": "isolation-forest", "prediction": "trend", "patterns": "periodicity"}}

    return app
