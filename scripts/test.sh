#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: a project venv (.venv), lint + mypy, then pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -k merge).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
PATH="$PWD/.venv/bin:$PATH" scripts/lint.sh
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    # pytest's "no tests were collected": a suite that ran nothing has not passed.
    echo "scripts/test.sh: pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
