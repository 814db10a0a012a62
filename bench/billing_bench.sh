#!/usr/bin/env bash
# bench/billing_bench.sh - run bench_billing_bench (billing webhook receipt
# on one thread, the inbox at 100,000 events, the usage outbox; see
# bench/billing_bench.c) against a throwaway PostgreSQL with its default,
# durable settings (fsync and synchronous_commit on: receipt is committed
# before the 2xx, so that is what is measured). The server lives in a temp
# dir owned by the user "paybill", listens on a unix socket in it, and is
# stopped and removed when the script exits.
#
# usage: bench/billing_bench.sh [--quick] [-o REPORT.md] [-- bench_billing_bench args...]
#   --quick  10,000 events instead of 100,000 (CI smoke)
# Environment: BENCH_BUILD_DIR (default build/plain; a RelWithDebInfo build).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-${PAYBILL_BUILD_DIR:-$ROOT/build/plain}}
# shellcheck source=../hack/lib/postgres.sh
. "$ROOT/hack/lib/postgres.sh" # pg_bin, pg_as, pg_free_port
REPORT="" ARGS=() ORIG="$*"
while [ $# -gt 0 ]; do
    case $1 in
    -o) REPORT=$2; shift ;;
    --quick) ARGS+=(--events 10000 --timed 2000 --subs 200) ;;
    --) shift; ARGS+=("$@"); break ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "billing_bench.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
[ -f "$BUILD/CMakeCache.txt" ] || { echo "billing_bench.sh: no build in $BUILD (set BENCH_BUILD_DIR)" >&2; exit 1; }
cmake --build "$BUILD" -j2 --target bench_billing_bench >"$BUILD/billing_bench-build.log" 2>&1 \
    || { tail -30 "$BUILD/billing_bench-build.log" >&2; exit 1; }
DIR=$(mktemp -d /tmp/billbench-XXXXXX)
[ "$(id -u)" -eq 0 ] && chown paybill "$DIR"
chmod 755 "$DIR"
PGCTL=$(pg_bin pg_ctl)
cleanup() { pg_as "$PGCTL" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
PORT=$(pg_free_port)
OPTS="-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c shared_buffers=128MB"
pg_as "$(pg_bin initdb)" -D "$DIR/data" -U postgres --auth-local=trust -E UTF8 --locale=C --no-sync \
    >"$DIR/initdb.log" 2>&1 || { tail -20 "$DIR/initdb.log" >&2; exit 1; }
pg_as "$PGCTL" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 -o "$OPTS" start >/dev/null \
    || { tail -20 "$DIR/server.log" >&2; exit 1; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
"$BUILD/bench_billing_bench" --conninfo "host=$DIR port=$PORT user=postgres dbname=postgres" "${ARGS[@]}" \
    | tee "$DIR/out.md"
elapsed=$(($(date +%s) - start))
if [ -n "$REPORT" ]; then
    {
        echo "# Billing benchmark (bench/billing_bench.sh)"
        echo
        echo "- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
        echo "- Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr); load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after (shared with other engineers' builds and tests: expect noise)"
        echo "- Build: $BUILD ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt"))"
        echo "- Server: throwaway PostgreSQL $("$(pg_bin postgres)" --version | awk '{print $3}'), default durability (fsync, synchronous_commit on), data on $(df -T "$DIR" | awk 'NR==2{print $2}'), unix socket; options \`$OPTS\`"
        echo "- Command: \`BENCH_BUILD_DIR=$BUILD bench/billing_bench.sh $ORIG\` ($elapsed s)"
        echo
        cat "$DIR/out.md"
    } >"$REPORT"
fi
