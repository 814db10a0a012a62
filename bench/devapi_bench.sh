#!/usr/bin/env bash
# bench/devapi_bench.sh - throughput and latency of the dev API server.
#
# For each protocol (HTTP/1.1 keep-alive, then HTTP/2): a fresh
# paybill-devapi on 127.0.0.1 (port 0) in its own temp dir on tmpfs, with
# --data-dir there as the local stack runs it (so the store's log is written,
# but fsync costs what tmpfs costs, not a disk), then bench_devapi_bench
# against it with the admin kubeconfig the server wrote: creates, gets, lists
# and watch fan-out (see bench/devapi_bench.c for the method). The server is
# stopped afterwards; nothing but loopback is contacted.
#
# Bounded: each phase stops after PHASE_S seconds and each protocol run after
# RUN_S seconds (defaults 10 and 80: under 3 minutes for both runs even when
# the server is slow; a fast server finishes far sooner).
#
# usage: bench/devapi_bench.sh [-q|--quick] [-1] [-2] [-p] [-n N] [-d DIR] [-k]
#   -q   quick: N=500, 100 updates, 5 s phases (a smoke test, seconds)
#   -1   HTTP/1.1 only       -2   HTTP/2 only
#   -n   objects per concurrency level (default 10000)
#   -p   perf record the server (call graphs) during each run; the top of
#        the report goes to stdout, perf.data stays in the run directory (-k)
#   -d   parent of the run directories (default /dev/shm, else /tmp); give a
#        disk path to include the cost of fsync on a real disk
#   -k   keep the run directories (server log, kubeconfig, perf.data)
# Needs: a configured build tree (PAYBILL_BUILD_DIR, default build/plain, as
# bench/run.sh); paybill-devapi and bench_devapi_bench are built there first
# (a no-op when up to date). An ASan tree works, but its numbers mean
# nothing: a warning says so.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${PAYBILL_BUILD_DIR:-$ROOT/build/plain}
N=10000 UPDATES=1000 PHASE_S=10 RUN_S=80 PROTOS="h1 h2" PERF=0 KEEP=0 PARENT=""
for a in "$@"; do # bench/run.sh passes --quick
    shift
    if [ "$a" = --quick ]; then set -- "$@" -q; else set -- "$@" "$a"; fi
done
while getopts "q12pn:d:k" o; do
    case $o in
    q) N=500 UPDATES=100 PHASE_S=5 ;;
    1) PROTOS=h1 ;;
    2) PROTOS=h2 ;;
    p) PERF=1 ;;
    n) N=$OPTARG ;;
    d) PARENT=$OPTARG ;;
    k) KEEP=1 ;;
    *) sed -n '/^# usage/,/^# Needs/p' "$0" >&2; exit 2 ;;
    esac
done
[ -f "$BUILD/CMakeCache.txt" ] || { echo "devapi_bench: $BUILD is not a configured build tree" >&2; exit 1; }
cmake --build "$BUILD" -j2 --target paybill-devapi bench_devapi_bench >"$BUILD/devapi_bench.build.log" 2>&1 ||
    { tail -30 "$BUILD/devapi_bench.build.log" >&2; echo "devapi_bench: build failed" >&2; exit 1; }
if grep -q '^PAYBILL_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
    echo "devapi_bench: WARNING: $BUILD is an ASan/UBSan build; numbers are not representative" >&2
fi
if [ -z "$PARENT" ]; then
    PARENT=/tmp
    [ -d /dev/shm ] && [ -w /dev/shm ] && PARENT=/dev/shm
fi
[ "$PERF" = 0 ] || command -v perf >/dev/null || { echo "devapi_bench: -p needs perf" >&2; exit 1; }

log() { printf '[devapi_bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

RUN_DIR="" SERVER_PID="" PERF_PID=""
stop_server() {
    if [ -n "$PERF_PID" ]; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        PERF_PID=""
    fi
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    stop_server
    if [ -n "$RUN_DIR" ] && [ "$KEEP" = 0 ]; then
        rm -rf "$RUN_DIR"
    fi
    RUN_DIR=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server() {
    RUN_DIR=$(mktemp -d "$PARENT/devapi-bench.XXXXXX")
    "$BUILD/paybill-devapi" --listen 127.0.0.1:0 --port-file "$RUN_DIR/port" \
        --write-kubeconfig "$RUN_DIR/admin.kubeconfig" --data-dir "$RUN_DIR/data" \
        --log-format text --log-level warn ${SERVER_HTTP2:+--http2} >"$RUN_DIR/server.log" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 100); do
        [ -s "$RUN_DIR/port" ] && [ -s "$RUN_DIR/admin.kubeconfig" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "devapi_bench: the server did not start; its log:" >&2
    tail -20 "$RUN_DIR/server.log" >&2
    return 1
}

status=0
for proto in $PROTOS; do
    # The server offers HTTP/2 only when asked (it cannot read impersonation
    # headers on HTTP/2, so it is off by default).
    SERVER_HTTP2=""; [ "$proto" = h2 ] && SERVER_HTTP2=1
    start_server
    log "$proto: server pid $SERVER_PID on 127.0.0.1:$(cat "$RUN_DIR/port"), run dir $RUN_DIR"
    if [ "$PERF" = 1 ]; then
        perf record -q -F 499 --call-graph dwarf,16384 -p "$SERVER_PID" -o "$RUN_DIR/perf.data" \
            >"$RUN_DIR/perf.log" 2>&1 &
        PERF_PID=$!
        sleep 0.5
    fi
    args=(--kubeconfig "$RUN_DIR/admin.kubeconfig" --server-pid "$SERVER_PID" --n "$N" --updates "$UPDATES"
          --phase-seconds "$PHASE_S" --max-seconds "$RUN_S")
    [ "$proto" = h2 ] && args+=(--http2)
    # The tool stops itself at RUN_S; the timeout is only a backstop.
    timeout $((RUN_S + 30)) "$BUILD/bench_devapi_bench" "${args[@]}" || status=$?
    echo
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "devapi_bench: the server DIED during the $proto run; last lines of its log:"
        tail -20 "$RUN_DIR/server.log"
        status=1
    fi
    stop_server
    # lws prints "lws_mux_mark_immortal: not h2 substream" for every
    # HTTP/1.1 watch; anything else in the log is worth reading.
    others=$(grep -vc 'not h2 substream' "$RUN_DIR/server.log" || true)
    if [ "${others:-0}" != 0 ]; then
        echo "server log ($proto), other than lws_mux_mark_immortal notices:"
        grep -v 'not h2 substream' "$RUN_DIR/server.log" | sort | uniq -c | sort -rn | head -10
        echo
    fi
    if [ "$PERF" = 1 ]; then
        echo "perf ($proto): server functions by inclusive CPU share (top 40)"
        perf report -i "$RUN_DIR/perf.data" --children --sort symbol --stdio -g none --percent-limit 1 \
            2>/dev/null | grep '%' | grep -v '\] 0x' | head -40
        echo
    fi
    cleanup
done
exit "$status"
