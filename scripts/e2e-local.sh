#!/usr/bin/env bash
# End-to-end run of the sample system on local PostgreSQL and RabbitMQ (no containers):
# starts the five services, checks that each serves the OpenAPI document checked in under
# contracts/openapi/, then runs the end-to-end suite (suites/e2e) through the gateway.
#
# Usage: scripts/e2e-local.sh [--release] [--bin-dir DIR]
#   E2E_PORT_BASE (default 18080) picks the ports: gateway +0, orders +1, payments +2,
#   inventory +3, shipping +4. Logs go to .e2e/logs/<service>.log.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
bin_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release; shift ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[e2e] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

scripts/dev-deps.sh

services=(gateway orders payments inventory shipping)
if [ -z "$bin_dir" ]; then
  if [ "$profile" = release ]; then
    say "building the services (release)"
    cargo build -q --release $(printf -- '-p %s ' "${services[@]}")
  else
    # The workspace's build, as the main job and the test command make it: one build whose
    # features are the workspace's (a build of the five services alone would unify other
    # features and compile many dependencies a second time).
    say "building the workspace and its tests (debug; the services among them)"
    cargo build -q --workspace --all-targets
  fi
  bin_dir="${CARGO_TARGET_DIR:-target}/$profile"
fi

base=${E2E_PORT_BASE:-18080}
declare -A port=([gateway]=$base [orders]=$((base+1)) [payments]=$((base+2)) [inventory]=$((base+3)) [shipping]=$((base+4)))
run_id="e2e$(date +%s)"
logs=.e2e/logs; mkdir -p "$logs"
pg="postgres://postgres:postgres@127.0.0.1:5432"
# A RabbitMQ virtual host per run: queues declared by an earlier run (or by an older version
# of the services, with other arguments) never meet this one's.
vhost="e2e-$run_id"
rabbitmqctl_() { if [ "$(id -u)" -eq 0 ]; then rabbitmqctl "$@"; else sudo rabbitmqctl "$@"; fi; }
rabbitmqctl_ -q add_vhost "$vhost" >/dev/null
rabbitmqctl_ -q set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null
amqp="amqp://guest:guest@127.0.0.1:5672/$vhost"
# The gateway refuses a JWT_SECRET shorter than 32 bytes: this one is 57, random per run.
secret="e2e-secret-$run_id-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for db in inventory payments shipping orders; do
    PGPASSWORD=postgres psql -qh 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS ${db}_$run_id WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rabbitmqctl_ -q delete_vhost "$vhost" >/dev/null 2>&1 || true
}
trap cleanup EXIT

start() {
  local name=$1; shift
  env PORT="${port[$name]}" RUST_LOG=info "$@" "$bin_dir/$name" >"$logs/$name.log" 2>&1 &
  pids+=($!)
}
# One database per service; the run id keeps runs apart.
start inventory DATABASE_URL="$pg/inventory_$run_id"
start payments DATABASE_URL="$pg/payments_$run_id"
start shipping DATABASE_URL="$pg/shipping_$run_id" AMQP_URL="$amqp"
start orders DATABASE_URL="$pg/orders_$run_id" AMQP_URL="$amqp" \
  INVENTORY_URL="http://127.0.0.1:${port[inventory]}" PAYMENTS_URL="http://127.0.0.1:${port[payments]}"
start gateway JWT_SECRET="$secret" ORDERS_URL="http://127.0.0.1:${port[orders]}" \
  INVENTORY_URL="http://127.0.0.1:${port[inventory]}" SHIPPING_URL="http://127.0.0.1:${port[shipping]}"


for name in "${services[@]}"; do
  url="http://127.0.0.1:${port[$name]}/health/ready"
  for i in $(seq 1 120); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)
    [ "$code" = 200 ] && break
    [ "$i" = 120 ] && { tail -n 50 "$logs/$name.log" >&2; fail "$name not ready after 60 s ($url -> $code)"; }
    sleep 0.5
  done
  say "$name ready on :${port[$name]}"
done

# Each running service serves exactly the checked-in OpenAPI document.
for name in "${services[@]}"; do
  curl -sf "http://127.0.0.1:${port[$name]}/openapi.json" | python3 -c "
import json, sys
served = json.load(sys.stdin)
checked_in = json.load(open('contracts/openapi/$name.json'))
sys.exit(0 if served == checked_in else 1)" || fail "$name serves an /openapi.json that differs from contracts/openapi/$name.json"
done
say "all five services serve their checked-in OpenAPI documents"

# The end-to-end suite against the local processes (the workspace's test build, as the
# README's test command builds it, so nothing is compiled twice).
# The suite's tests that stop services start stacks of their own (containers, whatever
# GATEWAY_URL says): they belong to the main job, which runs them once; here only the tests
# of the processes above run.
own_stacks='test(=an_outage_of_payments_or_orders_leaves_the_catalogue_and_readiness_up) | test(=a_broker_restart_under_traffic_loses_no_order) | test(=a_payments_outage_leaves_orders_pending_then_every_one_is_confirmed_once)'
GATEWAY_URL="http://127.0.0.1:${port[gateway]}" JWT_SECRET="$secret" HARNESS_LOGS_DIR="$PWD/$logs" \
  cargo nextest run --workspace --ignore-default-filter -E "package(e2e-suite) & not ($own_stacks)" --no-fail-fast ||
  fail "the end-to-end suite failed against the local processes"
