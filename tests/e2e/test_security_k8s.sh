#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: issue 11 (security), the Kubernetes findings, tried the way an
# attacker would, with kubectl against $KUBECONFIG only (nothing specific to
# the dev API server, so it runs unchanged against a real kube-apiserver):
#   1. the operator's ServiceAccount cannot make itself cluster-admin: a table
#      of actions it must not have and of those it needs (kubectl auth can-i
#      --as), then real attempts with a token of its own;
#   2. tenant namespaces are held to the plan's Pod Security level, their
#      quota caps NodePort and LoadBalancer Services, and both are put back
#      when edited;
#   3. tenant pods reach their namespace, cluster DNS and their database and
#      nothing else; only Paybill's pods of the system namespace reach them;
#      a suspended tenant is cut off entirely;
#   4. a Tenant cannot adopt (and later delete) a namespace it did not
#      create;
#   5. the credentials Secret, no longer watched, is still put back;
#   6. on a server with ValidatingAdmissionPolicy, the chart's policies
#      refuse what RBAC cannot express (skipped where there is none).
. "$(dirname "$0")/stack_env.sh"

stack_up
operator_start operator
kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" -f "$STACK_ROOT/examples/10-plans.yaml" >/dev/null \
  || fail "examples not applied"
kubectl apply -f - >/dev/null <<'Y' || fail "test tenants not applied"
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: lab}
spec:
  tier: lab
  isolation: {model: silo}
  podSecurity: baseline
  quotas: {pods: 5, nodePorts: 2}
---
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: acme}
spec: {owner: {name: W, email: wile@acme.example}, deletionPolicy: Delete}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: acme-pro}
spec: {tenantRef: {name: acme}, planRef: {name: pro}}
---
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: labrat}
spec: {owner: {name: L, email: l@lab.example}, deletionPolicy: Delete}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: labrat-lab}
spec: {tenantRef: {name: labrat}, planRef: {name: lab}}
Y
wait_for "tenants Ready" 90 kubectl wait --for=condition=Ready tenant/acme tenant/labrat --timeout=5s

# --- 1. The operator's ServiceAccount -------------------------------------
OP="system:serviceaccount:$STACK_NAMESPACE:paybill-operator"
can() { kas auth can-i "$@" --as "$OP" 2>/dev/null; }
# Each line: the can-i arguments. Nothing here is needed by the operator.
while read -r args; do
  [ -n "$args" ] || continue
  # shellcheck disable=SC2086
  expect_eq "operator must not: $args" "no" "$(can $args)"
done <<'EOF'
create roles -n kube-system
create roles -n tenant-acme
create clusterroles
escalate roles -n kube-system
escalate clusterroles
bind clusterroles/cluster-admin
bind clusterroles/admin
bind clusterroles/edit
create rolebindings -n kube-system
create clusterrolebindings
get secrets -n kube-system
list secrets -n kube-system
watch secrets -n kube-system
get secrets -n default
list secrets -A
watch secrets -A
get secrets -n tenant-acme
list secrets -n tenant-acme
delete namespaces
delete namespaces/kube-system
update namespaces/kube-system
create pods -n kube-system
create pods -n tenant-acme
impersonate users
impersonate serviceaccounts
create serviceaccounts/token -n kube-system
delete networkpolicies -n kube-system
delete networkpolicies -n tenant-acme
patch resourcequotas -n kube-system
create configmaps -n kube-system
list configmaps -A
delete tenants.paybill.dev
EOF
# ... and what it needs, so the table above is not passing by accident.
while read -r args; do
  [ -n "$args" ] || continue
  # shellcheck disable=SC2086
  expect_eq "operator may: $args" "yes" "$(can $args)"
done <<EOF
watch tenants.paybill.dev
update tenants.paybill.dev --subresource=status
update tenants.paybill.dev --subresource=finalizers
create namespaces
patch namespaces
watch resourcequotas -A
watch networkpolicies.networking.k8s.io -A
watch rolebindings.rbac.authorization.k8s.io -A
bind clusterroles/paybill-tenant-admin
bind clusterroles/paybill-tenant-agent
bind clusterroles/paybill-operator-tenant
patch rolebindings/tenant-admin -n tenant-acme
get secrets/pg-admin -n $STACK_NAMESPACE
watch configmaps -n $STACK_NAMESPACE
patch configmaps/paybill-pool-bridge -n $STACK_NAMESPACE
update leases.coordination.k8s.io/paybill-operator -n $STACK_NAMESPACE
create events
get secrets/tenant-database -n tenant-acme
patch secrets/tenant-database -n tenant-acme
patch resourcequotas/tenant-quota -n tenant-acme
delete networkpolicies/tenant-suspended -n tenant-acme
EOF

# Real attempts with a token of the operator's ServiceAccount, in a
# kubeconfig of its own (no other credential to fall back on).
tok=$(kubectl -n "$STACK_NAMESPACE" create token paybill-operator) || fail "no token for the operator"
server=$(kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.server}')
ca=$(kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
(umask 077; cat >"$T/attacker.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "$server", certificate-authority-data: "$ca"}}]
users: [{name: op, user: {token: "$tok"}}]
contexts: [{name: op, context: {cluster: c, user: op}}]
current-context: op
KC
)
asop() { KUBECONFIG=$T/attacker.kubeconfig kubectl "$@" 2>&1; }
expect_eq "the token is the operator's" "$OP" "$(asop auth whoami -o jsonpath='{.status.userInfo.username}')"
forbidden() { # forbidden DESCRIPTION OUTPUT
  expect_match "$1 -> 403" '(Forbidden|forbidden)' "$2"
}
out=$(asop create -n kube-system -f - <<'Y'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pwn}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
Y
)
forbidden "operator token creates a */*/* Role in kube-system" "$out"
out=$(asop create -n kube-system -f - <<Y
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pwn-role}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pwn}
subjects: [{kind: ServiceAccount, name: paybill-operator, namespace: $STACK_NAMESPACE}]
Y
)
forbidden "operator token binds itself to that Role" "$out"
out=$(asop create -n kube-system -f - <<Y
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pwn}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: paybill-operator, namespace: $STACK_NAMESPACE}]
Y
)
forbidden "operator token binds itself to cluster-admin in kube-system" "$out"
# The same under a name it may write (tenant-admin): bind still refuses.
out=$(asop apply --server-side --field-manager=pwn -n kube-system -f - <<Y
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: tenant-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: paybill-operator, namespace: $STACK_NAMESPACE}]
Y
)
forbidden "operator token binds cluster-admin under an allowed binding name" "$out"
out=$(asop create clusterrolebinding pwn --clusterrole=cluster-admin --serviceaccount="$STACK_NAMESPACE:paybill-operator")
forbidden "operator token creates a ClusterRoleBinding" "$out"
out=$(asop get secrets -n kube-system)
forbidden "operator token lists kube-system Secrets" "$out"
kubectl create secret generic own -n tenant-acme --from-literal=k=v >/dev/null
out=$(asop get secret own -n tenant-acme)
forbidden "operator token reads a tenant's own Secret" "$out"
kubectl create namespace victim >/dev/null
out=$(asop delete namespace victim --wait=false)
forbidden "operator token deletes a namespace" "$out"
gone role pwn -n kube-system && gone rolebinding pwn -n kube-system && gone rolebinding pwn-role -n kube-system \
  && gone rolebinding tenant-admin -n kube-system \
  && gone clusterrolebinding pwn || fail "an attempt left an object behind"
kubectl get ns victim >/dev/null || fail "namespace victim was deleted"
ok "nothing was created or deleted by the attempts"

# --- 2. Pod Security and Service caps ---------------------------------------
psa() { jp ns "$1" '{.metadata.labels.pod-security\.kubernetes\.io/enforce}/{.metadata.labels.pod-security\.kubernetes\.io/enforce-version}/{.metadata.labels.pod-security\.kubernetes\.io/warn}/{.metadata.labels.pod-security\.kubernetes\.io/warn-version}/{.metadata.labels.pod-security\.kubernetes\.io/audit}/{.metadata.labels.pod-security\.kubernetes\.io/audit-version}'; }
expect_eq "default plan: restricted enforced, warned, audited" "restricted/latest/restricted/latest/restricted/latest" "$(psa tenant-acme)"
expect_eq "baseline plan: baseline" "baseline/latest/baseline/latest/baseline/latest" "$(psa tenant-labrat)"
caps() { jp resourcequota tenant-quota '{.spec.hard.services\.nodeports}/{.spec.hard.services\.loadbalancers}' -n "$1"; }
expect_eq "no NodePort or LoadBalancer by default (shared compute too)" "0/0" "$(caps tenant-acme)"
expect_eq "the plan grants NodePorts" "2/0" "$(caps tenant-labrat)"
kubectl label ns tenant-acme --overwrite pod-security.kubernetes.io/enforce=privileged >/dev/null
kubectl label ns tenant-acme pod-security.kubernetes.io/warn- >/dev/null
wait_for "relaxed Pod Security labels put back" 30 is ns tenant-acme \
  '{.metadata.labels.pod-security\.kubernetes\.io/enforce}/{.metadata.labels.pod-security\.kubernetes\.io/warn}' restricted/restricted
kubectl patch resourcequota tenant-quota -n tenant-acme --type merge \
  -p '{"spec":{"hard":{"services.nodeports":"5","services.loadbalancers":"3"}}}' >/dev/null
wait_for "raised Service caps put back" 30 is resourcequota tenant-quota \
  '{.spec.hard.services\.nodeports}/{.spec.hard.services\.loadbalancers}' 0/0 -n tenant-acme
expect_eq "the owner cannot relabel its namespace" "no" \
  "$(kas auth can-i patch namespaces/tenant-acme --as wile@acme.example 2>/dev/null)"
# Admission itself: Pod Security and quotas are enforced by the API server
# (kube-apiserver does; the dev API server does neither). A probe namespace
# tells which this one is, so the tenant checks below never silently pass.
kubectl create namespace probe >/dev/null
kubectl label namespace probe pod-security.kubernetes.io/enforce=restricted >/dev/null
kubectl create quota probe -n probe --hard=services.nodeports=0 >/dev/null
privileged_pod() { # privileged_pod NS: a pod asking for the host
  cat <<Y
apiVersion: v1
kind: Pod
metadata: {name: escape, namespace: $1}
spec:
  hostNetwork: true
  containers: [{name: c, image: busybox, securityContext: {privileged: true}, volumeMounts: [{name: root, mountPath: /host}]}]
  volumes: [{name: root, hostPath: {path: /}}]
Y
}
nodeport_svc() { # nodeport_svc NS
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: open, namespace: %s}\nspec: {type: NodePort, ports: [{port: 80}]}\n' "$1"
}
# probe GEN REFUSED: the server's answer to a dry run of what GEN prints,
# once it is a verdict: refused (matching REFUSED) or accepted. A new
# namespace first needs its default ServiceAccount and its quota's status.
probe() {
  local out deadline=$((SECONDS + 20))
  while :; do
    out=$($1 probe | kubectl apply --dry-run=server -f - 2>&1)
    grep -qE "$2|server dry run" <<<"$out" || [ $SECONDS -ge $deadline ] && break
    sleep 0.5
  done
  grep -qE "$2" <<<"$out"
}
if probe privileged_pod 'violates PodSecurity'; then
  out=$(privileged_pod tenant-labrat | kas apply --as l@lab.example --dry-run=server -f - 2>&1)
  expect_match "tenant owner runs a privileged hostNetwork/hostPath pod -> refused at baseline" \
    'violates PodSecurity "baseline:latest"' "$out"
else
  ok "skipped: this API server does not enforce Pod Security (labels checked above)"
fi
if probe nodeport_svc 'exceeded quota'; then
  out=$(nodeport_svc tenant-acme | kas apply --as wile@acme.example --dry-run=server -f - 2>&1)
  expect_match "tenant owner opens a NodePort -> refused by its quota" 'exceeded quota: tenant-quota' "$out"
else
  ok "skipped: this API server does not enforce ResourceQuota (quota checked above)"
fi
kubectl delete namespace probe --wait=false >/dev/null

# --- 3. Network policies -------------------------------------------------------
np() { kubectl get networkpolicy tenant-isolation -n "$1" -o json; }
expect_eq "isolation policy has both directions" '["Ingress","Egress"]' "$(np tenant-acme | jq -c '.spec.policyTypes')"
expect_eq "ingress: the namespace, and Paybill's pods of the system namespace only" \
  "[{\"podSelector\":{}},{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"$STACK_NAMESPACE\"}},\"podSelector\":{\"matchLabels\":{\"app.kubernetes.io/name\":\"paybill\"}}}]" \
  "$(np tenant-acme | jq -cS '[.spec.ingress[].from[]]')"
expect_eq "egress to the namespace" '[{"podSelector":{}}]' "$(np tenant-acme | jq -cS '.spec.egress[0].to')"
expect_eq "egress to cluster DNS only on port 53" \
  '{"ports":[{"port":53,"protocol":"UDP"},{"port":53,"protocol":"TCP"}],"to":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}]}' \
  "$(np tenant-acme | jq -cS '.spec.egress[1]')"
dbport=$(kubectl get secret tenant-database -n tenant-acme -o jsonpath='{.data.port}' | base64 -d)
dbhost=$(kubectl get secret tenant-database -n tenant-acme -o jsonpath='{.data.host}' | base64 -d)
expect_eq "egress to its database host and port only" \
  "{\"ports\":[{\"port\":$dbport,\"protocol\":\"TCP\"}],\"to\":[{\"ipBlock\":{\"cidr\":\"$dbhost/32\"}}]}" \
  "$(np tenant-acme | jq -cS '.spec.egress[2]')"
expect_eq "no other egress" "3" "$(np tenant-acme | jq '.spec.egress | length')"
expect_eq "no peer in another namespace but DNS" '["kube-system"]' \
  "$(kubectl get networkpolicy -A -l paybill.dev/tenant -o json | jq -c '[.items[].spec.egress[]?.to[]?.namespaceSelector.matchLabels["kubernetes.io/metadata.name"] // empty] | unique')"
meta=$(kubectl get networkpolicy -A -l paybill.dev/tenant -o json | jq -r '.items[].spec.egress[]?.to[]?.ipBlock | select(.) | .cidr as $c | select(($c | startswith("169.254.")) or (($c == "0.0.0.0/0") and ((.except // []) | index("169.254.0.0/16") | not)))')
expect_eq "no egress towards cloud metadata addresses" "" "$meta"
kubectl patch networkpolicy tenant-isolation -n tenant-acme --type merge -p '{"spec":{"egress":[{}]}}' >/dev/null
wait_for "an opened egress is put back" 30 bash -c \
  "[ \"\$(kubectl get networkpolicy tenant-isolation -n tenant-acme -o json | jq '.spec.egress | length')\" = 3 ]"
kubectl patch subscription acme-pro --type merge -p '{"spec":{"paused":true}}' >/dev/null
wait_for "acme suspended" 60 is tenant acme '{.status.phase}' Suspended
policies() { [ "$(kubectl get networkpolicy -n "$1" -o jsonpath='{.items[*].metadata.name}')" = "$2" ]; }
wait_for "suspended: only the deny-all policy (policies add up)" 30 policies tenant-acme tenant-suspended
expect_eq "deny-all denies both directions" '{"podSelector":{},"policyTypes":["Ingress","Egress"]}' \
  "$(kubectl get networkpolicy tenant-suspended -n tenant-acme -o json | jq -cS '.spec')"
kubectl patch subscription acme-pro --type merge -p '{"spec":{"paused":false}}' >/dev/null
wait_for "resumed: isolation policy back, deny-all gone" 60 policies tenant-acme tenant-isolation

# --- 4. Adoption ------------------------------------------------------------------
kubectl create namespace tenant-x >/dev/null
kubectl label namespace tenant-x team=payments >/dev/null
kubectl create configmap keep -n tenant-x --from-literal=owner=payments >/dev/null
labels_before=$(kubectl get ns tenant-x -o json | jq -cS '.metadata.labels')
kubectl apply -f - >/dev/null <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: x}
spec: {owner: {name: X, email: x@x.example}, deletionPolicy: Delete}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: x-pro}
spec: {tenantRef: {name: x}, planRef: {name: pro}}
Y
wait_for "Tenant x says the namespace is not its own" 60 is tenant x \
  '{.status.conditions[?(@.type=="NamespaceReady")].status}/{.status.conditions[?(@.type=="NamespaceReady")].reason}' \
  False/NamespaceNotOwned
expect_match "the message names the namespace and the missing label" \
  'tenant-x.*app\.kubernetes\.io/managed-by=paybill-operator' \
  "$(jp tenant x '{.status.conditions[?(@.type=="NamespaceReady")].message}')"
expect_eq "Ready says so too" "False/NamespaceNotOwned" \
  "$(jp tenant x '{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}')"
sleep 2 # a few more reconciles, in case one would still touch it
expect_eq "namespace labels untouched" "$labels_before" "$(kubectl get ns tenant-x -o json | jq -cS '.metadata.labels')"
expect_eq "namespace not owned by the Tenant" "" "$(jp ns tenant-x '{.metadata.ownerReferences}')"
expect_eq "configmap still there" "payments" "$(jp configmap keep '{.data.owner}' -n tenant-x)"
expect_eq "nothing of ours put in it" "" \
  "$(kubectl get resourcequota,networkpolicy,rolebinding,serviceaccount,secret -n tenant-x -l app.kubernetes.io/managed-by=paybill-operator -o name)"
kubectl delete tenant x --wait=false >/dev/null
wait_for "Tenant x deleted" 60 gone tenant x
sleep 2 # the garbage collector and the operator had their chance
kubectl get ns tenant-x >/dev/null 2>&1 || fail "deleting Tenant x deleted namespace tenant-x"
expect_eq "namespace survives the Tenant, not terminating" "" "$(jp ns tenant-x '{.metadata.deletionTimestamp}')"
expect_eq "its configmap too" "payments" "$(jp configmap keep '{.data.owner}' -n tenant-x)"
expect_eq "and its labels" "$labels_before" "$(kubectl get ns tenant-x -o json | jq -cS '.metadata.labels')"

# --- 5. The credentials Secret is no longer watched, but still repaired -----
kubectl delete secret tenant-database -n tenant-acme >/dev/null
kubectl annotate tenant acme --overwrite paybill.dev/poke=1 >/dev/null # any event: a reconcile GETs it
wait_for "deleted credentials Secret put back" 30 kubectl get secret tenant-database -n tenant-acme

# --- 6. Admission policies (servers with ValidatingAdmissionPolicy only) --------
if kubectl api-resources --api-group=admissionregistration.k8s.io -o name 2>/dev/null \
    | grep -qx 'validatingadmissionpolicies.admissionregistration.k8s.io'; then
  # Helm-free rendering: drop the comment and the capability guard.
  sed -e '/^{{- \/\*/,/\*\/ -}}$/d' -e '/^{{- if /d' -e '/^{{- end }}/d' \
    -e "s/{{ \.Release\.Namespace }}/$STACK_NAMESPACE/g" \
    "$STACK_ROOT/charts/paybill/templates/admission-policies.yaml" | kubectl apply -f - >/dev/null \
    || fail "admission policies not applied"
  sleep 2
  out=$(asop apply --server-side --field-manager=pwn -n kube-system -f - <<Y
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: paybill-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: paybill-operator-tenant}
subjects: [{kind: ServiceAccount, name: paybill-operator, namespace: $STACK_NAMESPACE}]
Y
)
  expect_match "operator token binds itself in kube-system -> refused by the admission policy" \
    "paybill-operator-scope.*denied" "$out"
  out=$(asop label namespace kube-system app.kubernetes.io/managed-by=paybill-operator)
  expect_match "operator token marks kube-system as its own -> refused by the admission policy" \
    "paybill-operator-scope.*denied" "$out"
  out=$(asop apply --server-side --force-conflicts --field-manager=pwn -n tenant-acme -f - <<Y
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: tenant-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: paybill-tenant-admin}
subjects: [{kind: ServiceAccount, name: paybill-operator, namespace: $STACK_NAMESPACE}]
Y
)
  expect_match "operator token grants itself tenant-admin -> refused by the admission policy" \
    "paybill-operator-scope.*denied" "$out"
  # The operator's own work passes it: a new tenant (namespace, bindings)
  # and a repaired label.
  kubectl apply -f - >/dev/null <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: late}
spec: {owner: {name: L, email: late@late.example}, deletionPolicy: Delete}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: late-pro}
spec: {tenantRef: {name: late}, planRef: {name: pro}}
Y
  wait_for "a new tenant is provisioned under the admission policy" 90 \
    kubectl wait --for=condition=Ready tenant/late --timeout=5s
  kubectl label ns tenant-late paybill.dev/tier- >/dev/null
  wait_for "and its namespace repaired" 30 is ns tenant-late '{.metadata.labels.paybill\.dev/tier}' pro
  out=$(kas apply --as l@lab.example -n tenant-labrat -f - 2>&1 <<'Y'
apiVersion: v1
kind: Service
metadata: {name: grab}
spec: {ports: [{port: 80}], externalIPs: [1.2.3.4]}
Y
)
  expect_match "tenant owner sets externalIPs -> refused by the admission policy" \
    "paybill-tenant-external-ips.*denied" "$out"
else
  ok "skipped: this API server has no ValidatingAdmissionPolicy (charts/paybill/templates/admission-policies.yaml)"
fi
echo "PASS $TEST_NAME"
