#!/usr/bin/env bash
# Builds the five sample services, the harness's mock server and its contract broker as static binaries (glibc, crt-static) for
# x86_64-unknown-linux-gnu and checks with ldd that each is statically linked.
# Output: target/x86_64-unknown-linux-gnu/release/<service>
set -euo pipefail
cd "$(dirname "$0")/.."
services=(gateway orders payments inventory shipping)
target=x86_64-unknown-linux-gnu
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target "$target" $(printf -- '-p %s ' "${services[@]}")
# The mock server of stacks (a helper of the harness), in a build of its own as stacks build
# it: built with the services, features would mix and change both binaries.
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target "$target" -p harness-mock
# The contract broker's image (harness/crates/broker/Dockerfile), built alone as stacks build it.
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target "$target" -p harness-broker
dir="${CARGO_TARGET_DIR:-target}/$target/release"
for s in "${services[@]}" harness-mock harness-broker; do
  out=$(ldd "$dir/$s" 2>&1 || true)
  case "$out" in
    *"not a dynamic executable"*|*"statically linked"*) printf '%-10s static  %s\n' "$s" "$(du -h "$dir/$s" | cut -f1)" ;;
    *) printf '%s is NOT statically linked:\n%s\n' "$s" "$out" >&2; exit 1 ;;
  esac
done
