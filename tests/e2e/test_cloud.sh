#!/usr/bin/env bash
# e2e-servers: devapi kube
# e2e-timeout: 1800
# End-to-end: tenants' cloud resources through OpenTofu (hack/tofu.sh) with
# a real provider (hashicorp/local from hack/providers.sh's mirror, offline;
# random and null cannot be built here, see hack/providers.sh) and tofu's
# built-in terraform_data, on the `local` target (modules/local), state in
# the kubernetes backend of the API server under the operator's own RBAC.
#
#   - the mirror: tofu init installs hashicorp/local offline;
#   - Auto: plan -> apply -> outputs in ConfigMap/Secret cloud-outputs of the
#     tenant namespace, status.cloud names them, the state Secret exists,
#     the lock Lease is free, the bucket directory exists;
#   - Manual: AwaitingApproval with the plan hash; an Approval (kubectl
#     paybill approve tenant) in the operator's namespace applies it, one
#     with another hash or in the tenant's namespace is refused at
#     admission, a Reject stops it; a changed Plan needs a new approval;
#   - drift: a resource changed out of band is reported (Drifted, Alert)
#     and put back (remediate: Auto);
#   - bad input: an unknown module -> ModuleNotFound, a bad variable ->
#     PlanFailed, a provider failing at apply -> ApplyFailed, each with the
#     tool's output in an Event; other tenants unaffected;
#   - kill -9 of the tofu apply and of the tofu destroy: the stale lock of
#     the dead runner is released and the tenant converges; kill -9 of the
#     operator during an apply: the new operator converges (the orphaned
#     run's live lock is not broken); SIGTERM during an apply: the run is
#     interrupted, its lock released, and the next operator converges;
#   - deletion: Delete and Snapshot destroy (bucket gone, state emptied),
#     Retain keeps the resources and says where the state is.
. "$(dirname "$0")/stack_env.sh"

. "$(dirname "$0")/cloud_lib.sh"

# ---- the mirror alone: init offline with hashicorp/local -----------------------
mkdir -p "$T/mirror-check"
cat >"$T/mirror-check/main.tf" <<EOF
terraform {
  required_providers {
    local = { source = "hashicorp/local" }
  }
}
resource "terraform_data" "x" { input = "x" }
resource "local_file" "f" {
  content  = terraform_data.x.id
  filename = "\${path.module}/out.txt"
}
output "hex" { value = terraform_data.x.id }
EOF
(cd "$T/mirror-check" && HTTPS_PROXY=http://127.0.0.1:9 TF_CLI_CONFIG_FILE=$T/tofu.tfrc "$TOFU" init -no-color >init.log 2>&1 &&
  HTTPS_PROXY=http://127.0.0.1:9 TF_CLI_CONFIG_FILE=$T/tofu.tfrc "$TOFU" apply -auto-approve -no-color >apply.log 2>&1) \
  || fail "offline init/apply with the mirror: $(tail -20 "$T/mirror-check/"*.log)"
expect_match "init installed hashicorp/local from the mirror" 'Installed hashicorp/local v1\.4\.0' "$(cat "$T/mirror-check/init.log")"
expect_eq "the local provider wrote terraform_data's id" "$(cd "$T/mirror-check" && TF_CLI_CONFIG_FILE=$T/tofu.tfrc "$TOFU" output -raw hex)" "$(cat "$T/mirror-check/out.txt")"

cloud_stack_up

# ---- Auto ---------------------------------------------------------------------
plan auto Auto local
tenant t-auto auto Delete
wait_for "t-auto CloudReady=True" 240 is tenant t-auto '{.status.conditions[?(@.type=="CloudReady")].status}' True
expect_eq "reason Applied" "Applied" "$(cond t-auto reason)"
wait_for "t-auto Ready" 60 is tenant t-auto '{.status.phase}' Active
expect_eq "status names the outputs ConfigMap" "cloud-outputs" "$(jp tenant t-auto '{.status.cloud.outputs.configMap}')"
expect_eq "status names the outputs Secret" "cloud-outputs" "$(jp tenant t-auto '{.status.cloud.outputs.secret}')"
bucket=$(kubectl -n tenant-t-auto get configmap cloud-outputs -o 'jsonpath={.data.bucket}')
expect_eq "bucket output" "$BASE/t-auto/bucket" "$bucket"
[ -f "$bucket/.paybill-bucket" ] || fail "the bucket directory was not made: $bucket"
ok "the bucket exists"
expect_eq "the marker names the tenant's tier" "auto" "$(jq -r .tier "$bucket/.paybill-bucket")"
expect_eq "the marker has the region" "local-1" "$(jq -r .region "$bucket/.paybill-bucket")"
expect_match "identity output" '^local:[0-9a-f-]{36}$' "$(kubectl -n tenant-t-auto get configmap cloud-outputs -o 'jsonpath={.data.identity}')"
key=$(kubectl -n tenant-t-auto get secret cloud-outputs -o 'jsonpath={.data.encryption_key}' | base64 -d)
expect_match "the sensitive encryption key (256 bits) is in the Secret" '^[0-9a-f]{64}$' "$key"
[ -z "$(kubectl -n tenant-t-auto get configmap cloud-outputs -o 'jsonpath={.data.encryption_key}')" ] || fail "a sensitive output leaked into the ConfigMap"
ok "no sensitive output in the ConfigMap"
expect_eq "the state holds the module's resources" "5" "$(state_json t-auto | jq '[.resources[] | select(.mode == "managed")] | length')"
expect_eq "the lock Lease is free" "" "$(lease_holder t-auto)"
expect_eq "the state Secret carries the tenant label" "t-auto" "$(kubectl -n "$STACK_NAMESPACE" get secret "$(state_secret t-auto)" -o 'jsonpath={.metadata.labels.paybill\.dev/tenant}')"

# ---- Manual --------------------------------------------------------------------
plan manual Manual local
tenant t-man manual Retain
wait_for "t-man awaits approval" 180 is tenant t-man '{.status.conditions[?(@.type=="CloudReady")].reason}' AwaitingApproval
hash=$(jp tenant t-man '{.status.cloud.plan.hash}')
expect_match "the plan hash is in status" '^[0-9a-f]{64}$' "$hash"
expect_match "the message says how to approve" "kubectl paybill approve tenant t-man --plan $hash" "$(cond t-man message)"
[ ! -e "$BASE/t-man" ] || fail "a Manual plan applied before approval"
ok "nothing applied before approval"
uid=$(jp tenant t-man '{.metadata.uid}')
approval() { # approval NAMESPACE HASH [DECISION]
  cat <<EOF | kubectl create -f - 2>&1
apiVersion: paybill.dev/v1alpha1
kind: Approval
metadata: {generateName: t-man-, namespace: $1}
spec: {tenantRef: {name: t-man, uid: "$uid"}, planHash: "$2", decision: ${3:-Approve}}
EOF
}
other=$(printf '%s' "$hash" | tr '0-9a-f' '1-9a-f0')
out=$(approval "$STACK_NAMESPACE" "$other") && fail "an Approval of another plan was admitted: $out"
expect_match "an Approval of another plan is refused at admission" "not the plan awaiting approval" "$out"
out=$(approval tenant-t-man "$hash") && fail "an Approval in the tenant's namespace was admitted: $out"
expect_match "an Approval outside the operator's namespace is refused" "operator's namespace" "$out"
out=$(cat <<EOF | kubectl create -f - 2>&1
apiVersion: paybill.dev/v1alpha1
kind: Approval
metadata: {generateName: t-man-, namespace: $STACK_NAMESPACE}
spec: {tenantRef: {name: t-man, uid: "$uid"}, planHash: "$hash", approver: {username: someone-else}}
EOF
) && fail "a forged approver was admitted: $out"
expect_match "a client-supplied approver is refused" "spec.approver is set by the API server" "$out"
out=$(plugin approve tenant t-man --plan "$other" 2>&1) && fail "the plugin approved another plan: $out"
expect_match "the plugin names the pending plan" "another plan pending" "$out"
sleep 2
expect_eq "still awaiting approval" "AwaitingApproval" "$(cond t-man reason)"
out=$(plugin approve tenant t-man --plan "$hash" --comment "budget ok" 2>&1) || fail "kubectl paybill approve tenant: $out"
expect_match "kubectl paybill approve tenant" "approved cloud plan" "$out"
wait_for "t-man applied once approved" 180 is tenant t-man '{.status.conditions[?(@.type=="CloudReady")].status}' True
expect_eq "the applied plan is the approved one" "$hash" "$(jp tenant t-man '{.status.cloud.appliedPlanHash}')"
used=$(kubectl -n "$STACK_NAMESPACE" get approvals -o json | jq -r --arg h "$hash" '[.items[] | select(.spec.planHash == $h) | .status.phase] | join(",")')
expect_eq "the Approval is marked Used" "Used" "$used"
# A changed Plan: a new plan, a new approval (the old one names the old hash).
plan manual Manual local '"marker": "v2"'
wait_for "a changed plan awaits a new approval" 180 is tenant t-man '{.status.conditions[?(@.type=="CloudReady")].reason}' AwaitingApproval
hash2=$(jp tenant t-man '{.status.cloud.plan.hash}')
[ "$hash2" != "$hash" ] || fail "the changed plan has the old hash"
ok "the changed plan has a new hash"
expect_eq "the change is not applied yet" "" "$(jq -r .marker "$BASE/t-man/bucket/.paybill-bucket")"
out=$(plugin reject tenant t-man --plan "$hash2" 2>&1) || fail "kubectl paybill reject tenant: $out"
wait_for "a rejected plan is not applied" 60 is tenant t-man '{.status.conditions[?(@.type=="CloudReady")].reason}' Rejected
expect_eq "the rejected change is not applied" "" "$(jq -r .marker "$BASE/t-man/bucket/.paybill-bucket")"
plan manual Manual local '"marker": "v3"'
wait_for "the next change awaits approval" 180 sh -c \
  "[ \"\$(kubectl get tenant t-man -o jsonpath='{.status.conditions[?(@.type==\"CloudReady\")].reason}')\" = AwaitingApproval ] && \
   [ \"\$(kubectl get tenant t-man -o jsonpath='{.status.cloud.plan.hash}')\" != '$hash2' ]"
plugin approve tenant t-man --plan "$(jp tenant t-man '{.status.cloud.plan.hash}')" >/dev/null || fail "approve v3"
wait_for "the approved change is applied" 180 sh -c "[ \"\$(jq -r .marker '$BASE/t-man/bucket/.paybill-bucket')\" = v3 ]"

# ---- drift ---------------------------------------------------------------------
plan drift Auto local '' '{interval: 2s, remediate: Alert}'
tenant t-drift drift Delete
wait_for "t-drift ready" 240 is tenant t-drift '{.status.conditions[?(@.type=="CloudReady")].status}' True
wait_for "a drift check found nothing" 60 is tenant t-drift '{.status.conditions[?(@.type=="Drifted")].reason}' NoDrift
rm "$BASE/t-drift/bucket/.paybill-bucket"
wait_for "drift reported" 60 is tenant t-drift '{.status.conditions[?(@.type=="Drifted")].status}' True
expect_match "Drifted names the count and digest" '^1 resource\(s\) changed outside OpenTofu \(drift digest [0-9a-f]{12}\)' \
  "$(jp tenant t-drift '{.status.conditions[?(@.type=="Drifted")].message}')"
expect_eq "Alert: CloudReady stays True" "True" "$(cond t-drift status)"
[ ! -e "$BASE/t-drift/bucket/.paybill-bucket" ] || fail "Alert put the resource back"
wait_for "a Drifted Event" 30 sh -c \
  "kubectl get events --field-selector involvedObject.name=t-drift,reason=Drifted -o name | grep -q ."
plan drift Auto local '' '{interval: 2s, remediate: Auto}'
wait_for "Auto remediated the drift" 120 is tenant t-drift '{.status.conditions[?(@.type=="Drifted")].reason}' Remediated
[ -f "$BASE/t-drift/bucket/.paybill-bucket" ] || fail "the remediation did not put the bucket marker back"
ok "the drifted resource is back"
wait_for "t-drift CloudReady after remediation" 60 is tenant t-drift '{.status.conditions[?(@.type=="CloudReady")].status}' True

# ---- bad input -----------------------------------------------------------------
plan nomod Auto no-such-module
tenant t-nomod nomod Delete
wait_for "unknown module: ModuleNotFound" 60 is tenant t-nomod '{.status.conditions[?(@.type=="CloudReady")].reason}' ModuleNotFound
plan badvar Auto local '"no_such_variable": 1'
tenant t-badvar badvar Delete
wait_for "bad variable: PlanFailed" 180 is tenant t-badvar '{.status.conditions[?(@.type=="CloudReady")].reason}' PlanFailed
wait_for "the tool's output is in an Event" 30 sh -c \
  "kubectl get events --field-selector involvedObject.name=t-badvar,reason=PlanFailed -o jsonpath='{.items[*].message}' | grep -q 'no_such_variable'"
# A provider that fails at apply: the bucket's directory cannot be made.
mkdir -p "$T/readonly" && touch "$T/readonly/base"
cat <<EOF | kubectl apply -f - >/dev/null || fail "plan badprov not applied"
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: badprov}
spec:
  tier: badprov
  isolation: {model: pooled}
  cloud: {provider: local, module: local, approval: Auto, variables: {base_dir: "$T/readonly/base"}}
EOF
tenant t-badprov badprov Delete
wait_for "a failing provider: ApplyFailed" 240 is tenant t-badprov '{.status.conditions[?(@.type=="CloudReady")].reason}' ApplyFailed
wait_for "the provider's error is in an Event" 30 sh -c \
  "kubectl get events --field-selector involvedObject.name=t-badprov,reason=ApplyFailed -o jsonpath='{.items[*].message}' | grep -q 'not a directory'"
kubectl delete tenant t-badprov --wait=false >/dev/null
expect_eq "other tenants unaffected" "True" "$(cond t-auto status)"

# ---- kill -9 of the tofu apply: the dead runner's lock is released -------------------
plan slow Auto local '"delay_s": 20'
tenant t-kill slow Delete
wait_for "t-kill ready" 240 is tenant t-kill '{.status.conditions[?(@.type=="CloudReady")].status}' True
plan slow Auto local '"delay_s": 20, "marker": "killed"'
wait_for "a replacing plan waits for approval even under Auto" 120 is tenant t-kill '{.status.conditions[?(@.type=="CloudReady")].reason}' AwaitingApproval
expect_match "the plan counts the deletes" '[1-9] delete\(s\)' "$(cond t-kill message)"
plugin approve tenant t-kill --plan "$(jp tenant t-kill '{.status.cloud.plan.hash}')" >/dev/null || fail "approve t-kill"
wait_for "an apply is under way" 120 tofu_pid t-kill apply
wait_for "the apply holds the state lock" 60 sh -c "[ -n \"\$(kubectl -n $STACK_NAMESPACE get lease lock-tfstate-default-paybill-t-kill -o jsonpath='{.spec.holderIdentity}')\" ]"
kill -9 "$(tofu_pid t-kill apply)"
ok "killed the tofu apply (SIGKILL) while it held the lock"
converge t-kill killed 300
wait_for "t-kill CloudReady again" 120 is tenant t-kill '{.status.conditions[?(@.type=="CloudReady")].status}' True
expect_eq "the lock is free" "" "$(lease_holder t-kill)"
grep -q "released a stale state lock" "$T/operator.log" || fail "the operator did not say it released the stale lock"
ok "the operator released the stale lock of a dead holder"

# ---- kill -9 of the operator during an apply ---------------------------------
plan slow Auto local '"delay_s": 20, "marker": "during-crash"'
wait_for "the change awaits approval" 120 is tenant t-kill '{.status.conditions[?(@.type=="CloudReady")].reason}' AwaitingApproval
plugin approve tenant t-kill --plan "$(jp tenant t-kill '{.status.cloud.plan.hash}')" >/dev/null || fail "approve t-kill"
wait_for "an apply is recorded" 120 is tenant t-kill '{.status.cloud.phase}' Applying
expect_match "status records the run id" '^apply-[0-9a-f]{16}$' "$(jp tenant t-kill '{.status.cloud.run.id}')"
expect_match "status records the holder" "^$(hostname):[0-9]+:[0-9]+$" "$(jp tenant t-kill '{.status.cloud.run.holder}')"
wait_for "the apply runs" 60 tofu_pid t-kill apply
orphan=$(tofu_pid t-kill apply)
stack_kill "$T/operator.pid" KILL
operator_start operator --webhook-addr "127.0.0.1:$WEBHOOK_PORT"
converge t-kill during-crash 300
wait_for "CloudReady again after the crash" 240 is tenant t-kill '{.status.conditions[?(@.type=="CloudReady")].status}' True
expect_eq "no lock left" "" "$(lease_holder t-kill)"
! kill -0 "$orphan" 2>/dev/null || fail "the orphaned apply still runs"
ok "the orphaned apply finished on its own (its live lock was waited for, not broken)"

# ---- graceful shutdown during an apply -------------------------------------------
plan slow Auto local '"delay_s": 20, "marker": "graceful"'
approve_until t-kill 120 tofu_pid t-kill apply
wait_for "the apply holds the state lock" 60 sh -c "[ -n \"\$(kubectl -n $STACK_NAMESPACE get lease lock-tfstate-default-paybill-t-kill -o jsonpath='{.spec.holderIdentity}')\" ]"
pid=$(cat "$T/operator.pid")
kill -TERM "$pid"
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$pid" 2>/dev/null || fail "the operator did not stop within 15 s of SIGTERM during an apply"
rm -f "$T/operator.pid"
ok "SIGTERM during an apply: the operator stopped"
grep -q "interrupting cloud runs for shutdown" "$T/operator.log" || fail "the operator did not say it interrupted the run"
! tofu_pid t-kill apply >/dev/null || fail "the interrupted apply still runs"
expect_eq "the interrupted apply released its lock" "" "$(lease_holder t-kill)"
operator_start operator --webhook-addr "127.0.0.1:$WEBHOOK_PORT"
converge t-kill graceful 300

# ---- kill -9 of the tofu destroy -------------------------------------------------
kubectl delete tenant t-kill --wait=false >/dev/null
wait_for "a destroy is under way" 120 tofu_pid t-kill destroy
wait_for "the destroy holds the state lock" 60 sh -c "[ -n \"\$(kubectl -n $STACK_NAMESPACE get lease lock-tfstate-default-paybill-t-kill -o jsonpath='{.spec.holderIdentity}')\" ]"
kill -9 "$(tofu_pid t-kill destroy)"
ok "killed the tofu destroy (SIGKILL) while it held the lock"
wait_for "the deletion converges" 300 gone tenant t-kill
[ ! -e "$BASE/t-kill/bucket/.paybill-bucket" ] || fail "the destroy left the bucket"
expect_eq "the killed destroy's state is empty in the end" "0" "$(state_json t-kill | jq '.resources | length')"
expect_eq "no lock left after the destroy" "" "$(lease_holder t-kill)"

# ---- deletion ------------------------------------------------------------------
kubectl delete tenant t-auto --wait=false >/dev/null
wait_for "Delete: the tenant goes" 240 gone tenant t-auto
[ ! -e "$BASE/t-auto/bucket" ] || fail "Delete left the bucket: $(ls -la "$BASE/t-auto")"
ok "Delete destroyed the bucket"
expect_eq "Delete emptied the state" "0" "$(state_json t-auto | jq '.resources | length')"
plan snap Auto local
tenant t-snap snap Snapshot
wait_for "t-snap ready" 240 is tenant t-snap '{.status.conditions[?(@.type=="CloudReady")].status}' True
kubectl delete tenant t-snap --wait=false >/dev/null
wait_for "Snapshot: the tenant goes" 240 gone tenant t-snap
[ ! -e "$BASE/t-snap/bucket/.paybill-bucket" ] || fail "Snapshot left the bucket"
ok "Snapshot destroyed the cloud resources"
kubectl delete tenant t-man --wait=false >/dev/null
wait_for "Retain: the tenant goes" 240 gone tenant t-man
[ -f "$BASE/t-man/bucket/.paybill-bucket" ] || fail "Retain destroyed the bucket"
ok "Retain kept the bucket"
expect_eq "Retain kept the state" "5" "$(state_json t-man | jq '[.resources[] | select(.mode == "managed")] | length')"
kubectl get events --field-selector involvedObject.name=t-man,reason=CloudRetained -o jsonpath='{.items[*].message}' \
  | grep -q "tfstate-default-paybill-t-man" || fail "no CloudRetained Event saying where the state is"
ok "Retain said where the state is"
echo "PASS: $TEST_NAME ($(stack_apiserver_kind))"
