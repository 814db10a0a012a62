#!/usr/bin/env bash
# bench/replay_floor.sh - the API server floor of an operator cold start:
# how long (wall) and how much CPU paybill-devapi alone needs to take the
# writes the operator made while bringing N tenants to Ready, sent again
# without the operator, as fast as the server takes them. The operator's
# time to Ready (bench/operator_bench.sh, ready_s) is then compared with this
# floor (goal: ready_s <= 1.5 x floor_s).
#
# Input: a recording made by `paybill-devapi --record FILE` during one
# operator_bench.sh run (one JSON line per write, in the order served; see
# tests/apiserver/main.c --help). It holds, in order, the setup writes
# (kubectl creating crds/, namespace paybill-system and the Plan; curl
# creating the N Tenants and N Subscriptions) and then the operator's.
#
# For each run: a fresh paybill-devapi started as operator_bench.sh starts it
# (hack/lib/stack.sh, own temp dir on tmpfs, HTTPS, same flags), then
# `bench_devapi_bench --replay FILE --agent paybill-operator/`:
#   - the setup lines are sent first, untimed (the same CRDs, Plan, Tenants
#     and Subscriptions as the recorded run; CRDs and Plan one at a time);
#   - then the operator's lines, timed: one tenant's requests in recorded
#     order one at a time, tenants concurrently, -c requests in flight,
#     asking for HTTP/2 as the operator does (the server offers what it
#     offered the operator: HTTP/1.1 unless -2); resourceVersions and uids
#     rewritten to the replay's own (see bench/devapi_bench.c, "replay").
# Afterwards the Tenants are listed: all N must be Active, as after the
# recorded run (the replay reproduces the operator's end state).
#
# The same run gives the client's floor too (issue 19): client_cpu_s is the
# replay tool's own CPU for the timed writes, plain libcurl driven by one
# thread with -c requests in flight on keep-alive connections, no watches
# and no reconciling (it does parse the replies whose uid or
# resourceVersion later lines need). No libcurl client sends the
# operator's writes for less; client_ratio is that CPU over the server's
# for the same writes (which, without watchers, excludes the fan-out of
# watch events the operator's run also costs the server).
#
# Recording one (--record appends: give each run a new file):
#     STACK_DEVAPI_ARGS="--record /dev/shm/rec-1000.jsonl" bench/operator_bench.sh -n 1000 -s 1
#
# usage: bench/replay_floor.sh -f FILE [-n N] [-c CONC] [-i RUNS] [-r READY_S] [-2] [-k]
#   -f   the recording (required)
#   -n   tenants in it: checked against the Tenants stored after the replay
#   -c   requests in flight (default 16)
#   -i   runs, each on a fresh server (default 1)
#   -r   the operator's time to Ready for the same N (operator_bench.sh
#        ready_s): prints ready_s / floor_s
#   -2   start the server with --http2 (the operator_bench.sh server offers
#        HTTP/1.1 only, so its numbers compare without -2)
#   -k   keep the run directories (server log, kubeconfig)
# Environment: PAYBILL_BUILD_DIR (default build/plain): a configured tree;
# paybill-devapi and bench_devapi_bench are built there first (a no-op when
# up to date); REPLAY_AGENT (default paybill-operator/): the userAgent prefix
# of the timed lines; OPBENCH_TMP where run directories go (default /dev/shm).
# Needs kubectl, curl, jq.
# Prints the tool's SETUP and REPLAY lines and one "RESULT key=value ..."
# line per run; progress on stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${PAYBILL_BUILD_DIR:-$ROOT/build/plain}
export STACK_BUILD=$BUILD STACK_ROOT=$ROOT STACK_DEVAPI_LOG_LEVEL=${STACK_DEVAPI_LOG_LEVEL:-warn}
# shellcheck source-path=SCRIPTDIR source=../hack/lib/stack.sh
. "$ROOT/hack/lib/stack.sh"

FILE="" N="" CONC=16 RUNS=1 READY_S="" HTTP2=0 KEEP=0
while getopts "f:n:c:i:r:2k" o; do
    case $o in
    f) FILE=$OPTARG ;; n) N=$OPTARG ;; c) CONC=$OPTARG ;; i) RUNS=$OPTARG ;;
    r) READY_S=$OPTARG ;; 2) HTTP2=1 ;; k) KEEP=1 ;;
    *) sed -n '/^# usage/,/^# Needs/p' "$0" >&2; exit 2 ;;
    esac
done
if [ -z "$FILE" ] || [ ! -s "$FILE" ]; then
    echo "replay_floor: -f FILE (a paybill-devapi --record recording) is required" >&2
    exit 2
fi
[ -f "$BUILD/CMakeCache.txt" ] || { echo "replay_floor: $BUILD is not a configured build tree" >&2; exit 1; }
cmake --build "$BUILD" -j2 --target paybill-devapi bench_devapi_bench >"$BUILD/replay_floor.build.log" 2>&1 ||
    { tail -30 "$BUILD/replay_floor.build.log" >&2; echo "replay_floor: build failed" >&2; exit 1; }

BENCH_TAG=replay
# shellcheck source=lib.sh
. "$ROOT/bench/lib.sh"

timed=$(grep -c "\"userAgent\":\"${REPLAY_AGENT:-paybill-operator/}" "$FILE" || true)
log "$FILE: $(wc -l <"$FILE") writes recorded, $timed of them by ${REPLAY_AGENT:-paybill-operator/} (timed)"
[ "$timed" -gt 0 ] || { log "no timed lines: is this a recording of an operator_bench.sh run?"; exit 1; }

# field KEY: its value in the tool's REPLAY line ($line).
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }

status=0
for run in $(seq 1 "$RUNS"); do
    RUN_DIR=$(mktemp -d "${OPBENCH_TMP:-/dev/shm}/replay.XXXXXX")
    flags=()
    [ "$HTTP2" = 0 ] || flags+=(--http2)
    stack_devapi_start "$RUN_DIR" "${flags[@]}"
    api_env
    pid=$(cat "$RUN_DIR/apiserver.pid")
    log "run $run: server pid $pid, dir $RUN_DIR"
    rc=0
    "$BUILD/bench_devapi_bench" --kubeconfig "$RUN_DIR/admin.kubeconfig" --replay "$FILE" \
        --agent "${REPLAY_AGENT:-paybill-operator/}" --conc "$CONC" --server-pid "$pid" | tee "$RUN_DIR/replay.out" || rc=$?
    line=$(grep '^REPLAY ' "$RUN_DIR/replay.out" || true)
    read -r tenants active < <(api_get "/apis/paybill.dev/v1alpha1/tenants" |
        jq -r '[.items[] | .status.phase] | "\(length) \(map(select(. == "Active")) | length)"')
    ratio=NA
    [ -z "$READY_S" ] || [ -z "$(field seconds)" ] ||
        ratio=$(awk -v r="$READY_S" -v f="$(field seconds)" 'BEGIN{printf "%.2f", (f > 0 ? r / f : 0)}')
    client_ratio=NA
    [ -z "$(field client_cpu_s)" ] || [ -z "$(field server_cpu_s)" ] ||
        client_ratio=$(awk -v c="$(field client_cpu_s)" -v s="$(field server_cpu_s)" 'BEGIN{printf "%.3f", (s > 0 ? c / s : 0)}')
    echo "RESULT run=$run requests=$(field requests) floor_s=$(field seconds) server_cpu_s=$(field server_cpu_s)" \
        "client_cpu_s=$(field client_cpu_s) client_ratio=$client_ratio" \
        "rate=$(field rate) errors=$(field errors) tenants=$tenants active=$active${READY_S:+ ready_s=$READY_S ratio=$ratio}"
    if [ "$rc" != 0 ] || [ "$active" != "$tenants" ] || { [ -n "$N" ] && [ "$tenants" != "$N" ]; }; then
        log "run $run: replay exit $rc, $active of $tenants Tenants Active${N:+ (want $N)}; server log: $RUN_DIR/apiserver.log"
        status=1
        KEEP=1
    fi
    cleanup
done
exit "$status"
