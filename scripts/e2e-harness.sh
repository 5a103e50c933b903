#!/usr/bin/env bash
# The main job: `harness run`, the sample system's test pyramid (unit, integration,
# contract, end-to-end, load, and the planted defects' detection score) with the reports and the gate, then the
# same run's end-to-end level with a planted failure, which must fail the gate and be named
# in every report; and nothing of either run may be left in Docker.
#
# Usage: scripts/e2e-harness.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[main-job] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

say "building the workspace and its tests (the build the levels' nextest runs reuse)"
cargo build -q --workspace --all-targets
bin="${CARGO_TARGET_DIR:-target}/debug"
reports=${HARNESS_REPORTS_DIR:-reports}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

left_behind() { # run id -> containers and networks still labelled with it (or with one of
  # its levels' stacks: the run id and a number); fails when Docker does not answer
  local containers networks
  containers=$(docker ps -a --filter label=dev.harness.run --format '{{.Label "dev.harness.run"}}') || return 1
  networks=$(docker network ls --filter label=dev.harness.run --format '{{.Label "dev.harness.run"}}') || return 1
  echo "$(grep -c "^$1" <<<"$containers" || true) container(s), $(grep -c "^$1" <<<"$networks" || true) network(s)"
}
run_id_of() { sed -n 's/^run \([a-z0-9]*\): .*/\1/p' "$1" | tail -1; }

say "harness run: every level"
"$bin/harness" run >"$work/main-run.out" || { code=$?; cat "$work/main-run.out" >&2; fail "harness run failed (exit $code)"; }
cat "$work/main-run.out" >&2
run_id=$(run_id_of "$work/main-run.out")
[ -n "$run_id" ] || fail "no run id in the output of harness run"
for f in junit.xml report.json summary.md report.html; do
  [ -s "$reports/$run_id/$f" ] || fail "harness run wrote no $f"
done
[ "$(readlink "$reports/latest")" = "$run_id" ] || fail "reports/latest does not point at $run_id"
scripts/check-jsonschema.sh --schemafile harness/crates/report/report.schema.json "$reports/$run_id/report.json" ||
  fail "report.json of run $run_id does not follow harness/crates/report/report.schema.json"
[ "$(left_behind "$run_id")" = "0 container(s), 0 network(s)" ] || fail "run $run_id left $(left_behind "$run_id")"
# The load level: its figures in summary.md and its charts in report.html.
grep -q '^| `order_complete` | measurement |' "$reports/$run_id/summary.md" || fail "summary.md of run $run_id has no order_complete figures"
grep -q '^| `GET /api/products` | request |' "$reports/$run_id/summary.md" || fail "summary.md of run $run_id has no per-request load figures"
grep -q '^| `orders` |' "$reports/$run_id/summary.md" || fail "summary.md of run $run_id has no server view"
grep -q 'id="chart-load-latency"' "$reports/$run_id/report.html" || fail "report.html of run $run_id has no latency chart"
grep -q 'orders_intake_queue_depth' "$reports/$run_id/report.html" || fail "report.html of run $run_id has no queue depth chart"
# The defects level: every planted defect of suites/defects/expected.toml switched on alone
# against its check; the detection score in every report.
planted=$(grep -c '^\[defects\.' suites/defects/expected.toml)
grep -q "^planted defects: detection score [0-9]*/$planted: " "$work/main-run.out" || fail "the console of run $run_id shows no detection score over $planted planted defects"
grep -q "detection score [0-9]*/$planted" "$reports/$run_id/summary.md" || fail "summary.md of run $run_id has no detection score"
grep -q 'id="defects"' "$reports/$run_id/report.html" || fail "report.html of run $run_id has no defects section"
[ "$(python3 -c 'import json,sys; print(sum(len(l.get("defects", [])) for l in json.load(open(sys.argv[1]))["levels"]))' "$reports/$run_id/report.json")" = "$planted" ] ||
  fail "report.json of run $run_id does not list the $planted planted defects"
say "run $run_id passed; reports in $reports/$run_id (report.json follows its schema, the load figures in summary.md and report.html, the detection score over $planted planted defects in each); nothing left behind"

say "harness load: a threshold nothing can meet and one on a measurement without samples must fail the gate"
set +e
"$bin/harness" load --profile smoke --duration 4s --threshold 'p99 < 1us' --threshold 'p95(no_such_measurement) < 1s' >"$work/load.out" 2>"$work/load.err"
code=$?
set -e
cat "$work/load.out" >&2
[ "$code" = 1 ] || { cat "$work/load.err" >&2; fail "harness load with p99 < 1us exited $code, expected 1 (a threshold failed)"; }
grep -q 'threshold FAILED p99 < 1us: p99 = ' "$work/load.out" || fail "harness load did not name the failed threshold and its measured value"
grep -q 'threshold FAILED p95(no_such_measurement) < 1s: no samples' "$work/load.out" || fail "a threshold without samples did not fail as such"
load_run=$(run_id_of "$work/load.out")
[ -n "$load_run" ] || fail "no run id in the output of harness load"
[ "$(left_behind "$load_run")" = "0 container(s), 0 network(s)" ] || fail "run $load_run left $(left_behind "$load_run")"
say "harness load --abort: a lost threshold stops a 60 s load early"
set +e
"$bin/harness" load --duration 60s --abort --threshold 'p99 < 1us' >"$work/abort.out" 2>"$work/abort.err"
code=$?
set -e
cat "$work/abort.out" >&2
[ "$code" = 1 ] || { cat "$work/abort.err" >&2; fail "harness load --abort exited $code, expected 1"; }
grep -q 'warning: the run stopped early: p99<1us' "$work/abort.out" || fail "harness load --abort did not say the run stopped early"
measured=$(sed -n 's/^load smoke: .* warm-up, \([0-9]*\)s measured$/\1/p' "$work/abort.out")
[ -n "$measured" ] && [ "$measured" -lt 30 ] || fail "harness load --abort measured ${measured:-?}s of 60s: it did not stop early"
abort_run=$(run_id_of "$work/abort.out")
[ "$(left_behind "$abort_run")" = "0 container(s), 0 network(s)" ] || fail "run $abort_run left $(left_behind "$abort_run")"
set +e
"$bin/harness" load --threshold 'p95 << 2s' >"$work/bad.out" 2>&1
code=$?
set -e
[ "$code" = 2 ] || { cat "$work/bad.out" >&2; fail "a bad threshold exited $code, expected 2"; }
grep -q 'column 6' "$work/bad.out" || { cat "$work/bad.out" >&2; fail "a bad threshold's message does not name its column"; }
say "harness load: exit 1 naming 'p99 < 1us' and its measured value, a threshold without samples failed, --abort stopped a 60 s load after ${measured}s, bad threshold text exit 2 at column 6"

say "harness run --level e2e with HARNESS_PLANTED_FAILURE=1: must fail and name the test"
set +e
HARNESS_PLANTED_FAILURE=1 "$bin/harness" run --level e2e >"$work/planted-run.out"
code=$?
set -e
cat "$work/planted-run.out" >&2
[ "$code" = 1 ] || fail "the planted failure exited $code, expected 1 (gate failed)"
planted=$(run_id_of "$work/planted-run.out")
[ -n "$planted" ] || fail "no run id in the output of the planted run"
for f in junit.xml report.json summary.md report.html; do
  grep -q an_order_is_confirmed_and_shipped_exactly_once "$reports/$planted/$f" ||
    fail "$f of run $planted does not name the failing test"
done
[ "$(left_behind "$planted")" = "0 container(s), 0 network(s)" ] || fail "run $planted left $(left_behind "$planted")"
say "the planted failure failed the gate (exit 1) and is named in junit.xml, report.json, summary.md and report.html"
# The job's summary is the whole run's, not the planted one's.
ln -sfn "$run_id" "$reports/latest"
say "main job passed"
