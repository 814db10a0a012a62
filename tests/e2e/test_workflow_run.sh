#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: the Workflow executor, with real kubectl and real PostgreSQL,
# in all three layouts (acme: schema, globex: rls, initech: database). The
# tenants' agents submit workflows under the example AgentPolicy; then:
#   - the example workflow marks exactly the right invoices paid, in each
#     layout, and its status is a view of the ledger (steps, rows, digest);
#   - a step that uses an earlier step's result (fromStep);
#   - a dry run reports what it would touch and changes nothing;
#   - a step that would touch more rows than allowed changes nothing and
#     fails with the count; over workflowsPerHour (counted in the ledger)
#     a workflow waits, naming the limit;
#   - a step that needs approval waits (AwaitingApproval, with the step and
#     spec hash), an expired Approval is refused, a valid one lets it run
#     once and is marked Used;
#   - a suspended tenant's workflow waits, and runs when it is resumed;
#   - the audit chain verifies (paybill-operator audit-verify), and an
#     altered record is detected;
#   - the agent's own database login cannot read a column the policy hides.
. "$(dirname "$0")/stack_env.sh"

agent_stack_up
# The free plan gets agents too, so that the rls layout is covered.
kubectl patch plan free --type=merge -p '{"spec":{"features":["agents"]}}' >/dev/null || fail "free plan not patched"
for t in acme globex initech; do
  wait_for "tenant $t Ready" 180 kubectl wait --for=condition=Ready tenant/$t --timeout=5s
done

# Seed: one customer and five invoices per tenant (3 unpaid under 100, one
# unpaid of 500, one paid). $1 database, $2 schema, $3 tenant for rls ("").
seed() {
  local tc="" tv=""
  [ -n "$3" ] && { tc="tenant_id, "; tv="'$3', "; }
  psql_admin -d "$1" -c "
    with c as (insert into $2.customers (${tc}email, name, segment) values (${tv}'ann@$1.example', 'Ann', 'smb') returning id)
    insert into $2.invoices (${tc}customer_id, amount, paid)
      select ${tv}c.id, v.amount, v.paid from c,
        (values (10.00, false), (20.00, false), (30.00, false), (500.00, false), (5.00, true)) v(amount, paid)" >/dev/null
}
seed paybill t_acme "" || fail "seed acme"
seed paybill app globex || fail "seed globex"
seed t_initech app "" || fail "seed initech"
unpaid() { # unpaid DB SCHEMA [TENANT]
  psql_admin -d "$1" -c "select count(*) from $2.invoices where not paid ${3:+and tenant_id = '$3'}"
}
expect_eq "seeded: 4 unpaid invoices in each layout" "4/4/4" \
  "$(unpaid paybill t_acme)/$(unpaid paybill app globex)/$(unpaid t_initech app)"

declare -A NSDB=([acme]="paybill t_acme" [globex]="paybill app globex" [initech]="t_initech app")
for t in acme globex initech; do
  sed -e "s/namespace: tenant-acme/namespace: tenant-$t/" "$STACK_ROOT/examples/40-agentpolicy.yaml" | kubectl apply -f - >/dev/null \
    || fail "AgentPolicy for $t refused"
  agent_kubeconfig tenant-$t paybill-agent "$T/agent-$t.kubeconfig" || fail "no token for $t's agent"
done
agent() { local t=$1; shift; KUBECONFIG=$T/agent-$t.kubeconfig kubectl "$@"; }
wf_phase() { jp workflow "$2" '{.status.phase}' -n tenant-$1; }
is_phase() { [ "$(wf_phase "$1" "$2")" = "$3" ]; }

# 1. The example workflow, in every layout.
for t in acme globex initech; do
  sed -e "s/namespace: tenant-acme/namespace: tenant-$t/" "$STACK_ROOT/examples/50-workflow.yaml" | agent $t create -f - >/dev/null \
    || fail "$t: the example workflow was refused"
done
for t in acme globex initech; do
  wait_for "$t: the example workflow Succeeded" 90 is_phase $t mark-overdue-paid Succeeded
  # shellcheck disable=SC2086
  expect_eq "$t: exactly the three unpaid invoices under 100 were marked paid" "1" "$(unpaid ${NSDB[$t]})"
  expect_eq "$t: status shows each step's rows" "Succeeded:4,Succeeded:3" \
    "$(jp workflow mark-overdue-paid '{range .status.steps[*]}{.phase}:{.rowsAffected},{end}' -n tenant-$t | sed 's/,$//')"
  expect_eq "$t: progress" "2/2" "$(jp workflow mark-overdue-paid '{.status.progress}' -n tenant-$t)"
done
[ -n "$(jp workflow mark-overdue-paid '{.status.steps[1].digest}' -n tenant-acme)" ] || fail "no digest in status"
expect_eq "status keeps the select's rows (bounded)" "4" \
  "$(kubectl get workflow mark-overdue-paid -n tenant-acme -o json | jq '.status.steps[0].result | length')"

# 2. A step that uses an earlier step's result.
cat <<EOF | agent globex create -f - >/dev/null || fail "fromStep workflow refused"
apiVersion: paybill.dev/v1alpha1
kind: Workflow
metadata: {name: pay-big, namespace: tenant-globex}
spec:
  steps:
    - {name: find, operation: select, table: invoices, columns: [id, amount], where: [{column: amount, op: ge, value: 500}], limit: 5}
    - {name: pay, operation: update, table: invoices, values: {paid: true}, where: [{column: id, op: in, fromStep: find, field: id}]}
EOF
wait_for "fromStep workflow Succeeded" 60 is_phase globex pay-big Succeeded
expect_eq "the invoice the first step found was paid" "0" "$(unpaid paybill app globex)"
expect_eq "acme's rows untouched by globex's workflow (rls)" "1" "$(unpaid paybill t_acme)"

# 3. Dry run: what it would do, nothing changed.
psql_admin -d t_initech -c "update app.invoices set paid = false where amount in (10, 20, 30)" >/dev/null
sed -e "s/namespace: tenant-acme/namespace: tenant-initech/" -e "s/name: mark-overdue-paid/name: dry/" \
    -e "s/^spec:/spec:\n  dryRun: true/" "$STACK_ROOT/examples/50-workflow.yaml" | agent initech create -f - >/dev/null \
  || fail "dry run refused"
wait_for "dry run Succeeded" 60 is_phase initech dry Succeeded
expect_eq "dry run: reason DryRun" "DryRun" "$(jp workflow dry '{.status.conditions[?(@.type=="Complete")].reason}' -n tenant-initech)"
expect_eq "dry run: each step planned with the rows it would touch" "Planned:4,Planned:3" \
  "$(jp workflow dry '{range .status.steps[*]}{.phase}:{.rowsAffected},{end}' -n tenant-initech | sed 's/,$//')"
expect_eq "dry run: nothing changed" "4" "$(unpaid t_initech app)"

# 3a. A policy in Audit never changes anything: a workflow that names it
# runs as a dry run, evaluated and recorded.
cat <<EOF | kubectl apply -f - >/dev/null || fail "audit policy refused"
apiVersion: paybill.dev/v1alpha1
kind: AgentPolicy
metadata: {name: stricter, namespace: tenant-initech}
spec:
  enforcement: Audit
  rules:
    - {table: invoices, operations: [select, update], columns: [id, amount, paid], maxRows: 10}
EOF
out=$(sed -e "s/namespace: tenant-acme/namespace: tenant-initech/" -e "s/name: mark-overdue-paid/name: under-audit/" \
    -e "s/^spec:/spec:\n  policyRef: {name: stricter}/" "$STACK_ROOT/examples/50-workflow.yaml" | agent initech create -f - 2>&1) \
  || fail "a workflow under an Audit policy was refused: $out"
expect_match "admitted with a warning that it is a dry run" "in Audit: this Workflow runs as a dry run" "$out"
wait_for "under Audit: Succeeded as a dry run" 60 is_phase initech under-audit Succeeded
expect_eq "under Audit: reason DryRun" "DryRun" \
  "$(jp workflow under-audit '{.status.conditions[?(@.type=="Complete")].reason}' -n tenant-initech)"
expect_eq "under Audit: nothing changed" "4" "$(unpaid t_initech app)"

# 3b. Rate limits count from the ledger: a policy allowing 2 workflows an
# hour, one of which ran already (the dry run does not count).
kubectl patch agentpolicy billing-assistant -n tenant-initech --type=merge -p '{"spec":{"limits":{"workflowsPerHour":2}}}' >/dev/null \
  || fail "policy limit not patched"
wait_for "the policy's new generation is compiled" 60 is agentpolicy billing-assistant '{.status.observedGeneration}' 2 -n tenant-initech
for w in rate-1 rate-2; do
  sed -e "s/namespace: tenant-acme/namespace: tenant-initech/" -e "s/name: mark-overdue-paid/name: $w/" \
      "$STACK_ROOT/examples/50-workflow.yaml" | agent initech create -f - >/dev/null || fail "$w refused"
  [ $w = rate-1 ] && wait_for "rate-1 runs (the second of the hour)" 60 is_phase initech rate-1 Succeeded
done
wait_for "rate-2 waits: workflowsPerHour reached" 60 is_phase initech rate-2 Waiting
expect_match "the limit is named" "workflowsPerHour 2 reached" \
  "$(jp workflow rate-2 '{.status.conditions[?(@.type=="Complete")].message}' -n tenant-initech)"

# 4. Over the cap: 60 more unpaid invoices; an update touching 63 rows when
# the policy allows 50 changes nothing.
psql_admin -d paybill -c "insert into t_acme.invoices (customer_id, amount) select (select id from t_acme.customers limit 1), 1.00 from generate_series(1, 60)" >/dev/null
before=$(unpaid paybill t_acme)
sed -e "s/name: mark-overdue-paid/name: too-many/" "$STACK_ROOT/examples/50-workflow.yaml" | agent acme create -f - >/dev/null \
  || fail "the over-cap workflow was refused at admission"
wait_for "over the cap: Failed" 60 is_phase acme too-many Failed
expect_eq "over the cap: reason" "TooManyRows" "$(jp workflow too-many '{.status.conditions[?(@.type=="Complete")].reason}' -n tenant-acme)"
expect_match "over the cap: the count is named" "6[0-9] rows, more than the 50 allowed" \
  "$(jp workflow too-many '{.status.conditions[?(@.type=="Complete")].message}' -n tenant-acme)"
expect_eq "over the cap: nothing changed" "$before" "$(unpaid paybill t_acme)"

# 5. Approval: deletes need alice.
cat <<EOF | kubectl apply -f - >/dev/null || fail "deletes policy refused"
apiVersion: paybill.dev/v1alpha1
kind: AgentPolicy
metadata: {name: deletes, namespace: tenant-acme}
spec:
  rules:
    - {table: invoices, operations: [delete], approval: {operations: [delete]}, maxRows: 20}
  approvers: [{kind: User, name: alice}]
EOF
kubectl create rolebinding approvers -n tenant-acme --clusterrole=paybill-tenant-admin --user=alice >/dev/null || fail "rolebinding"
cat <<EOF | agent acme create -f - >/dev/null || fail "purge workflow refused"
apiVersion: paybill.dev/v1alpha1
kind: Workflow
metadata: {name: purge, namespace: tenant-acme}
spec:
  steps:
    - {name: purge, operation: delete, table: invoices, where: [{column: paid, op: eq, value: true}], limit: 20}
EOF
wait_for "purge waits for an approval" 60 is_phase acme purge AwaitingApproval
uid=$(jp workflow purge '{.metadata.uid}' -n tenant-acme)
hash=$(jp workflow purge '{.metadata.annotations.paybill\.dev/spec-hash}' -n tenant-acme)
expect_eq "status names the step and hash to approve" "purge/$hash" \
  "$(jp workflow purge '{.status.awaitingApproval.step}/{.status.awaitingApproval.specHash}' -n tenant-acme)"
paid_before=$(psql_admin -d paybill -c "select count(*) from t_acme.invoices where paid")
approval() { # approval NAME EXPIRES
  printf 'apiVersion: paybill.dev/v1alpha1\nkind: Approval\nmetadata: {name: %s, namespace: tenant-acme}\nspec:\n  workflowRef: {name: purge, uid: "%s"}\n  specHash: "%s"\n  step: purge\n  expiresAt: "%s"\n' \
    "$1" "$uid" "$hash" "$2" | kas --as=alice create -f - >/dev/null
}
# An approval that expires while the tenant is suspended (so that no pass
# sees it while it is valid) is refused once the tenant is back.
kubectl patch subscription acme-pro --type merge -p '{"spec":{"paused":true}}' >/dev/null
wait_for "acme suspended" 60 is tenant acme '{.status.phase}' Suspended
wait_for "suspended: purge waits" 60 is_phase acme purge Waiting
approval soon "$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)" || fail "short approval refused"
sleep 5
kubectl patch subscription acme-pro --type merge -p '{"spec":{"paused":false}}' >/dev/null
wait_for "acme resumed" 60 is tenant acme '{.status.phase}' Active
wait_for "an expired approval is refused: purge awaits approval again" 60 is_phase acme purge AwaitingApproval
expect_match "the refusal says why" "expired" \
  "$(jp workflow purge '{.status.conditions[?(@.type=="Complete")].message}' -n tenant-acme)"
expect_eq "nothing deleted yet" "$paid_before" "$(psql_admin -d paybill -c "select count(*) from t_acme.invoices where paid")"
approval ok "$(date -u -d '+10 minutes' +%Y-%m-%dT%H:%M:%SZ)" || fail "approval refused"
wait_for "approved: purge Succeeded" 60 is_phase acme purge Succeeded
expect_eq "approved: the paid invoices were deleted" "0" \
  "$(psql_admin -d paybill -c "select count(*) from t_acme.invoices where paid")"
wait_for "the approval is marked Used" 30 is approval ok '{.status.phase}' Used -n tenant-acme

# 6. A suspended tenant's workflow waits, then runs.
kubectl patch subscription globex-free --type merge -p '{"spec":{"paused":true}}' >/dev/null
wait_for "globex suspended" 60 is tenant globex '{.status.phase}' Suspended
psql_admin -d paybill -c "update app.invoices set paid = false where tenant_id = 'globex' and amount > 5" >/dev/null
sed -e "s/namespace: tenant-acme/namespace: tenant-globex/" -e "s/name: mark-overdue-paid/name: while-suspended/" \
    "$STACK_ROOT/examples/50-workflow.yaml" | agent globex create -f - >/dev/null || fail "workflow refused"
wait_for "suspended: the workflow waits" 60 is_phase globex while-suspended Waiting
expect_eq "suspended: with the reason" "TenantSuspended" \
  "$(jp workflow while-suspended '{.status.conditions[?(@.type=="Complete")].reason}' -n tenant-globex)"
expect_eq "suspended: nothing changed" "4" "$(unpaid paybill app globex)"
kubectl patch subscription globex-free --type merge -p '{"spec":{"paused":false}}' >/dev/null
wait_for "resumed: the workflow runs" 120 is_phase globex while-suspended Succeeded
expect_eq "resumed: the invoices were paid" "1" "$(unpaid paybill app globex)"

# 7. The audit chain.
export PAYBILL_ADMIN_CONNINFO="host=127.0.0.1 port=$PG_PORT user=postgres password=$PG_SUPERPASS dbname=paybill"
out=$("$STACK_BUILD/paybill-operator" audit-verify --tenant acme 2>&1) || fail "acme's audit chain does not verify: $out"
expect_match "acme's audit chain verifies" "intact" "$out"
out=$(PATH=$STACK_BUILD:$PATH kubectl paybill audit verify acme 2>&1) || fail "kubectl paybill audit verify: $out"
expect_match "kubectl paybill audit verify (through the operator, no database credentials)" "audit chain intact: [0-9]+ records" "$out"
psql_admin -d paybill -c "alter table paybill.agent_audit disable trigger user;
  update paybill.agent_audit set record = replace(record, 'invoices', 'invoicez')
   where tenant_id = 'acme' and seq = (select min(seq) + 1 from paybill.agent_audit where tenant_id = 'acme');
  alter table paybill.agent_audit enable trigger user" >/dev/null || fail "tampering failed"
out=$("$STACK_BUILD/paybill-operator" audit-verify --tenant acme 2>&1) && fail "a tampered chain verified: $out"
expect_match "a tampered audit record is detected, naming it" "BROKEN: .*audit record [0-9]+: hash mismatch" "$out"
out=$(PATH=$STACK_BUILD:$PATH kubectl paybill audit verify acme 2>&1) && fail "the plugin said a tampered chain is intact: $out"
expect_match "kubectl paybill audit verify reports it too" "BROKEN.*hash mismatch" "$out"
expect_eq "and the Tenant's status keeps the answer" "false" "$(jp tenant acme '{.status.audit.intact}')"
# 8. Dashboard metrics: bounded labels (no tenant names), what happened above.
metrics_port=$(grep -o 'endpoint=metrics.*port=[0-9]*' "$T/operator.log" | grep -o '[0-9]*$' | tail -1)
m=$(curl -s "http://127.0.0.1:$metrics_port/metrics")
expect_match "paybill_tenants by phase, plan and isolation" 'paybill_tenants\{phase="Active",plan="pro",isolation="bridge"\} 1' "$m"
expect_match "paybill_workflow_steps_total by operation and result" 'paybill_workflow_steps_total\{operation="update",result="succeeded"\} [1-9]' "$m"
expect_match "failed steps counted" 'paybill_workflow_steps_total\{operation="update",result="failed"\} [1-9]' "$m"
expect_match "paybill_admission_reviews_total by webhook and result" 'paybill_admission_reviews_total\{webhook="workflows",result="allowed"\} [1-9]' "$m"
expect_match "paybill_database_operations_total" 'paybill_database_operations_total\{layout="schema",op="ensure",result="success"\} [1-9]' "$m"
expect_match "paybill_subscriptions by state" 'paybill_subscriptions\{state="active"\}' "$m"
if grep -E '^paybill_(tenants|workflow_|admission_|database_operations)[^ ]*(acme|globex|initech)' <<<"$m"; then
  fail "a tenant name is a metric label"
fi
ok "no tenant name appears as a label of these metrics"
echo "PASS: $TEST_NAME"
