#!/usr/bin/env bash
# Checks .github/workflows/*.yml against the GitHub workflow JSON Schema (the copy vendored
# by check-jsonschema, so nothing is fetched), since the workflow cannot run here.
# check-jsonschema comes from PyPI, into a virtual environment under target/ when missing.
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
"$tool" --builtin-schema vendor.github-workflows .github/workflows/*.yml
