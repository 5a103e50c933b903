#!/usr/bin/env bash
# Harness's OpenAPI verifier beside Schemathesis 4.32.5 (from PyPI, in a virtualenv), side
# by side: the same documents (contracts/openapi), the same running stack (`harness up`), the
# same number of examples (MAX_EXAMPLES, default 100, Schemathesis's --max-examples), the same
# seed, the gateway with a token of the same customer (alice) and orders and shipping as the
# same X-Customer-Id, the gateway's rate limit raised (as harness.toml does for the checks). Once with every planted defect off, then once per defect (DEFECTS) with
# that one on (SAMPLE_DEFECTS in every service of the stack). For each service and defect it
# prints each tool's time and findings (Harness: `operation [check]`; Schemathesis: the
# failures it names), and writes them to $OUT/summary.md.
#
# Schemathesis runs with every check (`-c all`) and its default phases (examples, coverage,
# fuzzing, stateful); Harness with harness.toml's settings (two identities and bad
# credentials for the gateway, orders and shipping; the seed command) and no time budget to
# speak of. Neither tool is told about the defects.
#
# Usage: scripts/bench-verifier.sh
#   MAX_EXAMPLES=100 SEED=1 SERVICES="payments inventory orders shipping gateway"
#   DEFECTS="none bola-read bola-create ignore-expiry response-drift nul-500"
#   OUT=reports/bench-verifier HARNESS_BENCH_VENV=<target>/bench-venv
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

max=${MAX_EXAMPLES:-100}
seed=${SEED:-1}
services=${SERVICES:-"payments inventory orders shipping gateway"}
defects=${DEFECTS:-"none bola-read bola-create ignore-expiry response-drift nul-500"}
out=$(realpath -m "${OUT:-reports/bench-verifier}")
target=${CARGO_TARGET_DIR:-$root/target}
venv=${HARNESS_BENCH_VENV:-$target/bench-venv}
secret="harness-sample-stack-jwt-secret-for-tests-only" # suites/stack.toml's
scopes="orders:read orders:write catalog:read shipments:read"
mkdir -p "$out"

if [ ! -x "$venv/bin/st" ]; then
  echo "installing Schemathesis 4.32.5 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet schemathesis==4.32.5
fi
"$venv/bin/st" --version

cargo build --quiet --locked --workspace --bins
harness=$target/debug/harness
token() { JWT_SECRET=$secret "$target/debug/gateway" token --sub "$1" --scope "$scopes"; }

# Seconds since the epoch, with fractions.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

summary=$out/summary.md
{
  echo "# Harness's verifier beside Schemathesis 4.32.5"
  echo
  echo "max examples $max, seed $seed, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "| defect | service | Schemathesis | its findings | Harness | its findings | time ratio |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
} >"$summary"

up_pid=
stop_stack() {
  if [ -n "$up_pid" ]; then
    kill -INT "$up_pid" 2>/dev/null || true
    wait "$up_pid" 2>/dev/null || true
    up_pid=
  fi
}
trap stop_stack EXIT

for defect in $defects; do
  envfile=$out/$defect.env
  rm -f "$envfile"
  # The gateway's rate limit raised as harness.toml's [openapi.services.gateway.env] does,
  # for both tools.
  service_env="RATE_LIMIT_PER_SECOND=100000
RATE_LIMIT_BURST=100000"
  [ "$defect" = none ] || service_env="$service_env
SAMPLE_DEFECTS=$defect"
  echo "== $defect: starting the stack"
  HARNESS_SERVICE_ENV=$service_env "$harness" up --env-file "$envfile" >"$out/$defect-up.log" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 600); do
    [ -s "$envfile" ] && break
    kill -0 "$up_pid" 2>/dev/null || { cat "$out/$defect-up.log" >&2; exit 3; }
    sleep 1
  done
  [ -s "$envfile" ] || { echo "the stack did not start within 600s" >&2; exit 3; }
  # The stack's endpoints, as harness.toml's commands (the seed) get them.
  while IFS='=' read -r name url; do
    export "HARNESS_$name=$url" "$name=$url"
  done <"$envfile"

  for svc in $services; do
    var=$(echo "$svc" | tr '[:lower:]-' '[:upper:]_')_URL
    url=${!var}
    headers=()
    case $svc in
    gateway) headers=(-H "Authorization: Bearer $(token harness-alice)") ;;
    orders | shipping) headers=(-H "X-Customer-Id: harness-alice") ;;
    esac

    st_log=$out/$defect-$svc-schemathesis.log
    t0=$(now)
    # From the output folder: Schemathesis keeps its cache (.schemathesis/) where it runs.
    (cd "$out" && "$venv/bin/st" --no-color run "$root/contracts/openapi/$svc.json" --url "$url" \
      --max-examples "$max" --seed "$seed" --checks all "${headers[@]}") \
      >"$st_log" 2>&1 || true
    t1=$(now)
    # Schemathesis names each failure as a bulleted line ("- Server error", ...) under the
    # operation it failed on.
    st_found=$(grep -E '^(_+ .* _+|- [A-Z])' "$st_log" |
      awk '/^_+ /{gsub(/_/, ""); op=$0; next} {sub(/^- /, ""); print op ": " $0}' |
      sed 's/^ *//' | sort -u | paste -sd ';' - || true)

    h_log=$out/$defect-$svc-harness.log
    t2=$(now)
    "$harness" contract openapi --service "$svc" --url "$url" --max-examples "$max" \
      --seed "$seed" --time-budget 1800s >"$h_log" 2>&1 || true
    t3=$(now)
    h_found=$(grep -E '^[a-z_]+ \[[a-z_]+\]: ' "$h_log" | sed -E 's/^([a-z_]+ \[[a-z_]+\]).*/\1/' |
      sort -u | paste -sd ';' - || true)

    st_s=$(elapsed "$t0" "$t1")
    h_s=$(elapsed "$t2" "$t3")
    ratio=$(awk -v a="$h_s" -v b="$st_s" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-15s %-9s schemathesis %7ss  harness %7ss  (harness/schemathesis %s)\n' \
      "$defect" "$svc" "$st_s" "$h_s" "$ratio"
    printf '    schemathesis: %s\n    harness:      %s\n' "${st_found:-nothing}" "${h_found:-nothing}"
    echo "| $defect | $svc | ${st_s}s | ${st_found:-nothing} | ${h_s}s | ${h_found:-nothing} | $ratio |" >>"$summary"
  done
  stop_stack
done
echo "wrote $summary"
