#!/usr/bin/env bash
# The openhands backend needs Python >= 3.12: a second environment, .venv312, with the core
# (no torch, no local extra) and that plugin, runs its tests and the core's fast tests.
set -euo pipefail
cd "$(dirname "$0")/.."
find_python312() {
  local candidate
  for candidate in "${PYTHON312:-}" python3.12 "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12 \
      "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do
    if [ -n "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
if [ ! -x .venv312/bin/python ]; then
  if ! python312=$(find_python312); then
    echo "error: no Python 3.12 found for the openhands backend's tests; set PYTHON312=/path/to/python3.12" >&2
    exit 1
  fi
  "$python312" -m venv .venv312
fi
pip() { .venv312/bin/python -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }
pip install -e . -e plugins/sia_backend_openhands "pytest>=8" "pytest-timeout>=2.3"
if .venv312/bin/python -c "import torch" 2>/dev/null; then
  echo "error: torch is installed in .venv312; this environment must work without it" >&2
  exit 1
fi
export LITELLM_LOCAL_MODEL_COST_MAP=True OPENHANDS_SUPPRESS_BANNER=1
.venv312/bin/python -m pytest -q -p no:cacheprovider "$@" \
  plugins/sia_backend_openhands tests/test_task.py tests/test_gateway.py tests/test_agent_session.py
