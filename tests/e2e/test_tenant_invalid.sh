#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: bad input gets a clear answer. Schema violations are rejected
# by the API server with the field named; semantic problems (unknown plan,
# two active subscriptions, an invalid plan) become conditions that say
# exactly what is wrong. Nothing crashes, nothing is provisioned by mistake.
. "$(dirname "$0")/stack_env.sh"

stack_up
operator_start operator
kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" -f "$STACK_ROOT/examples/10-plans.yaml" >/dev/null

out=$(kubectl apply -f - 2>&1 <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: gold}
spec: {tier: gold, isolation: {model: mesh}}
Y
)
expect_match "bad enum rejected with the field" 'spec.isolation.model: Unsupported value: "mesh"' "$out"
out=$(kubectl apply -f - 2>&1 <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: wild}
spec: {tier: wild, isolation: {model: silo}, podSecurity: privileged}
Y
)
expect_match "privileged Pod Security rejected (baseline at the least)" \
  'spec.podSecurity: Unsupported value: "privileged"' "$out"
out=$(kubectl apply -f - 2>&1 <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: nobody}
spec: {displayName: No owner}
Y
)
expect_match "missing required field rejected" 'spec.owner: Required value' "$out"
out=$(kubectl apply -f - 2>&1 <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: bad-mail}
spec: {owner: {name: X, email: not-an-email}}
Y
)
expect_match "pattern violation rejected" 'spec.owner.email' "$out"

# Unknown plan: accepted by the schema, reported by the controllers.
kubectl apply -f - >/dev/null <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: lost}
spec: {owner: {name: L, email: l@lost.example}}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: lost-platinum}
spec: {tenantRef: {name: lost}, planRef: {name: platinum}}
Y
wait_for "subscription says its plan is missing" 30 is subscription lost-platinum \
  '{.status.conditions[?(@.type=="Ready")].reason}' PlanNotFound
expect_match "message names the plan" 'plan "platinum" does not exist' \
  "$(jp subscription lost-platinum '{.status.conditions[?(@.type=="Ready")].message}')"
wait_for "tenant waits, not Ready" 30 is tenant lost '{.status.conditions[?(@.type=="Ready")].status}' False
gone ns tenant-lost || fail "a namespace was provisioned for a tenant without a plan"
ok "nothing provisioned without a plan"
# The plan appears: the tenant converges without anyone touching it.
kubectl apply -f - >/dev/null <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: platinum}
spec: {tier: platinum, isolation: {model: bridge}, database: {dataModel: crm}}
Y
wait_for "tenant Ready once the plan exists" 60 is tenant lost '{.status.conditions[?(@.type=="Ready")].status}' True

# Two active subscriptions for one tenant: an error, not a coin toss.
kubectl apply -f - >/dev/null <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: lost-free}
spec: {tenantRef: {name: lost}, planRef: {name: free}}
Y
wait_for "two subscriptions reported" 30 is tenant lost \
  '{.status.conditions[?(@.type=="SubscriptionActive")].reason}' MultipleSubscriptions
expect_match "message names both" 'lost-free' \
  "$(jp tenant lost '{.status.conditions[?(@.type=="SubscriptionActive")].message}')"
expect_eq "plan unchanged meanwhile" "platinum" "$(jp tenant lost '{.status.plan}')"
kubectl delete subscription lost-free >/dev/null
wait_for "back to Ready after removing one" 30 is tenant lost '{.status.conditions[?(@.type=="Ready")].status}' True

# A plan the schema accepts but the operator cannot honour.
kubectl apply -f - >/dev/null <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: odd}
spec: {tier: odd, isolation: {model: pooled, data: server}}
Y
wait_for "semantic plan error reported" 30 is plan odd '{.status.phase}' Invalid
expect_match "plan condition explains" 'needs compute "dedicated"' \
  "$(jp plan odd '{.status.conditions[?(@.type=="Ready")].message}')"

# The operator is still healthy after all of that.
kill -0 "$(cat "$T/operator.pid")" || fail "operator died"
ok "operator still running"
echo "PASS $TEST_NAME"
