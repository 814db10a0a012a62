#!/usr/bin/env bash
# bench/operator_bench.sh - operator cold start and steady state at scale.
#
# For each N: a fresh paybill-devapi (own temp dir on tmpfs, loopback),
# crds/ installed, one Plan without spec.database (so PostgreSQL is not
# involved: this measures the control plane only), N Tenants and N
# Subscriptions stored BEFORE the operator starts. Then paybill-operator
# starts (admin kubeconfig) and we measure:
#   - time until every Tenant has status.phase Active (Ready=True),
#   - API requests per tenant, by method (the operator's own
#     rest_client_requests_total from /metrics, divided by N),
#   - operator peak RSS (VmHWM) and CPU seconds used for the cold start,
#     its RSS after the steady window and what its informers cache (objects
#     and packed bytes, from the paybill_informer_cache_* gauges),
#   - steady state: operator CPU over a window with nothing changing, and
#     whether the store's resourceVersion / the operator's request counters
#     moved during it (they must not: no periodic writes).
#
# usage: bench/operator_bench.sh [-n "1000 10000"] [-w "4"] [-m silo|pooled|bridge] [-d rls|schema]
#            [-q QPS] [-b BURST] [-s STEADY_S] [-t TIMEOUT_S] [-p PERF_S] [-k]
#   -n   tenant counts to run (default "1000 10000")
#   -w   operator --workers values to run for each N (default "4")
#   -m   the Plan's isolation model (default silo: no shared pool ConfigMap;
#        with -d, the layout's own model: pooled for rls, bridge for schema)
#   -d   PostgreSQL in the loop, tenants' data in this layout (default: no
#        database): a throwaway server (hack/lib/stack.sh stack_database,
#        as the e2e tests start it, with the operator's pg-admin Secret and
#        --config), the crm DataModel (examples/00-datamodel.yaml) and
#        spec.database on the Plan, isolation.data set to the layout, so
#        each tenant's data is provisioned before it is Active (Ready needs
#        DatabaseReady): rls = shared tables under row-level security,
#        schema = a schema per tenant (silo's database per tenant is not
#        measured here). Adds to the RESULT line: the server's CPU
#        (postmaster, its live and its exited backends), tenants per
#        second, operator CPU ms per tenant, and how many tenants
#        paybill.tenants records as active in that layout.
#   -q/-b  operator --qps/--burst (default 5000/10000; the operator's own
#        defaults are 20/30: pass -q 20 -b 30 to measure them)
#   --quick (first argument): N = 200 and a 10 s steady window
#   -s   steady-state window in seconds (default 60)
#   -t   give up waiting for Ready after this many seconds (default 600)
#   -p   perf record the operator and the devapi for this many seconds,
#        OPBENCH_PERF_AFTER_S (default 20) into the run, at OPBENCH_PERF_HZ
#        samples/s (default 99) (default 0: off)
#   -k   keep the run directories (logs, perf.data; default: removed)
# Environment: PAYBILL_APISERVER=kube runs against the real control plane
# (hack/kube.sh: kube-apiserver, etcd, kube-controller-manager) instead of
# paybill-devapi; the RESULT line then names the server's CPU
# kube_apiserver_cpu_ready_s and adds etcd_cpu_ready_s and kcm_cpu_ready_s.
# PAYBILL_BUILD_DIR (default build-opbench) has paybill-operator
# and paybill-devapi; OPBENCH_OUT keeps /metrics snapshots and perf reports
# (default: the run directory); OPBENCH_TMP where run directories go
# (default /dev/shm); after Ready the script waits (up to
# OPBENCH_DRAIN_MAX_S, default 900) for the operator's queues to be empty
# (drained_s: when, from the operator's start; op_cpu_drained_s: its CPU
# by then), then OPBENCH_SETTLE_S before the steady window (default 10);
# OPBENCH_LOAD_PARALLEL concurrent POSTs (default 16);
# OPBENCH_OPERATOR_ARGS more operator flags (e.g. --http2).
# Needs kubectl, curl, jq (and perf for -p).
# Prints one "RESULT key=value ..." line per run, and logs progress on stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${PAYBILL_BUILD_DIR:-$ROOT/build-opbench}
export STACK_BUILD=$BUILD STACK_ROOT=$ROOT STACK_DEVAPI_LOG_LEVEL=${STACK_DEVAPI_LOG_LEVEL:-warn}
# shellcheck source-path=SCRIPTDIR source=../hack/lib/stack.sh
. "$ROOT/hack/lib/stack.sh"

# The operator's default --qps 20 caps a cold start at ~1.3 tenants/s
# (15 requests per tenant): measure the operator and the server, not the
# limiter, unless -q/-b say otherwise. --quick (what bench/run.sh passes):
# N = 200, a 10 s steady window.
NS_LIST="1000 10000" WORKERS_LIST=4 MODEL=silo QPS=5000 BURST=10000 STEADY_S=60 TIMEOUT_S=600 PERF_S=0 KEEP=0 LAYOUT="" MODEL_SET=0
if [ "${1:-}" = "--quick" ]; then
  shift
  NS_LIST=200 STEADY_S=10 TIMEOUT_S=120
fi
while getopts "n:w:m:q:b:s:t:p:kd:" o; do
    case $o in
    n) NS_LIST=$OPTARG ;; w) WORKERS_LIST=$OPTARG ;; m) MODEL=$OPTARG MODEL_SET=1 ;; d) LAYOUT=$OPTARG ;;
    q) QPS=$OPTARG ;; b) BURST=$OPTARG ;; s) STEADY_S=$OPTARG ;; t) TIMEOUT_S=$OPTARG ;;
    p) PERF_S=$OPTARG ;; k) KEEP=1 ;;
    *) sed -n '/^# usage/,/^# Prints/p' "$0" >&2; exit 2 ;;
    esac
done
case $LAYOUT in
"") ;;
rls) [ "$MODEL_SET" = 1 ] || MODEL=pooled ;;
schema) [ "$MODEL_SET" = 1 ] || MODEL=bridge ;;
*) echo "opbench: -d takes rls or schema, not '$LAYOUT'" >&2; exit 2 ;;
esac
for b in paybill-operator paybill-devapi; do
    [ -x "$BUILD/$b" ] || { echo "opbench: $BUILD/$b missing (build it first)" >&2; exit 1; }
done

BENCH_TAG=opbench
. "$ROOT/bench/lib.sh"

# The store's current revision: any list reports it.
store_rv() { api_get "/api/v1/namespaces?limit=1" | jq -r .metadata.resourceVersion; }

plan_yaml() {
    cat <<EOF
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: bench}
spec:
  displayName: Bench
  tier: bench
  isolation: {model: $MODEL${LAYOUT:+, data: $LAYOUT}}
  quotas: {cpu: "1", memory: 1Gi, storage: 1Gi, pods: 5, objects: 50}
  billing: {price: "0", currency: USD, interval: month}
EOF
    [ -z "$LAYOUT" ] || echo "  database: {dataModel: crm, connectionLimit: 5}"
}

# CPU seconds of the throwaway PostgreSQL: the postmaster, its live
# children, and (cutime/cstime) the children it has reaped.
pg_cpu_s() {
    local pm t=0 c
    pm=$(head -1 "$RUN_DIR/pg/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat" 2>/dev/null || echo 0)
    for c in $(pgrep -P "$pm"); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
    done
    awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", t / hz}'
}

# Tenants that paybill.tenants (the operator's registry, src/provision/
# tenantdb.c) records as active in the layout, over every database.
pg_tenants_active() {
    local db total=0 c
    for db in $(pg_psql -d postgres -c "SELECT datname FROM pg_database WHERE NOT datistemplate"); do
        c=$(pg_psql -d "$db" -c "SELECT count(*) FROM paybill.tenants WHERE state = 'active' AND layout = '$LAYOUT'" 2>/dev/null || echo 0)
        total=$((total + c))
    done
    echo "$total"
}

# One curl config with N tenant and N subscription POSTs, sent over
# HTTP/2 by a single curl --parallel (creating 20,000 objects one kubectl
# call at a time would dominate the run).
load_objects() {
    local n=$1 cfg=$RUN_DIR/load.curlrc
    awk -v n="$n" -v api="$API" -v tok="$TOKEN" -v ca="$RUN_DIR/ca.pem" 'BEGIN {
        for (kind = 0; kind < 2; kind++) for (i = 1; i <= n; i++) {
            name = sprintf("t%05d", i)
            if (kind == 0) {
                res = "tenants"
                body = sprintf("{\\\"apiVersion\\\":\\\"paybill.dev/v1alpha1\\\",\\\"kind\\\":\\\"Tenant\\\",\\\"metadata\\\":{\\\"name\\\":\\\"%s\\\"},\\\"spec\\\":{\\\"displayName\\\":\\\"Tenant %d\\\",\\\"owner\\\":{\\\"name\\\":\\\"Bench\\\",\\\"email\\\":\\\"bench@example.com\\\"},\\\"deletionPolicy\\\":\\\"Delete\\\"}}", name, i)
            } else {
                res = "subscriptions"
                body = sprintf("{\\\"apiVersion\\\":\\\"paybill.dev/v1alpha1\\\",\\\"kind\\\":\\\"Subscription\\\",\\\"metadata\\\":{\\\"name\\\":\\\"%s\\\"},\\\"spec\\\":{\\\"tenantRef\\\":{\\\"name\\\":\\\"%s\\\"},\\\"planRef\\\":{\\\"name\\\":\\\"bench\\\"},\\\"billing\\\":{\\\"provider\\\":\\\"manual\\\"}}}", name, name)
            }
            if (kind + i > 1) print "next"  # between transfers: a trailing one is an empty transfer
            printf "url = \"%s/apis/paybill.dev/v1alpha1/%s\"\n", api, res
            printf "header = \"Authorization: Bearer %s\"\nheader = \"Content-Type: application/json\"\n", tok
            printf "cacert = \"%s\"\ndata-binary = \"%s\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\nsilent\nshow-error\n", ca, body
        }
    }' >"$cfg"
    # stderr to a file: --parallel draws a progress meter whatever -s says.
    curl -sS --parallel --parallel-max "${OPBENCH_LOAD_PARALLEL:-16}" -K "$cfg" \
        >"$RUN_DIR/load.codes" 2>"$RUN_DIR/load.err" || { tail -5 "$RUN_DIR/load.err" >&2; return 1; }
    # 409 AlreadyExists is tolerated: over HTTP/2 curl re-sends a request
    # whose connection died, though the server may have committed it. The
    # counts below are what must hold.
    local bad have res
    bad=$(grep -cvE '^(201|409)$' "$RUN_DIR/load.codes" || true)
    [ "$bad" = 0 ] || { log "load: $bad requests failed:"; sort "$RUN_DIR/load.codes" | uniq -c >&2; return 1; }
    LOAD_409=$(grep -c '^409$' "$RUN_DIR/load.codes" || true)
    for res in tenants subscriptions; do
        have=$(count_items "/apis/paybill.dev/v1alpha1/$res")
        [ "$have" = "$n" ] || { log "load: $have $res stored, want $n"; return 1; }
    done
}

# How many objects of a list pass a jq test (default: all), read in pages
# of 2,000 so that no reply holds them all (one list of 100,000 Tenants is
# ~250 MB of JSON, and building it once got the dev API server OOM-killed).
count_items() {
    local path=$1 test=${2:-true} cont="" total=0 page sep
    while :; do
        case $path in *\?*) sep='&' ;; *) sep='?' ;; esac
        page=$(api_get "$path${sep}limit=2000${cont:+&continue=$(jq -rn --arg c "$cont" '$c|@uri')}" |
            jq -r "\"\\([.items[] | select($test)] | length) \\(.metadata.continue // \"\")\"") || return 1
        total=$((total + ${page%% *}))
        cont=${page#* }
        [ -n "$cont" ] || break
    done
    echo "$total"
}

# "active total phase:count ..." for the tenants. Up to 2,000: from one
# list, what the server holds. Above: from the operator's paybill_tenants
# gauge (what its cache holds), so that progress polls neither load the
# server (a list of 10,000 Tenants every 5 s inflated its CPU, the ratio's
# denominator) nor wait 5 s between looks; the end is then checked on the
# server (count_items).
tenant_phases() {
    local n=${1:-0}
    if [ "$n" -gt 2000 ]; then
        curl -sS "http://$METRICS_ADDR/metrics" | awk '
            /^paybill_tenants\{/ {
                p = $0; sub(/.*phase="/, "", p); sub(/".*/, "", p)
                v = $NF + 0; by[p] += v; tot += v
            }
            END {
                s = ""; for (p in by) s = s (s ? "," : "") p ":" by[p]
                printf "%d %d %s\n", by["Active"] + 0, tot + 0, s
            }'
        return
    fi
    api_get "/apis/paybill.dev/v1alpha1/tenants" |
        jq -r '[.items[] | .status.phase // "none"] as $a | ($a | group_by(.) | map("\(.[0]):\(length)")) as $p
               | "\($a | map(select(. == "Active")) | length) \($a | length) \($p | join(","))"'
}

# rest_client_requests_total summed by method (and the total), as
# "METHOD count" lines; codes other than 2xx listed separately.
requests_by_method() {
    curl -sS "http://$METRICS_ADDR/metrics" | awk '
        /^rest_client_requests_total\{/ {
            m = $0; sub(/.*method="/, "", m); sub(/".*/, "", m)
            c = $0; sub(/.*code="/, "", c); sub(/".*/, "", c)
            v = $NF + 0; by[m] += v; tot += v
            if (c !~ /^2/) bad[m " " c] += v
        }
        END { for (m in by) print m, by[m]; print "TOTAL", tot; for (k in bad) print "NON2XX " k, bad[k] }'
}

# True when every controller's workqueue is empty and no worker is
# reconciling (workqueue_depth and controller_runtime_active_workers all 0).
queues_empty() {
    curl -sS "http://$METRICS_ADDR/metrics" | awk '
        /^workqueue_depth\{/ || /^controller_runtime_active_workers\{/ { seen = 1; if ($NF + 0 != 0) busy = 1 }
        END { exit !(seen && !busy) }'
}

bench_one() {
    local n=$1 workers=$2
    RUN_DIR=$(mktemp -d "${OPBENCH_TMP:-/dev/shm}/opbench.XXXXXX")
    log "N=$n workers=$workers model=$MODEL dir=$RUN_DIR"
    stack_apiserver_start "$RUN_DIR"
    stack_install_crds
    kubectl create namespace "${STACK_NAMESPACE:-paybill-system}" >/dev/null
    api_env
    if [ -n "$LAYOUT" ]; then
        stack_database "$RUN_DIR" "${STACK_NAMESPACE:-paybill-system}"
        kubectl apply -f "$ROOT/examples/00-datamodel.yaml" >/dev/null
    fi
    plan_yaml | kubectl apply -f - >/dev/null

    local t0 t1
    t0=$(now)
    load_objects "$n"
    t1=$(now)
    local load_s
    load_s=$(elapsed "$t0" "$t1")
    log "loaded $n tenants + $n subscriptions in ${load_s}s ($LOAD_409 POSTs answered 409 AlreadyExists)"

    cp "$RUN_DIR/admin.kubeconfig" "$RUN_DIR/operator.kubeconfig"
    METRICS_ADDR=127.0.0.1:$(pg_free_port)
    local flags=(--workers "$workers" --metrics-addr "$METRICS_ADDR" --health-addr 127.0.0.1:0 --log-level info)
    [ -z "$QPS" ] || flags+=(--qps "$QPS")
    [ -z "$BURST" ] || flags+=(--burst "$BURST")
    # shellcheck disable=SC2206 # word splitting wanted: extra flags, e.g. --http2
    flags+=(${OPBENCH_OPERATOR_ARGS:-})
    local pg_cpu0=0
    if [ -n "$LAYOUT" ]; then
        flags+=(--config "$RUN_DIR/operator.yaml")
        pg_cpu0=$(pg_cpu_s)
    fi
    local api_pid op_pid etcd_pid="" kcm_pid="" api_name=devapi
    if [ "$(stack_apiserver_kind)" = kube ]; then
        api_name=kube_apiserver
        api_pid=$(sed -n 's/^KUBE_APISERVER_PID=//p' "$RUN_DIR/kube/env")
        etcd_pid=$(sed -n 's/^KUBE_ETCD_PID=//p' "$RUN_DIR/kube/env")
        kcm_pid=$(sed -n 's/^KUBE_CONTROLLER_MANAGER_PID=//p' "$RUN_DIR/kube/env")
    else
        api_pid=$(cat "$RUN_DIR/apiserver.pid")
    fi
    local api_cpu0 etcd_cpu0=0 kcm_cpu0=0
    api_cpu0=$(cpu_s "$api_pid")
    [ -z "$etcd_pid" ] || etcd_cpu0=$(cpu_s "$etcd_pid")
    [ -z "$kcm_pid" ] || kcm_cpu0=$(cpu_s "$kcm_pid")
    t0=$(now)
    stack_operator_start "$RUN_DIR" operator "${flags[@]}"
    op_pid=$(cat "$RUN_DIR/operator.pid")
    log "operator pid $op_pid: ${flags[*]}"

    # Poll every second (tenant_phases: a list up to 2,000 tenants, the
    # operator's gauge above).
    local interval=1 perf_pid="" el=0 active=0 total=0 phases="" t_ready="" last_log=0
    while :; do
        kill -0 "$op_pid" 2>/dev/null || { log "operator exited; tail of its log:"; tail -20 "$RUN_DIR/operator.log" >&2; break; }
        read -r active total phases < <(tenant_phases "$n" || echo "0 0 poll-failed")
        t1=$(now)
        el=$(elapsed "$t0" "$t1")
        if [ "$active" = "$n" ]; then
            t_ready=$el
            # The gauge is the operator's view: the server must agree.
            if [ "$n" -gt 2000 ]; then
                local on_server
                on_server=$(count_items /apis/paybill.dev/v1alpha1/tenants '.status.phase == "Active"' || echo 0)
                [ "$on_server" = "$n" ] || { log "gauge says $n Active, the server $on_server; polling on"; t_ready=""; }
            fi
            [ -z "$t_ready" ] || break
        fi
        if [ "${el%.*}" -ge $((last_log + 30)) ]; then
            last_log=${el%.*}
            log "t=${el}s active=$active/$total $phases rss=$(vm_kb "$op_pid" VmRSS)kB op_cpu=$(cpu_s "$op_pid")s"
        fi
        if [ "$PERF_S" -gt 0 ] && [ -z "$perf_pid" ] && [ "${el%.*}" -ge "${OPBENCH_PERF_AFTER_S:-20}" ]; then
            perf record -F "${OPBENCH_PERF_HZ:-99}" --call-graph dwarf,16384 -p "$op_pid" -o "$RUN_DIR/perf.data" -- sleep "$PERF_S" >/dev/null 2>&1 &
            perf_pid=$!
            perf record -F "${OPBENCH_PERF_HZ:-99}" --call-graph dwarf,16384 -p "$api_pid" -o "$RUN_DIR/perf-devapi.data" -- sleep "$PERF_S" >/dev/null 2>&1 &
            perf_pid="$perf_pid $!"
            log "perf recording the operator and the devapi for ${PERF_S}s"
        fi
        if [ "${el%.*}" -ge "$TIMEOUT_S" ]; then log "timeout after ${el}s: active=$active/$n ($phases)"; break; fi
        sleep "$interval"
    done
    local op_cpu_ready op_sys_ready api_cpu_ready hwm
    op_cpu_ready=$(cpu_s "$op_pid" 2>/dev/null || echo NA)
    op_sys_ready=$(sys_cpu_s "$op_pid" 2>/dev/null || echo NA)
    api_cpu_ready=$(delta2 "$api_cpu0" "$(cpu_s "$api_pid")")
    local cp_fields=""
    [ -z "$etcd_pid" ] || cp_fields+=" etcd_cpu_ready_s=$(delta2 "$etcd_cpu0" "$(cpu_s "$etcd_pid")")"
    [ -z "$kcm_pid" ] || cp_fields+=" kcm_cpu_ready_s=$(delta2 "$kcm_cpu0" "$(cpu_s "$kcm_pid")")"
    hwm=$(vm_kb "$op_pid" VmHWM 2>/dev/null || echo NA)
    local db_fields=""
    if [ -n "$LAYOUT" ]; then
        # Ready includes DatabaseReady: every tenant's data is in place
        # (pg_tenants_active checks it on the server). On a timeout: the
        # server's CPU and its count so far.
        db_fields=" layout=$LAYOUT pg_cpu_ready_s=$(delta2 "$pg_cpu0" "$(pg_cpu_s)")"
        [ -z "$t_ready" ] ||
            db_fields+=" tenants_per_s=$(awk -v n="$n" -v t="$t_ready" 'BEGIN{printf "%.1f", n/t}') op_cpu_ms_per_tenant=$(awk -v n="$n" -v c="$op_cpu_ready" 'BEGIN{printf "%.2f", 1000*c/n}')"
        db_fields+=" pg_tenants_active=$(pg_tenants_active)"
    fi
    requests_by_method >"$RUN_DIR/requests.ready" 2>/dev/null || true
    local out=${OPBENCH_OUT:-$RUN_DIR} tag=N$n-w$workers
    curl -sS "http://$METRICS_ADDR/metrics" >"$out/metrics-$tag.ready.txt" 2>/dev/null || true
    if [ -n "$perf_pid" ]; then
        # shellcheck disable=SC2086
        wait $perf_pid || true
        local what
        for what in perf perf-devapi; do
            perf report -i "$RUN_DIR/$what.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
                grep -E '^ +[0-9]' | head -40 >"$out/$what-$tag.txt" || true
            perf report -i "$RUN_DIR/$what.data" --no-children --sort symbol -G --stdio 2>/dev/null |
                head -400 >"$out/$what-$tag.callers.txt" || true
        done
        log "perf top symbols in $out/perf{,-devapi}-$tag.txt"
    fi
    if [ -z "$t_ready" ]; then
        echo "RESULT N=$n workers=$workers model=$MODEL load_s=$load_s load_409=$LOAD_409 ready_s=NA after_s=$el active=$active phases=$phases op_cpu_s=$op_cpu_ready ${api_name}_cpu_s=$api_cpu_ready$cp_fields peak_rss_kb=$hwm$db_fields"
        cat "$RUN_DIR/requests.ready" >&2
        cleanup
        return 0
    fi
    log "all $n tenants Active after ${t_ready}s (op cpu ${op_cpu_ready}s, $api_name cpu ${api_cpu_ready}s, VmHWM ${hwm}kB)"

    # Steady state: until the operator's queues are empty (a tenant is
    # Active before its licence is issued: on a slow server the licences
    # trail), then a short settle so in-flight tail work (Plan and
    # Subscription status, Events) finishes, then the window.
    local drained_s="NA" op_cpu_drained="NA" drain_until=$((SECONDS + ${OPBENCH_DRAIN_MAX_S:-900}))
    while [ "$SECONDS" -lt "$drain_until" ]; do
        if queues_empty && sleep 1 && queues_empty; then
            drained_s=$(elapsed "$t0" "$(now)")
            op_cpu_drained=$(cpu_s "$op_pid")
            break
        fi
        sleep 1
    done
    [ "$drained_s" != NA ] || log "the operator's queues were not empty after ${OPBENCH_DRAIN_MAX_S:-900}s; steady window anyway"
    sleep "${OPBENCH_SETTLE_S:-10}"
    local rv0 rv1 c0 c1 w0 w1
    requests_by_method >"$RUN_DIR/requests.steady0"
    rv0=$(store_rv)
    c0=$(cpu_s "$op_pid")
    w0=$(now)
    sleep "$STEADY_S"
    c1=$(cpu_s "$op_pid")
    w1=$(now)
    rv1=$(store_rv)
    requests_by_method >"$RUN_DIR/requests.steady1"
    hwm=$(vm_kb "$op_pid" VmHWM)
    # With a database every Tenant reconcile runs pb_tdb_ensure, and each
    # tenant's own writes (Secret, status) queue a second reconcile behind
    # the first pass: that work falls after Ready, in the settle and
    # steady windows. So also the CPU from the start to the window's end.
    [ -z "$LAYOUT" ] ||
        db_fields+=" op_cpu_end_s=$c1 pg_cpu_end_s=$(delta2 "$pg_cpu0" "$(pg_cpu_s)")"
    local rss cache_objects cache_kb
    rss=$(vm_kb "$op_pid" VmRSS)
    curl -sS "http://$METRICS_ADDR/metrics" >"$out/metrics-$tag.steady.txt" 2>/dev/null || true
    # What the informers hold, per their gauges (packed objects + keys).
    cache_objects=$(awk '/^paybill_informer_cached_objects\{/ {s += $2} END {printf "%d", s}' "$out/metrics-$tag.steady.txt")
    cache_kb=$(awk '/^paybill_informer_cache_bytes\{/ {s += $2} END {printf "%d", s / 1024}' "$out/metrics-$tag.steady.txt")
    local steady_cpu steady_pct dreq
    steady_cpu=$(delta2 "$c0" "$c1")
    steady_pct=$(awk -v a="$c0" -v b="$c1" -v s="$w0" -v e="$w1" 'BEGIN{printf "%.2f", 100*(b-a)/(e-s)}')
    dreq=$(join <(sort "$RUN_DIR/requests.steady0") <(sort "$RUN_DIR/requests.steady1") |
        awk '$1 !~ /NON2XX/ && $3 != $2 {printf "%s%s:+%d", s, $1, $3-$2; s=","}')
    local per
    per=$(awk -v n="$n" '$1 != "NON2XX" {printf "%s%s=%.2f", s, $1, $2/n; s=" "} $1 == "NON2XX" {bad = bad sprintf(" %s_%s=%d", $2, $3, $4)} END {if (bad) printf " non2xx:%s", bad}' "$RUN_DIR/requests.steady1")
    echo "RESULT N=$n workers=$workers model=$MODEL load_s=$load_s load_409=$LOAD_409 ready_s=$t_ready op_cpu_ready_s=$op_cpu_ready op_sys_ready_s=$op_sys_ready ${api_name}_cpu_ready_s=$api_cpu_ready$cp_fields peak_rss_kb=$hwm steady_rss_kb=$rss cache_objects=$cache_objects cache_kb=$cache_kb drained_s=$drained_s op_cpu_drained_s=$op_cpu_drained steady_window_s=$(elapsed "$w0" "$w1") steady_cpu_s=$steady_cpu steady_cpu_pct=$steady_pct rv_before=$rv0 rv_after=$rv1 steady_requests=${dreq:-none}$db_fields per_tenant: $per"
    grep -ciE 'level=(error|warn)|"level":"(error|warn)"' "$RUN_DIR/operator.log" >/dev/null &&
        log "operator warnings/errors: $(grep -ciE 'level=(error|warn)' "$RUN_DIR/operator.log")"
    cleanup
}

for n in $NS_LIST; do
    for w in $WORKERS_LIST; do
        bench_one "$n" "$w"
    done
done
