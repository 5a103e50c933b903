#!/usr/bin/env bash
# The load runner's efficiency against wrk, measured in one run on this machine: one fixed
# endpoint (GET /health/live of the sample payments service, in its container, published on
# 127.0.0.1) driven for the same time with the same number of connections, first by the
# harness load runner (goose through harness::load::goose, release build of
# suites/load's `fixed` binary, as `harness load` starts a suite), then by wrk (Debian's
# package). Prints both request rates and the ratio.
#
# Usage: scripts/bench-load.sh [CONNECTIONS] [SECONDS]   (defaults 32 and 15)
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-32}
secs=${2:-15}
say() { printf '[bench-load] %s\n' "$*" >&2; }

command -v wrk >/dev/null || { say "installing wrk (Debian package)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v python3 >/dev/null || { say "python3 is needed to read the results"; exit 3; }

say "building the harness CLI (debug: it only starts the container) and the load runner (release)"
cargo build -q -p harness-cli --bin harness
cargo build -q --release -p load-suite --bin fixed
target_dir="${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d)
up_pid=
cleanup() { [ -n "$up_pid" ] && kill -INT "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

say "starting payments in its container"
"$target_dir/debug/harness" up --manifest suites/stack.toml --only payments --env-file "$work/env" >"$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 600); do [ -s "$work/env" ] && break; sleep 0.5; done
[ -s "$work/env" ] || { cat "$work/up.log" >&2; say "payments did not come up"; exit 1; }
url=$(sed -n 's/^PAYMENTS_URL=//p' "$work/env")
say "target: $url/health/live, $conns connections, ${secs}s each"

say "harness load runner (goose): $conns users, 1 s warm-up + ${secs}s"
HARNESS_LOAD_TARGET="$url" HARNESS_LOAD_USERS="$conns" HARNESS_LOAD_WARMUP_SECS=1 \
  HARNESS_LOAD_DURATION_SECS="$secs" HARNESS_LOAD_OUTPUT="$work/results.json" \
  "$target_dir/release/fixed" >"$work/goose.log" 2>&1 || { cat "$work/goose.log" >&2; exit 1; }
read -r goose_rps goose_cpu goose_p99 < <(python3 - "$work/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a = r["measurements"]["all"]
rps = a["requests"] / a["elapsed"]
# The histogram's buckets: [[lowest value of the bucket in us, count], ...].
b = sorted(a["latency"]); n = sum(c for _, c in b); seen = 0; p99 = 0
for v, c in b:
    seen += c
    if seen >= 0.99 * n:
        p99 = v; break
print(f'{rps:.0f} {r["generator"]["cpu_avg"]:.0f} {p99/1000:.2f}')
PY
)

say "wrk: $conns connections, 2 threads, ${secs}s"
wrk -t2 -c"$conns" -d"${secs}s" --latency "$url/health/live" >"$work/wrk.out"
wrk_rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/wrk.out")
wrk_p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")

ratio=$(python3 -c "print(f'{$goose_rps / $wrk_rps * 100:.0f}')")
printf '\n%-28s %10s %10s\n' "runner" "requests/s" "p99"
printf '%-28s %10s %10s\n' "harness load (goose)" "$goose_rps" "${goose_p99}ms"
printf '%-28s %10s %10s\n' "wrk" "$wrk_rps" "$wrk_p99"
printf 'ratio: %s%% of wrk (goose generator CPU %s%% of one core on average; %s cores)\n' "$ratio" "$goose_cpu" "$(nproc)"
