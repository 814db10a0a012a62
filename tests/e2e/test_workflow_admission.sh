#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: a Workflow's submitter is decided at admission. The operator
# (under the chart's RBAC) serves the Workflow webhooks over HTTPS with a
# certificate it made and stored in the Secret paybill-webhook-tls, and
# injects its CA into the two webhook configurations, registered here with
# a loopback URL (no cluster networking on this machine) but otherwise as
# the chart writes them (failurePolicy Fail). Then, with the real kubectl:
# the tenant's agent ServiceAccount gets spec.submitter stamped from its
# token's identity; a forged submitter (field or annotation) is refused
# with a clear message; spec edits after creation are refused and name the
# field; status and metadata writes pass; a second replica reuses the
# Secret; an unreadable leaf in it is reissued under the same CA, and so is
# one expiring within 30 days; two replicas racing to create the Secret end
# up serving one CA; with the operator stopped, no Workflow can be created
# (fail closed).
. "$(dirname "$0")/stack_env.sh"

stack_up
PORT=$(free_port)

agent_webhooks "$PORT" || fail "webhook configurations not applied"

operator_start operator --webhook-addr "127.0.0.1:$PORT"

ca_of() { kubectl get "$1" paybill-workflows -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null; }
injected() { [ -n "$(ca_of mutatingwebhookconfiguration)" ] && [ -n "$(ca_of validatingwebhookconfiguration)" ]; }
wait_for "caBundle injected into both configurations" 60 injected
expect_eq "the Secret holds the CA that was injected" "$(ca_of validatingwebhookconfiguration)" \
  "$(kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE" -o jsonpath='{.data.ca\.crt}')"
expect_eq "mutating and validating carry the same CA" "$(ca_of mutatingwebhookconfiguration)" \
  "$(ca_of validatingwebhookconfiguration)"
expect_eq "only caBundle was touched (url kept)" "https://127.0.0.1:$PORT/mutate/workflows" \
  "$(kubectl get mutatingwebhookconfiguration paybill-workflows -o jsonpath='{.webhooks[0].clientConfig.url}')"
expect_eq "failurePolicy kept" "Fail" \
  "$(kubectl get validatingwebhookconfiguration paybill-workflows -o jsonpath='{.webhooks[0].failurePolicy}')"

# The served certificate chains to that CA (checked with openssl, not ours).
kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE" -o jsonpath='{.data.ca\.crt}' | base64 -d >"$T/ca.crt"
out=$(echo | openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$T/ca.crt" -verify_return_error \
  -verify_hostname localhost 2>&1)
expect_match "the webhook serves a certificate that verifies against the CA" "Verify return code: 0 \(ok\)" "$out"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca.crt" -X POST -H 'Content-Type: application/json' \
  --data '{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}' \
  "https://127.0.0.1:$PORT/validate/workflows")
expect_eq "a malformed AdmissionReview is a 400" "400" "$code"

# A tenant with its namespace and its agent ServiceAccount.
kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" -f "$STACK_ROOT/examples/10-plans.yaml" \
  -f "$STACK_ROOT/examples/20-tenants.yaml" -f "$STACK_ROOT/examples/30-subscriptions.yaml" >/dev/null \
  || fail "examples not applied"
wait_for "tenant acme Ready" 120 kubectl wait --for=condition=Ready tenant/acme --timeout=5s
# The example policy (the agent ServiceAccount) and one for the admin, so
# that both may submit the example workflow.
kubectl apply -f "$STACK_ROOT/examples/40-agentpolicy.yaml" >/dev/null || fail "example AgentPolicy refused"
admin_name=$(kubectl auth whoami -o jsonpath='{.status.userInfo.username}') || fail "kubectl auth whoami"
sed -e "s/name: billing-assistant/name: admin-too/" \
    -e "s/- {kind: ServiceAccount, name: paybill-agent, namespace: tenant-acme}/- {kind: User, name: \"$admin_name\"}/" \
    "$STACK_ROOT/examples/40-agentpolicy.yaml" | kubectl apply -f - >/dev/null || fail "admin AgentPolicy refused"
wait_for "agent ServiceAccount exists" 30 kubectl get serviceaccount paybill-agent -n tenant-acme

agent_kubeconfig tenant-acme paybill-agent "$T/agent.kubeconfig" || fail "no token for paybill-agent"
agent() { KUBECONFIG=$T/agent.kubeconfig kubectl "$@"; }
SA="system:serviceaccount:tenant-acme:paybill-agent"
expect_eq "the agent authenticates as its ServiceAccount" "yes" "$(agent auth can-i create workflows.paybill.dev)"

# wf NAME [EXTRA_SPEC_YAML] [ANNOTATIONS_YAML]: the example workflow, renamed.
wf() {
  sed -e "s/name: mark-overdue-paid/name: $1/" "$STACK_ROOT/examples/50-workflow.yaml" \
    | { if [ -n "${3:-}" ]; then sed -e "s|^  namespace: tenant-acme|  namespace: tenant-acme\n  annotations: $3|"; else cat; fi; } \
    | { if [ -n "${2:-}" ]; then sed -e "s|^spec:|spec:\n  $2|"; else cat; fi; }
}

# 1. Stamped from the token's identity.
wf by-agent | agent create -f - >/dev/null || fail "the agent could not create a Workflow"
expect_eq "submitter.username from userInfo" "$SA" \
  "$(jp workflow by-agent '{.spec.submitter.username}' -n tenant-acme)"
expect_match "submitter.groups from userInfo" "system:serviceaccounts:tenant-acme" \
  "$(jp workflow by-agent '{.spec.submitter.groups}' -n tenant-acme)"
sa_uid=$(kubectl get serviceaccount paybill-agent -n tenant-acme -o jsonpath='{.metadata.uid}')
expect_eq "submitter.uid is the ServiceAccount's uid" "$sa_uid" \
  "$(jp workflow by-agent '{.spec.submitter.uid}' -n tenant-acme)"
wf by-admin | kubectl create -f - >/dev/null || fail "the admin could not create a Workflow"
admin_user=$(jp workflow by-admin '{.spec.submitter.username}' -n tenant-acme)
[ -n "$admin_user" ] && [ "$admin_user" != "$SA" ] || fail "admin's workflow stamped [$admin_user]"
ok "each submitter is who created it ($admin_user)"

# 2. Forged submitters: refused, nothing stored.
out=$(wf forged "submitter: {username: system:admin, groups: [system:masters]}" | agent create -f - 2>&1) \
  && fail "a forged spec.submitter was admitted: $out"
expect_match "forged spec.submitter refused with a clear message" \
  "denied the request: spec.submitter is set by the API server from the authenticated user" "$out"
out=$(wf forged-self "submitter: {username: \"$SA\"}" | agent create -f - 2>&1) \
  && fail "a self-declared spec.submitter was admitted: $out"
expect_match "even a truthful client-supplied submitter is refused" "spec.submitter is set by the API server" "$out"
out=$(wf forged-ann "" "{paybill.dev/submitted-by: someone-else}" | agent create -f - 2>&1) \
  && fail "a forged submitted-by annotation was admitted: $out"
expect_match "forged annotation refused" "paybill.dev/submitted-by" "$out"
out=$(wf forged-admin "submitter: {username: system:admin}" | kubectl create -f - 2>&1) \
  && fail "an admin's forged submitter was admitted: $out"
ok "the admin cannot supply a submitter either"
for n in forged forged-self forged-ann forged-admin; do
  gone workflow "$n" -n tenant-acme || fail "refused workflow $n was stored"
done
ok "nothing stored for the refused workflows"

# 3. The spec is immutable, for everyone; status and metadata are not.
out=$(kubectl patch workflow by-agent -n tenant-acme --type=merge -p '{"spec":{"dryRun":true}}' 2>&1) \
  && fail "a spec edit was admitted: $out"
expect_match "spec edit refused, naming the field" "spec is immutable once created \(spec.dryRun differs\)" "$out"
out=$(kubectl patch workflow by-agent -n tenant-acme --type=json \
  -p '[{"op":"replace","path":"/spec/submitter/username","value":"system:admin"}]' 2>&1) \
  && fail "a submitter edit was admitted: $out"
expect_match "submitter edit refused" "spec.submitter.username differs" "$out"
out=$(kubectl patch workflow by-agent -n tenant-acme --type=json -p '[{"op":"remove","path":"/spec/submitter"}]' 2>&1) \
  && fail "removing the submitter was admitted: $out"
expect_match "submitter removal refused" "immutable" "$out"
kubectl label workflow by-agent -n tenant-acme reviewed=yes >/dev/null || fail "a label change was refused"
ok "metadata changes pass"
kubectl patch workflow by-agent -n tenant-acme --subresource=status --type=merge \
  -p '{"status":{"observedGeneration":1}}' >/dev/null || fail "a status write was refused"
expect_eq "status write stored" "1" "$(jp workflow by-agent '{.status.observedGeneration}' -n tenant-acme)"
expect_eq "submitter unchanged after all that" "$SA" "$(jp workflow by-agent '{.spec.submitter.username}' -n tenant-acme)"

# 4. A Secret that exists is reused: a second replica serves the same CA.
PORT2=$(free_port)
operator_start operator2 --webhook-addr "127.0.0.1:$PORT2"
served2() { echo | openssl s_client -connect "127.0.0.1:$PORT2" -CAfile "$T/ca.crt" -verify_return_error 2>&1 | grep -q "Verify return code: 0"; }
wait_for "a second replica serves a certificate from the same CA" 30 served2
stack_kill "$T/operator2.pid"

# 5. Fail closed: with no operator serving, no Workflow is admitted.
stack_kill "$T/operator.pid"
out=$(wf while-down | agent create -f - 2>&1) && fail "a Workflow was admitted with the webhooks down: $out"
expect_match "webhooks down: creation fails (failurePolicy Fail)" "paybill-workflows|webhook|failed calling" "$out"
gone workflow while-down -n tenant-acme || fail "a Workflow was stored while the webhooks were down"
ok "nothing stored while the webhooks were down"

# ... and back up. A Secret whose leaf is unreadable is not served: the
# leaf is reissued under the same CA (the caBundle stays valid).
kubectl patch secret paybill-webhook-tls -n "$STACK_NAMESPACE" --type=merge \
  -p "{\"data\":{\"tls.crt\":\"$(echo garbage | base64 -w0)\"}}" >/dev/null || fail "Secret not patched"
operator_start operator --webhook-addr "127.0.0.1:$PORT"
reissued() { [ "$(kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE" -o jsonpath='{.data.tls\.crt}')" != "$(echo garbage | base64 -w0)" ]; }
wait_for "a garbage leaf in the Secret is replaced" 60 reissued
wait_for "admission works again after a restart" 60 sh -c \
  "sed -e 's/name: mark-overdue-paid/name: after-restart/' '$STACK_ROOT/examples/50-workflow.yaml' | KUBECONFIG='$T/agent.kubeconfig' kubectl create -f -"
out=$(echo | openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$T/ca.crt" -verify_return_error 2>&1)
expect_match "the reissued leaf verifies against the unchanged CA" "Verify return code: 0 \(ok\)" "$out"
expect_eq "CA unchanged across restarts" "$(base64 -w0 <"$T/ca.crt")" "$(ca_of mutatingwebhookconfiguration)"

# 6. Rotation: a stored leaf that expires within 30 days is replaced at the
# next start, under the same CA. The short-lived leaf is made with the
# openssl CLI from the Secret's own CA.
stack_kill "$T/operator.pid"
kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE" -o jsonpath='{.data.ca\.key}' | base64 -d >"$T/ca.key"
svc=paybill-webhooks.$STACK_NAMESPACE.svc
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/short.key" \
  -subj /CN=short -out "$T/short.csr" 2>/dev/null || fail "csr"
printf 'subjectAltName=DNS:%s,DNS:%s.cluster.local,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
  "$svc" "$svc" >"$T/short.ext"
openssl x509 -req -in "$T/short.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -set_serial 0x5eed -days 10 \
  -extfile "$T/short.ext" -out "$T/short.crt" 2>/dev/null || fail "short-lived leaf not signed"
short=$(base64 -w0 <"$T/short.crt")
kubectl patch secret paybill-webhook-tls -n "$STACK_NAMESPACE" --type=merge \
  -p "{\"data\":{\"tls.crt\":\"$short\",\"tls.key\":\"$(base64 -w0 <"$T/short.key")\"}}" >/dev/null \
  || fail "Secret not patched"
operator_start operator --webhook-addr "127.0.0.1:$PORT"
rotated() { [ "$(kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE" -o jsonpath='{.data.tls\.crt}')" != "$short" ]; }
wait_for "a leaf expiring within 30 days is rotated" 60 rotated
kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE" -o jsonpath='{.data.tls\.crt}' | base64 -d >"$T/new.crt"
openssl x509 -in "$T/new.crt" -noout -checkend $((300 * 86400)) >/dev/null || fail "the new leaf expires within 300 days"
ok "the new leaf is valid for about a year"
out=$(openssl verify -CAfile "$T/ca.crt" "$T/new.crt" 2>&1)
expect_match "the new leaf is issued by the same CA" "OK" "$out"
wait_for "the rotated leaf is served" 30 sh -c \
  "echo | openssl s_client -connect 127.0.0.1:$PORT -CAfile '$T/ca.crt' 2>/dev/null | openssl x509 -noout -fingerprint | grep -qF \"\$(openssl x509 -in '$T/new.crt' -noout -fingerprint)\""
expect_eq "CA unchanged by a leaf rotation" "$(base64 -w0 <"$T/ca.crt")" "$(ca_of validatingwebhookconfiguration)"

# 7. Two replicas starting together with no Secret: one creates it, the
# other's create is a 409 and it serves what the first stored; both serve
# leaves of the one CA that is injected.
stack_kill "$T/operator.pid"
kubectl delete secret paybill-webhook-tls -n "$STACK_NAMESPACE" >/dev/null || fail "Secret not deleted"
operator_start operator --webhook-addr "127.0.0.1:$PORT"
operator_start operator2 --webhook-addr "127.0.0.1:$PORT2"
wait_for "the Secret is created again" 60 kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE"
kubectl get secret paybill-webhook-tls -n "$STACK_NAMESPACE" -o jsonpath='{.data.ca\.crt}' | base64 -d >"$T/ca2.crt"
cmp -s "$T/ca.crt" "$T/ca2.crt" && fail "a deleted Secret came back with the old CA"
new_ca() { [ "$(ca_of mutatingwebhookconfiguration)" = "$(base64 -w0 <"$T/ca2.crt")" ] && [ "$(ca_of validatingwebhookconfiguration)" = "$(base64 -w0 <"$T/ca2.crt")" ]; }
wait_for "the new CA is injected" 60 new_ca
for p in "$PORT" "$PORT2"; do
  wait_for "replica on port $p serves a leaf of the stored CA" 30 sh -c \
    "echo | openssl s_client -connect 127.0.0.1:$p -CAfile '$T/ca2.crt' -verify_return_error 2>&1 | grep -q 'Verify return code: 0'"
done
grep -h "another replica" "$T"/operator*.log | head -1 | sed 's/^/  (race seen: /;s/$/)/'
wf after-race | agent create -f - >/dev/null || fail "admission broken after the race"
ok "admission works after both replicas raced for the Secret"
echo "PASS: $TEST_NAME"
