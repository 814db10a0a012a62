#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: the tenant lifecycle with real kubectl, the dev API server,
# real PostgreSQL and the operator running under the Helm chart's RBAC.
# Create -> Ready; isolation children (ClusterRole bindings, Pod Security,
# Service caps, ingress+egress policy); plan change; suspension and resume;
# drift put back; quotas in non-canonical form are not drift; deletion under
# each deletionPolicy.
. "$(dirname "$0")/stack_env.sh"

# Two PostgreSQL servers: silo tenants live on the dedicated one.
STACK_DEDICATED=1
stack_up
operator_start operator
kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" -f "$STACK_ROOT/examples/10-plans.yaml" \
  -f "$STACK_ROOT/examples/20-tenants.yaml" -f "$STACK_ROOT/examples/30-subscriptions.yaml" >/dev/null \
  || fail "examples not applied"

wait_for "all tenants Ready" 90 kubectl wait --for=condition=Ready tenants --all --timeout=5s
# The operator must not disturb what kubectl owns (its last-applied state).
out=$(kubectl apply -f "$STACK_ROOT/examples/20-tenants.yaml" 2>&1)
expect_eq "re-applying the tenants changes nothing" "3" "$(grep -c unchanged <<<"$out")"
expect_eq "plan free is pooled" "pooled" "$(jp tenant globex '{.status.isolation.model}')"
expect_eq "acme phase" "Active" "$(jp tenant acme '{.status.phase}')"
# The count is written at most once a second (plan_controller.c).
wait_for "plan tenant count" 10 is plan pro '{.status.tenants}' 1
expect_eq "subscription state (14-day trial)" "trialing" "$(jp subscription acme-pro '{.status.state}')"
expect_eq "namespace labels" "acme/pro/pro" \
  "$(jp ns tenant-acme '{.metadata.labels.paybill\.dev/tenant}/{.metadata.labels.paybill\.dev/plan}/{.metadata.labels.paybill\.dev/tier}')"
expect_eq "namespace owned by the tenant" "Tenant/acme" \
  "$(jp ns tenant-acme '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')"
expect_eq "silo quota from the plan" "8/50" \
  "$(jp resourcequota tenant-quota '{.spec.hard.requests\.cpu}/{.spec.hard.pods}' -n tenant-initech)"
expect_eq "shared compute: zero-pod quota" "0" "$(jp resourcequota tenant-quota '{.spec.hard.pods}' -n tenant-globex)"
expect_match "pooled tenant routed through its pool" '"namespace":"tenant-globex"' \
  "$(jp configmap paybill-pool-pooled '{.data.globex}' -n paybill-system)"
expect_eq "isolation network policy" "tenant-isolation" \
  "$(kubectl get networkpolicy -n tenant-acme -o jsonpath='{.items[*].metadata.name}')"
expect_eq "isolation covers egress too" "Ingress Egress" \
  "$(jp networkpolicy tenant-isolation '{.spec.policyTypes[*]}' -n tenant-acme)"
expect_eq "restricted Pod Security (plan default)" "restricted" \
  "$(jp ns tenant-acme '{.metadata.labels.pod-security\.kubernetes\.io/enforce}')"
expect_eq "Service caps from the plan (enterprise: one LoadBalancer)" "0/1" \
  "$(jp resourcequota tenant-quota '{.spec.hard.services\.nodeports}/{.spec.hard.services\.loadbalancers}' -n tenant-initech)"
expect_eq "no Role made by the operator: bindings to the chart's ClusterRoles" \
  "ClusterRole/paybill-tenant-admin ClusterRole/paybill-tenant-agent ClusterRole/paybill-operator-tenant" \
  "$(for b in tenant-admin paybill-agent paybill-operator; do jp rolebinding $b '{.roleRef.kind}/{.roleRef.name}' -n tenant-acme; echo; done | xargs)"
expect_eq "no Roles in the tenant namespace" "" "$(kubectl get roles -n tenant-acme -o name)"

# RBAC handed to the tenant: the agent may create workflows, and nothing else.
agent="system:serviceaccount:tenant-acme:paybill-agent"
expect_eq "agent can create workflows" "yes" "$(kas auth can-i create workflows.paybill.dev -n tenant-acme --as "$agent")"
expect_eq "agent cannot read secrets" "no" "$(kas auth can-i get secrets -n tenant-acme --as "$agent" 2>/dev/null)"
expect_eq "agent cannot write workflow status" "no" \
  "$(kas auth can-i update workflows.paybill.dev --subresource=status -n tenant-acme --as "$agent" 2>/dev/null)"
expect_eq "agent cannot reach another tenant" "no" "$(kas auth can-i create workflows.paybill.dev -n tenant-globex --as "$agent" 2>/dev/null)"
expect_eq "owner administers workloads" "yes" "$(kas auth can-i create deployments -n tenant-acme --as wile@acme.example)"
expect_eq "owner cannot raise its quota" "no" "$(kas auth can-i update resourcequotas -n tenant-acme --as wile@acme.example 2>/dev/null)"

# Database: credentials Secret and the tenant's own login.
user=$(kubectl get secret tenant-database -n tenant-acme -o jsonpath='{.data.user}' | base64 -d)
pass=$(kubectl get secret tenant-database -n tenant-acme -o jsonpath='{.data.password}' | base64 -d)
db=$(kubectl get secret tenant-database -n tenant-acme -o jsonpath='{.data.dbname}' | base64 -d)
expect_eq "bridge tenant has its schema" "t_acme" "$(jp tenant acme '{.status.database.schema}')"
port=$(kubectl get secret tenant-database -n tenant-acme -o jsonpath='{.data.port}' | base64 -d)
expect_eq "bridge tenant on the shared server" "shared/$PG_PORT" "$(jp tenant acme '{.status.database.server}')/$port"
expect_eq "silo tenant on the dedicated server" "dedicated" "$(jp tenant initech '{.status.database.server}')"
PGPASSWORD=$pass psql -h 127.0.0.1 -p "$port" -U "$user" -d "$db" -qAt \
  -c "insert into customers(email, name) values ('road@runner.example', 'Road Runner')" >/dev/null \
  || fail "tenant login cannot write its own table"
ok "tenant login writes its own tables"

# Plan change: acme moves to enterprise (silo) -> quota and data follow.
kubectl patch subscription acme-pro --type merge -p '{"spec":{"planRef":{"name":"enterprise"}}}' >/dev/null
wait_for "acme on the enterprise plan" 60 is tenant acme '{.status.plan}' enterprise
wait_for "acme quota follows the plan" 60 is resourcequota tenant-quota '{.spec.hard.pods}' 50 -n tenant-acme
wait_for "acme data moved to its own database on the dedicated server" 90 is tenant acme '{.status.database.layout}/{.status.database.server}' database/dedicated
wait_for "acme Ready after the move" 60 kubectl wait --for=condition=Ready tenant/acme --timeout=5s
user=$(kubectl get secret tenant-database -n tenant-acme -o jsonpath='{.data.user}' | base64 -d)
pass=$(kubectl get secret tenant-database -n tenant-acme -o jsonpath='{.data.password}' | base64 -d)
db=$(kubectl get secret tenant-database -n tenant-acme -o jsonpath='{.data.dbname}' | base64 -d)
port=$(kubectl get secret tenant-database -n tenant-acme -o jsonpath='{.data.port}' | base64 -d)
expect_eq "Secret points at the dedicated server" "$PG_DEDICATED_PORT" "$port"
expect_eq "rows moved with the tenant" "Road Runner" \
  "$(PGPASSWORD=$pass psql -h 127.0.0.1 -p "$port" -U "$user" -d "$db" -qAt -c 'select name from customers')"
expect_eq "no copy left on the shared server" "0" \
  "$(psql_admin -d paybill -c "select count(*) from pg_namespace where nspname = 't_acme'")"

# Suspension through the subscription, then resume.
kubectl patch subscription globex-free --type merge -p '{"spec":{"paused":true}}' >/dev/null
wait_for "globex suspended" 60 is tenant globex '{.status.phase}' Suspended
expect_eq "suspended: Ready False with reason" "False/Suspended" \
  "$(jp tenant globex '{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}')"
wait_for "suspended: deny-all network policy" 30 kubectl get networkpolicy tenant-suspended -n tenant-globex
wait_for "suspended: isolation policy (and its allows) gone" 30 gone networkpolicy tenant-isolation -n tenant-globex
kubectl patch subscription globex-free --type merge -p '{"spec":{"paused":false}}' >/dev/null
wait_for "globex resumed" 60 is tenant globex '{.status.phase}' Active
wait_for "resumed: deny-all policy removed" 30 gone networkpolicy tenant-suspended -n tenant-globex
wait_for "resumed: isolation policy back" 30 kubectl get networkpolicy tenant-isolation -n tenant-globex

# Drift: children edited or deleted by hand are put back.
kubectl delete networkpolicy tenant-isolation -n tenant-initech >/dev/null
wait_for "deleted network policy restored" 30 kubectl get networkpolicy tenant-isolation -n tenant-initech
kubectl patch resourcequota tenant-quota -n tenant-initech --type merge -p '{"spec":{"hard":{"pods":"999"}}}' >/dev/null
wait_for "edited quota restored" 30 is resourcequota tenant-quota '{.spec.hard.pods}' 50 -n tenant-initech
kubectl label namespace tenant-initech paybill.dev/tier- >/dev/null
wait_for "removed namespace label restored" 30 is ns tenant-initech '{.metadata.labels.paybill\.dev/tier}' enterprise
# A status edited by hand is put back at once, not at the tenant's next
# change: the tenant controller passes over the echoes of its own status
# writes only (the operator has no periodic resync to hide a miss).
kubectl patch tenant initech --subresource=status --type merge -p '{"status":{"phase":"Suspended"}}' >/dev/null
wait_for "hand-edited status put back" 20 is tenant initech '{.status.phase}' Active
st=$(jp subscription initech-enterprise '{.status.state}')
expect_match "initech's subscription has a state" '^[a-z]' "$st"
kubectl patch subscription initech-enterprise --subresource=status --type merge \
  -p '{"status":{"graceEnds":"2000-01-01T00:00:00Z"}}' >/dev/null
wait_for "hand-edited subscription status put back" 20 is subscription initech-enterprise \
  '{.status.state}/{.status.graceEnds}' "$st/"
# A binding left by a version that made namespaced Roles: its roleRef is
# immutable, so the operator replaces it (operator stopped meanwhile, so
# the swap is not a race with it).
stack_kill "$T/operator.pid" TERM
kubectl delete rolebinding tenant-admin -n tenant-initech >/dev/null
kubectl apply -f - >/dev/null <<'Y' || fail "old-style binding not created"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: tenant-admin
  namespace: tenant-initech
  labels: {app.kubernetes.io/managed-by: paybill-operator, paybill.dev/tenant: initech}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: tenant-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bill@initech.example}]
Y
operator_start operator
wait_for "old Role binding replaced by the ClusterRole one" 30 is rolebinding tenant-admin \
  '{.roleRef.kind}/{.roleRef.name}' ClusterRole/paybill-tenant-admin -n tenant-initech

# Quotas written in non-canonical form: the API server stores "1" for
# "1000m" and "2Gi" for "2048Mi"; the operator must see that as the same
# value, not as drift to re-apply on every reconcile.
kubectl apply -f - >/dev/null <<'EOF' || fail "odd-quota plan not applied"
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: odd}
spec:
  tier: odd
  isolation: {model: pooled, compute: dedicated}
  quotas: {cpu: 1000m, memory: 2048Mi, pods: 10}
  database: {dataModel: crm, connectionLimit: 5}
---
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: quirk}
spec:
  owner: {name: Q, email: q@quirk.example}
  deletionPolicy: Delete
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: quirk-odd}
spec:
  tenantRef: {name: quirk}
  planRef: {name: odd}
EOF
wait_for "odd-quota tenant Ready" 60 kubectl wait --for=condition=Ready tenant/quirk --timeout=5s
expect_eq "live quota in canonical form" "1/2Gi/10" \
  "$(jp resourcequota tenant-quota '{.spec.hard.requests\.cpu}/{.spec.hard.requests\.memory}/{.spec.hard.pods}' -n tenant-quirk)"
rv=$(jp resourcequota tenant-quota '{.metadata.resourceVersion}' -n tenant-quirk)
lrv=$(jp limitrange tenant-limits '{.metadata.resourceVersion}' -n tenant-quirk)
# Force a full reconcile that signals its end: a credentials rotation runs
# after the children are converged and is recorded in the Secret.
kubectl annotate tenant quirk paybill.dev/rotate-credentials=poke-1 >/dev/null
wait_for "forced reconcile done" 30 is secret tenant-database \
  "{.metadata.annotations.paybill\.dev/rotate-credentials}" poke-1 -n tenant-quirk
expect_eq "quota not re-applied" "$rv" "$(jp resourcequota tenant-quota '{.metadata.resourceVersion}' -n tenant-quirk)"
expect_eq "limit range not re-applied" "$lrv" "$(jp limitrange tenant-limits '{.metadata.resourceVersion}' -n tenant-quirk)"
drifted() {
  kubectl get events -A -o json | jq -r '.items[] | select(.involvedObject.name=="quirk" and .reason=="DriftCorrected") | .message'
}
wait_for "rotation recorded" 10 bash -c \
  "kubectl get events -A -o json | jq -e '.items[] | select(.involvedObject.name==\"quirk\" and .reason==\"CredentialsRotated\")'"
expect_eq "no drift reported for canonical quantities" "" "$(drifted)"

# Deletion under each policy.
kubectl delete tenant globex --wait=false >/dev/null
wait_for "Delete: tenant gone" 60 gone tenant globex
wait_for "Delete: namespace gone" 60 gone ns tenant-globex
expect_eq "Delete: database role dropped" "0" "$(psql_admin -d postgres -c "select count(*) from pg_roles where rolname like '%globex%'")"
kubectl delete tenant initech --wait=false >/dev/null
wait_for "Retain: tenant gone" 60 gone tenant initech
expect_eq "Retain: namespace kept and marked" "true" "$(jp ns tenant-initech '{.metadata.labels.paybill\.dev/retained}')"
expect_eq "Retain: namespace no longer owned" "" "$(jp ns tenant-initech '{.metadata.ownerReferences}')"
kubectl delete tenant acme --wait=false >/dev/null
wait_for "Snapshot: tenant gone" 90 gone tenant acme
snap=$(ls "$T"/snapshots/ 2>/dev/null | head -1)
[ -n "$snap" ] || fail "Snapshot: no archive in $T/snapshots"
ok "Snapshot: archive written ($snap)"
wait_for "Snapshot: namespace gone" 60 gone ns tenant-acme
kubectl get events -A -o json | jq -r '.items[] | select(.reason=="Snapshotted") | .message' | grep -q sha256 \
  || fail "Snapshot: no Event with the checksum"
ok "Snapshot: Event records path and checksum"
echo "PASS $TEST_NAME"
