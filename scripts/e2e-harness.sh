#!/usr/bin/env bash
# The main job: bring the sample system up in containers with `harness up` (images built
# offline when missing), run the end-to-end suite (suites/e2e) through the gateway URL it
# printed, verify every pact against the running stack with
# `harness contract verify --attach ...`, check every service against its OpenAPI document
# with `harness contract openapi --url ...`, then stop harness with SIGTERM and check
# nothing is left behind.
#
# Usage: scripts/e2e-harness.sh [--manifest suites/stack.toml]
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=suites/stack.toml
[ "${1:-}" = --manifest ] && manifest=$2

say() { printf '[e2e-harness] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

say "building harness, the gateway (for tokens) and the contract suite's state server"
cargo build -q -p harness-cli -p gateway
# As harness.toml runs it (`cargo run -p contract-suite`), so that run compiles nothing.
cargo build -q --locked -p contract-suite --bin contract-states
bin="${CARGO_TARGET_DIR:-target}/debug"
work=$(mktemp -d)
env_file="$work/stack.env"

"$bin/harness" up --manifest "$manifest" --env-file "$env_file" >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
stop_harness() {
  if kill -0 "$up_pid" 2>/dev/null; then
    kill -TERM "$up_pid" 2>/dev/null || true
    wait "$up_pid" 2>/dev/null || true
  fi
}
trap stop_harness EXIT

# Image builds may take minutes on a fresh machine (Debian packages for the dependencies,
# a release build of the services); then start-up takes seconds.
for _ in $(seq 1 1800); do
  [ -s "$env_file" ] && break
  kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.out" "$work/up.err" >&2; fail "harness up exited before the stack was ready"; }
  sleep 1
done
[ -s "$env_file" ] || fail "the stack was not ready within 30 minutes"
cat "$work/up.out" >&2
run_id=$(sed -n 's/.*(run \([a-z0-9]*\)).*/\1/p' "$work/up.out")
# shellcheck disable=SC1090
. "$env_file"
say "gateway at $GATEWAY_URL (run $run_id)"

say "the end-to-end suite (suites/e2e) through the gateway"
# The workspace's test build (what the README's test command builds too), so nothing is
# compiled twice; the default filter leaves this suite out of the test command.
GATEWAY_URL="$GATEWAY_URL" HARNESS_LOGS_DIR="$PWD/reports/$run_id/logs" JWT_SECRET=harness-sample-secret \
  cargo nextest run --workspace --ignore-default-filter -E 'package(e2e-suite)' --no-fail-fast ||
  fail "the end-to-end suite failed"

say "verifying every pact against the running stack (harness contract verify --attach)"
attach=()
while IFS='=' read -r key url; do
  [ -n "$url" ] || continue
  name=$(tr '[:upper:]_' '[:lower:]-' <<<"${key%_URL}")
  attach+=(--attach "$name=$url")
done <"$env_file"
"$bin/harness" contract verify "${attach[@]}" || fail "harness contract verify failed (exit $?)"

say "checking every service against its OpenAPI document (harness contract openapi --url)"
for svc in payments inventory shipping orders gateway; do
  var="$(tr '[:lower:]-' '[:upper:]_' <<<"$svc")_URL"
  "$bin/harness" contract openapi --service "$svc" --url "${!var}" ||
    fail "harness contract openapi --service $svc failed (exit $?)"
done

say "stopping harness (SIGTERM)"
kill -TERM "$up_pid"
wait "$up_pid" || fail "harness up exited with $? after SIGTERM"
left=$(docker ps -aq --filter "label=dev.harness.run=$run_id" | wc -l)
nets=$(docker network ls -q --filter "label=dev.harness.run=$run_id" | wc -l)
[ "$left" = 0 ] && [ "$nets" = 0 ] || fail "run $run_id left $left container(s) and $nets network(s) behind"
say "SIGTERM removed every container and network of run $run_id"
say "main job passed"
