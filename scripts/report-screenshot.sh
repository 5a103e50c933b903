#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium (Debian's `chromium`, installed with apt
# when missing and running as root) and saves a screenshot beside it, to look at the page
# as a browser shows it. Without an argument it writes the sample run of the report tests
# first (cargo run -p harness-report --example sample).
#
# Usage: scripts/report-screenshot.sh [RUN_DIR]   (writes RUN_DIR/report.png)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-${CARGO_TARGET_DIR:-target}/sample-report}
if [ $# -eq 0 ]; then
  cargo run -q -p harness-report --example sample -- "$dir" >/dev/null
fi
[ -f "$dir/report.html" ] || { echo "no report.html in $dir" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "chromium is missing: sudo apt-get install -y chromium" >&2; exit 3; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  browser=$(command -v chromium)
fi
page="file://$(cd "$dir" && pwd)/report.html"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,${REPORT_HEIGHT:-1400} \
  --screenshot="$dir/report.png" "$page" 2>/dev/null
echo "$dir/report.png"
