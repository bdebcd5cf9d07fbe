#!/usr/bin/env bash
# Lint, format check and strict type check. Run from anywhere; uses the active Python.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m ruff check src tests scripts
python -m ruff format --check src tests scripts
python -m mypy
