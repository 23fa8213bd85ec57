"""python -m ml_service [--host 127.0.0.1] [--port 8080]"""

import argparse

import uvicorn

from .app import create_app


def main() -> None:
    p = argparse.ArgumentParser(description="AIOps ML service (ADR-009 reference implementation)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    uvicorn.run(create_app(a.seed), host=a.host, port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
