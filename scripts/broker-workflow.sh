#!/usr/bin/env bash
# The contract broker workflow on the sample system, end to end, with Harness's own broker:
#
#   1. `harness broker serve` on a free port and a SQLite file in a temporary folder (stopped
#      when the script ends, whatever happens);
#   2. `harness contract publish`: every pact in contracts/pacts as version V (the git
#      commit, else 1.0.0) on branch main;
#   3. `harness contract verify --broker --publish-results --version V --provider-branch main`:
#      the sample stack comes up (Docker; minutes the first time, when the images are
#      built), each provider is verified against the pacts the broker selects, and the
#      results go back to the broker;
#   4. `harness contract record-deployment`: every consumer and provider at V to production
#      (the environment is created by the first one);
#   5. `harness contract can-i-deploy --pacticipant gateway --version V --to-environment
#      production`: expected yes (exit 0);
#   6. then a "no": gateway V-next with a changed pact nobody verified: expected exit 1.
#
# With --no-verify, step 3 is skipped (no Docker needed): nothing is verified, so providers
# have no versions (recording one is exit 2: "publish it first") and can-i-deploy says no.
# The script exits non-zero as soon as an expectation fails, printing the command's output.
#
# Usage: scripts/broker-workflow.sh [--no-verify]
# KEEP_BROKER=1 leaves the broker running at the end (to look at it, e.g. with
# scripts/broker-screenshot.sh URL).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[broker-workflow] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

verify=1
case "${1:-}" in
  --no-verify) verify=0 ;;
  "") ;;
  *) fail "unknown argument $1 (usage: scripts/broker-workflow.sh [--no-verify])" ;;
esac

say "building harness"
# The main job's build (scripts/e2e-harness.sh): nothing to do after it.
cargo build -q --workspace --all-targets
harness="${CARGO_TARGET_DIR:-target}/debug/harness"
work=$(mktemp -d)
broker_pid=
stop_broker() {
  if [ "${KEEP_BROKER:-0}" = 1 ] && [ -n "$broker_pid" ]; then
    say "KEEP_BROKER=1: the broker stays up at ${url:-?} (pid $broker_pid, data in $work); kill $broker_pid stops it"
    return
  fi
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_broker EXIT

# Nothing of the caller's broker settings: this script's broker is open.
unset PACT_BROKER_TOKEN PACT_BROKER_USERNAME PACT_BROKER_PASSWORD \
  HARNESS_BROKER_READ_CREDENTIALS HARNESS_BROKER_WRITE_CREDENTIALS

say "harness broker serve (a free port, $work/broker.db)"
"$harness" broker serve --port 0 --db "sqlite://$work/broker.db" >"$work/broker.out" 2>&1 &
broker_pid=$!
url=
for _ in $(seq 300); do
  url=$(grep -o 'http://[0-9.]*:[0-9]*' "$work/broker.out" | head -1 || true)
  [ -n "$url" ] && break
  kill -0 "$broker_pid" 2>/dev/null || { cat "$work/broker.out" >&2; fail "the broker exited"; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/broker.out" >&2; fail "the broker printed no URL within 30s"; }
curl -fsS "$url/health" >/dev/null || fail "$url/health does not answer"
cat "$work/broker.out" >&2
export PACT_BROKER_BASE_URL="$url"

# expect CODE WHAT COMMAND...: runs the command, prints its output, fails unless it exits CODE.
expect() {
  local want=$1 what=$2 code
  shift 2
  say "$what: $*"
  set +e
  "$@" >"$work/out" 2>&1
  code=$?
  set -e
  sed 's/^/    /' "$work/out" >&2
  [ "$code" = "$want" ] || fail "$what exited $code, expected $want"
}

version=$(git rev-parse --short=12 HEAD 2>/dev/null || echo 1.0.0)
consumers="gateway orders shipping"
providers="inventory orders payments shipping"

expect 0 "publish the pacts as version $version" \
  "$harness" contract publish --version "$version" --branch main
count=$(curl -fsS "$url/pacts/latest" | { grep -o '"createdAt"' || true; } | wc -l)
[ "$count" -ge "$(ls contracts/pacts/*.json | wc -l)" ] || fail "the broker lists $count latest pacts"

if [ "$verify" = 1 ]; then
  expect 0 "verify the providers against the broker's pacts, publishing the results" \
    "$harness" contract verify --broker "$url" --publish-results --version "$version" --provider-branch main
  grep -q 'verification result published' "$work/out" || fail "no verification result was published"
  for p in $(echo "$consumers $providers" | tr ' ' '\n' | sort -u); do
    expect 0 "record the deployment of $p" \
      "$harness" contract record-deployment --pacticipant "$p" --version "$version" --environment production
  done
  expect 0 "can gateway $version go to production (yes)" \
    "$harness" contract can-i-deploy --pacticipant gateway --version "$version" --to-environment production
  grep -q 'All required verification results are published and successful' "$work/out" ||
    fail "can-i-deploy said yes without saying why"
else
  for c in $consumers; do
    expect 0 "record the deployment of $c" \
      "$harness" contract record-deployment --pacticipant "$c" --version "$version" --environment production
  done
  expect 2 "record the deployment of payments, never verified (no such version)" \
    "$harness" contract record-deployment --pacticipant payments --version "$version" --environment production
  grep -q 'publish it first' "$work/out" || fail "record-deployment did not say to publish first"
  expect 1 "can gateway $version go to production (no: nothing verified)" \
    "$harness" contract can-i-deploy --pacticipant gateway --version "$version" --to-environment production
fi

# A "no": gateway's next version changes a pact, and nobody verified the change.
mkdir "$work/next"
cp contracts/pacts/gateway-*.json "$work/next/"
sed -i '0,/"description": "/s//"description": "(next) /' "$work/next/gateway-orders.json"
expect 0 "publish gateway $version-next with a changed pact" \
  "$harness" contract publish --version "$version-next" --branch feature --pacts "$work/next"
expect 1 "can gateway $version-next go to production (no: its changed pact is not verified)" \
  "$harness" contract can-i-deploy --pacticipant gateway --version "$version-next" --to-environment production
grep -q 'no verified pact' "$work/out" || fail "can-i-deploy said no without the reason"

say "the broker workflow held: publish, $([ "$verify" = 1 ] && echo "verify with published results, ")record-deployment, can-i-deploy $([ "$verify" = 1 ] && echo "yes and no" || echo "no")"
