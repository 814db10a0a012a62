# hack/lib/stack.sh - the local stack: dev API server, PostgreSQL, operator.
# Sourced by hack/local-up.sh and by the end-to-end tests (tests/e2e).
#
#   stack_apiserver_start DIR [devapi flags]      the API server chosen by
#        PAYBILL_APISERVER: "devapi" (default, paybill-devapi, fast) or "kube"
#        (the real etcd + kube-apiserver + kube-controller-manager from
#        hack/kube.sh, state in DIR/kube); sets KUBECONFIG (admin), which is
#        also written to DIR/admin.kubeconfig.
#   stack_apiserver_stop DIR [SIGNAL] / stack_apiserver_restart DIR [devapi flags]
#        the same server stopped, or restarted on the same port from its
#        stored state (devapi: its data dir, with the flags given, e.g.
#        fault injection; kube: etcd's data).
#   stack_apiserver_pid DIR                       the API server's process id
#        (kube: kube-apiserver's), e.g. to SIGSTOP it: a server that hangs.
#   stack_devapi_start DIR [extra devapi flags]   HTTPS dev API server on a
#        free loopback port (or $STACK_DEVAPI_LISTEN), state in
#        DIR/apiserver; sets KUBECONFIG (admin).
#   stack_install_crds                            crds/ applied and Established.
#   stack_operator_rbac NS                        the chart's ServiceAccount and
#        RBAC rendered for namespace NS and applied; writes DIR/operator.kubeconfig
#        authenticating as that ServiceAccount (the operator never runs as admin).
#   stack_sa_kubeconfig FILE NS SA                a kubeconfig authenticating as
#        ServiceAccount NS/SA on the current server.
#   stack_database DIR NS [dedicated]             PostgreSQL in DIR/pg (role shared),
#        with "dedicated" a second one in DIR/pg-dedicated for silo tenants; their
#        admin Secrets in NS, and DIR/operator.yaml (the operator's --config).
#        Sets PG_PORT/PG_SUPERPASS (shared) and PG_DEDICATED_PORT.
#   stack_operator_start DIR NAME [flags]         operator NAME in the background,
#        logs in DIR/NAME.log, pid in DIR/NAME.pid.
#   stack_stop DIR                                everything above, stopped.
#
# Needs: STACK_BUILD (build dir with paybill-devapi and paybill-operator),
#        STACK_ROOT (repository root).

# shellcheck source=postgres.sh
. "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"

# STACK_DEVAPI_ARGS: more paybill-devapi flags, word-split (for benchmarks,
# e.g. "--record FILE").
stack_devapi_start() {
  local dir=$1; shift
  mkdir -p "$dir/apiserver"
  chmod 755 "$dir"
  rm -f "$dir/apiserver/port"
  # shellcheck disable=SC2086
  "$STACK_BUILD/paybill-devapi" --listen "${STACK_DEVAPI_LISTEN:-127.0.0.1:0}" --port-file "$dir/apiserver/port" \
    --data-dir "$dir/apiserver/data" --write-kubeconfig "$dir/admin.kubeconfig" \
    --log-format text --log-level "${STACK_DEVAPI_LOG_LEVEL:-info}" ${STACK_DEVAPI_ARGS:-} "$@" \
    >>"$dir/apiserver.log" 2>&1 &
  echo $! >"$dir/apiserver.pid"
  local i
  for i in $(seq 1 100); do
    [ -s "$dir/apiserver/port" ] && [ -s "$dir/admin.kubeconfig" ] && break
    kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null || { echo "stack: dev API server died; see $dir/apiserver.log" >&2; tail -5 "$dir/apiserver.log" >&2; return 1; }
    sleep 0.1
  done
  export KUBECONFIG=$dir/admin.kubeconfig
  for i in $(seq 1 50); do
    kubectl get --raw /readyz >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "stack: dev API server not ready; see $dir/apiserver.log" >&2
  return 1
}

stack_apiserver_kind() { echo "${PAYBILL_APISERVER:-devapi}"; }

stack_apiserver_start() {
  local dir=$1; shift
  case $(stack_apiserver_kind) in
    devapi) stack_devapi_start "$dir" "$@" ;;
    kube) stack_kube_start "$dir" ;;
    *) echo "stack: PAYBILL_APISERVER must be devapi or kube, not '$PAYBILL_APISERVER'" >&2; return 1 ;;
  esac
}

# The real control plane (hack/kube.sh); its ports are kept in DIR/kube, so
# a restart comes back on the same URL.
stack_kube_start() {
  local dir=$1
  mkdir -p "$dir"
  chmod 755 "$dir"
  "$STACK_ROOT/hack/kube.sh" up "$dir/kube" >>"$dir/apiserver.log" 2>&1 || {
    echo "stack: the real control plane did not start; see $dir/apiserver.log and $dir/kube/logs" >&2
    tail -5 "$dir/apiserver.log" >&2
    return 1
  }
  cp "$dir/kube/kubeconfig" "$dir/admin.kubeconfig"
  export KUBECONFIG=$dir/admin.kubeconfig
}

stack_apiserver_stop() {
  local dir=$1
  if [ "$(stack_apiserver_kind)" = kube ]; then
    "$STACK_ROOT/hack/kube.sh" down "$dir/kube" >>"$dir/apiserver.log" 2>&1
  else
    stack_kill "$dir/apiserver.pid" "${2:-TERM}"
  fi
}

stack_apiserver_pid() {
  local dir=$1
  if [ "$(stack_apiserver_kind)" = kube ]; then
    sed -n 's/^KUBE_APISERVER_PID=//p' "$dir/kube/env"
  else
    cat "$dir/apiserver.pid"
  fi
}

stack_apiserver_restart() { # stack_apiserver_restart DIR [devapi flags]
  local dir=$1 port
  shift
  stack_apiserver_stop "$dir"
  if [ "$(stack_apiserver_kind)" = kube ]; then
    stack_kube_start "$dir"
    return
  fi
  port=$(cat "$dir/apiserver/port")
  STACK_DEVAPI_LISTEN=127.0.0.1:$port stack_devapi_start "$dir" "$@"
}

stack_install_crds() {
  kubectl apply -f "$STACK_ROOT/crds/" >/dev/null && \
    kubectl wait --for=condition=Established crd -l app.kubernetes.io/part-of=paybill --timeout=30s >/dev/null
}

# Render the chart's plain-YAML templates for namespace $1 (no Helm needed
# for these two: they only use .Release.Namespace).
stack_render_rbac() {
  sed -e "s/{{ \.Release\.Namespace }}/$1/g" \
    "$STACK_ROOT/charts/paybill/templates/serviceaccount.yaml" \
    <(echo "---") "$STACK_ROOT/charts/paybill/templates/rbac.yaml"
}

stack_operator_rbac() {
  local dir=$1 ns=$2
  kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null || return 1
  stack_render_rbac "$ns" | kubectl apply -f - >/dev/null || return 1
  stack_sa_kubeconfig "$dir/operator.kubeconfig" "$ns" paybill-operator
}

# stack_sa_kubeconfig FILE NS SA: a kubeconfig for the current server that
# authenticates as ServiceAccount NS/SA (a token from `kubectl create token`).
stack_sa_kubeconfig() {
  local file=$1 ns=$2 sa=$3 token server ca
  token=$(kubectl -n "$ns" create token "$sa") || return 1
  # The kubeconfig holds a bearer token: readable by us only.
  (umask 077; : >"$file")
  server=$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')
  ca=$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
  cat >"$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
- name: $sa
  user: {token: "$token"}
contexts:
- name: operator
  context: {cluster: dev, user: $sa, namespace: $ns}
current-context: operator
KC
}

stack_database() {
  local dir=$1 ns=$2 dedicated=${3:-}
  if [ -n "$dedicated" ]; then
    pg_start "$dir/pg-dedicated" || return 1
    PG_DEDICATED_PORT=$PG_PORT
    # --from-file: the password never appears on a command line (ps).
    kubectl -n "$ns" create secret generic pg-dedicated-admin --from-literal=username=postgres \
      --from-file=password=<(printf "%s" "$PG_SUPERPASS") --dry-run=client -o yaml | kubectl apply -f - >/dev/null || return 1
    export PG_DEDICATED_PORT
  fi
  pg_start "$dir/pg" || return 1
  mkdir -p "$dir/snapshots"
  kubectl -n "$ns" create secret generic pg-admin --from-literal=username=postgres \
    --from-file=password=<(printf "%s" "$PG_SUPERPASS") --dry-run=client -o yaml | kubectl apply -f - >/dev/null || return 1
  cat >"$dir/operator.yaml" <<CFG
systemNamespace: $ns
snapshotDir: $dir/snapshots
databaseServers:
  - name: shared
    role: shared
    host: 127.0.0.1
    port: $PG_PORT
    sslmode: disable
    adminSecret: {name: pg-admin, namespace: $ns}
CFG
  if [ -n "$dedicated" ]; then
    cat >>"$dir/operator.yaml" <<CFG
  - name: dedicated
    role: dedicated
    host: 127.0.0.1
    port: $PG_DEDICATED_PORT
    sslmode: disable
    adminSecret: {name: pg-dedicated-admin, namespace: $ns}
CFG
  fi
}

# STACK_OPERATOR_WRAP: a command the operator runs under, word-split (for
# profiling, e.g. "valgrind --tool=callgrind --callgrind-out-file=F").
stack_operator_start() {
  local dir=$1 name=$2; shift 2
  # shellcheck disable=SC2086
  PAYBILL_KUBECONFIG=$dir/operator.kubeconfig ${STACK_OPERATOR_WRAP:-} "$STACK_BUILD/paybill-operator" \
    --namespace "${STACK_NAMESPACE:-paybill-system}" --log-format text "$@" >>"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

stack_kill() { # stack_kill PIDFILE [SIGNAL]: signal, wait up to 10 s, then KILL
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  # Under STACK_OPERATOR_WRAP the pid is the wrapper's (perf, strace),
  # which does not pass the signal on: the operator it runs gets it first.
  # ("paybill-operato": the kernel keeps 15 characters of a name.)
  pkill "-${2:-TERM}" -P "$pid" -x paybill-operato 2>/dev/null || true
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}

stack_stop() {
  local dir=$1 f
  for f in "$dir"/*.pid; do
    [ "$f" = "$dir/apiserver.pid" ] || stack_kill "$f"
  done
  stack_kill "$dir/apiserver.pid"
  [ -f "$dir/kube/env" ] && "$STACK_ROOT/hack/kube.sh" down "$dir/kube" >/dev/null 2>&1
  pg_stop "$dir/pg"
  pg_stop "$dir/pg-dedicated"
  # tenants' own servers, started by the local cloud module (modules/local)
  for f in "$dir"/local-cloud/*/pg; do [ -d "$f" ] && pg_stop "$f"; done
  return 0
}

# stack_agent_webhooks DIR PORT: the chart's admission webhook configurations
# (templates/webhooks.yaml: Workflows, Approvals, AgentPolicies), with a
# loopback url instead of the Service (no cluster networking here) and no
# caBundle (the operator injects it), applied with failurePolicy Fail.
stack_agent_webhooks() {
  local port=$2 f=$1/agent-webhooks.yaml
  _stack_hook() { # name path resources operations
    cat <<Y
  - name: $1
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    matchPolicy: Equivalent
    timeoutSeconds: 10
    clientConfig: {url: "https://127.0.0.1:$port$2"}
    rules:
      - {apiGroups: [paybill.dev], apiVersions: ["*"], operations: [$4], resources: [$3], scope: Namespaced}
Y
  }
  {
    printf 'apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: paybill-workflows}\nwebhooks:\n'
    _stack_hook submitter.workflows.paybill.dev /mutate/workflows workflows CREATE
    _stack_hook approver.approvals.paybill.dev /mutate/approvals approvals CREATE
    printf -- '---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: paybill-workflows}\nwebhooks:\n'
    _stack_hook workflows.paybill.dev /validate/workflows workflows "CREATE, UPDATE"
    _stack_hook approvals.paybill.dev /validate/approvals approvals "CREATE, UPDATE"
    _stack_hook agentpolicies.paybill.dev /validate/agentpolicies agentpolicies "CREATE, UPDATE"
  } >"$f"
  kubectl apply -f "$f" >/dev/null
}
