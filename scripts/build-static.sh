#!/usr/bin/env bash
# Builds the workspace's image set as static binaries (glibc, crt-static) for
# x86_64-unknown-linux-gnu, exactly as Harness builds them for a stack: the packages and the
# cargo profile of [workspace.metadata.harness.images] in the root Cargo.toml (the five
# sample services) in ONE cargo build, then the mock server and the contract broker each in
# its own; then checks with ldd that each is statically linked. Any stack's image build
# afterwards finds them fresh.
# Output: target/x86_64-unknown-linux-gnu/<profile>/<package>
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
read -r profile packages < <(python3 - <<'PY'
import tomllib
images = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["metadata"]["harness"]["images"]
print(images.get("profile", "release"), " ".join(images["packages"]))
PY
)
helpers=(harness-mock harness-broker)
build() { RUSTFLAGS='-C target-feature=+crt-static' cargo build --profile "$profile" --target "$target" "$@"; }
# The set in one build; each of Harness's helpers in its own (their features must not mix
# into the services': see Cargo.toml).
build $(printf -- '-p %s ' $packages)
for h in "${helpers[@]}"; do build -p "$h"; done
dir="${CARGO_TARGET_DIR:-target}/$target/$profile"
for s in $packages "${helpers[@]}"; do
  out=$(ldd "$dir/$s" 2>&1 || true)
  case "$out" in
    *"not a dynamic executable"*|*"statically linked"*) printf '%-15s static  %s\n' "$s" "$(du -h "$dir/$s" | cut -f1)" ;;
    *) printf '%s is NOT statically linked:\n%s\n' "$s" "$out" >&2; exit 1 ;;
  esac
done
