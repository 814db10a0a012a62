#!/usr/bin/env bash
# bench/cloud_bench.sh - tenants' cloud runs (OpenTofu) on the `local`
# target through the operator, per run-pool size (issue 14).
#
# For each pool size: a fresh paybill-devapi (own temp dir on tmpfs,
# loopback), crds/ installed, the system namespace, one Plan with
# spec.cloud {provider: local, module: local, approval: Auto, drift checks
# off (interval "0s"), base_dir in the run directory} and no spec.database
# (no PostgreSQL), N Tenants and N Subscriptions (billing provider manual)
# stored BEFORE the operator starts. Then paybill-operator starts (admin
# kubeconfig, --config with a cloud: section: hack/tofu.sh's tofu,
# hack/providers.sh's offline mirror, modules/, cloud.poolSize = the pool
# size, the kubernetes state backend on the same devapi) and we measure:
#   - wall: operator start -> every Tenant has CloudReady=True (polled every
#     0.5 s with one list of the tenants);
#   - the tool's own time, in the run itself: cloud.binary is a small bash
#     wrapper (in the run directory) that runs tofu and appends "start end
#     rc tenant command" ($EPOCHREALTIME) to a file. From it: tool_sum_s
#     (sum of every tofu invocation's wall time), the count and median per
#     command (init, plan, show, apply, output), the tool's busy time (union
#     of the intervals), the time to the first tofu start, the last tofu
#     end, and at pool 1 the gaps between one invocation's end and the next
#     one's start, by kind (inside a job: init -> plan -> show, init ->
#     apply -> output; between jobs: a job's last command -> the next job's
#     init). The wrapper's bash start (wrapper_ms, measured with /bin/true
#     as the tool) falls outside the stamps, so it counts as overhead;
#   - first/median/last_cloudready_s: when tenants became CloudReady
#     (lastTransitionTime, second resolution) from operator start: the pool
#     takes the oldest job first, so a burst of new tenants has every plan
#     run before the first apply (plans_before_first_apply);
#   - overhead_per_tenant_s = (wall - tool_sum) / N: what the operator adds
#     per tenant beyond the tool (meaningful at pool 1, where the runs do not
#     overlap; at pool > 1 the line reports wall*pool - tool_sum instead,
#     the pool's idle slots);
#   - the operator's own CPU: utime+stime from /proc/<pid>/stat (NOT its
#     children's: cutime+cstime, the tool's CPU, is reported apart as
#     tool_cpu_s), per tenant and per tofu invocation; its peak RSS (VmHWM);
#     the devapi's CPU (it also serves the tool's state Secrets and Leases);
#     the operator's API requests per tenant (rest_client_requests_total);
#   - the tool alone (-l, default 5 times): after the operator is stopped,
#     the same init/plan/show/init/apply/output sequence the operator runs,
#     sequentially, on a copy of one tenant's rendered root module
#     (main.tf.json) with a fresh state Secret suffix and tenant name each
#     time (so it creates the same 5 resources), against the same devapi:
#     alone_s = median seconds for the 6 commands, without the wrapper.
#
# usage: bench/cloud_bench.sh [-n TENANTS] [-P "4 8 1"] [-w WORKERS] [-m MODEL]
#            [-q QPS] [-b BURST] [-l LOOPS] [-t TIMEOUT_S] [-k] [-D]
#   -n   tenants (default 100)
#   -P   cloud.poolSize values, run in this order (default "4 8 1")
#   -w   operator --workers (default 4)
#   -m   the Plan's isolation model (default silo)
#   -q/-b  operator --qps/--burst (default 5000/10000 as operator_bench.sh:
#        the operator's own defaults are 20/30; pass -q 20 -b 30 for them)
#   -l   tool-alone sequences per pool size (default 5; 0: off)
#   -t   give up waiting after this many seconds (default 1800)
#   -k   keep the run directories (operator log, tool-times, /metrics
#        snapshot, the tenants' work dirs; default: removed, but kept when a
#        run fails or the operator logs unexpected warnings)
#   -D   direct: cloud.binary is tofu itself, no timing wrapper (a control
#        for what the wrapper adds to the wall time; no tool_* numbers)
#   --quick (first argument): N = 10, pool sizes "4 1", -l 1
# Environment: PAYBILL_BUILD_DIR (default build/h-cbench) has
# paybill-operator and paybill-devapi (a plain RelWithDebInfo build);
# CBENCH_TMP where run directories go (default /dev/shm).
# Needs kubectl, curl, jq, hack/tofu.sh build and hack/providers.sh build.
# Prints one "RESULT key=value ..." line per pool size, and logs progress
# on stderr. Not a ctest test.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${PAYBILL_BUILD_DIR:-$ROOT/build/h-cbench}
export STACK_BUILD=$BUILD STACK_ROOT=$ROOT STACK_DEVAPI_LOG_LEVEL=${STACK_DEVAPI_LOG_LEVEL:-warn}
NS=${STACK_NAMESPACE:-paybill-system}
export STACK_NAMESPACE=$NS
# shellcheck source-path=SCRIPTDIR source=../hack/lib/stack.sh
. "$ROOT/hack/lib/stack.sh"
unset TF_CLI_CONFIG_FILE

N=100 POOLS="4 8 1" WORKERS=4 MODEL=silo QPS=5000 BURST=10000 LOOPS=5 TIMEOUT_S=1800 KEEP=0 DIRECT=0
if [ "${1:-}" = "--quick" ]; then
    shift
    N=10 POOLS="4 1" LOOPS=1
fi
while getopts "n:P:w:m:q:b:l:t:kD" o; do
    case $o in
    n) N=$OPTARG ;; P) POOLS=$OPTARG ;; w) WORKERS=$OPTARG ;; m) MODEL=$OPTARG ;;
    q) QPS=$OPTARG ;; b) BURST=$OPTARG ;; l) LOOPS=$OPTARG ;; t) TIMEOUT_S=$OPTARG ;; k) KEEP=1 ;; D) DIRECT=1 ;;
    *) sed -n '/^# usage/,/^# Prints/p' "$0" >&2; exit 2 ;;
    esac
done
for b in paybill-operator paybill-devapi; do
    [ -x "$BUILD/$b" ] || { echo "cloudbench: $BUILD/$b missing (build it first)" >&2; exit 1; }
done
TOFU=$("$ROOT/hack/tofu.sh" bindir)/tofu
[ -x "$TOFU" ] || { echo "cloudbench: tofu is not built (hack/tofu.sh build)" >&2; exit 1; }
"$ROOT/hack/providers.sh" build >/dev/null || { echo "cloudbench: providers not built (hack/providers.sh build)" >&2; exit 1; }

BENCH_TAG=cloudbench
. "$ROOT/bench/lib.sh"

plan_yaml() {
    cat <<EOF
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: cbench}
spec:
  displayName: Cloud bench
  tier: cbench
  isolation: {model: $MODEL}
  quotas: {cpu: "1", memory: 1Gi, storage: 1Gi, pods: 5, objects: 50}
  billing: {price: "0", currency: USD, interval: month}
  cloud:
    provider: local
    module: local
    approval: Auto
    variables: {base_dir: "$RUN_DIR/local-cloud"}
    drift: {interval: 0s}
EOF
}

tenants_yaml() {
    awk -v n="$1" 'BEGIN {
        for (i = 1; i <= n; i++) {
            name = sprintf("t%05d", i)
            printf "---\napiVersion: paybill.dev/v1alpha1\nkind: Tenant\nmetadata: {name: %s}\n", name
            printf "spec:\n  displayName: Tenant %d\n  owner: {name: Bench, email: bench@example.com}\n  region: local-1\n  deletionPolicy: Delete\n", i
            printf "---\napiVersion: paybill.dev/v1alpha1\nkind: Subscription\nmetadata: {name: %s}\n", name
            printf "spec:\n  tenantRef: {name: %s}\n  planRef: {name: cbench}\n  billing: {provider: manual}\n", name
        }
    }'
}

# "cloudready total reasons" from one list of the tenants (reasons: the
# CloudReady reason counts, e.g. Applied:97,Applying:3).
tenant_state() {
    api_get "/apis/paybill.dev/v1alpha1/tenants" |
        jq -r '[.items[] | ([.status.conditions[]? | select(.type == "CloudReady")][0] // {status: "none", reason: "none"})] as $c
               | ($c | map(.reason // "none") | group_by(.) | map("\(.[0]):\(length)") | join(",")) as $r
               | "\($c | map(select(.status == "True")) | length) \($c | length) \($r)"'
}

requests_total() {
    curl -sS "http://$METRICS_ADDR/metrics" 2>/dev/null |
        awk '/^rest_client_requests_total\{/ {t += $NF} END {printf "%d", t}'
}

# The timing wrapper: cloud.binary. Everything it adds is a bash start and
# two $EPOCHREALTIME reads (wrapper_ms below measures it).
write_wrapper() {
    cat >"$RUN_DIR/tofu-timed" <<EOF
#!/bin/bash
s=\$EPOCHREALTIME
"$TOFU" "\$@"
rc=\$?
printf '%s %s %s %s %s\n' "\$s" "\$EPOCHREALTIME" "\$rc" "\${PWD##*/}" "\$1" >>"$RUN_DIR/tool-times"
exit \$rc
EOF
    chmod 755 "$RUN_DIR/tofu-timed"
}

# What the wrapper itself costs per call (with /bin/true as the tool), ms.
wrapper_ms() {
    local w=$RUN_DIR/true-timed i t0 t1
    sed -e "s|\"$TOFU\"|/bin/true|" -e "s|$RUN_DIR/tool-times|/dev/null|" "$RUN_DIR/tofu-timed" >"$w"
    chmod 755 "$w"
    t0=$(now)
    for i in $(seq 1 200); do "$w" x; done
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)*1000/200}'
}

# Tool statistics from tool-times: sum, busy (union of the intervals),
# per command count and median ms.
tool_stats() {
    sort -n "$RUN_DIR/tool-times" | awk -v t0="$1" '
        { s = $1; e = $2; d = e - s; sum += d; n++
          if ($3 != 0) bad++
          if (n == 1) first = s
          if (n == 1 || s > cur_e) { if (n > 1) busy += cur_e - cur_s; cur_s = s; cur_e = e } else if (e > cur_e) cur_e = e
          if (e > last) last = e }
        END { busy += cur_e - cur_s
              printf "tool_runs=%d tool_failed=%d tool_sum_s=%.1f tool_busy_s=%.1f first_tool_s=%.2f last_tool_end=%.3f", n, bad, sum, busy, first - t0, last }'
    # How many plans ran before the first apply (the pool is FIFO: a
    # tenant's apply job queues behind the plan jobs submitted before it).
    sort -n "$RUN_DIR/tool-times" | awk '$5 == "apply" {exit} $5 == "plan" {p++} END {printf " plans_before_first_apply=%d", p}'
    for c in init plan show apply output; do
        awk -v c="$c" '$5 == c {print ($2 - $1) * 1000}' "$RUN_DIR/tool-times" | sort -n |
            awk -v c="$c" '{v[NR] = $1} END {if (NR) printf " %s_n=%d %s_med_ms=%.0f", c, NR, c, v[int((NR + 1) / 2)]}'
    done
}

# Gaps between consecutive invocations (pool 1: they do not overlap), by
# kind: in_job (init -> plan -> show, init -> apply -> output: the runner
# starting the next command) and between_jobs (a job's last command -> the
# next job's init: result -> tenant enqueued -> reconcile -> status write ->
# next job queued); count, median ms and sum.
gap_stats() {
    sort -n "$RUN_DIR/tool-times" | awk '
        NR > 1 { print ($5 == "init" ? "between_jobs" : "in_job"), ($1 - pe) * 1000 }
        { pe = $2 }' | sort -k1,1 -k2,2n | awk '
        { v[$1, ++c[$1]] = $2; s[$1] += $2 }
        END { for (k in c) printf " gap_%s_n=%d gap_%s_med_ms=%.0f gap_%s_sum_s=%.1f", k, c[k], k, v[k, int((c[k] + 1) / 2)], k, s[k] / 1000 }'
}

# The same sequence the operator runs for one tenant (cloud_controller.c:
# plan job init/plan/show, apply job init/apply/output), alone, LOOPS times
# on copies of one tenant's root module with a fresh state and tenant.
tool_alone() {
    local src=$1 i d t0 t1 out=""
    for i in $(seq 1 "$LOOPS"); do
        d=$RUN_DIR/alone/a$i
        mkdir -p "$d"
        jq --arg sfx "cbench-alone-$i" --arg t "alone-$i" '
            .terraform.backend.kubernetes.secret_suffix = $sfx
            | (.module[] |= (if has("tenant") then .tenant = $t else . end))' "$src/main.tf.json" >"$d/main.tf.json"
        t0=$(now)
        (
            cd "$d"
            export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=$RUN_DIR/tofu.tfrc
            "$TOFU" init -input=false -no-color -reconfigure >init.log 2>&1 &&
                "$TOFU" plan -input=false -no-color -lock-timeout=0s -out=tfplan >plan.log 2>&1 &&
                "$TOFU" show -json -no-color tfplan >plan.json 2>&1 &&
                "$TOFU" init -input=false -no-color -reconfigure >>init.log 2>&1 &&
                "$TOFU" apply -input=false -no-color -lock-timeout=0s tfplan >apply.log 2>&1 &&
                "$TOFU" output -json -no-color >outputs.json 2>&1
        ) || { log "tool alone: run $i failed: $(tail -5 "$d"/*.log)"; return 1; }
        t1=$(now)
        out="$out $(delta2 "$t0" "$t1")"
        [ -f "$RUN_DIR/local-cloud/alone-$i/bucket/.paybill-bucket" ] || log "tool alone: run $i made no bucket (root module shape changed?)"
    done
    # shellcheck disable=SC2086
    printf '%s\n' $out | sort -n | awk '{v[NR] = $1} END {printf "alone_s=%s alone_runs=%s", v[int((NR + 1) / 2)], NR}'
    echo " alone_all=$(echo $out | tr ' ' ',')"
}

bench_one() {
    local pool=$1
    RUN_DIR=$(mktemp -d "${CBENCH_TMP:-/dev/shm}/cbench.XXXXXX")
    chmod 755 "$RUN_DIR"
    log "N=$N pool=$pool workers=$WORKERS model=$MODEL dir=$RUN_DIR"
    stack_devapi_start "$RUN_DIR"
    stack_install_crds
    kubectl create namespace "$NS" >/dev/null
    api_env
    mkdir -p "$RUN_DIR/local-cloud" "$RUN_DIR/cloud"
    plan_yaml | kubectl apply -f - >/dev/null
    local t0 t1
    t0=$(now)
    tenants_yaml "$N" | kubectl apply -f - >/dev/null
    t1=$(now)
    log "stored $N tenants + $N subscriptions in $(elapsed "$t0" "$t1")s"

    "$ROOT/hack/providers.sh" tfrc >"$RUN_DIR/tofu.tfrc"
    write_wrapper
    : >"$RUN_DIR/tool-times"
    cp "$RUN_DIR/admin.kubeconfig" "$RUN_DIR/operator.kubeconfig"
    cat >"$RUN_DIR/operator.yaml" <<CFG
systemNamespace: $NS
cloud:
  binary: $([ "$DIRECT" = 1 ] && echo "$TOFU" || echo "$RUN_DIR/tofu-timed")
  cliConfig: $RUN_DIR/tofu.tfrc
  modulesDir: $ROOT/modules
  workDir: $RUN_DIR/cloud
  poolSize: $pool
  runTimeout: 5m
  kubeconfig: $RUN_DIR/operator.kubeconfig
CFG
    METRICS_ADDR=127.0.0.1:$(pg_free_port)
    local flags=(--config "$RUN_DIR/operator.yaml" --workers "$WORKERS" --metrics-addr "$METRICS_ADDR"
        --health-addr 127.0.0.1:0 --webhook-addr 0 --log-level info --qps "$QPS" --burst "$BURST")
    local api_pid op_pid api_cpu0
    api_pid=$(cat "$RUN_DIR/apiserver.pid")
    api_cpu0=$(cpu_s "$api_pid")
    t0=$(now)
    stack_operator_start "$RUN_DIR" operator "${flags[@]}"
    op_pid=$(cat "$RUN_DIR/operator.pid")
    log "operator pid $op_pid: poolSize $pool, ${flags[*]}"

    local el=0 ready=0 total=0 reasons="" t_ready="" last_log=0 died=0
    while :; do
        kill -0 "$op_pid" 2>/dev/null || { died=1; log "operator exited; tail of its log:"; tail -20 "$RUN_DIR/operator.log" >&2; break; }
        read -r ready total reasons < <(tenant_state || echo "0 0 list-failed")
        t1=$(now)
        el=$(elapsed "$t0" "$t1")
        if [ "$ready" = "$N" ]; then t_ready=$el; break; fi
        if [ "${el%.*}" -ge $((last_log + 30)) ]; then
            last_log=${el%.*}
            log "t=${el}s cloudready=$ready/$total $reasons tofu_runs=$(wc -l <"$RUN_DIR/tool-times") rss=$(vm_kb "$op_pid" VmRSS)kB op_cpu=$(cpu_s "$op_pid")s"
        fi
        if [ "${el%.*}" -ge "$TIMEOUT_S" ]; then log "timeout after ${el}s: cloudready=$ready/$N ($reasons)"; break; fi
        sleep 0.5
    done
    local op_cpu=NA child_cpu=NA hwm=NA api_cpu req=NA
    if [ "$died" = 0 ]; then
        op_cpu=$(cpu_s "$op_pid")
        child_cpu=$(child_cpu_s "$op_pid")
        hwm=$(vm_kb "$op_pid" VmHWM)
        req=$(requests_total)
        curl -sS "http://$METRICS_ADDR/metrics" >"$RUN_DIR/metrics.ready.txt" 2>/dev/null || true
    fi
    api_cpu=$(delta2 "$api_cpu0" "$(cpu_s "$api_pid")")
    local api_hwm
    api_hwm=$(vm_kb "$api_pid" VmHWM)
    # The last CloudReady transition (second resolution), from operator start.
    # First, median and last CloudReady transition (second resolution).
    local first_ct med_ct last_ct
    read -r first_ct med_ct last_ct < <(api_get "/apis/paybill.dev/v1alpha1/tenants" |
        jq -r '[.items[].status.conditions[]? | select(.type == "CloudReady" and .status == "True") | .lastTransitionTime | fromdateiso8601]
               | sort | "\(.[0] // 0) \(.[(length - 1) / 2 | floor] // 0) \(.[-1] // 0)"')
    local ts="tool=direct"
    [ ! -s "$RUN_DIR/tool-times" ] || ts=$(tool_stats "$t0")
    local tool_sum last_end
    tool_sum=$(sed -n 's/.*tool_sum_s=\([0-9.]*\).*/\1/p' <<<"$ts")
    last_end=$(sed -n 's/.*last_tool_end=\([0-9.]*\).*/\1/p' <<<"$ts")
    ts=$(sed 's/ last_tool_end=[0-9.]*//' <<<"$ts")
    local gaps="" derived=""
    if [ -n "$t_ready" ]; then
        # A tofu run: one invocation (6 per tenant: init, plan, show; init,
        # apply, output).
        derived=$(awk -v w="$t_ready" -v s="${tool_sum:-}" -v n="$N" -v p="$pool" -v c="$op_cpu" -v t0="$t0" -v le="${last_end:-}" -v ct="${last_ct:-0}" -v ft="${first_ct:-0}" -v mt="${med_ct:-0}" 'BEGIN {
            printf "wall_per_tenant_s=%.3f", w / n
            if (s != "") {
                printf " tool_per_tenant_s=%.3f", s / n
                if (p == 1) printf " overhead_per_tenant_s=%.3f overhead_pct=%.1f", (w - s) / n, 100 * (w - s) / w
                else printf " idle_slot_s=%.1f speedup_vs_sum=%.2f", w * p - s, s / w
                printf " last_tool_end_s=%.1f", le - t0
            }
            if (c != "NA") printf " op_cpu_ms_per_tenant=%.1f op_cpu_ms_per_tofu_run=%.2f", 1000 * c / n, 1000 * c / (6 * n)
            if (ft > 0) printf " first_cloudready_s=%.0f", ft - t0
            if (mt > 0) printf " median_cloudready_s=%.0f", mt - t0
            if (ct > 0) printf " last_cloudready_s=%.0f", ct - t0
        }')
        [ "$pool" != 1 ] || [ "$DIRECT" = 1 ] || gaps=$(gap_stats)
    fi
    local wms
    wms=$(wrapper_ms)
    local warn
    # Warnings and errors, but the expected one (no databaseServers: the
    # Plan has no database).
    warn=$(grep -E ' (WARN|ERROR) ' "$RUN_DIR/operator.log" | grep -cv 'no database servers configured' || true)
    [ "$warn" = 0 ] || { log "operator warnings/errors: $warn; first ones:"; grep -E ' (WARN|ERROR) ' "$RUN_DIR/operator.log" | grep -v 'no database servers' | head -10 >&2; KEEP=1; log "keeping $RUN_DIR"; }

    # The tool alone, with the operator gone (the machine otherwise idle).
    stack_kill "$RUN_DIR/operator.pid"
    local alone=""
    if [ "$LOOPS" -gt 0 ] && [ -f "$RUN_DIR/cloud/t00001/main.tf.json" ]; then
        alone=$(tool_alone "$RUN_DIR/cloud/t00001" || echo "alone_s=NA")
    fi
    local rps=NA
    [ "$req" = NA ] || [ -z "$t_ready" ] || rps=$(awk -v r="$req" -v n="$N" -v w="$t_ready" 'BEGIN{printf "%.1f requests_per_s=%.1f", r / n, r / w}')
    echo "RESULT N=$N pool=$pool workers=$WORKERS qps=$QPS ready_s=${t_ready:-NA} cloudready=$ready/$N reasons=$reasons $ts $derived$gaps op_cpu_s=$op_cpu tool_cpu_s=$child_cpu peak_rss_kb=$hwm devapi_cpu_s=$api_cpu devapi_hwm_kb=$api_hwm requests_per_tenant=$rps wrapper_ms=$wms op_warnings=$warn $alone"
    if [ -z "$t_ready" ]; then
        log "not all tenants CloudReady; stuck ones:"
        api_get "/apis/paybill.dev/v1alpha1/tenants" | jq -c '.items[] | select(([.status.conditions[]? | select(.type == "CloudReady" and .status == "True")] | length) == 0)
            | {name: .metadata.name, phase: .status.phase, cloud: (.status.cloud | del(.root)), cond: [.status.conditions[]? | {type, status, reason, message}]}' | head -5 >&2
        KEEP=1
        log "kept $RUN_DIR"
    fi
    cleanup
}

log "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); tofu $("$TOFU" version | head -1)"
for p in $POOLS; do
    bench_one "$p"
done
