"""The contract document is valid, the seed's examples conform to it, and
the reference service's answers conform to it (schemathesis, over a real
socket)."""

from __future__ import annotations

import httpx
import jsonschema
import pytest
import schemathesis
from openapi_spec_validator import validate

from .conftest import SPEC_PATH, fixture_body


def validator(spec: dict, name: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_the_document_is_valid_openapi_3_1(spec):
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert spec["info"]["version"].split(".")[0] == "1"
    assert set(spec["paths"]) == {"/api/v1/anomaly/detect", "/api/v1/prediction/predict", "/api/v1/pattern/analyze", "/health"}


@pytest.mark.parametrize(
    "fixture,schema",
    [
        ("adr009_anomaly_detect_request.json", "AnomalyDetectRequest"),
        ("adr009_anomaly_detect_response.json", "AnomalyDetectResponse"),
        ("adr009_prediction_predict_response.json", "PredictResponse"),
        ("adr009_pattern_analyze_response.json", "PatternAnalyzeResponse"),
    ],
)
def test_the_seeds_examples_validate(spec, fixture, schema):
    validator(spec, schema).validate(fixture_body(fixture))


@pytest.mark.parametrize(
    "body,schema",
    [
        ({"metrics": [{"name": "cpu", "value": 1}], "threshold": 0.8}, "AnomalyDetectRequest"),  # the legacy Go client's field
        ({"metrics": [{"name": "", "value": 1}]}, "AnomalyDetectRequest"),
        ({"predicted_issues": [{"issue": "x", "probability": 0.5, "time_to_occurrence": "soon"}], "suggested_actions": []}, "PredictResponse"),
        ({"patterns": [{"pattern": "p", "confidence": 1.5}], "correlations": []}, "PatternAnalyzeResponse"),
    ],
)
def test_bodies_that_break_the_contract_are_rejected(spec, body, schema):
    assert list(validator(spec, schema).iter_errors(body)), f"{body} should not validate as {schema}"


def test_the_legacy_go_client_shape_is_not_the_contract(spec):
    assert list(validator(spec, "AnomalyDetectRequest").iter_errors(fixture_body("goclient_anomaly_detect_request.json")))


schema = schemathesis.openapi.from_path(SPEC_PATH)


@schema.parametrize()
def test_the_reference_service_conforms(case, service_url):
    # Generated requests (valid and invalid): every answer must match the document.
    case.call_and_validate(base_url=service_url)


def test_the_reference_service_answers_the_seed(service_url):
    r = httpx.post(f"{service_url}/api/v1/anomaly/detect", json=fixture_body("adr009_anomaly_detect_request.json"))
    assert r.status_code == 200
    assert r.json()["anomaly_detected"] is True
