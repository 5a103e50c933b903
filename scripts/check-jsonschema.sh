#!/usr/bin/env bash
# Runs check-jsonschema (from PyPI, into a virtual environment under target/ when it is not
# on PATH) with the given arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=$(command -v check-jsonschema || true)
if [ -z "$tool" ]; then
  venv="${CARGO_TARGET_DIR:-target}/check-jsonschema-venv"
  if [ ! -x "$venv/bin/check-jsonschema" ]; then
    python3 -m venv "$venv" &&
      "$venv/bin/pip" install -q --disable-pip-version-check check-jsonschema >/dev/null 2>&1 ||
      { echo "cannot install check-jsonschema: python3 -m pip install check-jsonschema" >&2; exit 3; }
  fi
  tool="$venv/bin/check-jsonschema"
fi
exec "$tool" "$@"
