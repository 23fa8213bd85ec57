"""Shared fixtures: the contract document, the seed's bodies, and a running reference service."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi" / "ml-service.yaml"
FIXTURES = ROOT / "test" / "fixtures" / "adr-009"


@pytest.fixture(scope="session")
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text())


def fixture_body(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session")
def service_url() -> str:
    """The reference service on a free loopback port, over a real socket."""
    from ml_service.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("reference service did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
