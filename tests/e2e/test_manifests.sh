#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: the manifests we ship are valid. The chart's CRDs are the
# repository's CRDs; the chart's RBAC renders and is accepted; every example
# passes the API server's schema validation (server-side dry run) once the
# CRDs are installed.
. "$(dirname "$0")/stack_env.sh"

for f in "$STACK_ROOT"/crds/*.yaml; do
  cmp -s "$f" "$STACK_ROOT/charts/paybill/crds/$(basename "$f")" \
    || fail "charts/paybill/crds/$(basename "$f") differs from crds/ (copy it)"
done
ok "chart CRDs match crds/"

stack_apiserver_start "$T" || fail "API server ($(stack_apiserver_kind)) did not start"
stack_install_crds || fail "CRDs not installed"
expect_eq "every CRD is Established" "7" \
  "$(kubectl get crd -l app.kubernetes.io/part-of=paybill -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Established")].status}{"\n"}{end}' | grep -c True)"
expect_match "short names and category work" "tenants" "$(kubectl api-resources --categories=paybill -o name)"

printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: paybill-system}\n' | kubectl apply -f - >/dev/null
out=$(stack_render_rbac paybill-system | kubectl apply --dry-run=server -f - 2>&1) || fail "chart RBAC rejected: $out"
ok "chart RBAC renders and is accepted"

# Cluster-scoped examples first; namespaced ones need their tenant namespace.
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: tenant-acme}\n' | kubectl apply -f - >/dev/null
for f in "$STACK_ROOT"/examples/*.yaml; do
  out=$(kubectl apply --dry-run=server -f "$f" 2>&1) || fail "example $(basename "$f") rejected: $out"
  ok "example $(basename "$f") valid"
done
# Defaults from the schemas reach stored objects.
kubectl apply -f "$STACK_ROOT/examples/10-plans.yaml" >/dev/null
expect_eq "schema defaults applied (connectionLimit, currency)" "5/USD" \
  "$(jp plan free '{.spec.database.connectionLimit}/{.spec.billing.currency}')"
expect_eq "printer columns served" "NAME TIER ISOLATION TENANTS READY AGE" \
  "$(kubectl get plans | head -1 | tr -s ' ')"
echo "PASS $TEST_NAME"
