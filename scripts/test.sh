#!/usr/bin/env bash
# Install everything, lint, then run the whole test suite (CI runs exactly this): the
# Python 3.11 environment first, then the 3.12 one for the openhands backend.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
export LITELLM_LOCAL_MODEL_COST_MAP=True
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
bash scripts/test_openhands.sh "$@"
