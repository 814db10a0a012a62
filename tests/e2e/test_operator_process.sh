#!/usr/bin/env bash
# End-to-end: a running paybill-operator cannot leave its memory (tenants'
# passwords in the informer cache, admin credentials) behind in a core file:
#   - /proc/<pid>/limits shows a core size limit of 0, soft and hard, even
#     when it was started from a shell that allowed cores;
#   - the process is not dumpable, which the kernel shows by giving its
#     private /proc/<pid> files (environ, mem, fd; not the world-readable
#     directory itself) to root; that is only visible when the operator
#     runs as an ordinary user, so as root this test runs it as nobody.
# No API server is needed: pointed at a closed port the operator keeps
# retrying, alive, which is all this test looks at; then it must stop at
# once on SIGTERM, retries or not.
set -u

BUILD=${PAYBILL_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
OP=$BUILD/paybill-operator
TEST_NAME=$(basename "$0" .sh)
[ -x "$OP" ] || { echo "FAIL: $OP not built" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/paybill-e2e-proc.XXXXXX")
chmod 755 "$T" # readable by the unprivileged user below
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT
FAILS=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*" >&2; FAILS=$((FAILS + 1)); }

cat >"$T/kubeconfig" <<'KC'
apiVersion: v1
kind: Config
clusters:
- name: closed
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: nobody
  user: {token: not-a-token}
contexts:
- name: closed
  context: {cluster: closed, user: nobody}
current-context: closed
KC
chmod 644 "$T/kubeconfig"

RUN=()
if [ "$(id -u)" = 0 ]; then
    if command -v setpriv >/dev/null 2>&1; then
        RUN=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
    else
        echo "note: root and no setpriv: the dumpable check is skipped" >&2
    fi
fi

# Start from the most permissive core limit this shell may set, as a
# developer's `ulimit -c unlimited` would; ASan must not zero it for us.
ulimit -S -c "$(ulimit -H -c)" 2>/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}disable_coredump=0:detect_leaks=0
cd "$T" || exit 1
"${RUN[@]}" "$OP" --kubeconfig "$T/kubeconfig" --metrics-addr 127.0.0.1:0 \
    --health-addr 127.0.0.1:0 --log-level info --log-format text >"$T/operator.log" 2>&1 &
PID=$!

# "operator starting" is logged well after main() hardened the process.
for _ in $(seq 1 100); do
    grep -q "operator starting" "$T/operator.log" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if ! kill -0 "$PID" 2>/dev/null || ! grep -q "operator starting" "$T/operator.log"; then
    echo "FAIL: the operator did not start:" >&2
    cat "$T/operator.log" >&2
    exit 1
fi

limits=$(awk '/^Max core file size/ {print $5, $6}' "/proc/$PID/limits")
if [ "$limits" = "0 0" ]; then ok "core size limit 0 (soft and hard)"
else bad "core size limit: want \"0 0\" (soft hard), got \"$limits\""; fi

uid=$(awk '/^Uid:/ {print $2}' "/proc/$PID/status")
if [ "$uid" != 0 ]; then
    owner=$(stat -c %u "/proc/$PID/environ")
    if [ "$owner" = 0 ]; then ok "not dumpable (/proc/$PID/environ belongs to root, the process to uid $uid)"
    else bad "dumpable: /proc/$PID/environ belongs to the process's own uid $owner, not to root"; fi
fi

# SIGTERM while the API server is unreachable: every thread is somewhere
# in a request's retries (informers listing, the webhook certificates
# reading their Secret); none may sit out its backoff (up to 6 s) or report
# the failure its stopping caused.
sleep 2
t0=$(date +%s%N)
kill -TERM "$PID"
wait "$PID"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
PID=""
if [ "$rc" = 0 ] && [ "$ms" -lt 1500 ]; then ok "SIGTERM with the API server down: exit 0 after ${ms} ms"
else bad "SIGTERM with the API server down: exit $rc after ${ms} ms (want 0, under 1.5 s)"; fi
late=$(awk '/received signal/ {f = 1; next} f && / (WARN|ERROR) /' "$T/operator.log")
if [ -z "$late" ] && grep -q "operator stopped result=clean" "$T/operator.log"; then ok "stopped cleanly, no warnings after the signal"
else bad "after the signal: $(printf '%s' "$late" | head -3)"; fi

if [ "$FAILS" -ne 0 ]; then
    echo "FAIL $TEST_NAME ($FAILS)" >&2
    exit 1
fi
echo "PASS $TEST_NAME"
