#!/usr/bin/env bash
# Files by concern: no source file of the harness crates (harness/crates/*/src, harness/src)
# passes 1,000 lines outside `#[cfg(test)]` (a module's tests may make it longer; a file that
# only holds tests, `tests.rs`, is not counted). Prints the five longest and fails naming
# every file over the limit.
#
# Usage: scripts/check-sizes.sh [LIMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${1:-1000}
# Lines outside `#[cfg(test)]` items: an item under the attribute ends at its `;` (`mod
# tests;`) or at the `}` that closes the brace its first line opened.
count() {
  awk '
    skipping == 0 && /^[[:space:]]*#\[cfg\(test\)\]/ { skipping = 1; depth = 0; opened = 0; next }
    skipping == 1 {
      line = $0
      opens = gsub(/\{/, "{", line); closes = gsub(/\}/, "}", line)
      depth += opens - closes
      if (opens > 0) opened = 1
      if ((opened && depth <= 0) || (!opened && $0 ~ /;[[:space:]]*$/)) skipping = 0
      next
    }
    { n++ }
    END { print n + 0 }
  ' "$1"
}
over=0
report=$(mktemp)
trap 'rm -f "$report"' EXIT
while IFS= read -r f; do
  printf '%s %s\n' "$(count "$f")" "$f" >>"$report"
done < <(find harness/src harness/crates/*/src -name '*.rs' ! -name tests.rs | sort)
sort -rn "$report" | head -5 | sed 's/^/  /'
while read -r n f; do
  if [ "$n" -gt "$limit" ]; then
    echo "$f: $n lines outside #[cfg(test)], more than $limit: split it along its concerns" >&2
    over=1
  fi
done <"$report"
[ "$over" = 0 ] && echo "no source file of the harness crates passes $limit lines outside #[cfg(test)]"
exit "$over"
