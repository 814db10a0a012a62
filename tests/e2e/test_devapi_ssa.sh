#!/usr/bin/env bash
# test_devapi_ssa.sh - server-side apply through kubectl: create by apply,
# managedFields, conflicts between field managers (and --force-conflicts),
# apply on built-ins, dry-run, plus fault injection (429 with Retry-After,
# 500) and the watch-drop fault.
. "$(dirname "$0")/lib.sh"

devapi_start
apply_widget_crd

cat >"$E2E_TMP/w.yaml" <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: ssa, labels: {owner: first}}
spec: {color: red}
EOF
out=$(k apply --server-side -f "$E2E_TMP/w.yaml")
assert_contains "$out" "widget.e2e.paybill.dev/ssa serverside-applied" "apply --server-side creates"
assert_eq red "$(k get wd ssa -o jsonpath='{.spec.color}')" "applied value"
assert_contains "$(k get wd ssa --show-managed-fields -o jsonpath='{.metadata.managedFields[*].manager}')" kubectl \
    "managedFields records the manager"
assert_contains "$(k get wd ssa --show-managed-fields -o jsonpath='{.metadata.managedFields[*].operation}')" Apply \
    "managedFields records the Apply operation"

sed 's/red/blue/' "$E2E_TMP/w.yaml" >"$E2E_TMP/w2.yaml"
out=$(k apply --server-side --field-manager=other -f "$E2E_TMP/w2.yaml" 2>&1)
assert_contains "$out" 'Apply failed with 1 conflict: conflict with "kubectl"' "conflict without --force-conflicts"
assert_contains "$out" ".spec.color" "conflict names the field"
assert_eq red "$(k get wd ssa -o jsonpath='{.spec.color}')" "conflicting apply changed nothing"
out=$(k apply --server-side --field-manager=other --force-conflicts -f "$E2E_TMP/w2.yaml" 2>&1)
assert_contains "$out" "serverside-applied" "--force-conflicts wins"
assert_eq blue "$(k get wd ssa -o jsonpath='{.spec.color}')" "forced value"
out=$(k apply --server-side -f "$E2E_TMP/w.yaml" 2>&1)
assert_contains "$out" 'conflict with "other"' "ownership moved to the forcing manager"

# Server-side dry run does not store.
sed 's/blue/green/' "$E2E_TMP/w2.yaml" >"$E2E_TMP/w3.yaml"
k apply --server-side --field-manager=other --dry-run=server -f "$E2E_TMP/w3.yaml" >/dev/null
assert_eq blue "$(k get wd ssa -o jsonpath='{.spec.color}')" "dry-run=server stores nothing"

# Built-in kinds.
k apply --server-side -f - >/dev/null <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: ssa-cm}
data: {a: "1", b: "2"}
EOF
k apply --server-side -f - >/dev/null <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: ssa-cm}
data: {a: "1"}
EOF
assert_eq "" "$(k get cm ssa-cm -o jsonpath='{.data.b}')" "a field no longer applied is removed"
devapi_stop

# Fault injection: every request fails with 429 + Retry-After, or 500.
DEVAPI_DIR=$E2E_TMP/faults; devapi_start --fault-error-rate 1 --fault-error-code 429
out=$(API_TOKEN=$DEVAPI_TOKEN api GET /api/v1/namespaces -D "$E2E_TMP/hdr")
assert_eq 429 "$(api_code "$out")" "injected 429"
assert_contains "$(tr 'A-Z' 'a-z' <"$E2E_TMP/hdr")" "retry-after: 1" "429 carries Retry-After"
assert_eq TooManyRequests "$(api_body "$out" | jget reason)" "429 reason"
assert_eq ok "$(curl -s --cacert "$DEVAPI_CA" "$DEVAPI_URL/readyz")" "health endpoints are never faulted"
devapi_stop
DEVAPI_DIR=$E2E_TMP/faults500; devapi_start --fault-error-rate 1
assert_eq 500 "$(api_code "$(api GET /api/v1/namespaces)")" "injected 500"
devapi_stop

# Fault injection: latency delays API requests without blocking others.
DEVAPI_DIR=$E2E_TMP/slow; devapi_start --http2 --fault-latency-ms 700
for proto in --http1.1 --http2; do
    t=$(curl -sS $proto -o /dev/null -w '%{time_total}' --cacert "$DEVAPI_CA" -H "Authorization: Bearer $DEVAPI_TOKEN" \
        "$DEVAPI_URL/api/v1/namespaces")
    python3 -c "import sys; sys.exit(0 if float('$t') >= 0.6 else 1)" && pass || fail "latency over $proto" ">= 0.6s" "${t}s"
done
curl -sS -o /dev/null --cacert "$DEVAPI_CA" -H "Authorization: Bearer $DEVAPI_TOKEN" "$DEVAPI_URL/api/v1/namespaces" &
E2E_BG_PIDS+=($!)
t=$(curl -sS -o /dev/null -w '%{time_total}' --cacert "$DEVAPI_CA" "$DEVAPI_URL/readyz")
python3 -c "import sys; sys.exit(0 if float('$t') < 0.5 else 1)" && pass || fail "a delayed request does not block others" "< 0.5s" "${t}s"
wait "${E2E_BG_PIDS[@]}" 2>/dev/null
E2E_BG_PIDS=()
devapi_stop

# Fault injection: watches are cut after N seconds.
DEVAPI_DIR=$E2E_TMP/drop; devapi_start --fault-drop-watch-after-s 1
start=$SECONDS
curl -sS -N --cacert "$DEVAPI_CA" -H "Authorization: Bearer $DEVAPI_TOKEN" \
    "$DEVAPI_URL/api/v1/namespaces?watch=1&timeoutSeconds=30" >"$E2E_TMP/dropped" 2>&1
took=$((SECONDS - start))
[ "$took" -le 5 ] && pass || fail "watch dropped early" "<= 5s" "${took}s"
assert_contains "$(cat "$E2E_TMP/dropped")" '"type":"ADDED"' "dropped watch had delivered events"
devapi_stop

e2e_finish
