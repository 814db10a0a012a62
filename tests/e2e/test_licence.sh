#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: signed licences (issue 17). Every tenant gets a licence
# (Secret paybill-licence, key licence.jwt) that PyJWT - an independent JWT
# implementation, installed by hack/lib/pyjwt.sh - verifies with the JWKS
# the operator publishes (the tenant's ConfigMap paybill-licence, the
# system namespace's paybill-licence-jwks and /.well-known/jwks.json):
# claims as expected, exp and nbf honoured, a tampered claim refused. Plan
# change, suspension and resume each produce a new licence within seconds;
# an operator restart re-signs nothing; a key rotation under live tenants
# leaves no tenant without a verifiable licence at any moment, and the old
# key's tokens fail once it is unpublished; the private key appears in no
# tenant namespace, log line or Event.
. "$(dirname "$0")/stack_env.sh"
. "$STACK_ROOT/hack/lib/pyjwt.sh"
pyjwt_ensure || fail "PyJWT not installed"
VERIFY="$PYJWT_PYTHON $STACK_ROOT/tests/e2e/licence_verify.py"


stack_up
# Short times, so renewal and rotation happen during the test.
cat >>"$T/operator.yaml" <<CFG
licence:
  issuer: paybill-e2e
  audience: tenant-apps
  validity: 60s
  renewBefore: 20s
  keyRotationPeriod: 75s
  keyOverlap: 10s
CFG
PORT=$(free_port)
operator_start operator --webhook-addr "127.0.0.1:$PORT"
kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" -f "$STACK_ROOT/examples/10-plans.yaml" \
  -f "$STACK_ROOT/examples/20-tenants.yaml" -f "$STACK_ROOT/examples/30-subscriptions.yaml" >/dev/null \
  || fail "examples not applied"
TENANTS="acme globex initech"
licensed() { [ "$(jp tenant "$1" '{.status.conditions[?(@.type=="Licensed")].status}')" = True ]; }
for t in $TENANTS; do wait_for "$t licensed" 120 licensed "$t"; done

token_of() { kubectl get secret paybill-licence -n "tenant-$1" -o jsonpath='{.data.licence\.jwt}' | base64 -d; }
jwks_of() { kubectl get configmap paybill-licence -n "tenant-$1" -o jsonpath='{.data.jwks\.json}'; }
verify() { # verify TENANT [verifier flags]: claims JSON on stdout
  local t=$1; shift
  token_of "$t" >"$T/$t.jwt"; jwks_of "$t" >"$T/$t.jwks"
  $VERIFY "$T/$t.jwks" "$T/$t.jwt" --iss paybill-e2e --aud tenant-apps --sub "$t" "$@"
}
claim() { jq -r "$1" <<<"$2"; }

# 1. Valid signature and the claims, for every tenant.
c=$(verify acme) || fail "acme's licence does not verify with PyJWT: $c"
ok "PyJWT verifies acme's licence (EdDSA, iss, aud, sub, exp, nbf, iat, jti required)"
expect_eq "plan/tier/status" "pro/pro/active" "$(claim '.paybill.plan + "/" + .paybill.tier + "/" + .paybill.status' "$c")"
expect_eq "features from the plan" '["agents","api-access","exports"]' "$(claim '.paybill.features' "$c" | jq -c .)"
expect_eq "isolation" "bridge/shared/schema" "$(claim '.paybill.isolation | .model + "/" + .compute + "/" + .data' "$c")"
expect_eq "agent limits" "100/20" "$(claim '.paybill.agents | "\(.workflowsPerHour)/\(.stepsPerWorkflow)"' "$c")"
expect_eq "subscription" "acme-pro/trialing" "$(claim '.paybill.subscription | .name + "/" + .state' "$c")"
expect_eq "validity from the config" "60" "$(claim '.exp - .iat' "$c")"
expect_eq "nbf" "$(claim .iat "$c")" "$(claim .nbf "$c")"
gen1=$(claim .paybill.generation "$c")
expect_eq "status mirrors the licence" "$gen1/$(claim .jti "$c")" "$(jp tenant acme '{.status.licence.generation}/{.status.licence.jti}')"
for t in globex initech; do
  c2=$(verify "$t") || fail "$t's licence does not verify: $c2"
  expect_eq "$t licence names its plan" "$(jp tenant "$t" '{.status.plan}')" "$(claim .paybill.plan "$c2")"
done
# The same keys from the system namespace and from the HTTPS endpoint.
kubectl get configmap paybill-licence-jwks -n paybill-system -o jsonpath='{.data.jwks\.json}' >"$T/sys.jwks"
$VERIFY "$T/sys.jwks" "$T/acme.jwt" --iss paybill-e2e --aud tenant-apps >/dev/null || fail "system JWKS does not verify"
ok "the system namespace's JWKS verifies it"
kubectl get secret paybill-webhook-tls -n paybill-system -o jsonpath='{.data.ca\.crt}' 2>/dev/null | base64 -d >"$T/ca.crt"
wait_for "JWKS served over HTTPS" 30 curl -sf --cacert "$T/ca.crt" "https://localhost:$PORT/.well-known/jwks.json" -o "$T/https.jwks"
$VERIFY "$T/https.jwks" "$T/acme.jwt" --iss paybill-e2e --aud tenant-apps >/dev/null || fail "served JWKS does not verify"
ok "/.well-known/jwks.json verifies it"
grep -q '"d"' "$T/https.jwks" "$T/sys.jwks" "$T/acme.jwks" && fail "a JWKS carries private key material"
ok "no private member in any JWKS"

# 2. exp and nbf honoured; a tampered claim fails; another audience fails.
iat=$(claim .iat "$c"); exp=$(claim .exp "$c")
out=$(verify acme --at $((exp + 5))) && fail "expired licence accepted"
expect_match "expired licence refused" "ExpiredSignatureError" "$out"
out=$(verify acme --at $((iat - 60))) && fail "licence accepted before nbf"
expect_match "licence refused before nbf" "ImmatureSignatureError" "$out"
verify acme --at $((iat + 1)) >/dev/null || fail "licence refused within its validity"
ok "licence accepted within [nbf, exp)"
out=$(verify acme --tamper) && fail "tampered licence accepted"
expect_match "tampered claim refused" "InvalidSignatureError" "$out"
out=$($VERIFY "$T/acme.jwks" "$T/acme.jwt" --iss paybill-e2e --aud someone-else) && fail "other audience accepted"
expect_match "other audience refused" "InvalidAudienceError" "$out"

# 3. Idempotent: an operator restart (every tenant reconciled again)
# re-signs nothing.
jti=$(jp tenant acme '{.status.licence.jti}')
signed_before=$(grep -c 'licence signed' "$T/operator.log")
stack_kill "$T/operator.pid" TERM
operator_start operator --webhook-addr "127.0.0.1:$PORT"
wait_for "operator back (tenants Ready)" 60 kubectl wait --for=condition=Ready tenants --all --timeout=5s
sleep 3
expect_eq "same licence after the restart" "$jti" "$(token_of acme | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .jti)"
expect_eq "nothing re-signed by the restart" "$signed_before" "$(grep -c 'licence signed' "$T/operator.log")"

# 4. Entitlement changes: plan change, suspension, resume.
gen_of() { verify "$1" | jq -r "$2"; }
kubectl patch subscription acme-pro --type merge -p '{"spec":{"planRef":{"name":"enterprise"}}}' >/dev/null
wait_for "plan change: new licence within seconds" 30 bash -c "[ \"\$($VERIFY <(kubectl get configmap paybill-licence -n tenant-acme -o jsonpath='{.data.jwks\.json}') <(kubectl get secret paybill-licence -n tenant-acme -o jsonpath='{.data.licence\.jwt}' | base64 -d) --iss paybill-e2e --aud tenant-apps | jq -r .paybill.plan)\" = enterprise ]"
c=$(verify acme) || fail "acme's new licence does not verify"
expect_eq "new licence: enterprise, silo" "enterprise/silo" "$(claim '.paybill.plan + "/" + .paybill.isolation.model' "$c")"
[ "$(claim .paybill.generation "$c")" -gt "$gen1" ] || fail "generation did not increase"
ok "generation increased on the plan change"
# Events are sent by the recorder in the background: wait for it.
wait_for "a LicenceUpdated Event" 30 sh -c "kubectl get events -A --field-selector reason=LicenceUpdated -o name | grep -q ."
ok "LicenceUpdated Event recorded"
kubectl patch subscription globex-free --type merge -p '{"spec":{"paused":true}}' >/dev/null
suspended() { [ "$(verify globex | jq -r .paybill.status)" = "$1" ]; }
wait_for "suspension: licence says suspended" 30 suspended suspended
kubectl patch subscription globex-free --type merge -p '{"spec":{"paused":false}}' >/dev/null
wait_for "resume: licence says active" 30 suspended active

# 5. Key rotation under live tenants: watch every licence the whole time.
kid0=$(jq -r '.keys[0].kid' "$T/sys.jwks")
cp "$T/acme.jwt" "$T/old.jwt"
verify acme >/dev/null && token_of acme >"$T/old.jwt"
monitor() {
  : >"$T/monitor.fail"; : >"$T/monitor.count"
  while [ ! -f "$T/monitor.stop" ]; do
    for t in $TENANTS; do
      # The token first, then the keys: they are published before use.
      token_of "$t" >"$T/m-$t.jwt" 2>/dev/null; jwks_of "$t" >"$T/m-$t.jwks" 2>/dev/null
      kubectl get configmap paybill-licence-jwks -n paybill-system -o jsonpath='{.data.jwks\.json}' >"$T/m-sys.jwks" 2>/dev/null
      for j in "$T/m-$t.jwks" "$T/m-sys.jwks"; do
        $VERIFY "$j" "$T/m-$t.jwt" --iss paybill-e2e --aud tenant-apps --sub "$t" >/dev/null 2>&1 \
          || echo "$(date +%T) $t $(basename "$j"): $($VERIFY "$j" "$T/m-$t.jwt" --iss paybill-e2e --aud tenant-apps 2>&1)" >>"$T/monitor.fail"
      done
    done
    echo . >>"$T/monitor.count"
  done
}
monitor &
MON=$!
rotated() { [ "$(kubectl get configmap paybill-licence-jwks -n paybill-system -o jsonpath='{.data.jwks\.json}' | jq -r '.keys[0].kid')" != "$kid0" ]; }
wait_for "signing key rotated" 120 rotated
kid1=$(kubectl get configmap paybill-licence-jwks -n paybill-system -o jsonpath='{.data.jwks\.json}' | jq -r '.keys[0].kid')
kubectl get configmap paybill-licence-jwks -n paybill-system -o jsonpath='{.data.jwks\.json}' >"$T/overlap.jwks"
expect_eq "old and new keys both published" "2" "$(jq '.keys | length' "$T/overlap.jwks")"
$VERIFY "$T/overlap.jwks" "$T/old.jwt" --iss paybill-e2e --aud tenant-apps --no-exp >/dev/null || fail "old token refused during the overlap"
ok "a token of the old key verifies during the overlap"
all_rekeyed() { for t in $TENANTS; do [ "$(jp tenant "$t" '{.status.licence.keyID}')" = "$kid1" ] || return 1; done; }
wait_for "every licence re-signed with the new key" 60 all_rekeyed
pruned() { [ "$(kubectl get configmap paybill-licence-jwks -n paybill-system -o jsonpath='{.data.jwks\.json}' | jq '.keys | length')" = 1 ]; }
wait_for "old key unpublished after the overlap" 60 pruned
tenant_pruned() { for t in $TENANTS; do [ "$(jwks_of "$t" | jq '.keys | length')" = 1 ] || return 1; done; }
wait_for "tenants' copies of the JWKS follow" 60 tenant_pruned
sleep 2
touch "$T/monitor.stop"; wait $MON
expect_eq "no tenant without a verifiable licence at any point ($(wc -l <"$T/monitor.count") rounds)" "" "$(cat "$T/monitor.fail")"
[ "$(wc -l <"$T/monitor.count")" -ge 5 ] || fail "monitor ran too few rounds"
kubectl get configmap paybill-licence-jwks -n paybill-system -o jsonpath='{.data.jwks\.json}' >"$T/after.jwks"
out=$($VERIFY "$T/after.jwks" "$T/old.jwt" --iss paybill-e2e --aud tenant-apps --no-exp) && fail "old key's token still verifies"
expect_match "a token of the rotated-out key fails after the overlap" "no key with kid" "$out"
verify acme >/dev/null || fail "acme's current licence does not verify after rotation"
ok "current licences verify after the rotation"

# 6. The private key: only in the system namespace's Secret.
kubectl get secret paybill-licence-signing-key -n paybill-system -o jsonpath='{.data.keys\.json}' | base64 -d >"$T/keys.json"
jq -r '.keys[].privateKey' "$T/keys.json" | grep -v -- '-----' | grep . >"$T/key-lines"
[ -s "$T/key-lines" ] || fail "no private key found in the signing Secret"
leaks() { grep -F -f "$T/key-lines" "$@" >/dev/null 2>&1; }
kubectl get secret paybill-licence-signing-key -n paybill-system -o jsonpath='{.data.keys\.json}' >"$T/keys.b64"
for t in $TENANTS; do
  kubectl get secrets,configmaps -n "tenant-$t" -o json >"$T/ns-$t.json"
  leaks "$T/ns-$t.json" && fail "private key material in namespace tenant-$t"
  grep -qF "$(cat "$T/keys.b64")" "$T/ns-$t.json" && fail "signing Secret copied into tenant-$t"
  grep -q 'PRIVATE KEY' "$T/ns-$t.json" && fail "a private key in tenant-$t"
done
ok "no private key material in any tenant namespace"
leaks "$T"/operator*.log && fail "private key material in the operator log"
grep -q 'PRIVATE KEY' "$T"/operator*.log && fail "a PEM private key in the operator log"
ok "no private key material in the operator log"
kubectl get events -A -o json >"$T/events.json"
leaks "$T/events.json" && fail "private key material in an Event"
grep -q 'PRIVATE KEY' "$T/events.json" && fail "a private key in an Event"
ok "no private key material in any Event"
echo "PASS $TEST_NAME"
