#!/usr/bin/env bash
# Runs the reference Python ML service (the REST contract of ADR-009) on
# 127.0.0.1:8080, creating .venv first if needed: `npm run ml-service`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
cd python
exec ../.venv/bin/python -m ml_service "$@"
