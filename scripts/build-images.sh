#!/usr/bin/env bash
# Builds a FROM scratch image per sample service from its static binary, with no registry:
# harness-sample/<service>:<first 12 hex of the binary's sha256>, also tagged :latest.
# An unchanged binary keeps its tag, so nothing is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-static.sh
# The profile of the image set (Cargo.toml, [workspace.metadata.harness.images]).
profile=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["metadata"]["harness"]["images"].get("profile", "release"))')
dir="${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/$profile"
for s in gateway orders payments inventory shipping; do
  tag="harness-sample/$s:$(sha256sum "$dir/$s" | cut -c1-12)"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag (unchanged)"
  else
    ctx=$(mktemp -d)
    cp "$dir/$s" "$ctx/$s"
    DOCKER_BUILDKIT=0 docker build -q -f "sample-services/$s/Dockerfile" -t "$tag" "$ctx" >/dev/null 2>&1 ||
      { echo "docker build of $s failed" >&2; rm -rf "$ctx"; exit 1; }
    rm -rf "$ctx"
    echo "$tag (built)"
  fi
  docker tag "$tag" "harness-sample/$s:latest"
done
