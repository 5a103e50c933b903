#!/usr/bin/env bash
# Benchmark: how long `harness up` takes from start to all-ready, next to the slowest single
# component's own start-to-ready time, and next to `docker-compose up` of the same images
# with equivalent health checks (same probes, polled every 25 ms as harness does). Measured in one run;
# images are built first and not counted.
#
# Usage: scripts/bench-up.sh [--manifest suites/stack.toml] [--rounds N]
# Prints a table and the two ratios; the targets are <= 1.25x the slowest component and
# faster than compose.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=suites/stack.toml
rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --manifest) manifest=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v docker-compose >/dev/null || { echo "docker-compose is needed: apt-get install docker-compose" >&2; exit 3; }

cargo build -q -p harness-cli
harness="${CARGO_TARGET_DIR:-target}/debug/harness"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
secs() { python3 -c "print(f'{float(\"$2\") - float(\"$1\"):.2f}')"; }

echo "building images first (not measured)" >&2
"$harness" images --manifest "$manifest" --build > "$work/images.txt"
services=$(awk 'NR>1 {print $1}' "$work/images.txt")
declare -A image
while read -r svc ref _; do image[$svc]=$ref; done < <(awk 'NR>1 {print $1, $2}' "$work/images.txt")

# 1. Each component alone: its own start-to-ready, with its dependencies started and ready
#    first (not counted). A dependency the manifest waits for only until it is started
#    (condition = "started") is waited for until ready here, so that a component's time is
#    its own and not its dependency's boot. The copy sits beside the manifest so that its
#    relative paths still hold.
alone_manifest="$(dirname "$manifest")/.bench-alone-$$.toml"
trap 'rm -rf "$work" "$alone_manifest"' EXIT
sed 's/condition *= *"started"/condition = "ready"/g' "$manifest" > "$alone_manifest"
declare -A alone all_rounds
for svc in $services; do
  best=""
  for _ in $(seq 1 "$rounds"); do
    "$harness" up --manifest "$alone_manifest" --only "$svc" --exit-when-ready > "$work/one.txt" 2>/dev/null
    t=$(awk -v s="$svc" '$1 == s { for (i=1;i<=NF;i++) if ($i == "(ready") { gsub(/s\)/, "", $(i+2)); print $(i+2) } }' "$work/one.txt")
    best=$(python3 -c "print(min(x for x in [$t, ${best:-1e9}]))")
    all_rounds[$svc]="${all_rounds[$svc]:-}$t "
  done
  alone[$svc]=$best
done
slowest_svc=""; slowest=0
for svc in $services; do
  if python3 -c "import sys; sys.exit(0 if ${alone[$svc]} > $slowest else 1)"; then slowest=${alone[$svc]}; slowest_svc=$svc; fi
done

# 2. The whole stack with harness: from command start to all-ready (best of N).
harness_best=1e9
for _ in $(seq 1 "$rounds"); do
  t0=$(now)
  "$harness" up --manifest "$manifest" --exit-when-ready > "$work/all.txt" 2>/dev/null
  t1=$(now)
  # `--exit-when-ready` also removes the stack; count only up to the ready line:
  ready=$(sed -n 's/^stack .* is ready in \([0-9.]*\)s.*/\1/p' "$work/all.txt")
  harness_best=$(python3 -c "print(min($harness_best, $ready))")
  harness_rounds="${harness_rounds:-}$ready "
done

# 3. docker-compose with the same images and equivalent health checks.
python3 - "$manifest" "$work/compose.yml" "$work/images.txt" <<'PY'
import sys, re, tomllib
manifest = tomllib.load(open(sys.argv[1], "rb"))
images = dict(l.split()[:2] for l in open(sys.argv[3]).read().splitlines()[1:])
out = ["version: '2.4'", "services:"]
for name, s in manifest["services"].items():
    out.append(f"  {name}:")
    out.append(f"    image: {images[name]}")
    env = {k: re.sub(r"\$\{(\w[\w-]*)\.(host|port|url)\}",
                     lambda m: {"host": m[1], "port": str(manifest["services"][m[1]]["ports"][0]),
                                "url": f"http://{m[1]}:{manifest['services'][m[1]]['ports'][0]}"}[m[2]], v)
           for k, v in s.get("env", {}).items()}
    if env:
        out.append("    environment:")
        out += [f"      {k}: '{v}'" for k, v in env.items()]
    ready = s.get("ready", {})
    if "tcp" in ready:
        test = f"[\"CMD\", \"bash\", \"-c\", \"exec 3<>/dev/tcp/127.0.0.1/{ready['tcp']}\"]"
    else:
        test = f"[\"CMD\", \"/usr/local/bin/{s.get('build', name)}\", \"--healthcheck\"]"
    out += ["    healthcheck:", f"      test: {test}", "      interval: 25ms", "      timeout: 2s", "      retries: 600"]
    if s.get("depends_on"):
        out.append("    depends_on:")
        for d in s["depends_on"]:
            # "name" waits for readiness; { service, condition = "started" } for the start.
            name, cond = (d, "ready") if isinstance(d, str) else (d["service"], d.get("condition", "ready"))
            out += [f"      {name}:", "        condition: " + ("service_started" if cond == "started" else "service_healthy")]
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
compose_best=1e9
for i in $(seq 1 "$rounds"); do
  project="harnessbench$$x$i"
  t0=$(now)
  docker-compose -p "$project" -f "$work/compose.yml" up -d >/dev/null 2>&1
  while :; do
    states=$(docker ps -q --filter "label=com.docker.compose.project=$project" | xargs docker inspect -f '{{.State.Health.Status}}' 2>/dev/null)
    n=$(echo "$states" | grep -c healthy || true)
    bad=$(echo "$states" | grep -vc '^healthy$' || true)
    [ "$n" -eq "$(echo "$services" | wc -w)" ] && [ "$bad" -eq 0 ] && break
    sleep 0.05
  done
  t1=$(now)
  compose_best=$(python3 -c "print(min($compose_best, float('$(secs "$t0" "$t1")')))")
  compose_rounds="${compose_rounds:-}$(secs "$t0" "$t1") "
  docker-compose -p "$project" -f "$work/compose.yml" down -v >/dev/null 2>&1
done

echo
echo "start-to-ready of each component alone (best of $rounds):"
for svc in $services; do printf '  %-12s %6.2f s\n' "$svc" "${alone[$svc]}"; done
printf '\n%-44s %6.2f s\n' "slowest single component ($slowest_svc)" "$slowest"
printf '%-44s %6.2f s  (%.2fx the slowest component; target <= 1.25x)\n' "harness up, start to all-ready (best of $rounds)" "$harness_best" "$(python3 -c "print($harness_best / $slowest)")"
printf '%-44s %6.2f s  (harness takes %.2fx the time of compose; target < 1)\n' "docker-compose up, start to all healthy" "$compose_best" "$(python3 -c "print($harness_best / $compose_best)")"
echo
echo "every round, in seconds:"
echo "  $slowest_svc alone: ${all_rounds[$slowest_svc]}"
echo "  harness up:     $harness_rounds"
echo "  docker-compose: $compose_rounds"
