#!/usr/bin/env bash
# Apply ruff's fixes and formatting.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m ruff check --fix src tests scripts
python -m ruff format src tests scripts
