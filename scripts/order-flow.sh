#!/usr/bin/env bash
# Drives the sample system through its gateway, as a client would, and checks the order
# flow: 401 without a token; an order placed with an Idempotency-Key is accepted (202 +
# Location), the same key gives the same order, it becomes CONFIRMED with the right total
# and gets exactly one shipment; an order over the payment limit is REJECTED and its stock
# reservation released.
#
# Usage: scripts/order-flow.sh GATEWAY_URL JWT_SECRET [GATEWAY_BIN]
#   GATEWAY_BIN (default: target/debug/gateway) mints the token (`gateway token`).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
gw=$1
secret=$2
gateway_bin=${3:-${CARGO_TARGET_DIR:-target}/debug/gateway}
[ -x "$gateway_bin" ] || { echo "no gateway binary at $gateway_bin (cargo build -p gateway)" >&2; exit 2; }

say() { printf '[order-flow] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }

token=$(JWT_SECRET="$secret" "$gateway_bin" token --sub e2e-customer --scope "catalog:read orders:write orders:read shipments:read")

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
run_id="flow$(date +%s%N)"
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
  fail "order $1 is '$st', expected $2 within 30 s"
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

# A payment over the limit is declined and the order rejected (2 x 4500.00 EUR > 5000.00);
# its reservation is released, so the stock is what it was before.
stock_before=$(curl -sf -H "Authorization: Bearer $token" "$gw/api/products/SV-009" | json 'd["stock"]')
read -r status location < <(place '{"customer_id":"e2e-customer","items":[{"sku":"SV-009","quantity":2}]}' "declined-$run_id")
[ "$status" = 202 ] || fail "POST /api/orders answered $status, expected 202"
wait_status "$location" REJECTED
reason=$(curl -sf -H "Authorization: Bearer $token" "$gw$location" | json 'd.get("reason")')
case "$reason" in payment_declined*) ;; *) fail "rejected for '$reason', expected payment_declined" ;; esac
stock=$(curl -sf -H "Authorization: Bearer $token" "$gw/api/products/SV-009" | json 'd["stock"]')
[ "$stock" = "$stock_before" ] || fail "SV-009 stock is $stock after the rejected order, expected $stock_before (reservation released)"
say "over-limit order REJECTED ($reason); its reservation was released (SV-009 stock $stock)"

say "end-to-end order flow passed"
