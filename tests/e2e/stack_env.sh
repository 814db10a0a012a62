# tests/e2e/stack_env.sh - sourced by end-to-end tests that need the whole
# stack (dev API server + PostgreSQL + operator): sets up a private temp
# directory, cleans up on exit, and provides small assertion helpers that
# print what was expected and what came instead.
set -uo pipefail
STACK_ROOT=${PAYBILL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
STACK_BUILD=${PAYBILL_BUILD_DIR:-$STACK_ROOT/build/asan}
STACK_NAMESPACE=paybill-system
export STACK_ROOT STACK_BUILD STACK_NAMESPACE
# shellcheck source=../../hack/lib/stack.sh
. "$STACK_ROOT/hack/lib/stack.sh"
unset TF_CLI_CONFIG_FILE
# Sanitizer builds: a leak at exit must not turn an operator kill into noise.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

T=$(mktemp -d /tmp/paybill-e2e-XXXXXX)
chmod 755 "$T"
TEST_NAME=$(basename "$0" .sh)
on_exit() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "--- $TEST_NAME failed; operator logs (tail) ---" >&2
    for f in "$T"/operator*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -40 "$f" >&2; }; done
    echo "--- API server log (tail) ---" >&2
    tail -20 "$T/apiserver.log" >&2 2>/dev/null
    tail -20 "$T/kube/logs/kube-apiserver.log" >&2 2>/dev/null
  fi
  stack_stop "$T"
  [ -n "${KEEP_E2E:-}" ] || rm -rf "$T"
  exit $rc
}
trap on_exit EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

# expect_eq DESCRIPTION WANT GOT
expect_eq() {
  [ "$2" = "$3" ] || fail "$1: expected [$2], got [$3]"
  ok "$1"
}
# expect_match DESCRIPTION REGEX TEXT
expect_match() {
  grep -qE -- "$2" <<<"$3" || fail "$1: expected to match /$2/, got [$3]"
  ok "$1"
}

# wait_for DESCRIPTION TIMEOUT_S COMMAND...   (COMMAND's success ends the wait)
wait_for() {
  local desc=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  while ! "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$desc: not true after ${timeout}s: $*"
    sleep 0.3
  done
  ok "$desc"
}

# kubectl impersonating someone (--as). libwebsockets 4.1 cannot read
# non-standard request headers over HTTP/2, so Impersonate-* only reaches the
# dev API server over HTTP/1.1: client-go's DISABLE_HTTP2 forces that.
kas() { DISABLE_HTTP2=1 kubectl "$@" 2> >(grep -v "HTTP2 has been explicitly disabled" >&2); }

# jp KIND NAME JSONPATH [kubectl args...]
jp() { kubectl get "$1" "$2" -o "jsonpath=$3" "${@:4}" 2>/dev/null; }
# is KIND NAME JSONPATH VALUE [kubectl args...]  (for wait_for)
is() { [ "$(jp "$1" "$2" "$3" "${@:5}")" = "$4" ]; }
gone() { ! kubectl get "$@" >/dev/null 2>&1; }

# The full stack with the operator running under the chart's RBAC.
stack_up() {
  stack_apiserver_start "$T" "$@" || fail "API server ($(stack_apiserver_kind)) did not start"
  stack_install_crds || fail "CRDs not installed"
  stack_operator_rbac "$T" "$STACK_NAMESPACE" || fail "operator RBAC not applied"
  stack_database "$T" "$STACK_NAMESPACE" ${STACK_DEDICATED:+dedicated} || fail "PostgreSQL did not start"
}

operator_start() { # operator_start NAME [flags]
  local name=$1; shift
  stack_operator_start "$T" "$name" --config "$T/operator.yaml" --metrics-addr 127.0.0.1:0 \
    --health-addr 127.0.0.1:0 --workers 2 "$@"
}

psql_admin() { pg_psql "$@"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# agent_stack_up: the stack, the operator serving the agent webhooks on a
# free loopback port ($WEBHOOK_PORT; restart it with
# `operator_start operator --webhook-addr 127.0.0.1:$WEBHOOK_PORT`), their
# CA injected, and the examples' DataModel, plans, tenants and
# subscriptions applied (waiting for them is the test's business).
agent_stack_up() {
  stack_up
  WEBHOOK_PORT=$(free_port)
  agent_webhooks "$WEBHOOK_PORT" || fail "webhook configurations not applied"
  operator_start operator --webhook-addr "127.0.0.1:$WEBHOOK_PORT"
  wait_for "caBundle injected" 60 sh -c \
    "[ -n \"\$(kubectl get validatingwebhookconfiguration paybill-workflows -o jsonpath='{.webhooks[0].clientConfig.caBundle}')\" ]"
  kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" -f "$STACK_ROOT/examples/10-plans.yaml" \
    -f "$STACK_ROOT/examples/20-tenants.yaml" -f "$STACK_ROOT/examples/30-subscriptions.yaml" >/dev/null \
    || fail "examples not applied"
}

# agent_webhooks PORT: the chart's agent admission webhooks, pointing at
# the operator on loopback (hack/lib/stack.sh).
agent_webhooks() { stack_agent_webhooks "$T" "$1"; }

# agent_kubeconfig NS SA FILE: a kubeconfig authenticating as ServiceAccount
# NS/SA with a token from the TokenRequest API.
agent_kubeconfig() { stack_sa_kubeconfig "$3" "$1" "$2"; }
