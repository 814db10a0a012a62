# tests/e2e/cloud_lib.sh - what the cloud tests share (sourced after
# stack_env.sh): real tofu (hack/tofu.sh) with hashicorp/local from the
# offline mirror (hack/providers.sh), the `local` target module in
# modules/local, and the operator started with a cloud: section and its
# admission webhooks (Approvals of cloud plans are admitted there).

# On failure, say where each tenant's cloud layer was.
fail() {
  echo "FAIL: $*" >&2
  kubectl get tenants -o json 2>/dev/null | jq -c '.items[] | {name: .metadata.name, cloud: (.status.cloud | del(.root)),
    cond: [.status.conditions[]? | select(.type == "CloudReady" or .type == "Ready")]}' >&2
  exit 1
}

TOFU=$("$STACK_ROOT/hack/tofu.sh" bindir)/tofu
[ -x "$TOFU" ] || fail "tofu is not built (hack/tofu.sh build)"
"$STACK_ROOT/hack/providers.sh" build >/dev/null || fail "providers not built (hack/providers.sh build)"
"$STACK_ROOT/hack/providers.sh" tfrc >"$T/tofu.tfrc"
BASE=$T/local-cloud
mkdir -p "$BASE" "$T/cloud"
chmod 755 "$BASE"

# cloud_stack_up [EXTRA CONFIG LINE...]: the stack, the webhooks on
# $WEBHOOK_PORT, the operator with a cloud: section (plus the lines given,
# indented under it).
cloud_stack_up() {
  stack_up
  WEBHOOK_PORT=$(free_port)
  agent_webhooks "$WEBHOOK_PORT" || fail "webhook configurations not applied"
  {
    cat <<CFG
cloud:
  binary: $TOFU
  cliConfig: $T/tofu.tfrc
  modulesDir: $STACK_ROOT/modules
  workDir: $T/cloud
  poolSize: 2
  runTimeout: 5m
  kubeconfig: $T/operator.kubeconfig
CFG
    local l
    for l in "$@"; do echo "  $l"; done
  } >>"$T/operator.yaml"
  operator_start operator --webhook-addr "127.0.0.1:$WEBHOOK_PORT"
  wait_for "caBundle injected" 60 sh -c \
    "[ -n \"\$(kubectl get validatingwebhookconfiguration paybill-workflows -o jsonpath='{.webhooks[0].clientConfig.caBundle}')\" ]"
}

plugin() { PATH=$STACK_BUILD:$PATH kubectl paybill "$@" --system-namespace "$STACK_NAMESPACE"; }

plan() { # plan NAME APPROVAL MODULE [extra variables as JSON members] [drift]
  cat <<EOF | kubectl apply -f - >/dev/null || fail "plan $1 not applied"
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: $1}
spec:
  tier: $1
  isolation: {model: pooled}
  cloud:
    provider: local
    module: $3
    approval: $2
    variables: {base_dir: "$BASE"${4:+, $4}}
    ${5:+drift: $5}
EOF
}
tenant() { # tenant NAME PLAN POLICY
  cat <<EOF | kubectl apply -f - >/dev/null || fail "tenant $1 not applied"
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: $1}
spec:
  owner: {name: Test, email: t@example.com}
  region: local-1
  deletionPolicy: $3
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: $1}
spec:
  tenantRef: {name: $1}
  planRef: {name: $2}
  billing: {provider: manual}
EOF
}
cond() { jp tenant "$1" "{.status.conditions[?(@.type==\"CloudReady\")].$2}"; }
state_secret() { echo "tfstate-default-paybill-$1"; }
state_json() { kubectl -n "$STACK_NAMESPACE" get secret "$(state_secret "$1")" -o 'jsonpath={.data.tfstate}' | base64 -d | gunzip; }
lease_holder() { kubectl -n "$STACK_NAMESPACE" get lease "lock-$(state_secret "$1")" -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null; }

tofu_pid() { # tofu_pid TENANT COMMAND: the pid of the tofu doing COMMAND (apply|destroy) for TENANT
  local p
  for p in $(pgrep -f "tofu.* $2 " || true); do
    [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$T/cloud/$1" ] && { echo "$p"; return 0; }
  done
  return 1
}

# approve_until TENANT TIMEOUT CMD...: until CMD succeeds, approve each plan
# of TENANT that waits (a changed marker replaces resources, and a plan that
# deletes anything needs an Approval even under Auto).
approve_until() {
  local t=$1 n=$2 i
  shift 2
  for i in $(seq 1 "$n"); do
    "$@" >/dev/null 2>&1 && return 0
    if [ "$(cond "$t" reason)" = AwaitingApproval ]; then
      plugin approve tenant "$t" --plan "$(jp tenant "$t" '{.status.cloud.plan.hash}')" >/dev/null 2>&1 || true
    fi
    sleep 1
  done
  fail "$t: not true after $n s (approving its plans): $*"
}

converged() { # converged TENANT MARKER: the bucket has MARKER and CloudReady is True
  [ "$(jq -r .marker "$BASE/$1/bucket/.paybill-bucket" 2>/dev/null)" = "$2" ] && [ "$(cond "$1" status)" = True ]
}
converge() { # converge TENANT MARKER TIMEOUT
  approve_until "$1" "$3" converged "$1" "$2"
  ok "$1 converged to marker $2"
}
