#!/usr/bin/env bash
# e2e-servers: devapi kube
# End-to-end: failures mid-flight. The operator is killed mid-reconcile and
# restarted (converges, no duplicates); two replicas elect one leader and
# fail over when it dies; the API server restarts from its data dir under a
# running operator, which relists and converges.
. "$(dirname "$0")/stack_env.sh"

stack_up
kubectl apply -f "$STACK_ROOT/examples/00-datamodel.yaml" -f "$STACK_ROOT/examples/10-plans.yaml" >/dev/null
# tenant_yaml N PLAN: Tenant tN and its Subscription to PLAN.
tenant_yaml() {
  cat <<Y
apiVersion: paybill.dev/v1alpha1
kind: Tenant
metadata: {name: t$1}
spec: {owner: {name: T$1, email: t$1@example.com}, deletionPolicy: Delete}
---
apiVersion: paybill.dev/v1alpha1
kind: Subscription
metadata: {name: t$1-sub}
spec: {tenantRef: {name: t$1}, planRef: {name: $2}}
---
Y
}
# Twenty tenants at once, then kill the operator while it works on them.
for i in $(seq 1 20); do
  tenant_yaml "$i" "$([ $((i % 2)) -eq 0 ] && echo free || echo pro)"
done | kubectl apply -f - >/dev/null
operator_start operator-a --leader-elect --lease-duration 4s --renew-deadline 3s --retry-period 1s
wait_for "operator started reconciling" 30 kubectl get ns tenant-t1
stack_kill "$T/operator-a.pid" KILL
ok "operator killed mid-reconcile"
operator_start operator-a --leader-elect --lease-duration 4s --renew-deadline 3s --retry-period 1s
wait_for "all 20 tenants Ready after restart" 120 kubectl wait --for=condition=Ready tenants --all --timeout=5s
expect_eq "exactly one namespace per tenant" "20" "$(kubectl get ns -l paybill.dev/tenant -o name | wc -l | tr -d ' ')"
expect_eq "exactly one quota per tenant" "20" "$(kubectl get resourcequota -A -l paybill.dev/tenant -o name | wc -l | tr -d ' ')"
expect_eq "one database login (and its rotation twin) per tenant" "20" "$(psql_admin -d postgres -c "select count(*) from pg_roles where rolname like 'pb_t_t%' and rolname not like '%-2'")"

# Two replicas: one leader; kill it and the other takes over.
# Its renew deadline outlasts the API server restart below (the real control
# plane takes about 5 s to come back; a leader that cannot renew in time
# exits, as controller-runtime's does). Failover stays fast: a leader
# stopped with SIGTERM releases the lease.
operator_start operator-b --leader-elect --lease-duration 20s --renew-deadline 15s --retry-period 1s
sleep 3
holder=$(kubectl get lease -n paybill-system paybill-operator -o jsonpath='{.spec.holderIdentity}')
[ -n "$holder" ] || fail "no lease holder"
ok "one leader: $holder"
stack_kill "$T/operator-a.pid" TERM
ok "leader stopped (lease released on SIGTERM)"
wait_for "standby took the lease" 20 bash -c "[ \"\$(kubectl get lease -n paybill-system paybill-operator -o jsonpath='{.spec.holderIdentity}')\" != '$holder' ] && [ -n \"\$(kubectl get lease -n paybill-system paybill-operator -o jsonpath='{.spec.holderIdentity}')\" ]"
kubectl label ns tenant-t3 paybill.dev/tier- >/dev/null
wait_for "new leader reconciles (drift put back)" 30 is ns tenant-t3 '{.metadata.labels.paybill\.dev/tier}' pro

# API server restart from its data dir, under the running operator.
stack_apiserver_stop "$T"
ok "API server stopped"
stack_apiserver_restart "$T" || fail "API server did not restart"
wait_for "API server back" 20 kubectl get --raw /readyz
expect_eq "objects survived the restart" "20" "$(kubectl get tenants -o name | wc -l | tr -d ' ')"
kubectl delete tenant t5 --wait=false >/dev/null
wait_for "operator relisted and acts after the restart" 60 gone ns tenant-t5
kill -0 "$(cat "$T/operator-b.pid")" || fail "operator died across the API server restart"
ok "operator survived the API server restart"

# wait_exit NAME [SIGNAL]: send SIGNAL (if any) to operator NAME and wait
# up to 40 s for it to exit; sets ms to the time taken, fails if it stays.
wait_exit() {
  local name=$1 sig=${2:-} pid t0
  pid=$(cat "$T/$name.pid")
  t0=$(date +%s%N)
  [ -z "$sig" ] || kill "-$sig" "$pid"
  for _ in $(seq 1 800); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  ms=$((($(date +%s%N) - t0) / 1000000))
  [ -z "${api_stopped:-}" ] || { kill -CONT "$api_stopped"; api_stopped=""; }
  kill -0 "$pid" 2>/dev/null && fail "$name still running ${ms} ms later"
  rm -f "$T/$name.pid"
}
# hang_api: the API server stops answering (SIGSTOP: its sockets stay
# open); wait_exit lets it go on.
hang_api() { api_stopped=$(stack_apiserver_pid "$T"); kill -STOP "$api_stopped"; }
# leads NAME: a leader-elected operator that took the lease.
leads() {
  operator_start "$1" --leader-elect --lease-duration 4s --renew-deadline 3s --retry-period 1s
  wait_for "$1 leads" 40 grep -q "acquired lease" "$T/$1.log"
  sleep 2 # a renewal or two
}
stopped_clean() { grep -q "operator stopped result=clean" "$T/$1.log" || fail "$1 did not stop cleanly: $(tail -3 "$T/$1.log")"; }

# SIGTERM to the leader while its API server is down: the lease renewal in
# flight stops retrying once the signal is pending, the release gets one
# try, and the process exits cleanly at once (it sat out ~12 s of backoff).
stack_apiserver_stop "$T"
sleep 3 # renewals (every second) now fail and retry
wait_exit operator-b TERM
[ "$ms" -lt 2500 ] || fail "leader took ${ms} ms to stop after SIGTERM with the API server down (want < 2.5 s)"
stopped_clean operator-b
ok "leader stopped ${ms} ms after SIGTERM with the API server down, cleanly"

# An API server that hangs: a renewal is cut at the renew deadline, so the
# leader gives up within it (3 s) instead of when the request times out
# (30 s), before the lease (4 s) can pass to another replica, and exits
# non-zero as controller-runtime does.
stack_apiserver_restart "$T" || fail "API server did not restart"
wait_for "API server back" 30 kubectl get --raw /readyz
leads operator-c
hang_api
wait_exit operator-c
grep -q "leader election lost" "$T/operator-c.log" || fail "no 'leader election lost': $(tail -3 "$T/operator-c.log")"
[ "$ms" -lt 6000 ] || fail "leader took ${ms} ms to give up on a hung API server (renew deadline 3 s; a request times out after 30 s)"
ok "leader gave up ${ms} ms after its API server hung (renew deadline 3 s, lease 4 s)"

# SIGTERM to a leader whose API server hangs: a renewal in flight ends by
# the renew deadline, the release gets the retry period, and the process
# exits cleanly well inside a pod's 30 s grace period (it waited out the
# 30 s request timeout before).
leads operator-d
hang_api
sleep 0.5 # a renewal is now waiting on the server
wait_exit operator-d TERM
stopped_clean operator-d
[ "$ms" -lt 8000 ] || fail "leader took ${ms} ms to stop after SIGTERM with its API server hung (want < 8 s)"
ok "leader stopped ${ms} ms after SIGTERM with its API server hung, cleanly"

# A PostgreSQL that hangs (SIGSTOP of the server and all its processes:
# sockets stay open and the kernel takes our bytes, so neither TCP nor the
# server's statement_timeout ends a wait). A reconcile that needs it gives
# up within its own bound (5 s for the pool's liveness check, after which
# its other idle connections are dropped too, and 5 s to connect) and says
# so in DatabaseReady; work without a database goes on;
# SIGTERM still ends in a clean exit within the shutdown deadline. Before,
# the worker waited on the socket forever and the process never exited.
pg_stopped=""
hang_pg() {
  local pm
  pm=$(head -1 "$T/pg/data/postmaster.pid")
  pg_stopped="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -STOP $pg_stopped
}
resume_pg() {
  # shellcheck disable=SC2086
  [ -z "$pg_stopped" ] || kill -CONT $pg_stopped 2>/dev/null
  pg_stopped=""
}
trap 'rc=$?; resume_pg; (exit $rc); on_exit' EXIT
db_message() { kubectl get tenant "$1" -o jsonpath='{.status.conditions[?(@.type=="DatabaseReady")].message}'; }
wait_for "API server answers" 30 kubectl get --raw /readyz
operator_start operator-e
# Settled first: the start's pass over the 19 tenants with a database is
# done, so no statement is in flight when the server stops (one that is
# waits out its statement_timeout + 5 s; its error path then 5 s a
# statement, the pool having learnt the server is silent).
wait_for "operator-e settled (19 tenant databases checked)" 120 bash -c "[ \$(grep -c 'tenant database ready' '$T/operator-e.log') -ge 19 ]"
wait_for "operator-e works (drift put back)" 60 bash -c "kubectl label ns tenant-t4 paybill.dev/tier- >/dev/null 2>&1; sleep 2; [ \"\$(kubectl get ns tenant-t4 -o jsonpath='{.metadata.labels.paybill\.dev/tier}')\" = free ]"
hang_pg
tenant_yaml 21 pro | kubectl apply -f - >/dev/null
wait_for "t21: DatabaseReady says the server does not answer" 60 bash -c "[ \"\$(kubectl get tenant t21 -o jsonpath='{.status.conditions[?(@.type==\"DatabaseReady\")].reason}')\" = ServerUnavailable ]"
msg=$(db_message t21)
case "$msg" in *"no answer"*) ok "t21: \"$msg\"" ;; *) fail "DatabaseReady message does not say the server hangs: $msg" ;; esac
metrics_port=$(grep -o 'endpoint=metrics.*port=[0-9]*' "$T/operator-e.log" | grep -o '[0-9]*$' | head -1)
dropped=$(curl -s "http://127.0.0.1:$metrics_port/metrics" | sed -n 's/^paybill_postgres_connections_dropped_total{reason="no_answer"} //p')
[ "${dropped:-0}" != 0 ] || fail "no dropped connection counted in paybill_postgres_connections_dropped_total"
ok "paybill_postgres_connections_dropped_total{reason=\"no_answer\"} $dropped"
kubectl label ns tenant-t3 paybill.dev/tier- >/dev/null
wait_for "work without a database goes on (drift put back)" 30 is ns tenant-t3 '{.metadata.labels.paybill\.dev/tier}' pro
sleep 1 # t21's retry now waits on the hung server again
wait_exit operator-e TERM
stopped_clean operator-e
[ "$ms" -lt 15000 ] || fail "operator took ${ms} ms to stop after SIGTERM with PostgreSQL hung (want < 15 s)"
ok "operator stopped ${ms} ms after SIGTERM with PostgreSQL hung, cleanly"
resume_pg
operator_start operator-f
wait_for "t21 Ready once PostgreSQL answers again" 90 kubectl wait --for=condition=Ready tenant/t21 --timeout=5s
echo "PASS $TEST_NAME"
