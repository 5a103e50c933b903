#!/usr/bin/env bash
# A team that only needs stacks depends on the `harness` facade with default features: check
# that this compiles none of the heavy crates later capabilities bring (Pact, OpenAPI, goose,
# wiremock, testcontainers and its BuildKit stack). Extend HEAVY as crates arrive.
#
# It makes a throwaway crate outside the workspace that depends on the facade by path, and
# reads `cargo tree` of its normal and build dependencies (offline; versions from this
# workspace's lock).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
HEAVY=(pact_consumer pact_verifier pact_models pact_matching pact_mock_server pact-plugin-driver jsonschema proptest openapiv3 goose wiremock testcontainers tonic sqlx libsqlite3-sys)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cat >"$work/Cargo.toml" <<TOML
[package]
name = "facade-user"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
harness = { path = "$root/harness" }

[workspace]
TOML
: >"$work/src/lib.rs"
cp Cargo.lock "$work/Cargo.lock"
tree=$(cargo tree --offline --manifest-path "$work/Cargo.toml" -e normal,build --prefix none --format '{p}' | sed 's/ (.*//' | sort -u)
found=0
for crate in "${HEAVY[@]}"; do
  if grep -q "^$crate v" <<<"$tree"; then
    echo "check-deps: the facade with default features pulls in $crate:" >&2
    cargo tree --offline --manifest-path "$work/Cargo.toml" -e normal,build -i "$crate" >&2 || true
    found=1
  fi
done
[ "$found" = 0 ] || exit 1
echo "check-deps: harness (default features) pulls in none of: ${HEAVY[*]} ($(wc -l <<<"$tree") crates in its tree)"

# Mocks without Pact: the `mock` feature alone must not compile the Pact crates.
sed -i 's|^harness = .*|harness = { path = "'"$root"'/harness", default-features = false, features = ["mock"] }|' "$work/Cargo.toml"
tree=$(cargo tree --offline --manifest-path "$work/Cargo.toml" -e normal,build --prefix none --format '{p}' | sed 's/ (.*//' | sort -u)
for crate in pact_consumer pact_verifier pact_models pact_matching pact_mock_server; do
  if grep -q "^$crate v" <<<"$tree"; then
    echo "check-deps: harness with only the mock feature pulls in $crate:" >&2
    cargo tree --offline --manifest-path "$work/Cargo.toml" -e normal,build -i "$crate" >&2 || true
    exit 1
  fi
done
echo "check-deps: harness with only the mock feature pulls in no Pact crate ($(wc -l <<<"$tree") crates in its tree)"
