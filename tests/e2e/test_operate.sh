#!/usr/bin/env bash
# e2e-servers: kube
# End-to-end: operating Paybill the way GitOps tools and kubectl users do,
# on the real kube-apiserver, with the operator under the chart's RBAC.
#
# - GitOps: every kind the operator reconciles reports observedGeneration
#   equal to metadata.generation and a Ready condition; once settled,
#   nothing the operator writes keeps changing: the resourceVersions of
#   every paybill.dev object stay the same over a restart of the operator
#   (which reconciles every object again) and a quiet period, and
#   re-applying the examples changes nothing.
# - Argo CD health: the chart's Lua checks (charts/paybill/argocd/*.lua)
#   run in Lua 5.1 against the objects this test produced: Healthy (every
#   example), Degraded (a Subscription whose plan does not exist, and its
#   Tenant, which now says why), Suspended (a suspended tenant),
#   Progressing (a tenant edited while the operator is down). Workflow and
#   Approval statuses are written by the executor (another change): their
#   phases are checked on the real admitted objects with the status the
#   CRD defines set by the test.
# - kubectl-paybill through the real kubectl's plugin mechanism: tenants,
#   describe tenant, approve/reject workflow (the Approval is bound to the
#   uid and spec hash and admitted by the operator's webhook), why workflow,
#   --help, and a user without the RBAC gets "forbidden" and a hint.
. "$(dirname "$0")/stack_env.sh"

command -v lua5.1 >/dev/null || fail "lua5.1 is not installed (hack/deps.sh)"
[ -x "$STACK_BUILD/kubectl-paybill" ] || fail "kubectl-paybill is not built in $STACK_BUILD"
mkdir -p "$T/bin" && cp "$STACK_BUILD/kubectl-paybill" "$T/bin/" && export PATH=$T/bin:$PATH
HEALTH=$STACK_ROOT/charts/paybill/argocd
KINDS="plans tenants subscriptions datamodels agentpolicies workflows approvals"

stack_up
PORT=$(free_port)
agent_webhooks "$PORT" || fail "webhook configurations not applied"
operator_start operator --webhook-addr "127.0.0.1:$PORT"
injected() { [ -n "$(kubectl get validatingwebhookconfiguration paybill-workflows -o jsonpath='{.webhooks[0].clientConfig.caBundle}')" ]; }
wait_for "caBundle injected" 60 injected
for f in "$STACK_ROOT"/examples/[0-3]*.yaml; do kubectl apply -f "$f" >/dev/null || fail "example $f refused"; done
wait_for "example tenants Ready" 120 kubectl wait --for=condition=Ready tenants --all --timeout=5s
NS=tenant-acme
wait_for "example AgentPolicy admitted" 30 kubectl apply -f "$STACK_ROOT/examples/40-agentpolicy.yaml"
wait_for "AgentPolicy Ready" 60 kubectl wait --for=condition=Ready agentpolicy/billing-assistant -n $NS --timeout=5s

# health KIND FILE: the Lua check's verdict ("STATUS<TAB>MESSAGE").
health() { bash "$STACK_ROOT/tests/e2e/argocd_health.sh" "$HEALTH/$1.lua" <"$2"; }
# expect_health KIND RESOURCE NAME WANT [NS]
expect_health() {
  local f=$T/obj-$2-$3.json got
  kubectl get "$2" "$3" ${5:+-n "$5"} -o json >"$f" || fail "get $2/$3"
  got=$(health "$1" "$f") || fail "health script $1 failed on $2/$3"
  [ "${got%%$'\t'*}" = "$4" ] || fail "Argo CD health of $2/$3: expected $4, got [$got]"
  ok "Argo CD health of $2/$3: $got"
}

# ---- Degraded and Suspended, from the operator's own status -----------------------
kubectl apply -f - >/dev/null <<'Y' || fail "orphan tenant/subscription refused"
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: orphan}
spec: {displayName: Orphan, owner: {name: O, email: o@example.com}}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: orphan}
spec: {tenantRef: {name: orphan}, planRef: {name: no-such-plan}}
Y
reason_is() { [ "$(jp "$1" "$2" '{.status.conditions[?(@.type=="Ready")].reason}')" = "$3" ]; }
wait_for "Subscription orphan: PlanNotFound" 60 reason_is subscription orphan PlanNotFound
wait_for "Tenant orphan says its Subscription is not ready" 60 reason_is tenant orphan SubscriptionNotReady
expect_match "and why (the plan does not exist), not 'waiting to be evaluated'" 'plan "no-such-plan" does not exist' \
  "$(jp tenant orphan '{.status.conditions[?(@.type=="Ready")].message}')"
kubectl patch tenant globex --type=merge -p '{"spec":{"suspend":true}}' >/dev/null || fail "suspend globex"
wait_for "globex Suspended" 60 is tenant globex '{.status.phase}' Suspended

expect_health Subscription subscription orphan Degraded
expect_health Tenant tenant orphan Degraded
expect_health Tenant tenant globex Suspended
for t in acme initech; do expect_health Tenant tenant $t Healthy; done
for p in $(kubectl get plans -o name); do expect_health Plan plan "${p#*/}" Healthy; done
for s in $(kubectl get subscriptions -o name); do
  s=${s#*/}; [ "$s" = orphan ] && continue
  expect_health Subscription subscription "$s" Healthy
done
for d in $(kubectl get datamodels -o name); do expect_health DataModel datamodel "${d#*/}" Healthy; done
expect_health AgentPolicy agentpolicy billing-assistant Healthy $NS

# ---- kubectl-paybill ------------------------------------------------------------
out=$(kubectl paybill --help) || fail "kubectl paybill --help"
expect_match "kubectl finds the plugin on PATH (--help)" 'describe tenant NAME' "$out"
for sub in tenants describe approve reject why; do
  out=$(kubectl paybill $sub --help) || fail "kubectl paybill $sub --help"
  expect_match "--help for $sub" "kubectl paybill $sub" "$out"
done
out=$(kubectl paybill frobnicate 2>&1) && fail "an unknown command succeeded"
expect_match "an unknown command is named" 'unknown command "frobnicate"' "$out"
out=$(kubectl paybill tenants) || fail "kubectl paybill tenants: $out"
echo "$out"
expect_match "tenants: header" '^NAME +PLAN +ISOLATION +PHASE +DATABASE +CLOUD +READY +USAGE' "$out"
for t in acme globex initech; do
  want=$(jp tenant $t '{.metadata.name} +{.status.plan} +{.status.isolation.model}/{.status.isolation.compute}/{.status.isolation.data} +{.status.phase} +{.status.database.layout}@{.status.database.server}')
  expect_match "tenants: the line of $t" "^$want " "$out"
done
expect_match "tenants: orphan has no plan yet" '^orphan +- +- +Pending' "$out"
expect_match "tenants: usage from the namespace's quota" 'pods [0-9]+/[0-9]+' "$out"
out=$(kubectl paybill describe tenant acme) || fail "describe tenant acme: $out"
expect_match "describe: plan and subscription state" "Plan: +$(jp tenant acme '{.status.plan}') .*" "$out"
expect_match "describe: the subscription's state" "Subscription: +$(jp tenant acme '{.status.subscription}') \\(state $(jp subscription "$(jp tenant acme '{.status.subscription}')" '{.status.state}')\\)" "$out"
expect_match "describe: conditions" 'DatabaseReady +True' "$out"
for o in "Namespace tenant-acme" "ResourceQuota tenant-quota" "NetworkPolicy tenant-isolation" \
         "ServiceAccount paybill-agent" "RoleBinding tenant-admin" "Secret tenant-database"; do
  expect_match "describe: $o present" "$o +present" "$out"
done
out=$(kubectl paybill describe tenant globex) || fail "describe tenant globex"
expect_match "describe: a suspended tenant shows its deny-all policy" 'NetworkPolicy tenant-suspended +present' "$out"
out=$(kubectl paybill describe tenant nobody 2>&1) && fail "describe of a missing tenant succeeded"
expect_match "describe: a missing tenant says what to do" 'tenant "nobody" not found \(kubectl paybill tenants' "$out"
# The agent's ServiceAccount may not list tenants: the plugin acts with the
# user's rights only.
agent_kubeconfig $NS paybill-agent "$T/agent.kubeconfig" || fail "no token for paybill-agent"
out=$(KUBECONFIG=$T/agent.kubeconfig kubectl paybill tenants 2>&1) && fail "the agent listed tenants: $out"
expect_match "a user without the RBAC is refused, with a hint" 'hint: your RBAC does not allow' "$out"

# approve / reject: a policy whose deletes need a human (the ServiceAccount
# reviewer in tenant-acme), a Workflow from the agent that needs it.
kubectl apply -f - >/dev/null <<Y || fail "approvals policy refused"
apiVersion: paybill.dev/v1alpha1
kind: AgentPolicy
metadata: {name: deletes, namespace: $NS}
spec:
  subjects: [{kind: ServiceAccount, name: paybill-agent}]
  rules:
    - {table: invoices, operations: [delete], approval: {operations: [delete]}}
  approvers: [{kind: ServiceAccount, name: reviewer, namespace: $NS}]
Y
wait_for "deletes policy Ready" 60 kubectl wait --for=condition=Ready agentpolicy/deletes -n $NS --timeout=5s
kubectl create serviceaccount reviewer -n $NS >/dev/null && \
  kubectl create rolebinding reviewer -n $NS --clusterrole=paybill-tenant-admin --serviceaccount=$NS:reviewer >/dev/null \
  || fail "reviewer ServiceAccount"
agent_kubeconfig $NS reviewer "$T/reviewer.kubeconfig" || fail "no token for reviewer"
reviewer() { KUBECONFIG=$T/reviewer.kubeconfig kubectl "$@"; }
for w in purge purge2; do
  printf 'apiVersion: paybill.dev/v1alpha1\nkind: Workflow\nmetadata: {name: %s, namespace: %s}\nspec:\n  steps:\n    - {name: purge, operation: delete, table: invoices, where: [{column: paid, op: eq, value: true}], limit: 5}\n' $w $NS \
    | KUBECONFIG=$T/agent.kubeconfig kubectl create -f - >/dev/null 2>&1 || fail "workflow $w needing approval refused"
done
out=$(reviewer paybill approve workflow purge 2>&1) && fail "approve without --step succeeded"
expect_match "approve without --step says what is missing" 'needs --step' "$out"
out=$(reviewer paybill approve workflow purge --step nope -n $NS 2>&1) && fail "approved an unknown step"
expect_match "an unknown step is named" 'no step "nope"' "$out"
out=$(KUBECONFIG=$T/agent.kubeconfig kubectl paybill approve workflow purge --step purge -n $NS 2>&1) \
  && fail "the agent approved its own workflow: $out"
expect_match "the agent may not create Approvals: the plugin has the user's RBAC, no more" \
  'cannot create resource "approvals".*' "$out"
expect_match "and says what to do" 'hint: your RBAC does not allow' "$out"
out=$(reviewer paybill approve workflow purge --step purge --comment "checked" -n $NS 2>&1) || fail "approve: $out"
expect_match "approve workflow creates the Approval" "approved step \"purge\" of workflow $NS/purge as system:serviceaccount:$NS:reviewer" "$out"
ap=$(kubectl get approvals -n $NS -o json | jq -r '.items[] | select(.spec.workflowRef.name=="purge") | .metadata.name')
[ "$(wc -w <<<"$ap")" = 1 ] || fail "expected one Approval for purge, got [$ap]"
expect_eq "bound to the workflow's uid" "$(jp workflow purge '{.metadata.uid}' -n $NS)" "$(jp approval "$ap" '{.spec.workflowRef.uid}' -n $NS)"
expect_eq "bound to its spec hash" "$(jp workflow purge '{.metadata.annotations.paybill\.dev/spec-hash}' -n $NS)" \
  "$(jp approval "$ap" '{.spec.specHash}' -n $NS)"
expect_eq "decision and comment" "Approve/checked" "$(jp approval "$ap" '{.spec.decision}/{.spec.comment}' -n $NS)"
out=$(reviewer paybill reject workflow purge2 --step purge -n $NS 2>&1) || fail "reject: $out"
rj=$(kubectl get approvals -n $NS -o json | jq -r '.items[] | select(.spec.workflowRef.name=="purge2") | .spec.decision')
expect_eq "reject workflow creates a Reject decision" "Reject" "$rj"
out=$(kubectl paybill why workflow purge -n $NS) || fail "why workflow: $out"
expect_match "why: the submitter" "Submitter: +system:serviceaccount:$NS:paybill-agent" "$out"
expect_match "why: each step" 'purge +delete' "$out"
expect_match "why: the spec hash" 'Spec hash: +[0-9a-f]{64}' "$out"

# Workflow and Approval health: the admitted objects, with each status
# phase the CRD defines (the executor that writes them is another change).
kubectl get workflow purge -n $NS -o json >"$T/wf.json"
kubectl get approval "$ap" -n $NS -o json >"$T/ap.json"
wf_phase() { jq --arg p "$1" '.status = {phase: $p, progress: "0/1", awaitingApproval: {step: "purge"}}' "$T/wf.json" >"$T/wf-$1.json"; }
for pw in Pending:Progressing Running:Progressing AwaitingApproval:Suspended Succeeded:Healthy Failed:Degraded Denied:Degraded; do
  wf_phase "${pw%%:*}"
  got=$(health Workflow "$T/wf-${pw%%:*}.json") || fail "Workflow health script failed"
  [ "${got%%$'\t'*}" = "${pw#*:}" ] || fail "Workflow phase ${pw%%:*}: expected ${pw#*:}, got [$got]"
done
ok "Workflow health: every phase maps (AwaitingApproval is Suspended, names the step)"
expect_match "the suspended workflow names the step" 'step purge needs an Approval' "$(health Workflow "$T/wf-AwaitingApproval.json")"
# the live Workflow itself: Progressing with no status yet, else its phase's verdict
live=$(jq -r '.status.phase // ""' "$T/wf.json")
case $live in
  "") want=Progressing ;; Succeeded) want=Healthy ;; Failed|Denied) want=Degraded ;;
  AwaitingApproval) want=Suspended ;; *) want=Progressing ;;
esac
expect_match "the live Workflow (phase '${live:-none}') is $want" "^$want" "$(health Workflow "$T/wf.json")"
for pa in Pending:Healthy Used:Healthy Expired:Degraded; do
  jq --arg p "${pa%%:*}" '.status = {phase: $p}' "$T/ap.json" >"$T/ap-x.json"
  got=$(health Approval "$T/ap-x.json") || fail "Approval health script failed"
  [ "${got%%$'\t'*}" = "${pa#*:}" ] || fail "Approval phase ${pa%%:*}: expected ${pa#*:}, got [$got]"
done
ok "Approval health: Pending/Used Healthy, Expired Degraded"

# ---- GitOps: observedGeneration, Ready, and no status churn ------------------------
kubectl delete subscription orphan >/dev/null && kubectl delete tenant orphan --wait=false >/dev/null
wait_for "orphan tenant gone" 60 gone tenant orphan
for r in plans tenants subscriptions datamodels agentpolicies; do
  bad=$(kubectl get $r -A -o json | jq -r '.items[] | select(.status.observedGeneration != .metadata.generation
          or ([.status.conditions[]? | select(.type == "Ready")] | length) != 1) | .metadata.name')
  [ -z "$bad" ] || fail "$r without observedGeneration == generation or without a Ready condition: $bad"
done
ok "every reconciled kind reports observedGeneration == generation and a Ready condition"
rvs() { for r in $KINDS; do kubectl get $r -A -o json | jq -r --arg r $r '.items[] | "\($r)/\(.metadata.namespace // "")/\(.metadata.name) \(.metadata.resourceVersion)"'; done | sort; }
settled() { # the operator has nothing left to write: two snapshots 5 s apart agree
  local a b; a=$(rvs); sleep 5; b=$(rvs); [ "$a" = "$b" ]
}
wait_for "status settles" 90 settled
rvs >"$T/rv-before"
ok "$(wc -l <"$T/rv-before") paybill.dev objects settled"
for f in "$STACK_ROOT"/examples/[0-4]*.yaml; do kubectl apply -f "$f" >/dev/null || fail "re-apply $f"; done
stack_kill "$T/operator.pid" TERM
operator_start operator --webhook-addr "127.0.0.1:$PORT"
sleep 25   # the restart reconciles every object; a write that changes each time shows here
rvs >"$T/rv-after"
if ! diff "$T/rv-before" "$T/rv-after" >"$T/rv-diff"; then
  for l in $(grep '^>' "$T/rv-diff" | awk '{print $2}'); do
    IFS=/ read -r r n name <<<"$l"
    echo "--- $l" >&2; kubectl get $r $name ${n:+-n $n} -o yaml | sed -n '/^status:/,$p' >&2
  done
  fail "objects changed with nothing to do (re-apply + operator restart): $(grep '^>' "$T/rv-diff" | tr '\n' ' ')"
fi
ok "no status churn: $(wc -l <"$T/rv-after") objects unchanged over re-apply, operator restart and 25 s"

# ---- Progressing: a change the operator has not observed -------------------------
stack_kill "$T/operator.pid" TERM
kubectl patch tenant acme --type=merge -p '{"spec":{"displayName":"ACME Corporation"}}' >/dev/null || fail "edit acme"
expect_health Tenant tenant acme Progressing
expect_match "Progressing names the generation" 'observe generation 2' "$(health Tenant "$T/obj-tenant-acme.json")"
operator_start operator --webhook-addr "127.0.0.1:$PORT"
wait_for "acme observed again" 60 is tenant acme '{.status.observedGeneration}' 2
expect_health Tenant tenant acme Healthy
echo "PASS $TEST_NAME"
