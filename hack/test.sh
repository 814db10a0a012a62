#!/usr/bin/env bash
# hack/test.sh - the one test command (CI runs exactly this).
#
# Installs dependencies, builds twice (plain RelWithDebInfo, and Debug with
# ASan+UBSan), runs the unit tests on the plain build and the whole suite
# (unit + end-to-end) on the sanitizer build, and ends with the line
# "N passed, N failed". Exit status is non-zero on any failure.
#
# Environment: JOBS (parallel build/test jobs, default nproc),
#              PAYBILL_TEST_FILTER (ctest -R regex, to run a subset).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}

hack/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
unset TF_CLI_CONFIG_FILE

passed=0; failed=0
build() { # build <dir> <cmake args...>
  local dir=$1; shift
  cmake -S "$ROOT" -B "$dir" "$@" >"$dir.configure.log" 2>&1 \
    && cmake --build "$dir" -j"$JOBS" >"$dir.build.log" 2>&1 && return 0
  echo "test: build in $dir failed:" >&2
  tail -40 "$dir.configure.log" "$dir.build.log" >&2 2>/dev/null
  return 1
}
run_ctest() { # run_ctest <dir> <ctest args...>
  local dir=$1; shift
  local filter=()
  [ -n "${PAYBILL_TEST_FILTER:-}" ] && filter=(-R "$PAYBILL_TEST_FILTER")
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" "${filter[@]}" "$@") | tee "$dir.ctest.log"
  local line
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$dir.ctest.log" | tail -1)
  if [ -z "$line" ]; then
    grep -q "No tests were found" "$dir.ctest.log" && return 0
    failed=$((failed + 1)); return
  fi
  local f total
  f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + total - f)); failed=$((failed + f))
}

mkdir -p build
if build build/plain -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
  run_ctest build/plain -L unit
  # The release operator (linked with mimalloc, which the sanitizer build
  # cannot use) end to end too.
  run_ctest build/plain -R '^e2e/(test_tenant_lifecycle|test_licence|test_operator_process)$'
else
  failed=$((failed + 1))
fi
if build build/asan -DCMAKE_BUILD_TYPE=Debug -DPAYBILL_SANITIZE=ON; then
  run_ctest build/asan
else
  failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
