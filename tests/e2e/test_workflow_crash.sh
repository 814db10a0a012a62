#!/usr/bin/env bash
# e2e-servers: devapi
# Crash safety of the Workflow executor: 50 workflows of three write steps
# each (insert a row, then two updates of it) run while the operator is
# killed with SIGKILL at random moments and restarted. Afterwards every
# workflow has Succeeded and every step's effect is present exactly once
# (row count and sums), the ledger holds exactly one committed entry per
# step and agrees with each Workflow's status, and the audit chain
# verifies. (Dev API server only: what is tested is the operator and
# PostgreSQL; the real API server adds nothing here but minutes.)
. "$(dirname "$0")/stack_env.sh"

N=${CRASH_WORKFLOWS:-50}

agent_stack_up
# Enough headroom for this test's rate.
kubectl patch plan pro --type=merge -p '{"spec":{"limits":{"workflowsPerHour":1000,"stepsPerWorkflow":5,"rowsPerStep":100}}}' >/dev/null
wait_for "tenant acme Ready" 180 kubectl wait --for=condition=Ready tenant/acme --timeout=5s
CUST=9b2f7a51-4c43-4f8e-9d7b-3c1f4e5a6b7c
psql_admin -d paybill -c "insert into t_acme.customers (id, email, name) values ('$CUST', 'c@acme.example', 'C')" >/dev/null \
  || fail "seed"
cat <<EOF | kubectl apply -f - >/dev/null || fail "policy refused"
apiVersion: paybill.dev/v1alpha1
kind: AgentPolicy
metadata: {name: writer, namespace: tenant-acme}
spec:
  rules:
    - {table: invoices, operations: [select, insert, update], maxRows: 10}
EOF
wait_for "policy Ready" 60 kubectl wait --for=condition=Ready agentpolicy/writer -n tenant-acme --timeout=5s
agent_kubeconfig tenant-acme paybill-agent "$T/agent.kubeconfig" || fail "token"
# Each workflow's row is marked by its own due date (the example model has
# no free text column on invoices).
for i in $(seq 1 "$N"); do
  d=$(date -u -d "2030-01-01 + $i days" +%F)
  cat <<EOF
apiVersion: paybill.dev/v1alpha1
kind: Workflow
metadata: {name: w$i, namespace: tenant-acme}
spec:
  steps:
    - {name: add, operation: insert, table: invoices, values: {customer_id: "$CUST", amount: "1.00", due_on: "$d"}}
    - {name: raise, operation: update, table: invoices, values: {amount: "11.00"}, where: [{column: due_on, op: eq, value: "$d"}], limit: 1}
    - {name: settle, operation: update, table: invoices, values: {paid: true}, where: [{column: due_on, op: eq, value: "$d"}, {column: amount, op: eq, value: "11.00"}], limit: 1}
---
EOF
done >"$T/workflows.yaml"
KUBECONFIG=$T/agent.kubeconfig kubectl create -f "$T/workflows.yaml" >/dev/null || fail "workflows refused"
ok "$N workflows created"

# Kill -9 at random moments while they run, restarting each time.
kills=0
for round in 1 2 3 4 5 6; do
  sleep "0.$((RANDOM % 9 + 1))"
  done_now=$(psql_admin -d paybill -c "select count(*) from paybill.agent_ledger where state = 'committed'" 2>/dev/null || echo 0)
  [ "$done_now" -ge $((N * 3)) ] && break
  kill -9 "$(cat "$T/operator.pid")" 2>/dev/null && kills=$((kills + 1))
  sleep 0.3
  operator_start operator --webhook-addr "127.0.0.1:$WEBHOOK_PORT"
  echo "  (round $round: killed with $done_now steps committed)"
done
ok "the operator was killed $kills times mid-run"
all_done() { [ "$(kubectl get workflows -n tenant-acme -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c Succeeded)" = "$N" ]; }
wait_for "every workflow Succeeded" 300 all_done
expect_eq "each workflow's row exists exactly once" "$N" \
  "$(psql_admin -d paybill -c "select count(*) from t_acme.invoices where due_on >= '2030-01-01'")"
expect_eq "no row was inserted twice" "$N" \
  "$(psql_admin -d paybill -c "select count(distinct due_on) from t_acme.invoices where due_on >= '2030-01-01'")"
expect_eq "every row got both updates exactly once" "$((N * 11)).00/$N" \
  "$(psql_admin -d paybill -c "select sum(amount) || '/' || count(*) filter (where paid) from t_acme.invoices where due_on >= '2030-01-01'")"
expect_eq "the ledger holds one committed entry per step" "$((N * 3))/$((N * 3))" \
  "$(psql_admin -d paybill -c "select count(*) || '/' || count(distinct (workflow_uid, step_index)) from paybill.agent_ledger where state = 'committed'")"
mismatch=0
for i in $(seq 1 "$N"); do
  [ "$(jp workflow w$i '{.status.progress}' -n tenant-acme)" = "3/3" ] || mismatch=$((mismatch + 1))
done
expect_eq "every Workflow's status agrees with the ledger (3/3)" "0" "$mismatch"
export PAYBILL_ADMIN_CONNINFO="host=127.0.0.1 port=$PG_PORT user=postgres password=$PG_SUPERPASS dbname=paybill"
out=$("$STACK_BUILD/paybill-operator" audit-verify --tenant acme 2>&1) || fail "the audit chain does not verify: $out"
expect_match "the audit chain verifies after the crashes" "intact" "$out"
echo "PASS: $TEST_NAME"
