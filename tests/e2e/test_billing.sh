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

# The fake provider API (usage out, fetch-back): loopback only, records
# every request (tests/e2e/fake_billing_provider.py).
python3 "$STACK_ROOT/tests/e2e/fake_billing_provider.py" "$T/fake.port" sk_test_fake usage-secret \
  >"$T/fake.log" 2>&1 &
FAKE_PID=$!
trap 'rc=$?; kill "$FAKE_PID" 2>/dev/null; (exit $rc); on_exit' EXIT
for _ in $(seq 50); do [ -s "$T/fake.port" ] && break; sleep 0.1; done
FAKE="http://127.0.0.1:$(cat "$T/fake.port")"
fake_ctl() { curl -sf -X POST -d "$1" "$FAKE/_control" >/dev/null || fail "fake control $1"; }
fake_log() { curl -sf "$FAKE/_log"; }
PERIOD=5

stack_up
PORT=$(free_port)
cat >>"$T/operator.yaml" <<EOF
billing:
  maxBodyBytes: 4096
  usage: {period: ${PERIOD}s, retryBase: 1s, retryMax: 2s}
  providers:
    - name: stripe
      scheme: stripe
      secretRef: billing-stripe
      tolerance: 5m
      api: {baseURL: "$FAKE", secretRef: {name: billing-stripe-api, key: apiKey}}
      meters: {tenant_active: paybill_tenant_days, storage_bytes: paybill_storage, namespace_objects: paybill_objects, agent_steps: paybill_agent_steps}
    - name: inhouse
      scheme: hmac-sha256
      secretRef: billing-inhouse
      api: {usageURL: "$FAKE/usage", secretRef: {name: billing-inhouse-api, key: signing}}
      meters: {tenant_active: tenant_periods, storage_bytes: storage}
EOF
kubectl -n "$STACK_NAMESPACE" create secret generic billing-stripe --from-literal=current=whsec_one >/dev/null \
  || fail "secret"
kubectl -n "$STACK_NAMESPACE" create secret generic billing-inhouse --from-literal=k1=inhouse-secret >/dev/null \
  || fail "secret"
kubectl -n "$STACK_NAMESPACE" create secret generic billing-stripe-api --from-literal=apiKey=sk_test_fake >/dev/null \
  || fail "secret"
kubectl -n "$STACK_NAMESPACE" create secret generic billing-inhouse-api --from-literal=signing=usage-secret \
  >/dev/null || fail "secret"
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
  quotas: {objects: 50}
  billing: {price: "49.00", interval: month, trialDays: 0, gracePeriod: 8s, retentionPeriod: 6s}
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
kind: Plan
metadata: {name: billed-pooled}
spec:
  tier: free
  isolation: {model: pooled}
  database: {dataModel: crm, connectionLimit: 5}
  billing: {price: "0", interval: month, trialDays: 0}
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
  planRef: {name: billed-pooled}
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
wait_for "ext's rls data provisioned" 60 is tenant ext '{.status.database.layout}' rls
pg_psql -d paybill -c "insert into app.customers (tenant_id, email, name) values ('ext', 'e@ext.example', 'E')" >/dev/null \
  || fail "ext's row not inserted"
expect_eq "in-house, wrong secret: 401" "401" \
  "$(hpost "$(event ih_2 subscription.updated "$(date +%s)" canceled ext_1)" nope)"
expect_eq "a stripe-signed event cannot drive the external subscription" "active" \
  "$(jp subscription ext-sub '{.status.billing.status}')"

# 6. Killed between receipt and apply: an event for a Subscription that
# does not exist yet stays pending (retried); kill -9; create it; restart.
send evt_k1 customer.subscription.updated "$(date +%s)" active
NEWSUB=sub_late
# Its customer is the late one's too: nothing existing may match it.
late_body=$(event evt_late customer.subscription.created "$(date +%s)" active $NEWSUB)
code=$(post "${late_body//cus_bill/cus_late}" -secret whsec_two)
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
  billing: {provider: stripe, customerId: cus_late, subscriptionId: $NEWSUB}
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
expect_match "cancel starts the plan's retention period" '^20' "$(jp subscription bill-sub '{.status.retentionEnds}')"
wait_for "retention period ended: said, and nothing deleted" 60 \
  is subscription bill-sub '{.status.conditions[?(@.type=="DataRetained")].reason}' RetentionEnded
expect_match "deleting stays a human decision" "stay until a human deletes the Tenant" \
  "$(jp subscription bill-sub '{.status.conditions[?(@.type=="DataRetained")].message}')"
expect_eq "tenant and schema still there after the retention period" "bill/1" \
  "$(jp tenant bill '{.metadata.name}')/$(schema_kept)"
events=$(kubectl get events -A --field-selector reason=BillingEventApplied -o jsonpath='{.items[*].message}')
expect_match "every applied transition is an Event" "evt_c" "$events"
metrics_port=$(grep -o 'endpoint=metrics.*port=[0-9]*' "$T/operator2.log" | grep -o '[0-9]*$' | head -1)
if [ -n "$metrics_port" ]; then
  m=$(curl -s "http://127.0.0.1:$metrics_port/metrics")
  expect_match "metrics: events by outcome" 'paybill_billing_events_total\{provider="stripe",outcome="applied"\}' "$m"
fi
# 8. Fetch-back: a thin event (no object, Stripe's related_object) is
# confirmed by fetching the subscription from the provider's API.
fake_ctl '{"subscriptions": {"sub_bill": {"id": "sub_bill", "object": "subscription", "customer": "cus_bill", "status": "active", "current_period_end": '$(( $(date +%s) + 86400 ))', "metadata": {}}}}'
thin() { printf '{"id":"%s","object":"event","type":"customer.subscription.updated","created":%s,"related_object":{"id":"%s","type":"subscription"}}' "$1" "$(date +%s)" "$2"; }
expect_eq "thin event accepted" "200" "$(post "$(thin evt_thin sub_bill)" -secret whsec_two)"
wait_for "thin event applied with the provider's current status (active)" 30 \
  is subscription bill-sub '{.status.billing.eventId}/{.status.billing.status}' evt_thin/active
expect_match "the provider was asked, with the API key" '"kind": "fetch", "id": "sub_bill", "auth_ok": true' \
  "$(fake_log)"
expect_eq "thin event for a subscription the provider does not know: 200" "200" \
  "$(post "$(thin evt_thin404 sub_nothere)" -secret whsec_two)"
inbox_outcome() { pg_psql -d paybill_operator -c "SELECT coalesce(outcome,'') FROM billing_inbox WHERE event_id = '$1'"; }
for _ in $(seq 60); do [ "$(inbox_outcome evt_thin404)" = not-found-at-provider ] && break; sleep 0.5; done
expect_eq "  it changes nothing (outcome not-found-at-provider)" "not-found-at-provider" "$(inbox_outcome evt_thin404)"
expect_eq "  subscription unchanged" "evt_thin" "$(jp subscription bill-sub '{.status.billing.eventId}')"

# 9. Usage out: every period, each subscription's meters, once; a retry
# after a 500 keeps its identifier; an outage delays but loses nothing.
fake_has() { fake_log | grep -q "$1"; }
wait_for "usage reported to the Stripe fake (meter events)" 60 fake_has paybill_storage
wait_for "usage reported to the in-house fake (signed JSON)" 60 fake_has tenant_periods
wait_for "status.usage shows the last reported period" 60 \
  bash -c "kubectl get subscription bill-sub -o jsonpath='{.status.usage.meters.storage_bytes}' | grep -q '^[1-9]'"
expect_match "status.usage.periodStart" '^20' "$(jp subscription bill-sub '{.status.usage.periodStart}')"
# Objects are counted by the namespace's ResourceQuota: the real
# controller manager fills its status.used, the dev API server does not.
if [ "$(stack_apiserver_kind)" = kube ]; then
  wait_for "objects in the tenant namespace, as its quota counts them" 60 \
    bash -c "kubectl get subscription bill-sub -o jsonpath='{.status.usage.meters.namespace_objects}' | grep -q '^[1-9]'"
fi

expect_eq "in-house subscription's status.usage (tenant Active)" "1" \
  "$(jp subscription ext-sub '{.status.usage.meters.tenant_active}')"
# ext is pooled (rls): its storage is the size of its own rows in the
# shared tables, not the tables'.
wait_for "rls tenant's storage metered from its own rows" 60 \
  bash -c "kubectl get subscription ext-sub -o jsonpath='{.status.usage.meters.storage_bytes}' | grep -q '^[1-9]'"
fake_ctl '{"fail_next": 3, "fail_status": 500}'
sleep $((PERIOD * 2))
fake_ctl '{"outage": true}'
OUT_FROM=$(date +%s)
sleep $((PERIOD * 3))
fake_ctl '{"outage": false}'
OUT_TO=$(date +%s)
pending() {
  pg_psql -d paybill_operator -c "SELECT count(*) FROM billing_outbox WHERE sent_at IS NULL AND failed_at IS NULL
    AND period_end <= $OUT_TO"
}
for _ in $(seq 60); do [ "$(pending)" = 0 ] && break; sleep 1; done
expect_eq "outbox drained after the outage" "0" "$(pending)"
sleep $((PERIOD + 3))
fake_log >"$T/fake.json"
python3 - "$T/fake.json" "$PERIOD" "$OUT_FROM" "$OUT_TO" <<'PY' || fail "usage reports (see above)"
import json, sys, collections
log = json.load(open(sys.argv[1])); period = int(sys.argv[2]); out_from, out_to = int(sys.argv[3]), int(sys.argv[4])
reports = []
for r in log:
    if r["kind"] == "meter_event":
        f = r["form"]
        assert r["auth_ok"] and r["content_type"] == "application/x-www-form-urlencoded", r
        assert r["idempotency_key"] == f["identifier"], r
        reports.append(("stripe", f["payload[stripe_customer_id]"], f["event_name"], int(f["timestamp"]),
                        f["identifier"], int(f["payload[value]"]), r["status"], r.get("duplicate")))
    elif r["kind"] == "usage":
        d = r["doc"]
        assert r["sig_ok"], ("unsigned or badly signed in-house report", r)
        assert r["idempotency_key"] == d["identifier"], r
        reports.append(("inhouse", d["subscription"], d["event_name"], int(d["timestamp"]), d["identifier"],
                        int(d["value"]), r["status"], r.get("duplicate")))
ok = [x for x in reports if x[6] == 200]
dups = [x for x in ok if x[7]]
assert not dups, ("an identifier was accepted twice", dups)
# (provider, customer or in-house subscription, meter, period)
per_period = collections.Counter((x[0], x[1], x[2], (x[3] + 1) // period) for x in ok)
twice = {k: v for k, v in per_period.items() if v != 1}
assert not twice, ("a (customer, meter, period) reported under two identifiers", twice)
print("ok - %d usage reports accepted out of %d attempts; each (customer, meter, period) once, no identifier twice"
      % (len(ok), len(reports)))
failed = [x for x in reports if x[6] == 500]
assert len(failed) == 3, ("expected the 3 injected 500s", failed)
for f in failed:
    assert any(o[4] == f[4] for o in ok), ("refused with 500 and never accepted under the same identifier", f)
print("ok - the 3 reports refused with 500 were each accepted later under the same identifier")
outage = [x for x in reports if x[6] == 503]
assert outage, "no report attempted during the outage"
for prov, cust, ev in (("inhouse", "ext-sub", "storage"), ("inhouse", "ext-sub", "tenant_periods"),
                       ("stripe", "cus_bill", "paybill_storage")):
    ps = sorted({(x[3] + 1) // period for x in ok if x[0] == prov and x[1] == cust and x[2] == ev})
    lo, hi = out_from // period - 1, out_to // period
    missing = [p for p in range(lo, hi + 1) if p not in ps]
    assert not missing, ("periods lost across the outage", prov, ev, missing, ps)
    print("ok - %s %s: periods %d..%d (outage %d attempts refused with 503) all reported, once" % (prov, ev, lo, hi, len(outage)))
PY
# status.usage is written once per period, not at every reconcile.
rvs=""
for _ in $(seq $((PERIOD * 4))); do rvs="$rvs $(jp subscription ext-sub '{.metadata.resourceVersion}')"; sleep 0.5; done
changes=$(echo $rvs | tr ' ' '\n' | uniq | wc -l)
[ "$changes" -le 4 ] || fail "status churns: $changes resourceVersions in $((PERIOD * 2)) s (period ${PERIOD}s)"
ok "status.usage does not churn: $changes resourceVersion(s) of ext-sub over 2 periods"
metrics_port=$(grep -o 'endpoint=metrics.*port=[0-9]*' "$T/operator2.log" | grep -o '[0-9]*$' | head -1)
if [ -n "$metrics_port" ]; then
  m=$(curl -s "http://127.0.0.1:$metrics_port/metrics")
  expect_match "metrics: usage reports by result" 'paybill_billing_usage_reports_total\{provider="stripe",result="sent"\}' "$m"
  expect_match "metrics: usage retries" 'paybill_billing_usage_reports_total\{provider="[a-z]*",result="retry"\}' "$m"
  expect_match "metrics: fetch-backs" 'paybill_billing_fetch_backs_total\{provider="stripe",outcome="fetched"\}' "$m"
fi
echo "PASS: $TEST_NAME"
