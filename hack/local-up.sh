#!/usr/bin/env bash
# hack/local-up.sh - bring up the local stack and run the main job.
#
# Installs dependencies, builds, starts the dev API server (HTTPS, loopback)
# and two throwaway PostgreSQL servers (unprivileged user; "shared" for
# pooled and bridge tenants, "dedicated" for silo tenants), installs crds/, creates
# the operator's namespace, ServiceAccount and RBAC exactly as the Helm chart
# grants them, starts paybill-operator under that ServiceAccount, applies
# examples/ and waits for the tenants to become Ready.
#
# --kube runs the same stack on the real control plane (etcd, kube-apiserver
# and kube-controller-manager built from Go modules by hack/kube.sh: about
# 12 minutes the first time on a fresh machine, then seconds) instead of the
# dev API server.
#
# State lives in .local/stack (override with PAYBILL_STACK_DIR). Rerunning
# is idempotent: running pieces are reused (the API server kind of a running
# stack is kept; stop it with hack/local-down.sh to switch). hack/local-down.sh
# stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK_ROOT=$PWD
STACK_BUILD=$PWD/build/plain
DIR=${PAYBILL_STACK_DIR:-$PWD/.local/stack}
NS=paybill-system
export STACK_ROOT STACK_BUILD STACK_NAMESPACE=$NS
case "${1:-}" in
  --kube) PAYBILL_APISERVER=kube ;;
  "") PAYBILL_APISERVER=devapi ;;
  *) echo "usage: hack/local-up.sh [--kube]" >&2; exit 2 ;;
esac
export PAYBILL_APISERVER
. hack/lib/stack.sh

if [ "$PAYBILL_APISERVER" = kube ]; then hack/deps.sh; else hack/deps.sh --no-kube; fi
echo "local-up: building"
cmake -S . -B build/plain -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/plain -j"$(nproc)" >/dev/null
mkdir -p "$DIR"
# PostgreSQL runs as an unprivileged user: every directory above its data
# must be traversable. Only add the traverse bit (go+x), never take
# permissions away (/tmp keeps its 1777).
d=$(cd "$DIR" && pwd)
while [ "$d" != "/" ]; do chmod go+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done

running=""
[ -f "$DIR/apiserver.kind" ] && running=$(cat "$DIR/apiserver.kind")
if [ -n "$running" ] && KUBECONFIG=$DIR/admin.kubeconfig kubectl get --raw /readyz >/dev/null 2>&1; then
  if [ "$running" != "$PAYBILL_APISERVER" ]; then
    echo "local-up: a stack on '$running' is running in $DIR; stop it first (hack/local-down.sh)" >&2
    exit 1
  fi
  echo "local-up: API server ($running) already running"
  export KUBECONFIG=$DIR/admin.kubeconfig
else
  echo "local-up: starting the API server ($PAYBILL_APISERVER)"
  stack_apiserver_start "$DIR"
  echo "$PAYBILL_APISERVER" >"$DIR/apiserver.kind"
fi
stack_install_crds
stack_operator_rbac "$DIR" "$NS"
echo "local-up: starting PostgreSQL (a shared server, and a dedicated one for silo tenants)"
stack_database "$DIR" "$NS" dedicated
# The agent admission webhooks (as the chart registers them, with a
# loopback URL): the operator serves them on this port.
[ -s "$DIR/webhook.port" ] || python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$DIR/webhook.port"
WEBHOOK_PORT=$(cat "$DIR/webhook.port")
stack_agent_webhooks "$DIR" "$WEBHOOK_PORT"
if [ -f "$DIR/operator.pid" ] && kill -0 "$(cat "$DIR/operator.pid")" 2>/dev/null; then
  echo "local-up: operator already running"
else
  echo "local-up: starting paybill-operator (logs: $DIR/operator.log)"
  stack_operator_start "$DIR" operator --config "$DIR/operator.yaml" \
    --metrics-addr 127.0.0.1:0 --health-addr 127.0.0.1:0 --webhook-addr "127.0.0.1:$WEBHOOK_PORT"
fi

echo "local-up: applying examples/"
kubectl apply -f examples/00-datamodel.yaml -f examples/10-plans.yaml \
  -f examples/20-tenants.yaml -f examples/30-subscriptions.yaml
if ! kubectl wait --for=condition=Ready tenants --all --timeout=120s; then
  echo "local-up: tenants did not all become Ready; operator log tail:" >&2
  tail -20 "$DIR/operator.log" >&2
  kubectl get tenants -o wide
  exit 1
fi
# The agent policy lives in a tenant namespace, which now exists; the
# example workflow is submitted by that tenant's agent ServiceAccount (the
# webhooks stamp it as the submitter) and runs under the policy.
for _ in $(seq 1 60); do # the AgentPolicy webhook needs the injected CA
  [ -n "$(kubectl get validatingwebhookconfiguration paybill-workflows -o jsonpath='{.webhooks[0].clientConfig.caBundle}')" ] && break
  sleep 1
done
kubectl apply -f examples/40-agentpolicy.yaml
kubectl wait --for=condition=Ready agentpolicy/billing-assistant -n tenant-acme --timeout=60s
stack_sa_kubeconfig "$DIR/agent.kubeconfig" tenant-acme paybill-agent
kubectl get workflow mark-overdue-paid -n tenant-acme >/dev/null 2>&1 \
  || KUBECONFIG=$DIR/agent.kubeconfig kubectl create -f examples/50-workflow.yaml
for _ in $(seq 1 60); do
  phase=$(kubectl get workflow mark-overdue-paid -n tenant-acme -o jsonpath='{.status.phase}' 2>/dev/null)
  case $phase in Succeeded | Failed | Denied) break ;; esac
  sleep 1
done

echo
kubectl get plans,subscriptions,tenants
kubectl get agentpolicies,workflows -A
cat <<MSG

The stack is up. Point kubectl at it with:

  export KUBECONFIG=$DIR/admin.kubeconfig

Operator log: $DIR/operator.log   Stop everything: hack/local-down.sh
MSG
