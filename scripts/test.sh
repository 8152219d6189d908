#!/usr/bin/env bash
# Install everything, lint, then run the whole test suite (CI runs exactly this): the
# Python 3.11 environment first, then the 3.12 one for the openhands backend.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The report tests open pages in a real browser: Debian's chromium, headless.
if [ -z "${SIA_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: chromium is missing, so the report tests will fail: apt-get install chromium" >&2
  fi
fi
.venv/bin/ruff check .
export LITELLM_LOCAL_MODEL_COST_MAP=True
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=25 "$@"
bash scripts/test_openhands.sh "$@"
