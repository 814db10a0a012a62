#!/usr/bin/env bash
# e2e-servers: devapi
# Billing against Stripe's own mock API server (stripe-mock, built from its
# Go module by hack/stripe.sh): it validates every request against the real
# API's OpenAPI spec and answers 400 to one that does not fit. A thin event
# (Stripe's related_object, no data) is fetched back from it and applied;
# usage meter events are reported to it every period and accepted (no
# UsageReportRefused), and the Subscription's status.usage shows them.
# (The fault cases - 500s, outages, retries under one identifier - are in
# test_billing.sh against a fake that can be told to fail.)
. "$(dirname "$0")/stack_env.sh"

BIN=$("$STACK_ROOT/hack/stripe.sh" bindir)
{ [ -x "$BIN/stripe-mock" ] && [ -x "$BIN/stripesign" ]; } || "$STACK_ROOT/hack/stripe.sh" build >/dev/null \
  || fail "stripe-mock / stripesign not built"
MOCK_PORT=$(free_port)
"$BIN/stripe-mock" -http-port "$MOCK_PORT" -https-port "$(free_port)" >"$T/stripe-mock.log" 2>&1 &
MOCK_PID=$!
trap 'rc=$?; kill "$MOCK_PID" 2>/dev/null; (exit $rc); on_exit' EXIT
MOCK="http://127.0.0.1:$MOCK_PORT"
wait_for "stripe-mock serving" 30 curl -sf -o /dev/null -u sk_test_mock: "$MOCK/v1/customers"

stack_up
PORT=$(free_port)
cat >>"$T/operator.yaml" <<EOF
billing:
  usage: {period: 4s, retryBase: 1s, retryMax: 2s}
  providers:
    - name: stripe
      scheme: stripe
      secretRef: billing-stripe
      api: {baseURL: "$MOCK", secretRef: {name: billing-stripe-api, key: apiKey}}
      fetchBack: thin
      meters: {tenant_active: paybill_tenant_days, storage_bytes: paybill_storage, namespace_objects: paybill_objects}
EOF
kubectl -n "$STACK_NAMESPACE" create secret generic billing-stripe --from-literal=current=whsec_mock >/dev/null \
  || fail "secret"
kubectl -n "$STACK_NAMESPACE" create secret generic billing-stripe-api --from-literal=apiKey=sk_test_mock >/dev/null \
  || fail "secret"
operator_start operator --webhook-addr "127.0.0.1:$PORT"
wait_for "serving certificate stored" 60 kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE"
kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE" -o jsonpath='{.data.ca\.crt}' | base64 -d >"$T/ca.crt"
wait_for "billing inbox connected" 60 grep -q "billing inbox connected" "$T/operator.log"

kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" >/dev/null || fail "datamodel"
kubectl apply -f - >/dev/null <<EOF || fail "plan, tenant, subscription not applied"
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: mocked-plan}
spec:
  tier: pro
  isolation: {model: bridge}
  database: {dataModel: crm, connectionLimit: 5}
  billing: {price: "49.00", interval: month}
---
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: mocked}
spec: {owner: {name: M, email: m@mocked.example}, deletionPolicy: Retain}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: mock-sub}
spec:
  tenantRef: {name: mocked}
  planRef: {name: mocked-plan}
  billing: {provider: stripe, customerId: cus_mock, subscriptionId: sub_mock}
EOF

# 1. A thin event, confirmed by fetching the subscription from stripe-mock.
body=$(printf '{"id":"evt_mock_1","object":"event","type":"customer.subscription.updated","created":%s,"related_object":{"id":"sub_mock","type":"subscription"}}' "$(date +%s)")
sig=$(printf '%s' "$body" | "$BIN/stripesign" sign -secret whsec_mock) || fail "stripesign"
code=$(curl -s -o "$T/resp" -w '%{http_code}' --cacert "$T/ca.crt" -X POST -H "Stripe-Signature: $sig" \
  -H 'Content-Type: application/json' --data-binary "$body" "https://127.0.0.1:$PORT/webhooks/billing/stripe")
expect_eq "a thin event is accepted" "200" "$code"
wait_for "fetched back from stripe-mock and applied" 60 \
  sh -c "[ -n \"\$(kubectl get subscription mock-sub -o jsonpath='{.status.billing.status}')\" ]"
expect_match "the provider's state as stripe-mock reports it" "^(active|trialing|past_due|unpaid|canceled|paused|incomplete)" \
  "$(jp subscription mock-sub '{.status.billing.status}')"

# 2. Usage: meter events every period, accepted by stripe-mock.
wait_for "usage reported to stripe-mock" 90 \
  sh -c "kubectl get subscription mock-sub -o jsonpath='{.status.usage.meters.tenant_active}' | grep -q ."
reported() { grep -c "reported to stripe" "$T/operator.log"; }
n1=$(reported)
sleep 9
[ "$(reported)" -gt "$n1" ] || fail "no further period reported in 9 s (period 4s)"
ok "a report every period"
refused=$(kubectl get events -A --field-selector reason=UsageReportRefused -o jsonpath='{.items[*].message}')
[ -z "$refused" ] || fail "stripe-mock refused a usage report: $refused"
ok "no usage report refused by stripe-mock (each passed its validation of the API spec)"
echo "PASS: $TEST_NAME"
