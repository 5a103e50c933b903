#!/usr/bin/env bash
# Validates every checked-in OpenAPI document (contracts/openapi/*.json) against the
# OpenAPI 3.0/3.1 specification with openapi-spec-validator (installed from PyPI if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import openapi_spec_validator' 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check openapi-spec-validator >/dev/null 2>&1 ||
  { echo "cannot install openapi-spec-validator: python3 -m pip install openapi-spec-validator" >&2; exit 3; }
python3 - contracts/openapi/*.json <<'PY'
import json, sys
from openapi_spec_validator import validate
failed = False
for path in sys.argv[1:]:
    try:
        doc = json.load(open(path))
        validate(doc)
        print(f"{path}: valid OpenAPI {doc['openapi']} ({len(doc['paths'])} paths)")
    except Exception as e:  # report every file, then fail
        failed = True
        print(f"{path}: INVALID: {e}", file=sys.stderr)
sys.exit(1 if failed else 0)
PY
