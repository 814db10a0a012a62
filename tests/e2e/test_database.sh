#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: tenant databases through the operator, against real
# PostgreSQL. Isolation proofs with each tenant's own credentials (from its
# Secret), DataModel migration rollout, destructive change refused, invalid
# models, credential rotation, suspension, and a database server outage.
. "$(dirname "$0")/stack_env.sh"

stack_up
# A short grace period after a rotation, so the test sees the previous
# login revoked (long enough to check it still works right after).
sed -i '1i rotationGracePeriod: 3s' "$T/operator.yaml"
operator_start operator
kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" -f "$STACK_ROOT/examples/10-plans.yaml" >/dev/null
kubectl apply -f - >/dev/null <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: alpha}
spec: {owner: {name: A, email: a@alpha.example}, deletionPolicy: Delete}
---
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: beta}
spec: {owner: {name: B, email: b@beta.example}, deletionPolicy: Delete}
---
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: gamma}
spec: {owner: {name: G, email: g@gamma.example}, deletionPolicy: Delete}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: alpha}
spec: {tenantRef: {name: alpha}, planRef: {name: free}}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: beta}
spec: {tenantRef: {name: beta}, planRef: {name: free}}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: gamma}
spec: {tenantRef: {name: gamma}, planRef: {name: pro}}
Y
wait_for "tenants Ready" 90 kubectl wait --for=condition=Ready tenants --all --timeout=5s

secret() { kubectl get secret tenant-database -n "tenant-$1" -o "jsonpath={.data.$2}" | base64 -d; }
# tsql TENANT SQL: run SQL with the tenant's own credentials.
tsql() {
  PGPASSWORD=$(secret "$1" password) PGOPTIONS="-c search_path=$(secret "$1" schema)" \
    psql -h 127.0.0.1 -p "$PG_PORT" -U "$(secret "$1" user)" -d "$(secret "$1" dbname)" -qAt -v ON_ERROR_STOP=1 -c "$2" 2>&1
}
denied() { # denied DESCRIPTION TENANT SQL
  local out
  if out=$(tsql "$2" "$3"); then fail "$1: expected a denial, got [$out]"; fi
  ok "$1 (denied: $(head -1 <<<"$out" | cut -c1-80))"
}

tsql alpha "insert into customers(email) values ('a1@x'), ('a2@x')" >/dev/null || fail "alpha cannot write"
tsql beta "insert into customers(email) values ('b1@x')" >/dev/null || fail "beta cannot write"
expect_eq "pooled: alpha sees only its rows" "2" "$(tsql alpha 'select count(*) from customers')"
expect_eq "pooled: beta sees only its rows" "1" "$(tsql beta 'select count(*) from customers')"
denied "pooled: alpha cannot write a row as beta" alpha "insert into customers(tenant_id, email) values ('beta', 'evil@x')"
denied "pooled: alpha cannot become beta" alpha "set role $(secret beta user)"
tsql alpha "select set_config('app.tenant', 'beta', false)" >/dev/null
expect_eq "pooled: session settings do not change the tenant" "2" "$(tsql alpha "select set_config('app.tenant','beta',false); select count(*) from customers" | tail -1)"
denied "pooled: alpha cannot disable row security" alpha "alter table customers disable row level security"
denied "bridge: alpha cannot read gamma's schema" alpha "select * from t_gamma.customers"
denied "bridge: gamma cannot read the shared tables" gamma "select * from app.customers"

# Tenants own nothing the operator reads and can create nothing next to it.
denied "bridge: gamma cannot drop its tables" gamma "drop table customers cascade"
denied "bridge: gamma cannot create objects in its schema" gamma "create function t_gamma.evil() returns int language sql as 'select 1'"
denied "pooled: alpha cannot create tables" alpha "create table app.mine (x int)"

# A bridge tenant the migration cannot go through for (an object in its
# schema that the operator did not make, as older versions let tenants
# create): the DataModel names it and why, and every other tenant still
# gets the new version.
psql_admin -d paybill -c "create function t_gamma.evil() returns int language sql as 'select 1'; alter function t_gamma.evil() owner to pb_t_gamma" >/dev/null \
  || fail "could not plant a foreign object"

# Migration: version 2 adds a column and a table, rolled out to every tenant.
sed -e 's/version: 1/version: 2/' -e 's/        - {name: name, type: text}/        - {name: name, type: text}\n        - {name: phone, type: text}/' \
  "$STACK_ROOT/examples/00-datamodel.yaml" >"$T/dm2.yaml"
cat >>"$T/dm2.yaml" <<'Y'
    - name: notes
      columns:
        - {name: id, type: bigint, nullable: false}
        - {name: body, type: text}
      primaryKey: [id]
Y
kubectl apply -f "$T/dm2.yaml" >/dev/null
wait_for "rollout failure reported" 60 is datamodel crm '{.status.conditions[?(@.type=="Ready")].reason}' TenantMigrationFailed
msg=$(jp datamodel crm '{.status.conditions[?(@.type=="Ready")].message}')
expect_match "the failure names the tenant and the reason" 'tenant gamma .*t_gamma.evil\(\) \(owner pb_t_gamma\)' "$msg"
expect_match "the failure says the others have it" '1 of 3 tenants' "$msg"
wait_for "the other tenants got version 2" 60 bash -c \
  "[ \"\$(kubectl get tenant alpha beta -o jsonpath='{.items[*].status.database.dataModelVersion}')\" = '2 2' ]"
expect_eq "a pooled tenant uses the new table meanwhile" "0" "$(tsql beta 'select count(*) from notes')"
expect_eq "the failed tenant is still at version 1" "1" "$(jp tenant gamma '{.status.database.dataModelVersion}')"
psql_admin -d paybill -c "drop function t_gamma.evil()" >/dev/null
wait_for "migration applied and rolled out" 120 is datamodel crm '{.status.appliedVersion} {.status.rollout}' "2 3/3"
expect_eq "DataModel Ready at v2" "True/2" "$(jp datamodel crm '{.status.conditions[?(@.type=="Ready")].status}/{.status.appliedVersion}')"
expect_eq "tenant reports v2" "2" "$(jp tenant gamma '{.status.database.dataModelVersion}')"
expect_eq "new column usable by a tenant" "0" "$(tsql gamma 'select count(phone) from customers')"
tsql beta "insert into notes(id, body) values (1, 'hi')" >/dev/null || fail "new table not usable"
ok "new table usable by a pooled tenant"

# Destructive change without allowDestructive: refused, nothing dropped.
python3 - "$T/dm2.yaml" "$T/dm3.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read().replace("version: 2", "version: 3")
s = s[:s.index("    - name: notes")]
open(sys.argv[2], "w").write(s)
PY
kubectl apply -f "$T/dm3.yaml" >/dev/null
wait_for "destructive change refused" 30 is datamodel crm '{.status.conditions[?(@.type=="Ready")].reason}' DestructiveChangeRefused
expect_match "refusal names the table" 'notes' "$(jp datamodel crm '{.status.conditions[?(@.type=="Ready")].message}')"
expect_eq "table still there" "1" "$(tsql beta 'select count(*) from notes')"

# Invalid models are reported, nothing executed.
out=$(kubectl apply -f - 2>&1 <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: DataModel
metadata: {name: hostile}
spec: {version: 1, tables: [{name: "x; drop table customers", columns: [{name: id, type: integer}]}]}
Y
)
expect_match "hostile identifier rejected by the API" 'spec.tables\[0\].name' "$out"
kubectl apply -f - >/dev/null <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: DataModel
metadata: {name: reserved}
spec: {version: 1, tables: [{name: select, columns: [{name: id, type: integer}]}]}
Y
wait_for "reserved word reported" 30 is datamodel reserved '{.status.conditions[?(@.type=="Ready")].reason}' InvalidModel
expect_match "message names the field" 'spec.tables\[0\].name' "$(jp datamodel reserved '{.status.conditions[?(@.type=="Ready")].message}')"

# Rotation on request, without downtime: the previous credentials keep
# working for the grace period (rotationGracePeriod, 3s here), so clients
# can pick up the new Secret; then they are revoked, so rotating after a
# leak does revoke the leaked password, open sessions included.
old_user=$(secret gamma user) old=$(secret gamma password)
oldlogin() { PGPASSWORD=$2 psql -h 127.0.0.1 -p "$PG_PORT" -U "$1" -d "$(secret gamma dbname)" -qAt -c 'select 1' 2>&1; }
PGPASSWORD=$old psql -h 127.0.0.1 -p "$PG_PORT" -U "$old_user" -d "$(secret gamma dbname)" -qAt \
  -c 'select pg_sleep(60)' >"$T/old_session.out" 2>&1 &
old_session=$!
kubectl annotate tenant gamma paybill.dev/rotate-credentials=r1 >/dev/null
wait_for "password rotated" 30 bash -c "[ \"\$(kubectl get secret tenant-database -n tenant-gamma -o jsonpath='{.data.password}' | base64 -d)\" != '$old' ]"
expect_eq "previous credentials still work during the grace period (no downtime)" "1" "$(oldlogin "$old_user" "$old")"
expect_eq "new credentials work" "1" "$(tsql gamma 'select 1')"
wait_for "status says when the previous login goes" 30 bash -c \
  "kubectl get tenant gamma -o jsonpath='{.status.database.previousLoginRevokeAt}{.status.database.previousLoginRevokedAt}' | grep -qE '^20[0-9-]+T[0-9:]+Z'"
wait_for "previous login revoked after the grace period" 30 bash -c \
  "[ -n \"\$(kubectl get tenant gamma -o jsonpath='{.status.database.previousLoginRevokedAt}')\" ]"
out=$(oldlogin "$old_user" "$old") && fail "previous credentials still work after the grace period: $out"
ok "previous credentials refused after the grace period"
wait_for "the previous login's open session was ended" 10 bash -c "! kill -0 $old_session 2>/dev/null"
expect_eq "no pending revocation left" "" "$(jp tenant gamma '{.status.database.previousLoginRevokeAt}')"
expect_eq "current credentials work" "1" "$(tsql gamma 'select 1')"
kubectl annotate --overwrite tenant gamma paybill.dev/rotate-credentials=r2 >/dev/null
wait_for "second rotation done" 30 is tenant gamma '{.status.database.rotation}' r2
out=$(oldlogin "$old_user" "$old") && fail "credentials from two rotations ago still work: $out"
ok "credentials from two rotations ago refused"
expect_eq "current credentials work" "1" "$(tsql gamma 'select 1')"

# Suspension locks the login; resume restores it.
kubectl patch tenant alpha --type merge -p '{"spec":{"suspend":true}}' >/dev/null
wait_for "alpha suspended" 30 is tenant alpha '{.status.phase}' Suspended
denied "suspended tenant cannot log in" alpha "select 1"
kubectl patch tenant alpha --type merge -p '{"spec":{"suspend":false}}' >/dev/null
wait_for "alpha active again" 30 is tenant alpha '{.status.phase}' Active
expect_eq "resumed tenant logs in, data intact" "2" "$(tsql alpha 'select count(*) from customers')"

# Database server outage: reported, then recovered without manual steps.
pg_stop "$T/pg"
kubectl annotate tenant beta paybill.dev/rotate-credentials=outage >/dev/null
wait_for "outage reported on the tenant" 60 is tenant beta '{.status.conditions[?(@.type=="DatabaseReady")].status}' False
expect_match "reason says why" 'ServerUnavailable|ProvisionFailed|RotationFailed' \
  "$(jp tenant beta '{.status.conditions[?(@.type=="DatabaseReady")].reason}')"
pg_start "$T/pg" >/dev/null
wait_for "recovered after the server came back" 120 is tenant beta '{.status.conditions[?(@.type=="Ready")].status}' True
expect_eq "rotation done after recovery" "outage" "$(jp tenant beta '{.status.database.rotation}')"
echo "PASS $TEST_NAME"
