#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: OpenTofu's "kubernetes" state backend, a client-go client we
# did not write (a dynamic client for the state Secret, a typed clientset for
# the lock Lease), judging the API server.
#
# tofu (hack/tofu.sh) with a configuration that needs no provider (the
# built-in terraform_data resource, a local-exec provisioner, outputs) and no
# network: init creates the state Secret tfstate-default-paybill with the
# backend's labels; apply writes state and releases the lock Lease; a changed
# apply increments the serial; an apply holding the lock makes a second one
# fail with "Error acquiring the state lock", and a killed one's stale lock
# is broken by force-unlock; a second workspace is a second
# Secret; destroy empties the state.
#
# Both API servers: the backend's typed Lease client (client-go v0.35,
# generated with --prefers-protobuf) POSTs and PUTs Leases as
# application/vnd.kubernetes.protobuf, which paybill-devapi decodes
# (tests/apiserver/protobuf.c) as kube-apiserver does.
. "$(dirname "$0")/stack_env.sh"

TOFU=$("$STACK_ROOT/hack/tofu.sh" bindir)/tofu
[ -x "$TOFU" ] || fail "tofu is not built (hack/tofu.sh build)"
NS=tofu-state
SECRET=tfstate-default-paybill
LEASE=lock-$SECRET
W=$T/tofu
mkdir -p "$W/plugin-cache" "$W/mirror" "$W/lock"

# No provider installation from anywhere but an empty local mirror, and no
# network: anything but loopback would go to a dead proxy (Go never proxies
# 127.0.0.1, so the backend's client reaches the API server directly).
cat >"$W/cli.tfrc" <<EOF
plugin_cache_dir = "$W/plugin-cache"
provider_installation {
  filesystem_mirror {
    path    = "$W/mirror"
    include = ["*/*/*"]
  }
}
EOF
export TF_CLI_CONFIG_FILE=$W/cli.tfrc TF_PLUGIN_CACHE_DIR=$W/plugin-cache
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
unset TF_WORKSPACE TF_DATA_DIR
# In a subshell that then runs tofu: the configuration's directory, the dead
# proxy (for tofu only: curl would use it for 127.0.0.1 too).
tofu_env() {
  cd "$W" && export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 \
    https_proxy= http_proxy= NO_PROXY= no_proxy=
}
tofu_run() { (tofu_env && exec "$TOFU" "$@"); }
[ -n "${TOFU_E2E_LOG:-}" ] && export TF_LOG=$TOFU_E2E_LOG TF_LOG_PATH=$T/tofu-debug.log

stack_apiserver_start "$T" || fail "API server ($(stack_apiserver_kind)) did not start"
kubectl create namespace "$NS" >/dev/null || fail "namespace $NS not created"

cat >"$W/main.tf" <<EOF
terraform {
  backend "kubernetes" {
    secret_suffix = "paybill"
    namespace     = "$NS"
    config_path   = "$KUBECONFIG"
    labels        = { "paybill.dev/e2e" = "tofu-backend" }
  }
}

variable "color" {
  type    = string
  default = "red"
}

# Set (to anything new) by the locking test: the apply then waits in its
# provisioner, holding the state lock, until the test creates lock/release.
variable "hold" {
  type    = string
  default = ""
}

resource "terraform_data" "widget" {
  input = { color = var.color }
}

resource "terraform_data" "hold" {
  count            = var.hold == "" ? 0 : 1
  triggers_replace = var.hold
  provisioner "local-exec" {
    command = "touch $W/lock/started; i=0; while [ ! -f $W/lock/release ] && [ \$i -lt 1200 ]; do sleep 0.1; i=\$((i+1)); done"
  }
}

output "color" {
  value = terraform_data.widget.output.color
}

output "workspace" {
  value = terraform.workspace
}
EOF

# tf ARGS...: tofu_run, output in $W/last.out.
tf() { tofu_run "$@" -no-color >"$W/last.out" 2>&1; }
tf_ok() { tf "$@" || fail "tofu $*: $(tail -30 "$W/last.out")"; }
# The state stored in Secret $1: data.tfstate is gzip'd JSON.
state() { kubectl -n "$NS" get secret "$1" -o 'jsonpath={.data.tfstate}' | base64 -d | gunzip; }
sjq() { state "$1" | jq -r "$2"; }
lease() { kubectl -n "$NS" get lease "$LEASE" -o "jsonpath=$1"; }
secret_label() { kubectl -n "$NS" get secret "$1" -o "jsonpath={.metadata.labels.$2}"; }

out=$(tofu_run version 2>&1) || fail "tofu version: $out"
expect_match "tofu is a release build" '^OpenTofu v[0-9]+\.[0-9]+\.[0-9]+$' "$(head -1 <<<"$out")"

# ---- init: the backend creates the empty state (under its lock) -------------
tf_ok init -input=false
expect_match "tofu init configures the kubernetes backend" 'Successfully configured the backend "kubernetes"' "$(cat "$W/last.out")"
kubectl -n "$NS" get secret "$SECRET" >/dev/null 2>&1 || fail "init did not create Secret $SECRET"
ok "init created Secret $SECRET"
expect_eq "state label tfstate" "true" "$(secret_label "$SECRET" tfstate)"
expect_eq "state label tfstateSecretSuffix" "paybill" "$(secret_label "$SECRET" tfstateSecretSuffix)"
expect_eq "state label tfstateWorkspace" "default" "$(secret_label "$SECRET" tfstateWorkspace)"
expect_eq "state label managed-by" "terraform" "$(secret_label "$SECRET" 'app\.kubernetes\.io/managed-by')"
expect_eq "the backend's extra label" "tofu-backend" "$(secret_label "$SECRET" 'paybill\.dev/e2e')"
expect_eq "state annotation encoding" "gzip" "$(kubectl -n "$NS" get secret "$SECRET" -o 'jsonpath={.metadata.annotations.encoding}')"
expect_eq "Secret type defaulted (the backend sends none)" "Opaque" "$(kubectl -n "$NS" get secret "$SECRET" -o 'jsonpath={.type}')"
expect_eq "init state has no resources" "0" "$(sjq "$SECRET" '.resources | length')"
expect_eq "init released the lock" "" "$(lease '{.spec.holderIdentity}')"

# ---- apply --------------------------------------------------------------------
tf_ok apply -auto-approve
expect_match "apply added the resource" 'Apply complete! Resources: 1 added, 0 changed, 0 destroyed' "$(cat "$W/last.out")"
serial1=$(sjq "$SECRET" .serial)
lineage=$(sjq "$SECRET" .lineage)
expect_eq "state holds terraform_data.widget" "widget" "$(sjq "$SECRET" '.resources[] | select(.type == "terraform_data") | .name')"
expect_eq "state output color" "red" "$(sjq "$SECRET" .outputs.color.value)"
expect_eq "the lock Lease is released after apply" "" "$(lease '{.spec.holderIdentity}')"
expect_eq "no lock info left on the Lease" "" "$(lease '{.metadata.annotations.app\.terraform\.io/lock-info}')"
expect_eq "the Lease carries the backend's labels" "default" "$(lease '{.metadata.labels.tfstateWorkspace}')"
tf_ok output -raw color
expect_eq "tofu output reads the state back" "red" "$(cat "$W/last.out")"

tf_ok apply -auto-approve
expect_match "an apply without changes changes nothing" 'Apply complete! Resources: 0 added, 0 changed, 0 destroyed' "$(cat "$W/last.out")"

tf_ok apply -auto-approve -var color=green
expect_match "a changed apply updates the resource in place" 'Resources: 0 added, 1 changed, 0 destroyed' "$(cat "$W/last.out")"
serial2=$(sjq "$SECRET" .serial)
[ "$serial2" -gt "$serial1" ] || fail "serial did not increase: $serial1 -> $serial2"
ok "serial increased ($serial1 -> $serial2)"
expect_eq "lineage kept" "$lineage" "$(sjq "$SECRET" .lineage)"
expect_eq "state output color updated" "green" "$(sjq "$SECRET" .outputs.color.value)"
expect_eq "the lock Lease is released again" "" "$(lease '{.spec.holderIdentity}')"

# ---- locking: an apply holding the lock; a second one refused -----------------
(tofu_env && exec "$TOFU" apply -auto-approve -no-color -var color=green -var hold=1) >"$W/holder.out" 2>&1 &
holder=$!
wait_for "the holding apply reached its provisioner" 120 test -f "$W/lock/started"
held_by=$(lease '{.spec.holderIdentity}')
[ -n "$held_by" ] || fail "the Lease has no holder while an apply runs: $(kubectl -n "$NS" get lease "$LEASE" -o yaml)"
ok "the Lease is held ($held_by)"
expect_match "the Lease's lock info names the apply" '"Operation":"OperationTypeApply"' "$(lease '{.metadata.annotations.app\.terraform\.io/lock-info}')"
if tf apply -auto-approve -lock-timeout=0s -var color=blue; then
  touch "$W/lock/release"; wait "$holder"
  fail "a second apply ran while the state was locked: $(cat "$W/last.out")"
fi
second=$(cat "$W/last.out")
expect_match "the second apply cannot lock the state" 'Error acquiring the state lock' "$second"
expect_match "the error names the holder's lock ID" "ID: +$held_by" "$second"
expect_eq "the refused apply left the state alone" "green" "$(sjq "$SECRET" .outputs.color.value)"
touch "$W/lock/release"
wait "$holder" || fail "the holding apply failed: $(tail -30 "$W/holder.out")"
ok "the holding apply finished"
expect_eq "its lock is released" "" "$(lease '{.spec.holderIdentity}')"
expect_eq "its resource is in the state" "1" "$(sjq "$SECRET" '[.resources[] | select(.name == "hold")] | length')"
tf_ok apply -auto-approve -lock-timeout=0s -var color=blue
expect_eq "an apply after the release works" "blue" "$(sjq "$SECRET" .outputs.color.value)"

# force-unlock: a lock left behind (the holder killed) can be broken.
rm -f "$W/lock/started" "$W/lock/release"
(tofu_env && exec "$TOFU" apply -auto-approve -no-color -var color=blue -var hold=2) >"$W/holder.out" 2>&1 &
holder=$!
wait_for "a second holding apply reached its provisioner" 120 test -f "$W/lock/started"
held_by=$(lease '{.spec.holderIdentity}')
[ -n "$held_by" ] || fail "the Lease has no holder while an apply runs"
kill -KILL "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
touch "$W/lock/release" # its provisioner's shell, orphaned, ends by itself
expect_eq "a killed apply leaves its lock" "$held_by" "$(lease '{.spec.holderIdentity}')"
tf apply -auto-approve -lock-timeout=0s && fail "apply ran on a stale lock"
expect_match "the stale lock is reported" 'Error acquiring the state lock' "$(cat "$W/last.out")"
tf_ok force-unlock -force "$held_by"
expect_eq "force-unlock releases the Lease" "" "$(lease '{.spec.holderIdentity}')"

# ---- workspaces: a second state Secret ---------------------------------------
tf_ok workspace new w2
kubectl -n "$NS" get secret tfstate-w2-paybill >/dev/null 2>&1 || fail "workspace new w2 did not create Secret tfstate-w2-paybill"
ok "workspace new w2 created Secret tfstate-w2-paybill"
expect_eq "w2 state label tfstateWorkspace" "w2" "$(secret_label tfstate-w2-paybill tfstateWorkspace)"
tf_ok apply -auto-approve -var color=yellow
expect_eq "w2 state output workspace" "w2" "$(sjq tfstate-w2-paybill .outputs.workspace.value)"
expect_eq "w2 state output color" "yellow" "$(sjq tfstate-w2-paybill .outputs.color.value)"
expect_eq "the default state is untouched" "blue" "$(sjq "$SECRET" .outputs.color.value)"
tf_ok workspace list
expect_match "workspace list (a label-selected list of Secrets) has w2" '^\* w2$' "$(cat "$W/last.out")"
expect_match "workspace list has default" '^  default$' "$(cat "$W/last.out")"
n=$(kubectl -n "$NS" get secrets -l tfstate=true,tfstateSecretSuffix=paybill -o name | wc -l)
expect_eq "two state Secrets" "2" "$n"
tf_ok destroy -auto-approve
tf_ok workspace select default
tf_ok workspace delete w2
gone -n "$NS" secret tfstate-w2-paybill || fail "workspace delete left Secret tfstate-w2-paybill"
ok "workspace delete removed Secret tfstate-w2-paybill"
gone -n "$NS" lease lock-tfstate-w2-paybill || fail "workspace delete left Lease lock-tfstate-w2-paybill"
ok "workspace delete removed Lease lock-tfstate-w2-paybill"

# ---- destroy ------------------------------------------------------------------
serial3=$(sjq "$SECRET" .serial)
tf_ok destroy -auto-approve
expect_match "destroy removed the resource" 'Destroy complete! Resources: 1 destroyed' "$(cat "$W/last.out")"
expect_eq "the destroyed state has no resources" "0" "$(sjq "$SECRET" '.resources | length')"
expect_eq "the destroyed state has no outputs" "0" "$(sjq "$SECRET" '.outputs | length')"
[ "$(sjq "$SECRET" .serial)" -gt "$serial3" ] || fail "destroy did not increase the serial"
ok "destroy increased the serial"
expect_eq "the lock Lease is released after destroy" "" "$(lease '{.spec.holderIdentity}')"
echo "PASS: $TEST_NAME ($(stack_apiserver_kind))"
