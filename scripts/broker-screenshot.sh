#!/usr/bin/env bash
# Looks at the contract broker's page for people (its `/`, served as HTML to browsers) in
# headless Chromium (Debian's `chromium`, installed with apt when missing and running as
# root) and saves a screenshot, to check the page as a browser shows it.
#
# Usage: scripts/broker-screenshot.sh BROKER_URL [OUT.png]   (default OUT: broker.png)
# e.g. after KEEP_BROKER=1 scripts/broker-workflow.sh, or beside `harness broker serve`.
set -euo pipefail
url=${1:?usage: scripts/broker-screenshot.sh BROKER_URL [OUT.png]}
out=${2:-broker.png}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "chromium is missing: sudo apt-get install -y chromium" >&2; exit 3; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  browser=$(command -v chromium)
fi
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,${PAGE_HEIGHT:-1200} \
  --screenshot="$out" "$url/" 2>/dev/null
echo "$out"
