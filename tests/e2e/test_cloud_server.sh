#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: the silo `server` data layout on the `local` cloud target. The
# tenant's cloud run (modules/local with server = true, set by the operator
# for plans with data: server) starts a PostgreSQL server of its own on
# loopback; the operator takes the run's outputs (db_host, db_port,
# db_admin_user, db_admin_password), registers that server and provisions
# the tenant's database on it.
#
#   - before the server exists (a Manual plan not yet approved):
#     DatabaseReady=False WaitingForServer, naming the missing outputs;
#   - approved: CloudReady, then DatabaseReady=True with layout server,
#     status.database.server tenant-<name>, the endpoint on the tenant's own
#     port; the DataModel's tables are there; the tenant's credentials work
#     against its own server and nowhere else;
#   - a move to another layout is refused (MoveNotSupported), the data stays;
#   - deletion with Snapshot: the data is archived from the tenant's own
#     server first, into the tenant's bucket (output snapshot_dir), then
#     the cloud run destroys the rest (the server is stopped, the bucket
#     keeps only the archive).
. "$(dirname "$0")/stack_env.sh"
. "$(dirname "$0")/cloud_lib.sh"

cloud_stack_up
kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" >/dev/null || fail "DataModel not applied"
splan() { # splan NAME DATA APPROVAL
  cat <<EOF | kubectl apply -f - >/dev/null || fail "plan $1 not applied"
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: $1}
spec:
  tier: $1
  isolation: {model: silo, data: $2}
  database: {dataModel: crm, connectionLimit: 5}
  cloud:
    provider: local
    module: local
    approval: $3
    variables: {base_dir: "$BASE", pg_lib: "$STACK_ROOT/hack/lib/postgres.sh"}
    drift: {interval: "0s"}
EOF
}
dbcond() { jp tenant "$1" "{.status.conditions[?(@.type==\"DatabaseReady\")].$2}"; }
splan own server Manual
tenant t-srv own Snapshot
wait_for "no server yet: WaitingForServer" 120 is tenant t-srv '{.status.conditions[?(@.type=="DatabaseReady")].reason}' WaitingForServer
expect_match "the condition names the missing outputs" "cloud outputs lack db_host db_port db_admin_user db_admin_password" "$(dbcond t-srv message)"
approve_until t-srv 240 is tenant t-srv '{.status.conditions[?(@.type=="CloudReady")].status}' True
ok "the tenant's server was applied"
wait_for "DatabaseReady on the tenant's own server" 180 is tenant t-srv '{.status.conditions[?(@.type=="DatabaseReady")].status}' True
expect_eq "layout server" "server" "$(jp tenant t-srv '{.status.database.layout}')"
expect_eq "status names the tenant's server" "tenant-t-srv" "$(jp tenant t-srv '{.status.database.server}')"
port=$(kubectl -n tenant-t-srv get configmap cloud-outputs -o 'jsonpath={.data.db_port}')
expect_match "the server's port is an output" '^[0-9]+$' "$port"
[ "$port" != "$PG_PORT" ] || fail "the tenant's server is the shared one"
expect_eq "the endpoint is the tenant's own server" "127.0.0.1:$port" "$(jp tenant t-srv '{.status.database.endpoint}')"
wait_for "Ready" 120 is tenant t-srv '{.status.phase}' Active

secret() { kubectl get secret tenant-database -n tenant-t-srv -o "jsonpath={.data.$1}" | base64 -d; }
expect_eq "the credentials Secret points at the tenant's server" "$port" "$(secret port)"
tsql() { # tsql PORT SQL: as the tenant
  PGPASSWORD=$(secret password) psql -h 127.0.0.1 -p "$1" -U "$(secret user)" -d "$(secret dbname)" -qAt \
    -v ON_ERROR_STOP=1 -c "$2" 2>&1
}
tsql "$port" "insert into customers(email) values ('s1@x'), ('s2@x')" >/dev/null || fail "the tenant cannot write on its server: $(tsql "$port" 'select 1')"
expect_eq "the tenant's rows are on its own server" "2" "$(tsql "$port" 'select count(*) from customers')"
if out=$(tsql "$PG_PORT" "select 1"); then fail "the tenant's credentials work on the shared server: $out"; fi
ok "the tenant's credentials do not work on the shared server"
admin_pw=$(kubectl -n tenant-t-srv get secret cloud-outputs -o 'jsonpath={.data.db_admin_password}' | base64 -d)
expect_match "the tenant's database is on its server" "$(secret dbname)" \
  "$(PGPASSWORD=$admin_pw psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt -c 'select datname from pg_database')"
expect_eq "and not on the shared one" "" "$(psql_admin -d postgres -c "select datname from pg_database where datname = '$(secret dbname)'")"

# A move to another layout is refused; the data stays where it is.
splan own database Manual
wait_for "a move out of server is refused" 60 is tenant t-srv '{.status.conditions[?(@.type=="DatabaseReady")].reason}' MoveNotSupported
expect_eq "the data is still on the tenant's server" "2" "$(tsql "$port" 'select count(*) from customers')"
splan own server Manual
wait_for "back on server: ready again" 120 is tenant t-srv '{.status.conditions[?(@.type=="DatabaseReady")].status}' True

# Deletion: the snapshot from the tenant's server, then the destroy.
kubectl delete tenant t-srv --wait=false >/dev/null
wait_for "a Snapshotted Event" 180 sh -c \
  "kubectl get events --field-selector involvedObject.name=t-srv,reason=Snapshotted -o jsonpath='{.items[*].message}' | grep -q sha256"
wait_for "the tenant goes" 240 gone tenant t-srv
snap=$(ls "$BASE"/t-srv/bucket/snapshots/*.dump 2>/dev/null | head -1)
[ -n "$snap" ] || fail "no snapshot archive in the tenant's bucket ($BASE/t-srv/bucket/snapshots): $(ls -R "$BASE/t-srv" "$T/snapshots" 2>&1 | head)"
ok "the snapshot archive is in the tenant's bucket, which kept it: $(basename "$snap")"
expect_eq "and only there" "" "$(ls "$T"/snapshots/ 2>/dev/null)"
expect_eq "the archive is the tenant's only file left" "snapshots" "$(ls "$BASE/t-srv/bucket")"
expect_match "the archive is a pg_dump" "PGDMP" "$(head -c 5 "$snap")"
if PGPASSWORD=$admin_pw psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt -c 'select 1' >/dev/null 2>&1; then
  fail "the tenant's server still runs after the destroy"
fi
ok "the tenant's server was stopped by the destroy"
[ ! -e "$BASE/t-srv/pg" ] || fail "the server's data directory is left: $BASE/t-srv/pg"
ok "the server's data directory is gone"
echo "PASS: $TEST_NAME ($(stack_apiserver_kind))"
