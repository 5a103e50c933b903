#!/usr/bin/env bash
# End-to-end run of the sample system on local PostgreSQL and RabbitMQ (no containers):
# starts the five services, places an order through the gateway with a valid token, and
# waits until it is CONFIRMED and a shipment exists. Also checks that each running
# service serves the OpenAPI document checked in under contracts/openapi/.
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
  say "building the services ($profile)"
  flags=(); [ "$profile" = release ] && flags=(--release)
  cargo build -q "${flags[@]}" $(printf -- '-p %s ' "${services[@]}")
  bin_dir="${CARGO_TARGET_DIR:-target}/$profile"
fi

base=${E2E_PORT_BASE:-18080}
declare -A port=([gateway]=$base [orders]=$((base+1)) [payments]=$((base+2)) [inventory]=$((base+3)) [shipping]=$((base+4)))
run_id="e2e$(date +%s)"
logs=.e2e/logs; mkdir -p "$logs"
pg="postgres://postgres:postgres@127.0.0.1:5432"
amqp="amqp://guest:guest@127.0.0.1:5672/%2f"
secret="e2e-secret-$run_id"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for db in inventory shipping orders; do
    PGPASSWORD=postgres psql -qh 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS ${db}_$run_id WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

start() {
  local name=$1; shift
  env PORT="${port[$name]}" RUST_LOG=info "$@" "$bin_dir/$name" >"$logs/$name.log" 2>&1 &
  pids+=($!)
}
# One database per service; the run id keeps runs apart.
start inventory DATABASE_URL="$pg/inventory_$run_id"
start payments
start shipping DATABASE_URL="$pg/shipping_$run_id" AMQP_URL="$amqp"
start orders DATABASE_URL="$pg/orders_$run_id" AMQP_URL="$amqp" \
  INVENTORY_URL="http://127.0.0.1:${port[inventory]}" PAYMENTS_URL="http://127.0.0.1:${port[payments]}"
start gateway JWT_SECRET="$secret" ORDERS_URL="http://127.0.0.1:${port[orders]}" \
  INVENTORY_URL="http://127.0.0.1:${port[inventory]}" SHIPPING_URL="http://127.0.0.1:${port[shipping]}"

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }

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

gw="http://127.0.0.1:${port[gateway]}"
token=$(JWT_SECRET="$secret" "$bin_dir/gateway" token --sub e2e-customer --scope "catalog:read orders:write orders:read shipments:read")

code=$(curl -s -o /dev/null -w '%{http_code}' "$gw/api/products")
[ "$code" = 401 ] || fail "GET /api/products without a token answered $code, expected 401"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$gw/api/products")
[ "$code" = 200 ] || fail "GET /api/products with a token answered $code"
say "gateway: 401 without a token, 200 with one"

place() { # body idempotency-key -> prints "status location"
  curl -s -D - -o /dev/null -X POST "$gw/api/orders" -H "Authorization: Bearer $token" \
    -H 'content-type: application/json' -H "Idempotency-Key: $2" -d "$1" |
    awk 'BEGIN{IGNORECASE=1} /^HTTP\//{s=$2} /^location:/{gsub("\r",""); l=$2} END{print s" "l}'
}
key="key-$run_id"
read -r status location < <(place '{"customer_id":"e2e-customer","items":[{"sku":"KB-001","quantity":2},{"sku":"CB-005","quantity":3}]}' "$key")
[ "$status" = 202 ] || fail "POST /api/orders answered $status, expected 202"
read -r status2 location2 < <(place '{"customer_id":"e2e-customer","items":[{"sku":"KB-001","quantity":2},{"sku":"CB-005","quantity":3}]}' "$key")
[ "$location2" = "$location" ] || fail "same Idempotency-Key gave another order: $location2 vs $location"
say "order accepted: 202, Location $location (same key -> same order)"

order_id=${location##*/}
wait_status() { # location expected-status
  local st=""
  for _ in $(seq 1 60); do
    st=$(curl -sf -H "Authorization: Bearer $token" "$gw$1" | json 'd["status"]' || true)
    [ "$st" = "$2" ] && return 0
    sleep 0.5
  done
  fail "order $1 is '$st', expected $2 within 30 s (logs in $logs)"
}
wait_status "$location" CONFIRMED
total=$(curl -sf -H "Authorization: Bearer $token" "$gw$location" | json 'd["total_cents"]')
[ "$total" = 20500 ] || fail "confirmed total is $total cents, expected 20500 (2x8900 + 3x900)"
say "order $order_id CONFIRMED, total $total cents"

shipments=0
for _ in $(seq 1 60); do
  shipments=$(curl -sf -H "Authorization: Bearer $token" "$gw/api/shipments?order_id=$order_id" | json 'len(d)' || echo 0)
  [ "$shipments" -ge 1 ] && break
  sleep 0.5
done
[ "$shipments" = 1 ] || fail "expected 1 shipment for order $order_id, found $shipments"
say "shipment created for order $order_id"

# A payment over the limit is declined and the order rejected (2 x 4500.00 EUR > 5000.00).
read -r status location < <(place '{"customer_id":"e2e-customer","items":[{"sku":"SV-009","quantity":2}]}' "declined-$run_id")
[ "$status" = 202 ] || fail "POST /api/orders answered $status, expected 202"
wait_status "$location" REJECTED
reason=$(curl -sf -H "Authorization: Bearer $token" "$gw$location" | json 'd.get("reason")')
case "$reason" in payment_declined*) ;; *) fail "rejected for '$reason', expected payment_declined" ;; esac
stock=$(curl -sf -H "Authorization: Bearer $token" "$gw/api/products/SV-009" | json 'd["stock"]')
[ "$stock" = 3 ] || fail "SV-009 stock is $stock after the rejected order, expected 3 (reservation released)"
say "over-limit order REJECTED ($reason); its reservation was released (SV-009 stock $stock)"

say "end-to-end order flow passed"
