#!/usr/bin/env bash
# Checks .github/workflows/*.yml against the GitHub workflow JSON Schema (the copy vendored
# by check-jsonschema, so nothing is fetched), since the workflow cannot run here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/check-jsonschema.sh --builtin-schema vendor.github-workflows .github/workflows/*.yml
