# bench/lib.sh - what the stack benchmarks share (sourced by
# operator_bench.sh and cloud_bench.sh after hack/lib/stack.sh): progress
# logging, clocks, a process's CPU and memory from /proc, the run directory
# cleaned up on exit, and curl against the run's API server.
#
# The sourcing script sets BENCH_TAG (the log prefix) and KEEP (1: keep run
# directories), and sets RUN_DIR to each run's directory.

log() { printf '[%s %s] %s\n' "$BENCH_TAG" "$(date -u +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
delta2() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; } # B - A, e.g. CPU seconds
clk_tck=$(getconf CLK_TCK)
# utime+stime (own) and cutime+cstime (waited-for children) of a process, in seconds.
cpu_s() { awk -v t="$clk_tck" '{sub(/^.*\) /,""); printf "%.2f", ($12+$13)/t}' "/proc/$1/stat"; }
sys_cpu_s() { awk -v t="$clk_tck" '{sub(/^.*\) /,""); printf "%.2f", $13/t}' "/proc/$1/stat"; } # the kernel's part
child_cpu_s() { awk -v t="$clk_tck" '{sub(/^.*\) /,""); printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }
vm_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }

RUN_DIR=""
cleanup() {
    [ -n "$RUN_DIR" ] || return 0
    stack_stop "$RUN_DIR" 2>/dev/null || true
    [ "$KEEP" = 1 ] || rm -rf "$RUN_DIR"
    RUN_DIR=""
}
trap cleanup EXIT

# The admin credentials and the server URL, for curl.
api_env() {
    API=$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')
    TOKEN=$(kubectl config view --raw -o jsonpath='{.users[0].user.token}')
    kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' |
        base64 -d >"$RUN_DIR/ca.pem"
}
api_get() { curl -sS --fail --cacert "$RUN_DIR/ca.pem" -H "Authorization: Bearer $TOKEN" "$API$1"; }
