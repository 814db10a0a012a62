#!/usr/bin/env bash
# bench/run.sh - build the plain (RelWithDebInfo) tree if needed and run
# every benchmark, printing their results. Benchmarks print numbers; they
# are not pass/fail tests (a non-zero exit means a benchmark could not run).
#
# Usage: bench/run.sh [--quick]
#   --quick   smaller sizes, one run each (a CI smoke run).
# Environment: BENCH_BUILD_DIR (default build/plain), JOBS (default 2).
#
# Adding a benchmark: drop bench/<name>.c (CMake builds it as bench_<name>)
# and add bench_<name> to BENCHES below; a script is listed by its path,
# bench/<name>.sh, and runs with PAYBILL_BUILD_DIR set to the build tree.
# Every entry gets --quick when run.sh does.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BENCH_BUILD_DIR:-$ROOT/build/plain}
JOBS=${JOBS:-2}

BENCHES=(
  bench_informer_bench   # informer cache: resident memory per object
  bench_watch_bench      # watch events/s (in-process and over HTTP), workqueue ops/s
  bench_licence_bench    # licences signed/verified per second; re-signing 10,000 tenants after a key rotation
  bench_agent_bench      # agent policy decisions: p50/p99 latency with 1/16/256 rules, 1,000 policies; bench/RESULTS-agent.md
  bench_admission_bench  # Workflow admission webhook round trip over HTTPS, 1/4/16 clients; bench/RESULTS-agent.md
  bench/devapi_bench.sh  # dev API server over HTTPS (HTTP/1.1 + HTTP/2): creates/gets/lists/watch fan-out; bench/RESULTS-devapi.md
  bench/db_bench.sh      # tenant databases: provisioning per layout, tier moves (throwaway PostgreSQL); bench/RESULTS-db.md
  bench/billing_bench.sh # billing webhook receipt/s and p99 on one thread, inbox size at 100,000 events, usage outbox; bench/RESULTS-billing.md
  bench/operator_bench.sh  # operator cold start (N tenants stored first) and steady state; bench/RESULTS-operator.md
  bench/cloud_bench.sh   # tenants' OpenTofu runs on the local target per pool size (needs hack/tofu.sh and hack/providers.sh builds); bench/RESULTS-cloud.md
)

args=()
for a in "$@"; do
  case $a in
    --quick) args+=(--quick) ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$a' (try --help)" >&2; exit 2 ;;
  esac
done

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  mkdir -p "$BUILD"
  echo "bench: configuring $BUILD (RelWithDebInfo)"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD.configure.log" 2>&1 \
    || { tail -20 "$BUILD.configure.log" >&2; echo "bench: configure failed" >&2; exit 1; }
fi
# Numbers from a sanitizer or debug build would mean nothing.
if grep -q '^PAYBILL_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" \
   || ! grep -q '^CMAKE_BUILD_TYPE:STRING=RelWithDebInfo' "$BUILD/CMakeCache.txt"; then
  echo "bench: $BUILD is not a plain RelWithDebInfo build; set BENCH_BUILD_DIR to one" >&2
  exit 1
fi
echo "bench: building the benchmarks in $BUILD"
targets=()
for b in "${BENCHES[@]}"; do [[ $b == *.sh ]] || targets+=("$b"); done
cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}" >"$BUILD.bench-build.log" 2>&1 \
  || { tail -40 "$BUILD.bench-build.log" >&2; echo "bench: build failed" >&2; exit 1; }

echo "bench: $(nproc) cores, $(uname -srm), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
failed=0
for b in "${BENCHES[@]}"; do
  echo
  echo "=== $b ${args[*]}"
  start=$(date +%s)
  if [[ $b == *.sh ]]; then cmd=(env PAYBILL_BUILD_DIR="$BUILD" bash "$ROOT/$b"); else cmd=("$BUILD/$b"); fi
  if ! "${cmd[@]}" "${args[@]}"; then
    echo "bench: $b failed" >&2
    failed=$((failed + 1))
  fi
  echo "--- $b: $(( $(date +%s) - start )) s"
done
exit $(( failed > 0 ))
