# lib.sh - shared helpers for the end-to-end tests (source it, don't run it).
#
# Each test starts its own paybill-devapi on an ephemeral loopback port in a
# private temp dir, drives it with the real kubectl and curl, and cleans up
# (server stopped, temp dir removed) through an EXIT trap.
#
#   . "$(dirname "$0")/lib.sh"
#   devapi_start [extra devapi flags]     # sets KUBECONFIG, DEVAPI_URL, ...
#   k get ns                               # kubectl against it
#   assert_eq "expected" "$(k get ns default -o jsonpath='{.metadata.name}')" "default ns"
#   e2e_finish                             # prints the summary, sets the exit code
#
# Every assertion prints what it expected and what it got when it fails;
# the test keeps going and exits non-zero at e2e_finish.

set -u

PAYBILL_BUILD_DIR=${PAYBILL_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
DEVAPI_BIN=${DEVAPI_BIN:-$PAYBILL_BUILD_DIR/paybill-devapi}
KUBECTL=${KUBECTL:-kubectl}
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/paybill-e2e.XXXXXX")
E2E_PASS=0
E2E_FAIL=0
E2E_BG_PIDS=()
DEVAPI_PID=""
# kubectl's discovery cache stays private to the test.
export KUBECACHEDIR=$E2E_TMP/kube-cache
# ASan: report leaks at exit into the log, which devapi_stop inspects.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

e2e_log() { printf '%s\n' "$*" >&2; }

e2e_cleanup() {
    local p
    for p in "${E2E_BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    if [ -n "$DEVAPI_PID" ]; then
        kill "$DEVAPI_PID" 2>/dev/null
        wait "$DEVAPI_PID" 2>/dev/null
    fi
    rm -rf "$E2E_TMP"
}
trap e2e_cleanup EXIT

if ! command -v "$KUBECTL" >/dev/null 2>&1; then
    echo "SKIP: kubectl not found" >&2
    exit 0
fi
if [ ! -x "$DEVAPI_BIN" ]; then
    echo "FAIL: $DEVAPI_BIN not built" >&2
    exit 1
fi

# devapi_start [flags...]: start a server with its own dir ($DEVAPI_DIR,
# also the --data-dir unless DEVAPI_NO_DATA=1), wait until it is ready.
# Sets DEVAPI_PORT DEVAPI_URL DEVAPI_TOKEN DEVAPI_CA KUBECONFIG.
devapi_start() {
    DEVAPI_DIR=${DEVAPI_DIR:-$E2E_TMP/devapi}
    mkdir -p "$DEVAPI_DIR"
    rm -f "$DEVAPI_DIR/port"
    local data=(--data-dir "$DEVAPI_DIR/data")
    [ "${DEVAPI_NO_DATA:-0}" = 1 ] && data=()
    "$DEVAPI_BIN" --listen 127.0.0.1:0 --port-file "$DEVAPI_DIR/port" \
        --write-kubeconfig "$DEVAPI_DIR/kubeconfig" "${data[@]}" --log-level "${DEVAPI_LOG_LEVEL:-warn}" "$@" \
        >>"$DEVAPI_DIR/devapi.log" 2>&1 &
    DEVAPI_PID=$!
    local i
    for i in $(seq 1 100); do
        [ -s "$DEVAPI_DIR/port" ] && break
        if ! kill -0 "$DEVAPI_PID" 2>/dev/null; then
            e2e_log "devapi exited during start:"; cat "$DEVAPI_DIR/devapi.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    DEVAPI_PORT=$(cat "$DEVAPI_DIR/port")
    export KUBECONFIG="$DEVAPI_DIR/kubeconfig"
    DEVAPI_TOKEN=$(awk '/token:/ {print $2}' "$KUBECONFIG")
    DEVAPI_CA="$DEVAPI_DIR/ca.crt"
    if grep -q certificate-authority-data "$KUBECONFIG"; then
        awk '/certificate-authority-data:/ {print $2}' "$KUBECONFIG" | base64 -d >"$DEVAPI_CA"
        DEVAPI_URL="https://127.0.0.1:$DEVAPI_PORT"
    else
        DEVAPI_URL="http://127.0.0.1:$DEVAPI_PORT"
    fi
    for i in $(seq 1 100); do
        [ "$(curl -s ${DEVAPI_CA:+--cacert "$DEVAPI_CA"} "$DEVAPI_URL/readyz" 2>/dev/null)" = ok ] && return 0
        sleep 0.1
    done
    e2e_log "devapi not ready on $DEVAPI_URL"; cat "$DEVAPI_DIR/devapi.log" >&2
    exit 1
}

# devapi_stop: SIGTERM and wait; sanitizer reports in the log fail the test.
devapi_stop() {
    [ -n "$DEVAPI_PID" ] || return 0
    kill "$DEVAPI_PID" 2>/dev/null
    wait "$DEVAPI_PID" 2>/dev/null
    DEVAPI_PID=""
    if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$DEVAPI_DIR/devapi.log"; then
        fail "devapi sanitizer report" "clean log" "$(grep -A30 -E 'ERROR: |runtime error:' "$DEVAPI_DIR/devapi.log" | head -60)"
    fi
}

# k ARGS...: kubectl against the test server (bounded in time).
k() { timeout 60 "$KUBECTL" --request-timeout=30s "$@"; }

# api METHOD PATH [curl args...]: raw HTTP; prints the body, then the status
# code on the last line. Uses $API_TOKEN if set, else the admin token.
api() {
    local method=$1 path=$2
    shift 2
    curl -sS -X "$method" ${DEVAPI_CA:+--cacert "$DEVAPI_CA"} \
        -H "Authorization: Bearer ${API_TOKEN:-$DEVAPI_TOKEN}" -w '\n%{http_code}' "$@" "$DEVAPI_URL$path"
}
# Split helpers for api output.
api_code() { tail -n1 <<<"$1"; }
api_body() { sed '$d' <<<"$1"; }
# jq-free JSON field extraction through python3 when present, else grep.
jget() {
    python3 -c 'import json,sys
d=json.loads(sys.stdin.read() or "null")
for k in sys.argv[1].split("."):
    if k=="": continue
    d = d[int(k)] if isinstance(d,list) else (d or {}).get(k)
print("" if d is None else (json.dumps(d) if isinstance(d,(dict,list)) else d))' "$1"
}

pass() { E2E_PASS=$((E2E_PASS + 1)); }
fail() {
    E2E_FAIL=$((E2E_FAIL + 1))
    printf 'FAIL: %s\n  expected: %s\n  got:      %s\n' "$1" "$2" "$3" >&2
}

assert_eq() { # expected actual what
    if [ "$1" = "$2" ]; then pass; else fail "$3" "$1" "$2"; fi
}
assert_contains() { # haystack needle what
    case "$1" in *"$2"*) pass ;; *) fail "$3" "output containing '$2'" "$1" ;; esac
}
assert_not_contains() { # haystack needle what
    case "$1" in *"$2"*) fail "$3" "output without '$2'" "$1" ;; *) pass ;; esac
}
assert_ok() { # what cmd...
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then pass; else fail "$what" "success of: $*" "exit $?: $out"; fi
}
assert_fails() { # what cmd...
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then fail "$what" "failure of: $*" "success: $out"; else pass; fi
}

# wait_for SECONDS CMD...: retry until CMD succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.2
    done
}

# A small namespaced CRD with a status subresource and printer columns.
apply_widget_crd() {
    k apply -f - >/dev/null <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.e2e.paybill.dev
spec:
  group: e2e.paybill.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [paybill]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [color]
            properties:
              color: {type: string, enum: [red, green, blue], description: The colour of the widget.}
              size: {type: integer, minimum: 1, default: 3}
          status:
            type: object
            properties:
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
EOF
    k wait --for=condition=Established crd/widgets.e2e.paybill.dev --timeout=20s >/dev/null
}

e2e_finish() {
    devapi_stop
    echo "$(basename "$0"): $E2E_PASS passed, $E2E_FAIL failed"
    [ "$E2E_FAIL" -eq 0 ]
    exit $?
}
