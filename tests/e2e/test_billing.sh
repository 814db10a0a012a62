#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: billing providers drive Subscriptions through signed webhooks.
# The operator serves POST /webhooks/billing/<provider> on its HTTPS
# endpoint (the certificate it manages); deliveries are signed by Stripe's
# own library (stripesign, stripe-go's webhook package, hack/stripe.sh) or,
# for the in-house provider, with the openssl CLI. A tenant goes through its
# whole life by signed events (trialing, active, payment failed, grace,
# suspended with its data kept, paid again, resumed, canceled with its data
# kept); out-of-order and duplicate deliveries change nothing; two secrets
# live during a rotation, then the old one is refused; every bad input
# (no/wrong signature, stale timestamp, body over the limit, malformed
# JSON, wrong method, unknown provider) is the right 4xx with no state
# change; an operator killed between receipt and apply loses no event.
. "$(dirname "$0")/stack_env.sh"

STRIPESIGN="$("$STACK_ROOT/hack/stripe.sh" bindir)/stripesign"
[ -x "$STRIPESIGN" ] || "$STACK_ROOT/hack/stripe.sh" build >/dev/null || fail "stripesign not built"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stack_up
PORT=$(free_port)
cat >>"$T/operator.yaml" <<EOF
billing:
  maxBodyBytes: 4096
  providers:
    - {name: stripe, scheme: stripe, secretRef: billing-stripe, tolerance: 5m}
    - {name: inhouse, scheme: hmac-sha256, secretRef: billing-inhouse}
EOF
kubectl -n "$STACK_NAMESPACE" create secret generic billing-stripe --from-literal=current=whsec_one >/dev/null \
  || fail "secret"
kubectl -n "$STACK_NAMESPACE" create secret generic billing-inhouse --from-literal=k1=inhouse-secret >/dev/null \
  || fail "secret"
operator_start operator --webhook-addr "127.0.0.1:$PORT"
wait_for "serving certificate stored" 60 kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE"
kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE" -o jsonpath='{.data.ca\.crt}' | base64 -d >"$T/ca.crt"
URL="https://127.0.0.1:$PORT/webhooks/billing"
served() { curl -s -o /dev/null --cacert "$T/ca.crt" -X POST "$URL/stripe" -d '{}'; }
wait_for "billing endpoint served over HTTPS" 60 served
wait_for "billing inbox connected (its database created)" 60 grep -q "billing inbox connected" "$T/operator.log"

kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" >/dev/null || fail "datamodel"
kubectl apply -f - >/dev/null <<EOF || fail "plan, tenants, subscriptions not applied"
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: billed}
spec:
  tier: pro
  isolation: {model: bridge}
  database: {dataModel: crm, connectionLimit: 5}
  billing: {price: "49.00", interval: month, trialDays: 0, gracePeriod: 8s}
---
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: bill}
spec: {owner: {name: B, email: b@bill.example}, deletionPolicy: Retain}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: bill-sub}
spec:
  tenantRef: {name: bill}
  planRef: {name: billed}
  billing: {provider: stripe, customerId: cus_bill, subscriptionId: sub_bill}
---
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: ext}
spec: {owner: {name: E, email: e@ext.example}, deletionPolicy: Retain}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: ext-sub}
spec:
  tenantRef: {name: ext}
  planRef: {name: billed}
  billing: {provider: external, subscriptionId: ext_1}
EOF

# event ID TYPE CREATED STATUS [SUBID]: a Stripe event body
event() {
  local pe=$(( $3 + 30 * 86400 ))
  printf '{"id":"%s","object":"event","type":"%s","created":%s,"data":{"object":{"id":"%s","object":"subscription","customer":"cus_bill","status":"%s","current_period_end":%s,"metadata":{}}}}' \
    "$1" "$2" "$3" "${5:-sub_bill}" "$4" "$pe"
}
# post BODY [stripesign sign args...]: HTTP code of a Stripe delivery (body in $T/resp)
post() {
  local body=$1; shift
  local sig
  sig=$(printf '%s' "$body" | "$STRIPESIGN" sign "$@") || fail "stripesign"
  curl -s -o "$T/resp" -w '%{http_code}' --cacert "$T/ca.crt" -X POST -H "Stripe-Signature: $sig" \
    -H 'Content-Type: application/json' --data-binary "$body" "$URL/stripe"
}
SECRET=whsec_one
send() { # send ID TYPE CREATED STATUS: signed with $SECRET, must be 200
  local code
  code=$(post "$(event "$@")" -secret "$SECRET")
  [ "$code" = 200 ] || fail "delivery $1 ($4): HTTP $code: $(cat "$T/resp")"
}
state() { jp subscription bill-sub '{.status.state}'; }
phase() { jp tenant bill '{.status.phase}'; }

# 1. The whole life.
send evt_1 customer.subscription.created "$(date +%s)" trialing
wait_for "trialing from the provider" 60 is subscription bill-sub '{.status.state}' trialing
wait_for "tenant Ready while trialing" 120 is tenant bill '{.status.phase}' Active
send evt_2 customer.subscription.updated "$(date +%s)" active
wait_for "active after payment" 30 is subscription bill-sub '{.status.state}' active
expect_match "paidThrough set from the period end" '^20' "$(jp subscription bill-sub '{.status.paidThrough}')"
expect_eq "BillingSynced condition with its reason" "True/EventApplied" \
  "$(jp subscription bill-sub '{.status.conditions[?(@.type=="BillingSynced")].status}/{.status.conditions[?(@.type=="BillingSynced")].reason}')"
send evt_3 customer.subscription.updated "$(date +%s)" past_due
wait_for "past_due after a failed payment" 30 is subscription bill-sub '{.status.state}' past_due
expect_eq "tenant keeps running during the grace period" "Active" "$(phase)"
wait_for "grace period over: unpaid" 60 is subscription bill-sub '{.status.state}' unpaid
expect_eq "reason GracePeriodEnded" "GracePeriodEnded" \
  "$(jp subscription bill-sub '{.status.conditions[?(@.type=="Active")].reason}')"
wait_for "tenant suspended" 60 is tenant bill '{.status.phase}' Suspended
wait_for "deny-all network policy while suspended" 30 kubectl get networkpolicy tenant-suspended -n tenant-bill
SCHEMA=$(jp tenant bill '{.status.database.schema}')
DBNAME=$(kubectl get secret tenant-database -n tenant-bill -o jsonpath='{.data.dbname}' | base64 -d)
schema_kept() { pg_psql -d "$DBNAME" -c "SELECT count(*) FROM pg_namespace WHERE nspname = '$SCHEMA'"; }
expect_eq "data kept while suspended (schema $SCHEMA in $DBNAME)" "1" "$(schema_kept)"
T4=$(date +%s)
send evt_4 customer.subscription.updated "$T4" active
wait_for "paid again: active" 30 is subscription bill-sub '{.status.state}' active
wait_for "tenant resumed" 120 is tenant bill '{.status.phase}' Active

# 2. Out of order and duplicates.
rv=$(jp subscription bill-sub '{.metadata.resourceVersion}')
send evt_old customer.subscription.updated $((T4 - 3)) canceled
code=$(post "$(event evt_4 customer.subscription.updated "$T4" active)" -secret whsec_one)
expect_eq "a redelivery is 200" "200" "$code"
expect_match "and says duplicate" '"duplicate":true' "$(cat "$T/resp")"
stale_seen() { kubectl get events -A --field-selector reason=BillingEventIgnored -o jsonpath='{.items[*].message}' | grep -q evt_old; }
wait_for "the older event is reported as stale (Event)" 30 stale_seen
expect_eq "an older event never moves the subscription backwards" "active" "$(state)"
expect_eq "last applied event unchanged" "evt_4" "$(jp subscription bill-sub '{.status.billing.eventId}')"

# 3. Bad inputs: the right 4xx, no state change.
body=$(event evt_bad customer.subscription.updated "$(date +%s)" canceled)
code=$(curl -s -o "$T/resp" -w '%{http_code}' --cacert "$T/ca.crt" -X POST --data-binary "$body" "$URL/stripe")
expect_eq "no signature: 400" "400" "$code"
expect_eq "wrong secret: 401" "401" "$(post "$body" -secret whsec_wrong)"
expect_match "  reason SignatureMismatch" SignatureMismatch "$(cat "$T/resp")"
expect_eq "timestamp outside the tolerance: 401" "401" "$(post "$body" -secret whsec_one -t $(( $(date +%s) - 400 )))"
expect_match "  reason TimestampOutsideTolerance" TimestampOutsideTolerance "$(cat "$T/resp")"
sig=$(printf '%s' "$body" | "$STRIPESIGN" sign -secret whsec_one)
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca.crt" -X POST -H "Stripe-Signature: $sig" \
  --data-binary "${body/canceled/active}" "$URL/stripe")
expect_eq "tampered body: 401" "401" "$code"
big="{\"id\":\"evt_big\",\"type\":\"x\",\"created\":1,\"pad\":\"$(head -c 5000 /dev/zero | tr '\0' a)\"}"
expect_eq "body over maxBodyBytes: 413" "413" "$(post "$big" -secret whsec_one)"
expect_eq "malformed JSON, correctly signed: 400" "400" "$(post '{"id": "evt_x", ' -secret whsec_one)"
expect_match "  reason MalformedEvent" MalformedEvent "$(cat "$T/resp")"
expect_eq "a JSON body that is not an event: 400" "400" "$(post '{"hello":1}' -secret whsec_one)"
expect_eq "GET: 405" "405" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca.crt" "$URL/stripe")"
expect_eq "unknown provider: 404" "404" \
  "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca.crt" -X POST -d '{}' "$URL/paddle")"
sleep 2
expect_eq "no bad delivery changed the subscription" "active/evt_4" \
  "$(jp subscription bill-sub '{.status.state}/{.status.billing.eventId}')"

# 4. Secret rotation: two live, then the old one dropped.
kubectl -n "$STACK_NAMESPACE" patch secret billing-stripe --type merge \
  -p "{\"data\":{\"next\":\"$(printf whsec_two | base64)\"}}" >/dev/null || fail "patch secret"
sleep 3
expect_eq "signed with both secrets (Stripe during a roll): 200" "200" \
  "$(post "$(event evt_r1 customer.subscription.updated "$(date +%s)" active)" -secret whsec_one -secret whsec_two)"
expect_eq "signed with the new secret only: 200" "200" \
  "$(post "$(event evt_r2 customer.subscription.updated "$(date +%s)" active)" -secret whsec_two)"
expect_eq "signed with the old secret, still live: 200" "200" \
  "$(post "$(event evt_r3 customer.subscription.updated "$(date +%s)" active)" -secret whsec_one)"
kubectl -n "$STACK_NAMESPACE" patch secret billing-stripe --type json -p '[{"op":"remove","path":"/data/current"}]' \
  >/dev/null || fail "patch secret"
sleep 11 # a dropped secret stops verifying at the next reload (every 10 s)
expect_eq "old secret dropped: refused (401)" "401" \
  "$(post "$(event evt_r4 customer.subscription.updated "$(date +%s)" active)" -secret whsec_one)"
expect_eq "new secret: 200" "200" \
  "$(post "$(event evt_r5 customer.subscription.updated "$(date +%s)" active)" -secret whsec_two)"
SECRET=whsec_two
wait_for "rotation events applied in order" 30 is subscription bill-sub '{.status.billing.eventId}' evt_r5

# 5. The in-house provider: generic hmac-sha256 scheme, signed with openssl.
hpost() {
  local body=$1 ts sig
  ts=$(date +%s)
  sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "${2:-inhouse-secret}" -binary | base64)
  curl -s -o "$T/resp" -w '%{http_code}' --cacert "$T/ca.crt" -X POST -H "Paybill-Webhook-Timestamp: $ts" \
    -H "Paybill-Webhook-Signature: v1=$sig" --data-binary "$body" "$URL/inhouse"
}
expect_eq "in-house event, hmac-sha256: 200" "200" \
  "$(hpost "$(event ih_1 subscription.updated "$(date +%s)" active ext_1)")"
wait_for "in-house provider drives its subscription" 60 is subscription ext-sub '{.status.billing.status}' active
expect_eq "in-house, wrong secret: 401" "401" \
  "$(hpost "$(event ih_2 subscription.updated "$(date +%s)" canceled ext_1)" nope)"
expect_eq "a stripe-signed event cannot drive the external subscription" "active" \
  "$(jp subscription ext-sub '{.status.billing.status}')"

# 6. Killed between receipt and apply: an event for a Subscription that
# does not exist yet stays pending (retried); kill -9; create it; restart.
send evt_k1 customer.subscription.updated "$(date +%s)" active
NEWSUB=sub_late
code=$(post "$(event evt_late customer.subscription.created "$(date +%s)" active $NEWSUB)" -secret whsec_two)
expect_eq "event for a not-yet-existing subscription accepted" "200" "$code"
stack_kill "$T/operator.pid" KILL
expect_eq "it is pending in the inbox after the kill" "1" \
  "$(pg_psql -d paybill_operator -c "SELECT count(*) FROM billing_inbox WHERE event_id = 'evt_late' AND applied_at IS NULL")"
kubectl apply -f - >/dev/null <<EOF || fail "late subscription"
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: late}
spec: {owner: {name: L, email: l@late.example}, deletionPolicy: Retain}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: late-sub}
spec:
  tenantRef: {name: late}
  planRef: {name: billed}
  billing: {provider: stripe, subscriptionId: $NEWSUB}
EOF
operator_start operator2 --webhook-addr "127.0.0.1:$PORT"
wait_for "restarted operator reconnects to the inbox" 60 grep -q "billing inbox connected" "$T/operator2.log"
wait_for "the event received before the kill is applied after the restart" 90 \
  is subscription late-sub '{.status.billing.eventId}' evt_late
expect_eq "evt_k1 applied too" "evt_k1" "$(jp subscription bill-sub '{.status.billing.eventId}')"

# 7. Canceled: suspended, data kept.
send evt_c customer.subscription.deleted "$(date +%s)" canceled
wait_for "canceled" 30 is subscription bill-sub '{.status.state}' canceled
wait_for "tenant suspended after cancel" 60 is tenant bill '{.status.phase}' Suspended
expect_eq "namespace kept" "tenant-bill" "$(jp ns tenant-bill '{.metadata.name}')"
expect_eq "database credentials kept" "tenant-bill" \
  "$(kubectl get secret tenant-database -n tenant-bill -o jsonpath='{.metadata.namespace}')"
expect_eq "tenant schema kept" "1" "$(schema_kept)"
events=$(kubectl get events -A --field-selector reason=BillingEventApplied -o jsonpath='{.items[*].message}')
expect_match "every applied transition is an Event" "evt_c" "$events"
metrics_port=$(grep -o 'endpoint=metrics.*port=[0-9]*' "$T/operator2.log" | grep -o '[0-9]*$' | head -1)
if [ -n "$metrics_port" ]; then
  m=$(curl -s "http://127.0.0.1:$metrics_port/metrics")
  expect_match "metrics: events by outcome" 'paybill_billing_events_total\{provider="stripe",outcome="applied"\}' "$m"
fi
echo "PASS: $TEST_NAME"
