#!/usr/bin/env bash
# Install sia (core + every plugin that runs on this Python) into .venv.
# torch comes first and pinned: a bare requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
# The local sandbox runs every agent and evaluator in bubblewrap; sia refuses to run an
# agent without it (unless --sandbox process is asked for by name).
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "warning: bubblewrap (bwrap) is missing: install it (apt-get install bubblewrap)" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }
pip install torch==2.13.0
plugins=()
for dir in plugins/*/; do
  # A plugin that needs a newer Python (openhands: >=3.12) is set up by its own tests.
  if .venv/bin/python - "$dir" <<'PY'
import sys, tomllib
from pip._vendor.packaging.specifiers import SpecifierSet  # a fresh venv has no packaging
spec = tomllib.load(open(sys.argv[1] + "pyproject.toml", "rb"))["project"].get("requires-python", "")
sys.exit(0 if SpecifierSet(spec).contains(".".join(map(str, sys.version_info[:3]))) else 1)
PY
  then plugins+=(-e "$dir"); fi
done
pip install -e ".[test,local]" "litellm==1.106.2" "${plugins[@]}"
echo "sia installed in .venv ($(.venv/bin/sia --version))"
