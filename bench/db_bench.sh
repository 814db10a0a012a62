#!/usr/bin/env bash
# bench/db_bench.sh - run bench_db_bench (tenant provisioning per layout,
# tier moves; see bench/db_bench.c) against a throwaway PostgreSQL.
#
# The server lives in a temp dir owned by the user "paybill" (PostgreSQL
# refuses to run as root; hack/deps.sh creates the user), listens on
# 127.0.0.1 on a free port and on a unix socket in that dir, with fsync,
# synchronous_commit and full_page_writes off (durability is not what is
# measured; say so next to any number). Statements of 200 ms or more are
# logged (log_min_duration_statement, -l) and summarised at the end: that
# is where the time of the slow parts goes. The server is stopped and the dir
# removed when the script exits or is interrupted (unless -k).
#
# usage: bench/db_bench.sh [--quick] [-o REPORT.md] [-k] [-l MS] [-c N] [-t DIR]
#                          [-- bench_db_bench args...]
#   --quick  small sizes (CI smoke): 100 / 20 tenants, 50,000 rows
#   -o FILE  also write the report (machine, commands, tables) to FILE
#   -k       keep the server's dir (log, data) for a look afterwards
#   -l MS    log_min_duration_statement (default 200; 0 logs every
#            statement: a profile of where provisioning time goes)
#   -c N     max_connections (default: the database-layout tenants + 50)
#   -t DIR   where the server's temp dir goes (default /tmp; /dev/shm puts
#            it on tmpfs, which shows what the filesystem costs)
# Environment: BENCH_BUILD_DIR (default build/plain, as bench/run.sh); the
# target bench_db_bench is built there if needed (must be RelWithDebInfo).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build/plain}
# shellcheck source=../hack/lib/postgres.sh
. "$ROOT/hack/lib/postgres.sh" # pg_bin, pg_as, pg_free_port

ORIG_ARGS="$*"
REPORT="" KEEP=0 BENCH_ARGS=() QUICK=0 LOG_MS=200 MAX_CONN="" TMP_BASE=/tmp
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1; BENCH_ARGS+=(--quick) ;;
    -o) REPORT=$2; shift ;;
    -k) KEEP=1 ;;
    -l) LOG_MS=$2; shift ;;
    -c) MAX_CONN=$2; shift ;;
    -t) TMP_BASE=$2; shift ;;
    --) shift; BENCH_ARGS+=("$@"); break ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "db_bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[db_bench.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

[ -f "$BUILD/CMakeCache.txt" ] || { echo "db_bench.sh: no build in $BUILD (set BENCH_BUILD_DIR)" >&2; exit 1; }
grep -q '^CMAKE_BUILD_TYPE:STRING=RelWithDebInfo' "$BUILD/CMakeCache.txt" \
    && ! grep -q '^PAYBILL_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" \
    || { echo "db_bench.sh: $BUILD is not a plain RelWithDebInfo build" >&2; exit 1; }
cmake --build "$BUILD" -j2 --target bench_db_bench >"$BUILD/db_bench-build.log" 2>&1 \
    || { tail -30 "$BUILD/db_bench-build.log" >&2; exit 1; }
if [ "$(id -u)" -eq 0 ] && ! id paybill >/dev/null 2>&1; then
    echo "db_bench.sh: user 'paybill' missing: run hack/deps.sh" >&2
    exit 1
fi

# The database layout keeps one pool backend per tenant database, so the
# server must allow more than -d connections (see bench/RESULTS-db.md).
N_DB=200
[ $QUICK -eq 1 ] && N_DB=20
for ((i = 0; i < ${#BENCH_ARGS[@]}; i++)); do
    [ "${BENCH_ARGS[$i]}" = -d ] && N_DB=${BENCH_ARGS[$((i + 1))]}
done
MAX_CONN=${MAX_CONN:-$((N_DB + 50))}

DIR=$(mktemp -d "$TMP_BASE/dbbench-XXXXXX")
[ "$(id -u)" -eq 0 ] && chown paybill "$DIR"
chmod 755 "$DIR"
PGCTL=$(pg_bin pg_ctl)
cleanup() {
    pg_as "$PGCTL" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    if [ $KEEP -eq 1 ]; then log "kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

PORT=$(pg_free_port)
SERVER_OPTS="-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR"
SERVER_OPTS+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
SERVER_OPTS+=" -c max_connections=$MAX_CONN -c shared_buffers=128MB"
SERVER_OPTS+=" -c log_min_duration_statement=$LOG_MS -c log_line_prefix='%m [%p] db=%d '"
pg_as "$(pg_bin initdb)" -D "$DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1 \
    || { tail -20 "$DIR/initdb.log" >&2; exit 1; }
pg_as "$PGCTL" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 -o "$SERVER_OPTS" start >/dev/null \
    || { tail -20 "$DIR/server.log" >&2; exit 1; }
log "PostgreSQL on 127.0.0.1:$PORT (socket in $DIR), max_connections=$MAX_CONN"

CONNINFO="host=$DIR port=$PORT user=postgres dbname=postgres"
OUT=$DIR/out.md
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
psi_before=$(awk '/^some/{print $2}' /proc/pressure/cpu 2>/dev/null || echo n/a)
start=$(date +%s)
set +e
"$BUILD/bench_db_bench" --conninfo "$CONNINFO" "${BENCH_ARGS[@]}" | tee "$OUT"
rc=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - start))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
psi_after=$(awk '/^some/{print $2}' /proc/pressure/cpu 2>/dev/null || echo n/a)

# Slow statements, grouped with digits folded (t_d00012 -> t_dN), by total time.
slow() {
    # Simple protocol: "statement: SQL"; extended (parameters): parse, bind
    # and execute are logged apart, each with the SQL: they add up.
    sed -nE 's/^.* db=([^ ]*) LOG:  duration: ([0-9.]+) ms  (statement|parse [^:]*|bind [^:]*|execute [^:]*): (.*)$/\2\t\1\t\4/p' \
        "$DIR/server.log" \
        | awk -F'\t' '{ k = $2 ": " substr($3, 1, 110); gsub(/[0-9][0-9][0-9]+/, "N", k); n[k]++; t[k] += $1; if ($1 > mx[k]) mx[k] = $1 }
               END { for (k in n) printf "| %.1f | %d | %.1f | `%s` |\n", t[k] / 1000, n[k], mx[k] / 1000, k }' \
        | sort -t'|' -k2,2 -rn | head -20
}
{
    echo
    echo "### Statements that took $LOG_MS ms or more (server log; numbers of 3+ digits folded to N)"
    echo
    echo "| total s | count | max s | db: statement (first 110 chars) |"
    echo "|---:|---:|---:|---|"
    slow
} | tee -a "$OUT"

if [ -n "$REPORT" ]; then
    {
        echo "# Tenant database benchmark (bench/db_bench.sh)"
        echo
        echo "- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
        echo "- Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); load average $load_before before, $load_after after; CPU pressure (PSI some) $psi_before before, $psi_after after (the machine is shared with other work: expect noise)"
        echo "- Build: $BUILD (RelWithDebInfo, no sanitizers)"
        echo "- Server: throwaway PostgreSQL, data in $DIR ($(df -T "$DIR" | awk 'NR==2{print $2}')), listening on 127.0.0.1 and a unix socket (the bench connects over the socket), options: \`$SERVER_OPTS\`"
        echo "- Command: \`BENCH_BUILD_DIR=$BUILD bench/db_bench.sh $ORIG_ARGS\` ($elapsed s)"
        echo
        cat "$OUT"
    } >"$REPORT"
    log "report written to $REPORT"
fi
exit "$rc"
