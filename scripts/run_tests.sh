#!/usr/bin/env bash
# The test suite: lint, the docs build (warnings are errors) and pytest, with AiiDA's
# configuration in a temporary folder so that nothing is written to ~/.aiida.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

"$VENV/bin/ruff" check src tests benchmarks examples
"$VENV/bin/ruff" format --check src tests benchmarks examples
"$VENV/bin/sphinx-build" -q -W --keep-going -b html docs docs/_build/html

AIIDA_PATH=$(mktemp -d /tmp/mlip-autopipe-tests.XXXXXX)
export AIIDA_PATH
trap 'rm -rf "$AIIDA_PATH"' EXIT
"$VENV/bin/pytest" "$@"
