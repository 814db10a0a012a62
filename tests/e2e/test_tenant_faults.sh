#!/usr/bin/env bash
# End-to-end: the API server misbehaves under a running operator. Watches
# are cut every few seconds, a fraction of requests fail with 500 (then 429
# with Retry-After), a small window forces 410 Gone on resume, and requests
# are slow. The operator must still converge every tenant, with no
# duplicates and no crash.
. "$(dirname "$0")/stack_env.sh"

# Faults only after setup: kubectl itself must get the stack installed.
stack_up
kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" -f "$STACK_ROOT/examples/10-plans.yaml" >/dev/null
restart_devapi() { # restart on the same port and data dir with extra flags
  stack_apiserver_restart "$T" "$@" || fail "API server did not restart ($*)"
  wait_for "API server up ($*)" 20 kubectl get --raw /readyz
}

restart_devapi --fault-error-rate 0.15 --fault-error-code 500 --fault-drop-watch-after-s 3 --watch-window 50
operator_start operator
# One file a tenant: each apply is a handful of requests (OpenAPI, a GET
# and a write per object), so at a 15 % error rate one goes through in a
# few tries. All sixteen objects in one apply are ~40 requests that must
# not fail together, and on a slow machine 60 s of retries did not always
# get there.
for i in $(seq 1 8); do
  cat >"$T/tenant-f$i.yaml" <<Y
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: f$i}
spec: {owner: {name: F$i, email: f$i@example.com}}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: f$i}
spec: {tenantRef: {name: f$i}, planRef: {name: $([ $((i % 2)) -eq 0 ] && echo free || echo enterprise)}}
Y
done
# kubectl itself sees the 500s: retry each apply until it goes through.
for i in $(seq 1 8); do
  wait_for "tenant f$i applied despite 500s" 60 kubectl apply -f "$T/tenant-f$i.yaml"
done
wait_for "all tenants Ready under 500s and dropped watches" 180 kubectl wait --for=condition=Ready tenants --all --timeout=5s
# Reads by the test see the injected 500s too: retry until one goes through.
ns_count_is() { local out; out=$(kubectl get ns -l paybill.dev/tenant -o name) && [ "$(wc -l <<<"$out")" = "$1" ]; }
wait_for "exactly one namespace per tenant" 30 ns_count_is 8

restart_devapi --fault-error-rate 0.2 --fault-error-code 429 --fault-latency-ms 50
kubectl patch subscription f1 --type merge -p '{"spec":{"paused":true}}' >/dev/null 2>&1 \
  || kubectl patch subscription f1 --type merge -p '{"spec":{"paused":true}}' >/dev/null 2>&1 \
  || kubectl patch subscription f1 --type merge -p '{"spec":{"paused":true}}' >/dev/null
wait_for "suspension goes through 429s and latency" 120 is tenant f1 '{.status.phase}' Suspended
kill -0 "$(cat "$T/operator.pid")" || fail "operator died under API faults"
ok "operator survived the faults"
# The faults show in the operator's metrics (the port it bound is logged).
port=$(grep -m1 'serving endpoint=metrics' "$T/operator.log" | sed -E 's/.* port=([0-9]+).*/\1/')
metrics=$(curl -s "http://127.0.0.1:$port/metrics") || fail "no /metrics on port $port"
expect_match "metrics count 500 responses" 'rest_client_requests_total\{code="500"' "$metrics"
expect_match "metrics count 429 responses" 'rest_client_requests_total\{code="429"' "$metrics"
expect_match "metrics count watch restarts" 'paybill_informer_watch_restarts_total\{resource="tenants' "$metrics"
expect_match "metrics count reconciles" 'controller_runtime_reconcile_total\{controller="tenant"' "$metrics"
echo "PASS $TEST_NAME"
