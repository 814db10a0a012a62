#!/usr/bin/env bash
# e2e-servers: kube
# End-to-end: the chart judged by the real helm and the real kube-apiserver.
#
# helm lint; helm template with the default values and with every documented
# option, each accepted by the API server (server-side dry run); then
# helm install into the real control plane, and the operator run under
# exactly what the chart rendered: the ServiceAccount's token, the RBAC, the
# ConfigMap's settings file and the Deployment's arguments (there is no
# kubelet here, so the Deployment's pod is stored, not run: the test runs its
# container's command line on this machine). The examples then become Ready
# tenants; helm upgrade changes the Deployment; helm uninstall leaves the
# CRDs, the tenants, their namespaces and their databases alone.
# Only on the real kube-apiserver: the dev API server serves neither
# PersistentVolumeClaims nor /openapi/v2, so kubectl's field validation of
# the snapshots.persistence render there fails with "failed to download
# openapi" (kubectl looks a kind it cannot find in /openapi/v3 up in v2).
# That was the "flaky" failure of this test run without PAYBILL_APISERVER.
export PAYBILL_APISERVER=kube
. "$(dirname "$0")/stack_env.sh"

HELM=$("$STACK_ROOT/hack/kube.sh" bindir)/helm
[ -x "$HELM" ] || fail "helm is not built (hack/kube.sh build)"
CHART=$STACK_ROOT/charts/paybill
NS=paybill-system
export HELM_CACHE_HOME=$T/helm/cache HELM_CONFIG_HOME=$T/helm/config HELM_DATA_HOME=$T/helm/data

out=$("$HELM" lint "$CHART" 2>&1) || fail "helm lint: $out"
ok "helm lint"
out=$("$HELM" lint --strict "$CHART" 2>&1) || fail "helm lint --strict: $out"
ok "helm lint --strict"

# Every documented option (values.yaml) rendered at least once.
OPTION_SETS=(
  ""
  "--set leaderElection=false --set replicas=1"
  "--set snapshots.persistence.enabled=true"
  "--set snapshots.persistence.existingClaim=my-claim"
  "--set snapshots.emptyDir.sizeLimit=1Gi"
  "--set network.ipFamily=IPv6"
  "--set image.tag=v9.9.9 --set image.pullPolicy=Always --set workers=8 --set qps=100 --set burst=200"
  "--set logLevel=debug --set logFormat=text --set metrics.port=9090 --set health.port=9091"
  "--set webhooks.port=8443 --set webhooks.timeoutSeconds=5 --set billing.enabled=true"
  "--set runAsUser=1000 --set runAsGroup=1000 --set resources.requests.cpu=100m --set resources.limits.memory=1Gi"
  "--set podDisruptionBudget.enabled=false"
  "--set podDisruptionBudget.maxUnavailable=null --set podDisruptionBudget.minAvailable=1"
  "--set certManager.enabled=true --set billing.enabled=true"
  "--set certManager.enabled=true --set certManager.issuerRef.name=corp-ca --set certManager.issuerRef.kind=ClusterIssuer --set certManager.duration=720h --set certManager.renewBefore=240h"
  "--set serviceMonitor.enabled=true --set serviceMonitor.interval=15s --set serviceMonitor.scrapeTimeout=5s --set serviceMonitor.labels.release=prom"
  "--set networkPolicy.enabled=false"
  "--set config.cloud.binary=/usr/local/bin/tofu --set config.cloud.modulesDir=/opt/paybill/modules --set config.cloud.workDir=/var/lib/paybill/cloud --set config.cloud.poolSize=8 --set config.cloud.runTimeout=45m"
  "-f $T/np-values.yaml"
)
# networkPolicy's lists and config.databaseServers (the egress ports)
mkdir -p "$T"
cat >"$T/np-values.yaml" <<'V'
networkPolicy:
  metricsFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
  apiServer: {ports: [6443], cidrs: [10.0.0.1/32]}
  extraEgress: [{to: [{ipBlock: {cidr: 192.0.2.0/24}}], ports: [{protocol: TCP, port: 8200}]}]
config:
  databaseServers:
    - {name: a, role: shared, host: pg-a, port: 5433, adminSecret: {name: a}}
    - {name: b, role: dedicated, host: pg-b, adminSecret: {name: b}}
V

stack_apiserver_start "$T" || fail "API server ($(stack_apiserver_kind)) did not start"
kubectl create namespace "$NS" >/dev/null
# cert-manager's and the Prometheus Operator's kinds, for the renders that use them
kubectl apply -f "$STACK_ROOT/tests/e2e/fixtures/thirdparty-crds.yaml" >/dev/null || fail "third-party CRDs"
kubectl wait --for=condition=Established crd/certificates.cert-manager.io crd/issuers.cert-manager.io \
  crd/servicemonitors.monitoring.coreos.com --timeout=30s >/dev/null || fail "third-party CRDs not Established"
i=0
for opts in "${OPTION_SETS[@]}"; do
  i=$((i + 1))
  # shellcheck disable=SC2086
  "$HELM" template paybill "$CHART" -n "$NS" --include-crds $opts >"$T/render-$i.yaml" 2>"$T/render-$i.err" \
    || fail "helm template ${opts:-(defaults)}: $(cat "$T/render-$i.err")"
  out=$(kubectl apply --dry-run=server -f "$T/render-$i.yaml" 2>&1) \
    || fail "rendered chart (${opts:-defaults}) refused by the API server: $out"
  ok "helm template ${opts:-(defaults)}: accepted by the API server"
done
grep -q "claimName: \"my-claim\"" "$T/render-4.yaml" || fail "existingClaim not used"
grep -q 'metrics-addr=\[$(POD_IP)\]:8080' "$T/render-6.yaml" || fail "IPv6 address not bracketed"
# rendered object of KIND (NAME optional) from render N, as JSON
obj() { python3 - "$T/render-$1.yaml" "$2" "${3:-}" <<'PY'
import sys, json, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == sys.argv[2] and (not sys.argv[3] or d["metadata"]["name"] == sys.argv[3]):
        print(json.dumps(d)); break
PY
}
dep=$(obj 1 Deployment)
expect_eq "defaults: 2 replicas with leader election" "2 true" \
  "$(jq -r '"\(.spec.replicas) \(.spec.template.spec.containers[0].args | index("--leader-elect=true") != null)"' <<<"$dep")"
expect_eq "defaults: liveness and readiness probes" "/healthz /readyz" \
  "$(jq -r '.spec.template.spec.containers[0] | "\(.livenessProbe.httpGet.path) \(.readinessProbe.httpGet.path)"' <<<"$dep")"
expect_eq "defaults: non-root, read-only root, no escalation, seccomp RuntimeDefault" "true true false RuntimeDefault" \
  "$(jq -r '.spec.template.spec.containers[0].securityContext | "\(.runAsNonRoot) \(.readOnlyRootFilesystem) \(.allowPrivilegeEscalation) \(.seccompProfile.type)"' <<<"$dep")"
expect_eq "defaults: resources" "50m 256Mi" "$(jq -r '.spec.template.spec.containers[0].resources | "\(.requests.cpu) \(.limits.memory)"' <<<"$dep")"
expect_eq "defaults: PodDisruptionBudget maxUnavailable 1" "1" "$(obj 1 PodDisruptionBudget | jq -r .spec.maxUnavailable)"
expect_eq "defaults: Services for metrics and webhooks" "paybill-operator-metrics paybill-webhooks" \
  "$(grep -A3 '^kind: Service$' "$T/render-1.yaml" | awk '/name:/ {print $2}' | sort | tr '\n' ' ' | sed 's/ $//')"
expect_eq "defaults: NetworkPolicy (ingress webhooks/health/metrics; egress DNS, API server)" "9443 8081 8080 | 53 53 443 6443" \
  "$(obj 1 NetworkPolicy | jq -r '[.spec.ingress[].ports[].port] + ["|"] + [.spec.egress[].ports[].port] | map(tostring) | join(" ")')"
expect_eq "defaults: no ServiceMonitor, no cert-manager, the operator's own certificates" "0 0 0" \
  "$(grep -c 'kind: ServiceMonitor' "$T/render-1.yaml") $(grep -c 'cert-manager.io' "$T/render-1.yaml") $(grep -c 'webhook-certs=external' "$T/render-1.yaml")"
expect_eq "PDB off" "0" "$(grep -c '^kind: PodDisruptionBudget' "$T/render-11.yaml")"
expect_eq "PDB minAvailable" "1 null" "$(obj 12 PodDisruptionBudget | jq -r '"\(.spec.minAvailable) \(.spec.maxUnavailable)"')"
expect_eq "certManager: the operator only reads its Secret" "1" "$(grep -c -- '- --webhook-certs=external' "$T/render-13.yaml")"
expect_eq "certManager: leaf into paybill-webhook-tls, names the Services, chart CA" "paybill-webhook-tls paybill-webhooks.$NS.svc paybill-billing.$NS.svc paybill-webhook-ca" \
  "$(obj 13 Certificate paybill-webhooks | jq -r '"\(.spec.secretName) \(.spec.dnsNames[0]) \(.spec.dnsNames[2]) \(.spec.issuerRef.name)"')"
expect_eq "certManager: cainjector annotation on both configurations" "2" "$(grep -c "cert-manager.io/inject-ca-from: $NS/paybill-webhooks" "$T/render-13.yaml")"
expect_eq "certManager.issuerRef: your issuer, no chart CA" "ClusterIssuer/corp-ca 0" \
  "$(obj 14 Certificate paybill-webhooks | jq -r '"\(.spec.issuerRef.kind)/\(.spec.issuerRef.name)"') $(grep -c 'name: paybill-selfsigned' "$T/render-14.yaml")"
expect_eq "ServiceMonitor: selects the metrics Service, interval, labels" "metrics 15s prom" \
  "$(obj 15 ServiceMonitor | jq -r '"\(.spec.selector.matchLabels["app.kubernetes.io/component"]) \(.spec.endpoints[0].interval) \(.metadata.labels.release)"')"
expect_eq "networkPolicy off" "0" "$(grep -c '^kind: NetworkPolicy' "$T/render-16.yaml")"
expect_eq "cloud: the config section, the work volume and the pod name" \
  "8 /var/lib/paybill/cloud POD_NAME" \
  "$(obj 17 ConfigMap paybill-operator-config | jq -r '.data["config.yaml"]' | python3 -c 'import sys,yaml; print(yaml.safe_load(sys.stdin)["cloud"]["poolSize"])') $(obj 17 Deployment | jq -r '[.spec.template.spec.containers[0].volumeMounts[] | select(.name == "cloud-work") | .mountPath][0]') $(obj 17 Deployment | jq -r '[.spec.template.spec.containers[0].env[].name | select(. == "POD_NAME")][0]')"
expect_eq "networkPolicy: metricsFrom, cidrs, database ports, extraEgress" "monitoring 10.0.0.1/32 5433 5432 8200" \
  "$(obj 18 NetworkPolicy | jq -r '"\(.spec.ingress[1].from[0].namespaceSelector.matchLabels["kubernetes.io/metadata.name"]) \(.spec.egress[1].to[0].ipBlock.cidr) \(.spec.egress[2].ports | map(.port|tostring) | join(" ")) \(.spec.egress[3].ports[0].port)"')"
ok "options reach the rendered objects"

# ---- bad values fail at helm install, with a clear message, before anything is created
bad_values() { # bad_values WANT_REGEX HELM_ARGS...
  local want=$1 out; shift
  out=$("$HELM" install bad "$CHART" -n "$NS" "$@" 2>&1) && fail "helm install $* succeeded"
  grep -qE -- "$want" <<<"$out" || fail "helm install $*: expected /$want/, got: $out"
  ok "helm install $* refused: $(grep -E -- "$want" <<<"$out" | head -1 | sed 's/^ *//')"
}
bad_values "at '/replicas': minimum: got 0, want 1" --set replicas=0
bad_values "at '/logLevel': value must be one of 'debug', 'info', 'warn', 'error'" --set logLevel=verbose
bad_values "additional properties 'replica' not allowed" --set replica=3
bad_values "at '/replicas': maximum: got 2, want 1" --set leaderElection=false
bad_values "at '/runAsUser': minimum: got 0, want 1" --set runAsUser=0
bad_values "at '/config/cloud/poolSize': maximum: got 100, want 64" --set config.cloud.poolSize=100
bad_values "at '/metrics/port': maximum: got 70,000, want 65,535" --set metrics.port=70000
bad_values "at '/network/ipFamily'" --set network.ipFamily=IPv5
bad_values "at '/config/databaseServers/0/role'" --set 'config.databaseServers[0].name=x' --set 'config.databaseServers[0].role=primary' \
  --set 'config.databaseServers[0].host=h' --set 'config.databaseServers[0].adminSecret.name=s'
bad_values "at '/certManager/issuerRef': properties 'name' required" --set certManager.issuerRef.kind=ClusterIssuer
bad_values "at '/config/rotationGracePeriod'" --set config.rotationGracePeriod=5minutes
expect_eq "nothing installed by the refused values" "" "$("$HELM" list -n "$NS" -q)"

# ---- install -----------------------------------------------------------------
stack_database "$T" "$NS" dedicated || fail "PostgreSQL did not start"
cat >"$T/values.yaml" <<V
config:
  snapshotDir: $T/snapshots
  databaseServers:
    - {name: shared, role: shared, host: 127.0.0.1, port: $PG_PORT, sslmode: disable,
       adminSecret: {name: pg-admin}}
    - {name: dedicated, role: dedicated, host: 127.0.0.1, port: $PG_DEDICATED_PORT, sslmode: disable,
       adminSecret: {name: pg-dedicated-admin}}
metrics: {port: $(free_port)}
health: {port: $(free_port)}
webhooks: {port: $(free_port)}
V
out=$("$HELM" install paybill "$CHART" -n "$NS" -f "$T/values.yaml" --wait=false 2>&1) || fail "helm install: $out"
ok "helm install"
expect_eq "release deployed" "deployed" "$("$HELM" status paybill -n "$NS" -o json | jq -r .info.status)"
wait_for "CRDs Established" 30 kubectl wait --for=condition=Established crd -l app.kubernetes.io/part-of=paybill --timeout=5s

# The operator exactly as the chart runs it: its ServiceAccount's token, the
# ConfigMap's settings file, the Deployment's arguments.
stack_sa_kubeconfig "$T/operator.kubeconfig" "$NS" \
  "$(jp deployment paybill-operator '{.spec.template.spec.serviceAccountName}' -n "$NS")" \
  || fail "no token for the chart's ServiceAccount"
kubectl -n "$NS" get configmap paybill-operator-config -o jsonpath='{.data.config\.yaml}' >"$T/chart-config.yaml"
mapfile -t args < <(kubectl -n "$NS" get deployment paybill-operator -o json | jq -r '.spec.template.spec.containers[0].args[]' \
  | sed -e 's|^--config=/etc/paybill/config.yaml$|--config='"$T"'/chart-config.yaml|' -e 's|\$(POD_IP)|127.0.0.1|')
printf '%s\n' "${args[@]}" | grep -q -- "--config=$T/chart-config.yaml" || fail "the Deployment does not read its ConfigMap"
PAYBILL_KUBECONFIG=$T/operator.kubeconfig "$STACK_BUILD/paybill-operator" "${args[@]}" --log-format text >>"$T/operator.log" 2>&1 &
echo $! >"$T/operator.pid"
ok "operator started with the Deployment's arguments: ${args[*]}"

for f in "$STACK_ROOT"/examples/[0-3]*.yaml; do kubectl apply -f "$f" >/dev/null || fail "example $f refused"; done
# No cluster networking here: the chart's webhook configurations are pointed
# at the operator's loopback address (what the Service does in a cluster),
# keeping everything else the chart rendered; the operator injects caBundle.
WH_PORT=$(sed -n 's/^--webhook-addr=127.0.0.1://p' <<<"$(printf '%s\n' "${args[@]}")")
for kind in mutatingwebhookconfiguration validatingwebhookconfiguration; do
  kubectl get $kind paybill-workflows -o json | jq 'del(.metadata.resourceVersion)' >"$T/chart-$kind.json"
  jq --arg u "https://127.0.0.1:$WH_PORT" '.webhooks |= map(.clientConfig = {url: ($u + .clientConfig.service.path)} )' \
    "$T/chart-$kind.json" | kubectl replace -f - >/dev/null || fail "pointing $kind at the operator"
done
injected() { [ -n "$(kubectl get validatingwebhookconfiguration paybill-workflows -o jsonpath='{.webhooks[0].clientConfig.caBundle}')" ]; }
wait_for "the operator injected its CA into the chart's webhook configurations" 60 injected
wait_for "example tenants Ready under the chart's RBAC" 120 kubectl wait --for=condition=Ready tenants --all --timeout=5s
n=$(kubectl get tenants -o name | wc -l | tr -d ' ')
[ "$n" -ge 3 ] || fail "expected the examples' tenants, got $n"
ok "$n tenants Ready"
# A write refused just after the operator bound itself in a new namespace
# is the real API server's RBAC cache catching up: the operator logs that it
# waits and retries (tenant_controller.c). Any other denial is a bug.
denials=$(grep -i "forbidden" "$T/operator.log" | grep -v "waiting for the operator's new RoleBinding to take effect")
[ -z "$denials" ] || fail "the operator hit RBAC denials: $(head -3 <<<"$denials")"
ok "no RBAC denial in the operator's log"
wait_for "example AgentPolicy admitted through the chart's webhooks" 30 kubectl apply -f "$STACK_ROOT/examples/40-agentpolicy.yaml"
wait_for "AgentPolicy Ready under the chart's RBAC" 60 kubectl wait --for=condition=Ready agentpolicy/billing-assistant -n tenant-acme --timeout=5s
for kind in networkpolicy poddisruptionbudget service/paybill-operator-metrics service/paybill-webhooks; do
  kubectl get -n "$NS" ${kind%%/*} ${kind#*/} >/dev/null 2>&1 || kubectl get -n "$NS" $kind paybill-operator >/dev/null || fail "$kind not installed"
done
ok "installed: NetworkPolicy, PodDisruptionBudget, metrics and webhook Services"

# ---- upgrade -----------------------------------------------------------------
# the webhook configurations as the chart made them again (helm's three-way
# merge would otherwise meet both a url and a service)
for kind in mutatingwebhookconfiguration validatingwebhookconfiguration; do
  kubectl replace -f "$T/chart-$kind.json" >/dev/null || fail "restoring $kind"
done
out=$("$HELM" upgrade paybill "$CHART" -n "$NS" -f "$T/values.yaml" --set workers=4 --wait=false 2>&1) || fail "helm upgrade: $out"
expect_eq "upgrade reached the Deployment" "true" \
  "$(kubectl -n "$NS" get deployment paybill-operator -o json | jq '.spec.template.spec.containers[0].args | index("--workers=4") != null')"
expect_eq "revision 2" "2" "$("$HELM" status paybill -n "$NS" -o json | jq -r .version)"

# ---- uninstall ---------------------------------------------------------------
stack_kill "$T/operator.pid" TERM
out=$("$HELM" uninstall paybill -n "$NS" --wait=false 2>&1) || fail "helm uninstall: $out"
ok "helm uninstall"
gone deployment paybill-operator -n "$NS" || fail "Deployment left after uninstall"
gone clusterrole paybill-operator || fail "ClusterRole left after uninstall"
gone validatingwebhookconfiguration paybill-workflows || fail "webhook configuration left after uninstall"
gone poddisruptionbudget paybill-operator -n "$NS" && gone networkpolicy paybill-operator -n "$NS" || fail "PDB/NetworkPolicy left"
expect_eq "CRDs kept (helm never deletes crds/)" "7" "$(kubectl get crd -l app.kubernetes.io/part-of=paybill -o name | wc -l | tr -d ' ')"
expect_eq "tenants kept" "$n" "$(kubectl get tenants -o name | wc -l | tr -d ' ')"
expect_eq "tenant namespaces kept" "$n" "$(kubectl get ns -l paybill.dev/tenant -o name | wc -l | tr -d ' ')"
kubectl get secret tenant-database -n tenant-acme >/dev/null 2>&1 || fail "tenant credentials removed by uninstall"
ok "tenant credentials kept"
expect_match "tenant databases kept" "^[1-9]" "$(psql_admin -d postgres -c "select count(*) from pg_roles where rolname like 'pb_t_%'")"
echo "PASS $TEST_NAME"
