#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: tenants' cloud runs with their state in OpenTofu's pg backend
# (cloud.stateBackend: pg): schema tfstate_<tenant> of database postgres on
# the shared database server, credentials passed to the tool in
# PG_CONN_STR (never written to the tenant's work directory).
#
#   - Auto: applied, the state is a row in tfstate_t_pg.states, no state
#     Secret in the system namespace, no password in the work directory;
#   - kill -9 of the tofu apply: pg's locks are session advisory locks, so
#     the dead runner's lock went with its connection: the tenant converges
#     with no lock to break;
#   - Delete: destroyed, the state has no resources left;
#   - a destroy that keeps failing (the Plan deleted first): DestroyFailed
#     after 3 attempts naming what is left, the Tenant kept; fixed and
#     retried with paybill.dev/retry-destroy, it goes.
. "$(dirname "$0")/stack_env.sh"
. "$(dirname "$0")/cloud_lib.sh"

cloud_stack_up "stateBackend: pg"

plan pgplan Auto local '"delay_s": 5'
tenant t-pg pgplan Delete
wait_for "t-pg CloudReady=True" 240 is tenant t-pg '{.status.conditions[?(@.type=="CloudReady")].status}' True
expect_eq "the state is a row of tfstate_t_pg.states" "default" \
  "$(psql_admin -d postgres -c "SELECT name FROM tfstate_t_pg.states")"
expect_eq "... holding the module's resources" "6" \
  "$(psql_admin -d postgres -c "SELECT data FROM tfstate_t_pg.states" | jq '[.resources[] | select(.mode == "managed")] | length')"
expect_eq "no state Secret in the system namespace" "" \
  "$(kubectl -n "$STACK_NAMESPACE" get secret tfstate-default-paybill-t-pg -o name 2>/dev/null)"
pass=$(kubectl -n "$STACK_NAMESPACE" get secret pg-admin -o jsonpath='{.data.password}' | base64 -d)
if grep -rqF -- "$pass" "$T/cloud/t-pg" 2>/dev/null; then fail "the admin password is in the work directory"; fi
ok "the admin password is not in the work directory"

plan pgplan Auto local '"delay_s": 20, "marker": "killed"'
approve_until t-pg 120 tofu_pid t-pg apply
kill -9 "$(tofu_pid t-pg apply)"
ok "killed the tofu apply (SIGKILL)"
converge t-pg killed 300
if grep -q "released a stale state lock" "$T/operator.log"; then fail "a pg lock was force-unlocked"; fi
ok "no lock had to be broken (pg's lock went with the dead session)"

# The runs are counted (no tenant names as labels).
metrics_port=$(grep -o 'endpoint=metrics.*port=[0-9]*' "$T/operator.log" | grep -o '[0-9]*$' | tail -1)
m=$(curl -s "http://127.0.0.1:$metrics_port/metrics")
expect_match "paybill_cloud_runs_total counts the applies" 'paybill_cloud_runs_total\{kind="apply",result="success"\} [1-9]' "$m"
expect_match "paybill_cloud_runs_total counts the failed (killed) run" 'paybill_cloud_runs_total\{kind="apply",result="failed"\} [1-9]' "$m"
expect_match "paybill_cloud_run_duration_seconds" 'paybill_cloud_run_duration_seconds_count\{kind="plan"\} [1-9]' "$m"
if grep -q 't-pg' <<<"$(grep '^paybill_cloud' <<<"$m")"; then fail "a tenant name is a metric label"; fi
ok "no tenant name in the cloud metrics"

kubectl delete tenant t-pg --wait=false >/dev/null
wait_for "Delete: the tenant goes" 300 gone tenant t-pg
[ ! -e "$BASE/t-pg/bucket" ] || fail "Delete left the bucket"
ok "Delete destroyed the bucket"
expect_eq "the state has no resources left" "0" \
  "$(psql_admin -d postgres -c "SELECT data FROM tfstate_t_pg.states" | jq '.resources | length')"
# A destroy that keeps failing, with the Plan deleted first: the inputs kept
# with the tenant's status let the destroy run without the Plan; after
# the bounded attempts DestroyFailed says what is left and how to retry.
touch "$T/blocker"
plan blockplan Auto local "\"destroy_blocker\": \"$T/blocker\""
tenant t-block blockplan Delete
wait_for "t-block CloudReady=True" 240 is tenant t-block '{.status.conditions[?(@.type=="CloudReady")].status}' True
kubectl delete plan blockplan >/dev/null
kubectl delete tenant t-block --wait=false >/dev/null
wait_for "the failing destroy ends in DestroyFailed" 240 is tenant t-block '{.status.conditions[?(@.type=="CloudReady")].reason}' DestroyFailed
msg=$(cond t-block message)
expect_match "DestroyFailed counts the attempts" "destroy attempt 3 of 3 failed" "$msg"
expect_match "... names what is left in the state" "left in the state: module.tenant.terraform_data.destroy_blocker" "$msg"
expect_match "... and says how to retry" "paybill.dev/retry-destroy=" "$msg"
expect_match "... with the tool's reason" "destroy blocked by" \
  "$(kubectl get events --field-selector involvedObject.name=t-block,reason=CloudDestroyFailed -o jsonpath='{.items[*].message}')"
kubectl get tenant t-block >/dev/null 2>&1 || fail "the Tenant went although its cloud resources are left"
ok "the finalizer keeps the Tenant while resources are left"
rm "$T/blocker"
kubectl annotate tenant t-block paybill.dev/retry-destroy=1 --overwrite >/dev/null
wait_for "after the fix and a retry the tenant goes" 240 gone tenant t-block
[ ! -e "$BASE/t-block/bucket" ] || fail "the retried destroy left the bucket"
ok "the retried destroy removed the bucket (the Plan was gone all along)"
echo "PASS: $TEST_NAME ($(stack_apiserver_kind))"
