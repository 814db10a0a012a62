#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: AI agents act only within an AgentPolicy, checked at
# admission. The operator (under the chart's RBAC) serves the webhooks of
# templates/webhooks.yaml; with the real kubectl:
#   - the example AgentPolicy compiles against the tenant's DataModel and
#     says so in status (Ready, rules, DataModel version), and the tenant's
#     agent login gets exactly its grants: with its own credentials (the
#     Secret tenant-agent-database) it cannot read a column the policy
#     hides, nor delete or update what no rule allows; a policy with a
#     typo'd column or a wrongly typed row constraint is refused;
#   - the tenant's agent ServiceAccount submits Workflows: the example is
#     admitted; unknown tables and columns, wrong types, hidden columns,
#     operations no rule allows, limits above maxRows, more steps than the
#     Plan allows, a policyRef typo, forged submitters and spec edits after
#     creation are refused with a message naming the field, and nothing
#     refused is stored; injection strings are data;
#   - a step that needs approval is admitted with a warning; the agent
#     cannot approve its own workflow, a user who is not an approver
#     cannot either, an approver can (bound to the Workflow's uid, spec hash
#     and step, approver stamped from the authenticated user), and a stale
#     hash or a forged approver is refused;
#   - with the operator stopped, no Workflow, Approval or AgentPolicy is
#     admitted (failurePolicy Fail).
. "$(dirname "$0")/stack_env.sh"

agent_stack_up
wait_for "tenant acme Ready" 120 kubectl wait --for=condition=Ready tenant/acme --timeout=5s
NS=tenant-acme

# 1. Policies: compiled and reported; mistakes refused at apply.
wait_for "the example AgentPolicy is admitted" 30 kubectl apply -f "$STACK_ROOT/examples/40-agentpolicy.yaml"
wait_for "AgentPolicy Ready" 60 kubectl wait --for=condition=Ready agentpolicy/billing-assistant -n $NS --timeout=5s
expect_eq "status names the DataModel and version" "crm/1/2" \
  "$(jp agentpolicy billing-assistant '{.status.dataModel}/{.status.dataModelVersion}/{.status.rules}' -n $NS)"
expect_eq "reason Compiled" "Compiled" \
  "$(jp agentpolicy billing-assistant '{.status.conditions[?(@.type=="Ready")].reason}' -n $NS)"
expect_eq "observedGeneration" "1" "$(jp agentpolicy billing-assistant '{.status.observedGeneration}' -n $NS)"

# ... and enforced a second time by PostgreSQL: the agent login's grants.
for _ in $(seq 1 60); do
  [ "$(jp agentpolicy billing-assistant '{.status.conditions[?(@.type=="DatabaseEnforced")].status}' -n $NS)" = True ] && break
  sleep 1
done
expect_match "DatabaseEnforced (the grants are applied)" "^True" \
  "$(jp agentpolicy billing-assistant '{.status.conditions[?(@.type=="DatabaseEnforced")].status}: {.status.conditions[?(@.type=="DatabaseEnforced")].message}' -n $NS)"
expect_eq "the agent role is named in status" "pb_a_acme" "$(jp agentpolicy billing-assistant '{.status.database.role}' -n $NS)"
sec() { kubectl get secret tenant-agent-database -n $NS -o jsonpath="{.data.$1}" | base64 -d; }
agent_psql() { PGPASSWORD=$(sec password) psql -h "$(sec host)" -p "$(sec port)" -U "$(sec user)" -d "$(sec dbname)" -qAt -v ON_ERROR_STOP=1 -c "$1" 2>&1; }
psql_admin -d paybill -c "insert into t_acme.customers (email, name, segment) values ('wile@acme.example', 'Wile', 'smb')" >/dev/null
expect_eq "with its own credentials, the agent reads a column the policy allows" "Wile" "$(agent_psql 'select name from customers')"
out=$(agent_psql 'select email from customers') && fail "the agent read a hidden column: $out"
expect_match "but not one the policy hides (PostgreSQL refuses)" "permission denied" "$out"
out=$(agent_psql "delete from invoices") && fail "the agent deleted rows no rule allows: $out"
expect_match "nor an operation no rule allows" "permission denied" "$out"
out=$(agent_psql "update customers set name = 'x'") && fail "the agent updated a read-only table: $out"
expect_match "nor a write the policy does not grant" "permission denied" "$out"

policy() { # policy NAME RULES_YAML (as the admin)
  printf 'apiVersion: paybill.dev/v1alpha1\nkind: AgentPolicy\nmetadata: {name: %s, namespace: %s}\nspec:\n%s\n' "$1" $NS "$2" \
    | kubectl apply -f - 2>&1
}
out=$(policy typo '  rules:
    - {table: customers, operations: [select], columns: [id, emial]}') && fail "a policy with a typo was admitted: $out"
expect_match "a typo'd column is refused, naming it and the fix" 'emial.*email' "$out"
out=$(policy badtype '  rules:
    - table: customers
      operations: [select]
      rowConstraints: [{column: segment, op: in, value: [smb, galactic]}]') && fail "a bad row constraint was admitted: $out"
expect_match "a row constraint outside the enum is refused" 'galactic' "$out"
out=$(policy notable '  rules:
    - {table: payments, operations: [select]}') && fail "a policy on an unknown table was admitted: $out"
expect_match "an unknown table is refused" 'payments' "$out"
for p in typo badtype notable; do gone agentpolicy $p -n $NS || fail "refused policy $p was stored"; done
ok "nothing stored for the refused policies"
out=$(policy shadow '  rules:
    - {table: customers, operations: [select], columns: [id, email]}
  deny:
    - {table: customers, columns: [email]}') || fail "a policy with a shadowed column was refused: $out"
expect_match "warnings are shown by kubectl" '[Ww]arning' "$out"
has_warnings() { [ -n "$(jp agentpolicy shadow '{.status.warnings[0]}' -n $NS)" ]; }
wait_for "and kept in the policy's status.warnings" 60 has_warnings
expect_match "the warning names the shadowed column" "email" "$(jp agentpolicy shadow '{.status.warnings}' -n $NS)"
kubectl delete agentpolicy shadow -n $NS >/dev/null

# 2. The agent submits workflows.
agent_kubeconfig $NS paybill-agent "$T/agent.kubeconfig" || fail "no token for paybill-agent"
agent() { KUBECONFIG=$T/agent.kubeconfig kubectl "$@"; }
wf() { # wf NAME STEPS_YAML [EXTRA_SPEC_YAML]
  printf 'apiVersion: paybill.dev/v1alpha1\nkind: Workflow\nmetadata: {name: %s, namespace: %s}\nspec:\n%s  steps:\n%s\n' \
    "$1" $NS "${3:+  $3
}" "$2"
}
sed -e 's/name: mark-overdue-paid/name: example/' "$STACK_ROOT/examples/50-workflow.yaml" | agent create -f - >/dev/null \
  || fail "the example workflow was refused"
ok "the example workflow is admitted"
hash=$(jp workflow example '{.metadata.annotations.paybill\.dev/spec-hash}' -n $NS)
[[ $hash =~ ^[0-9a-f]{64}$ ]] || fail "no spec-hash annotation: [$hash]"
ok "the spec hash is stamped ($hash)"

refused() { # refused DESCRIPTION REGEX NAME STEPS [EXTRA]
  local out
  out=$(wf "$3" "$4" "${5:-}" | agent create -f - 2>&1) && fail "$1: admitted: $out"
  expect_match "$1" "$2" "$out"
  gone workflow "$3" -n $NS || fail "$1: the refused workflow was stored"
}
refused "unknown table: refused, naming the field" 'spec.steps\[0\].table.*invoice' unknown-table \
  '    - {name: a, operation: select, table: invoice, columns: [id], limit: 5}'
refused "unknown column: refused with a suggestion" 'amout.*amount' unknown-column \
  '    - {name: a, operation: select, table: invoices, columns: [id, amout], limit: 5}'
refused "a value of the wrong type" 'spec.steps\[0\].where\[0\].value.*numeric' wrong-type \
  '    - {name: a, operation: select, table: invoices, columns: [id], where: [{column: amount, op: lt, value: ten}], limit: 5}'
refused "a predicate that does not fit the type" 'spec.steps\[0\].where\[0\]' wrong-op \
  '    - {name: a, operation: select, table: invoices, columns: [id], where: [{column: paid, op: like, value: "t%"}], limit: 5}'
refused "a column the policy hides (email)" 'AgentPolicy tenant-acme/billing-assistant.*email|email.*billing-assistant' hidden \
  '    - {name: a, operation: select, table: customers, columns: [id, email], limit: 5}'
refused "an operation no rule allows" 'delete' no-rule \
  '    - {name: a, operation: delete, table: customers, where: [{column: segment, op: eq, value: smb}], limit: 5}'
refused "a limit above maxRows" 'limit.*50' too-many-rows \
  '    - {name: a, operation: select, table: invoices, columns: [id], limit: 500}'
refused "an update without where" 'where' no-where \
  '    - {name: a, operation: update, table: invoices, values: {paid: true}}'
refused "a reference to a later step" 'fromStep' later-ref \
  '    - {name: a, operation: update, table: invoices, values: {paid: true}, where: [{column: id, op: in, fromStep: b, field: id}]}
    - {name: b, operation: select, table: invoices, columns: [id], limit: 5}'
steps=""
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21; do
  steps+="    - {name: s$i, operation: select, table: invoices, columns: [id], limit: 1}"$'\n'
done
refused "more steps than the Plan's stepsPerWorkflow (20)" 'stepsPerWorkflow' oversized "$steps"
refused "a policyRef typo" 'spec.policyRef.name.*billing-asistant' bad-ref \
  '    - {name: a, operation: select, table: invoices, columns: [id], limit: 5}' 'policyRef: {name: billing-asistant}'
refused "a forged submitter" 'spec.submitter is set by the API server' forged \
  '    - {name: a, operation: select, table: invoices, columns: [id], limit: 5}' 'submitter: {username: system:admin}'
wf injection '    - name: a
      operation: select
      table: customers
      columns: [id, name]
      where: [{column: name, op: eq, value: "'"'"'; DROP TABLE customers; --"}]
      limit: 5' | agent create -f - >/dev/null || fail "an injection string (data) was refused"
expect_eq "injection strings are stored as data" "'; DROP TABLE customers; --" \
  "$(jp workflow injection '{.spec.steps[0].where[0].value}' -n $NS)"
out=$(kubectl patch workflow example -n $NS --type=merge -p '{"spec":{"dryRun":true}}' 2>&1) \
  && fail "a spec edit was admitted: $out"
expect_match "spec edits after creation are refused" 'immutable once created \(spec.dryRun differs\)' "$out"
out=$(kubectl annotate workflow example -n $NS --overwrite paybill.dev/spec-hash=0000 2>&1) \
  && fail "the spec-hash annotation was changed: $out"
expect_match "the spec hash cannot be changed" 'paybill.dev/spec-hash' "$out"

# 3. Approvals. A policy whose deletes need a human; alice approves, bob
# and the agent may not (all three can create Approvals as far as RBAC
# goes: the webhook is what refuses).
policy deletes '  subjects: [{kind: ServiceAccount, name: paybill-agent}]
  rules:
    - table: invoices
      operations: [delete]
      approval: {operations: [delete]}
  approvers: [{kind: User, name: alice}]' >/dev/null || fail "the approvals policy was refused"
wait_for "deletes policy Ready" 60 kubectl wait --for=condition=Ready agentpolicy/deletes -n $NS --timeout=5s
kubectl create rolebinding approvers -n $NS --clusterrole=paybill-tenant-admin --user=alice --user=bob >/dev/null \
  || fail "rolebinding for alice and bob"
kubectl create role agent-approves -n $NS --verb=create --resource=approvals.paybill.dev >/dev/null \
  && kubectl create rolebinding agent-approves -n $NS --role=agent-approves \
     --serviceaccount=$NS:paybill-agent >/dev/null || fail "role for the agent to create approvals"
out=$(wf purge '    - {name: purge, operation: delete, table: invoices, where: [{column: paid, op: eq, value: true}], limit: 5}' \
  | agent create -f - 2>&1) || fail "a workflow needing approval was refused: $out"
expect_match "a step that needs approval is admitted with a warning" 'needs approval' "$out"
uid=$(jp workflow purge '{.metadata.uid}' -n $NS)
hash=$(jp workflow purge '{.metadata.annotations.paybill\.dev/spec-hash}' -n $NS)
approval() { # approval NAME STEP HASH [EXTRA]
  printf 'apiVersion: paybill.dev/v1alpha1\nkind: Approval\nmetadata: {name: %s, namespace: %s}\nspec:\n  workflowRef: {name: purge, uid: "%s"}\n  specHash: "%s"\n  step: %s\n%s\n' \
    "$1" $NS "$uid" "$3" "$2" "${4:+  $4}"
}
out=$(approval self purge "$hash" | agent create -f - 2>&1) && fail "the agent approved its own workflow: $out"
expect_match "the agent cannot approve its own workflow" 'may not approve' "$out"
out=$(approval by-bob purge "$hash" | kas --as=bob create -f - 2>&1) && fail "bob (not an approver) approved: $out"
expect_match "a user who is not an approver cannot approve" 'bob may not approve' "$out"
out=$(approval stale purge "$(printf '%064d' 0)" | kas --as=alice create -f - 2>&1) && fail "a stale hash was admitted: $out"
expect_match "an approval for another spec is refused" 'spec.specHash' "$out"
out=$(approval forged purge "$hash" 'approver: {username: alice}' | agent create -f - 2>&1) \
  && fail "a forged approver was admitted: $out"
expect_match "a forged approver is refused" 'spec.approver is set by the API server' "$out"
out=$(approval other-step nope "$hash" | kas --as=alice create -f - 2>&1) && fail "an unknown step was approved: $out"
expect_match "an approval for a step that does not exist is refused" 'no step "nope"' "$out"
approval by-alice purge "$hash" | kas --as=alice create -f - >/dev/null || fail "alice could not approve"
expect_eq "the approver is stamped from the authenticated user" "alice" \
  "$(jp approval by-alice '{.spec.approver.username}' -n $NS)"
[ -n "$(jp approval by-alice '{.spec.expiresAt}' -n $NS)" ] || fail "no default expiry"
ok "an expiry is set by default"
out=$(kubectl patch approval by-alice -n $NS --type=merge -p '{"spec":{"step":"other"}}' 2>&1) \
  && fail "an approval's spec was edited: $out"
expect_match "an approval is immutable" 'immutable' "$out"
for a in self by-bob stale forged other-step; do gone approval $a -n $NS || fail "refused approval $a was stored"; done
ok "nothing stored for the refused approvals"

# 4. Fail closed: the operator down, nothing admitted.
stack_kill "$T/operator.pid"
out=$(sed -e 's/name: mark-overdue-paid/name: while-down/' "$STACK_ROOT/examples/50-workflow.yaml" | agent create -f - 2>&1) \
  && fail "a Workflow was admitted with the webhooks down: $out"
out=$(policy while-down '  rules:
    - {table: invoices, operations: [select]}') && fail "an AgentPolicy was admitted with the webhooks down: $out"
gone workflow while-down -n $NS && gone agentpolicy while-down -n $NS || fail "stored while the webhooks were down"
ok "nothing admitted while the webhooks are down"
echo "PASS: $TEST_NAME"
