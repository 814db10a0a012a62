#!/usr/bin/env bash
# test_devapi_lifecycle.sh - deletion and durability: ownerReferences garbage
# collection (background, foreground with blockOwnerDeletion, orphan),
# namespace termination (403 for new content, contents deleted, namespace
# gone), `kubectl get -w`, and persistence across a restart with
# resourceVersions that keep increasing.
. "$(dirname "$0")/lib.sh"

devapi_start

uid_of() { k get "$@" -o jsonpath='{.metadata.uid}'; }
owned_cm() { # name owner-name owner-uid [blockOwnerDeletion]
    k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: $1
  ownerReferences:
  - {apiVersion: v1, kind: ConfigMap, name: $2, uid: "$3", blockOwnerDeletion: ${4:-false}}
EOF
}
gone() { ! k get "$@" >/dev/null 2>&1; }

# Background: dependents follow the owner.
k create configmap owner1 >/dev/null
owned_cm dep1 owner1 "$(uid_of cm owner1)"
k delete cm owner1 >/dev/null
assert_ok "background GC deletes the dependent" wait_for 10 gone cm dep1

# Orphan: dependents stay, without the reference.
k create configmap owner2 >/dev/null
owned_cm dep2 owner2 "$(uid_of cm owner2)"
k delete cm owner2 --cascade=orphan >/dev/null
assert_ok "orphaned owner is deleted" wait_for 10 gone cm owner2
assert_eq "" "$(k get cm dep2 -o jsonpath='{.metadata.ownerReferences}')" "orphaned dependent keeps living, unowned"

# Foreground: the owner waits (foregroundDeletion) for a blocking dependent
# that a finalizer holds, then goes.
k create configmap owner3 >/dev/null
owned_cm dep3 owner3 "$(uid_of cm owner3)" true
k patch cm dep3 --type=merge -p '{"metadata":{"finalizers":["e2e/hold"]}}' >/dev/null
k delete cm owner3 --cascade=foreground --wait=false >/dev/null
assert_contains "$(k get cm owner3 -o jsonpath='{.metadata.finalizers}')" "foregroundDeletion" "owner gets foregroundDeletion"
assert_contains "$(k get cm dep3 -o jsonpath='{.metadata.deletionTimestamp}')" "T" "dependent is being deleted"
k patch cm dep3 --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
assert_ok "foreground owner goes after its dependent" wait_for 10 gone cm owner3

# kubectl get -w sees changes (run in the background with a timeout).
timeout 10 "$KUBECTL" get cm -w --request-timeout=4s >"$E2E_TMP/watch.out" 2>&1 &
E2E_BG_PIDS+=($!)
sleep 1
k create configmap watched >/dev/null
k label cm watched seen=yes >/dev/null
wait "${E2E_BG_PIDS[@]}" 2>/dev/null
E2E_BG_PIDS=()
assert_eq 2 "$(grep -c '^watched' "$E2E_TMP/watch.out")" "get -w prints the ADDED and MODIFIED rows"

# Namespace termination.
k create namespace doomed >/dev/null
k -n doomed create configmap a >/dev/null
k -n doomed apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: held, finalizers: [e2e/hold]}
EOF
k delete namespace doomed --wait=false >/dev/null
assert_eq Terminating "$(k get ns doomed -o jsonpath='{.status.phase}')" "namespace phase Terminating"
out=$(k -n doomed create configmap late 2>&1)
assert_contains "$out" "because it is being terminated" "create in a terminating namespace -> 403"
assert_ok "unheld content deleted" wait_for 10 gone -n doomed cm a
assert_contains "$(k get ns doomed -o jsonpath='{.status.conditions[*].message}')" \
    "Some content in the namespace has finalizers remaining: e2e/hold in 1 resource instances" \
    "namespace conditions explain what remains"
k -n doomed patch cm held --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
assert_ok "namespace gone once empty" wait_for 10 gone ns doomed

# Persistence across restart.
k create configmap durable --from-literal=k=v >/dev/null
rv_before=$(k get cm durable -o jsonpath='{.metadata.resourceVersion}')
uid_before=$(uid_of cm durable)
cp "$KUBECONFIG" "$E2E_TMP/old-kubeconfig"
devapi_stop
devapi_start
assert_eq "$uid_before" "$(uid_of cm durable)" "object survives a restart"
ca_old=$(awk '/certificate-authority-data/ {print $2}' "$E2E_TMP/old-kubeconfig")
assert_eq "$ca_old" "$(awk '/certificate-authority-data/ {print $2}' "$KUBECONFIG")" "the CA is kept in --data-dir"
assert_eq v "$(k get cm durable -o jsonpath='{.data.k}')" "data survives a restart"
k label cm durable after=restart >/dev/null
rv_after=$(k get cm durable -o jsonpath='{.metadata.resourceVersion}')
[ "$rv_after" -gt "$rv_before" ] && pass || fail "RV keeps increasing after restart" ">$rv_before" "$rv_after"
assert_contains "$(k get ns -o name)" "namespace/default" "seed namespaces after restart"

e2e_finish
