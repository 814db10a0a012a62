#!/usr/bin/env bash
# e2e-servers: kube
# End-to-end: paybill-devapi judged by the real kube-apiserver.
#
# Starts both servers side by side (the real control plane from
# hack/kube.sh, the dev API server from the build), runs the same scenarios
# against each (raw HTTP with curl, and the real kubectl) and compares what
# comes back: status codes, reasons, messages and the shape of the returned
# objects, with uids, timestamps and resourceVersions taken out.
#
# A scenario whose answers differ fails the suite, unless it is listed in
# tests/apiserver/DIFFERENCES.md with its reason; a listed scenario that no
# longer differs fails too, so the list stays true.
. "$(dirname "$0")/stack_env.sh"

DIFFS_DOC=$STACK_ROOT/tests/apiserver/DIFFERENCES.md
KUBE_BINDIR=$("$STACK_ROOT/hack/kube.sh" bindir)
[ -x "$KUBE_BINDIR/kube-apiserver" ] || fail "the real control plane is not built (hack/kube.sh build)"

# ---- the two servers ---------------------------------------------------------
stack_devapi_start "$T" || fail "dev API server did not start"
cp "$T/admin.kubeconfig" "$T/dev.kubeconfig"
mkdir -p "$T/kube"
"$STACK_ROOT/hack/kube.sh" up "$T/kube" >"$T/kube-up.log" 2>&1 || { cat "$T/kube-up.log" >&2; fail "kube-apiserver did not start"; }
cp "$T/kube/kubeconfig" "$T/kube.kubeconfig"
# (stack_stop, on exit, stops both: the real one lives in $T/kube.)

# server_env NAME: point kubectl and curl at server NAME (dev or kube).
server_env() {
  export KUBECONFIG=$T/$1.kubeconfig
  SRV=$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')
  TOK=$(kubectl config view --raw -o jsonpath='{.users[0].user.token}')
  CACERT=$T/$1.ca
  kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$CACERT"
}

for s in dev kube; do
  server_env $s
  kubectl apply -f "$STACK_ROOT/crds/" >/dev/null || fail "$s: CRDs not applied"
  kubectl wait --for=condition=Established crd -l app.kubernetes.io/part-of=paybill --timeout=60s >/dev/null \
    || fail "$s: CRDs not Established"
  kubectl create namespace diff >/dev/null || fail "$s: namespace diff"
  kubectl -n diff create serviceaccount nobody >/dev/null || fail "$s: serviceaccount"
  [ $s = dev ] || wait_for "$s: default ServiceAccount in diff (kube-controller-manager)" 30 kubectl -n diff get sa default
done

# ---- helpers -----------------------------------------------------------------
# What varies between two correct servers, taken out of every JSON answer.
JQ_SCRUB='walk(if type == "object" then
    del(.uid, .resourceVersion, .creationTimestamp, .selfLink, .managedFields, .deletionTimestamp, .time)
    | (if has("continue") and (.continue | type) == "string" and .continue != "" then .continue = "<token>" else . end)
  else . end)'

# api METHOD PATH [BODY] [curl args...]: prints "HTTP <code>" and the scrubbed
# JSON answer (or the raw text when it is not JSON); with Q set, only what
# the jq filter Q picks from it.
api() {
  local method=$1 path=$2 body=${3:-}; shift 3 2>/dev/null || shift $#
  local out=$T/api.out code
  local args=(-sS -o "$out" -w '%{http_code}' --cacert "$CACERT" -H "Authorization: Bearer $TOK"
              -H 'Accept: application/json' -X "$method")
  [ -n "$body" ] && args+=(-H "Content-Type: ${CT:-application/json}" --data-binary "$body")
  code=$(curl "${args[@]}" "$@" "$SRV$path")
  echo "HTTP $code"
  jq -S "$JQ_SCRUB | ${Q:-.}" "$out" 2>/dev/null || cat "$out"
}

# kc ARGS...: the real kubectl; prints its exit code and its output.
kc() {
  local o rc
  o=$(kubectl "$@" 2>&1); rc=$?
  echo "exit $rc"
  # kubectl's client-side warnings about HTTP/2 are not the server's answer.
  grep -v "HTTP2 has been explicitly disabled" <<<"$o"
}

CM='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1","namespace":"diff","labels":{"app":"x"}},"data":{"a":"1"}}'

# ---- scenarios (each prints what is compared) ----------------------------------
sc_get_missing() { api GET /api/v1/namespaces/diff/configmaps/nope; }
sc_get_missing_crd() { api GET /apis/paybill.dev/v1alpha1/tenants/nope; }
sc_create() { api POST /api/v1/namespaces/diff/configmaps "$CM"; }
sc_create_exists() { api POST /api/v1/namespaces/diff/configmaps "$CM"; }
sc_update_stale() {
  api PUT /api/v1/namespaces/diff/configmaps/c1 \
    '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1","namespace":"diff","resourceVersion":"1"},"data":{"a":"2"}}'
}
sc_create_no_kind() { api POST /api/v1/namespaces/diff/configmaps '{"metadata":{"name":"nokind"},"data":{"a":"1"}}'; }
sc_update_no_kind() {
  api PUT /api/v1/namespaces/diff/configmaps/nokind '{"metadata":{"name":"nokind","namespace":"diff"},"data":{"a":"2"}}'
}
sc_create_no_kind_lease() {
  api POST /apis/coordination.k8s.io/v1/namespaces/diff/leases '{"metadata":{"name":"lk"},"spec":{"holderIdentity":"me"}}'
}
sc_create_wrong_kind() {
  api POST /api/v1/namespaces/diff/configmaps '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"wk"}}'
}
sc_create_bad_name() {
  api POST /api/v1/namespaces/diff/configmaps '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}'
}
sc_create_ns_mismatch() {
  api POST /api/v1/namespaces/diff/configmaps '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"m","namespace":"other"}}'
}
sc_patch_merge() {
  CT=application/merge-patch+json api PATCH /api/v1/namespaces/diff/configmaps/c1 '{"data":{"b":"2"}}'
}
sc_patch_json() {
  CT=application/json-patch+json api PATCH /api/v1/namespaces/diff/configmaps/c1 '[{"op":"add","path":"/data/c","value":"3"}]'
}
sc_patch_json_test_fails() {
  CT=application/json-patch+json api PATCH /api/v1/namespaces/diff/configmaps/c1 '[{"op":"test","path":"/data/a","value":"nope"}]'
}
sc_patch_strategic() {
  CT=application/strategic-merge-patch+json api PATCH /api/v1/namespaces/diff/configmaps/c1 '{"metadata":{"labels":{"s":"1"}}}'
}
sc_apply_create() {
  CT=application/apply-patch+yaml api PATCH '/api/v1/namespaces/diff/configmaps/ssa?fieldManager=alice' \
    '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"k":"alice"}}'
}
sc_apply_conflict() {
  CT=application/apply-patch+yaml api PATCH '/api/v1/namespaces/diff/configmaps/ssa?fieldManager=bob' \
    '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"k":"bob"}}'
}
sc_list_selector() {
  Q='[.items[]?.metadata.name] // .' api GET '/api/v1/namespaces/diff/configmaps?labelSelector=app%3Dx'
}
sc_list_bad_selector() { api GET '/api/v1/namespaces/diff/configmaps?labelSelector=app%3D%3D%3Dx'; }
sc_list_page() {
  Q='{kind, items: (.items | length), cont: (.metadata.continue != null), more: (.metadata.remainingItemCount != null)}' \
    api GET '/api/v1/namespaces/diff/configmaps?limit=1'
}
sc_delete() { api DELETE /api/v1/namespaces/diff/configmaps/nokind; }
sc_delete_missing() { api DELETE /api/v1/namespaces/diff/configmaps/nokind; }
sc_finalizer_delete() {
  api POST /api/v1/namespaces/diff/configmaps \
    '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fin","finalizers":["example.com/hold"]}}' >/dev/null
  Q='{fin: .metadata.finalizers, deleting: true}' api DELETE /api/v1/namespaces/diff/configmaps/fin
  Q='{fin: .metadata.finalizers}' api GET /api/v1/namespaces/diff/configmaps/fin
  CT=application/merge-patch+json api PATCH /api/v1/namespaces/diff/configmaps/fin '{"metadata":{"finalizers":null}}' | head -1
  api GET /api/v1/namespaces/diff/configmaps/fin | head -1
}
sc_too_large() {
  local big=$T/big.json
  printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"a":"%s"}}' \
    "$(head -c 3200000 /dev/zero | tr '\0' a)" >"$big"
  api POST /api/v1/namespaces/diff/configmaps "@$big"
}
sc_no_token() { TOK=bogus api GET /api/v1/namespaces; }
sc_rbac_forbidden() {
  TOK=$(kubectl -n diff create token nobody) api GET /api/v1/namespaces/diff/secrets
}
sc_rbac_forbidden_cluster() { TOK=$(kubectl -n diff create token nobody) api GET /api/v1/namespaces; }
sc_plan_valid() {
  api POST /apis/paybill.dev/v1alpha1/plans \
    '{"apiVersion":"paybill.dev/v1alpha1","kind":"Plan","metadata":{"name":"p1"},"spec":{"displayName":"P","tier":"t","isolation":{"model":"pooled"}}}'
}
sc_plan_enum() {
  api POST /apis/paybill.dev/v1alpha1/plans \
    '{"apiVersion":"paybill.dev/v1alpha1","kind":"Plan","metadata":{"name":"p2"},"spec":{"displayName":"P","tier":"t","isolation":{"model":"pink"}}}'
}
sc_plan_strict() {
  api POST '/apis/paybill.dev/v1alpha1/plans?fieldValidation=Strict' \
    '{"apiVersion":"paybill.dev/v1alpha1","kind":"Plan","metadata":{"name":"p3"},"spec":{"displayName":"P","tier":"t","isolation":{"model":"pooled"},"colour":"x"}}'
}
sc_plan_status_ignored() {
  CT=application/merge-patch+json Q='.status' api PATCH /apis/paybill.dev/v1alpha1/plans/p1 '{"status":{"tenants":7}}'
}
sc_plan_generation() {
  CT=application/merge-patch+json Q='.metadata.generation' api PATCH /apis/paybill.dev/v1alpha1/plans/p1 '{"metadata":{"labels":{"l":"1"}}}'
  CT=application/merge-patch+json Q='.metadata.generation' api PATCH /apis/paybill.dev/v1alpha1/plans/p1 '{"spec":{"displayName":"Q"}}'
}
sc_plan_table() {
  local o=$T/tbl.json
  curl -sS --cacert "$CACERT" -H "Authorization: Bearer $TOK" \
    -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io' "$SRV/apis/paybill.dev/v1alpha1/plans" -o "$o"
  jq -c '{kind, cols: [.columnDefinitions[].name], rows: [.rows[] | .cells[0]]}' "$o"
}
sc_discovery_paybill() {
  Q='[.resources[]? | {name, namespaced, kind, verbs: (.verbs | sort), shortNames}] | sort_by(.name)' api GET /apis/paybill.dev/v1alpha1
}
sc_ns_terminating() {
  api POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"term"}}' | head -1
  api POST /api/v1/namespaces/term/configmaps \
    '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"hold","finalizers":["example.com/hold"]}}' | head -1
  Q='.status.phase' api DELETE /api/v1/namespaces/term
  api POST /api/v1/namespaces/term/configmaps '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"late"}}'
  CT=application/merge-patch+json api PATCH /api/v1/namespaces/term/configmaps/hold '{"metadata":{"finalizers":null}}' | head -1
}
sc_watch() {
  local rv
  rv=$(curl -sS --cacert "$CACERT" -H "Authorization: Bearer $TOK" "$SRV/api/v1/namespaces/diff/configmaps" | jq -r .metadata.resourceVersion)
  api POST /api/v1/namespaces/diff/configmaps '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w1"}}' >/dev/null
  api DELETE /api/v1/namespaces/diff/configmaps/w1 >/dev/null
  curl -sS --cacert "$CACERT" -H "Authorization: Bearer $TOK" \
    "$SRV/api/v1/namespaces/diff/configmaps?watch=1&resourceVersion=$rv&timeoutSeconds=1" \
    | jq -c '[.type, .object.metadata.name]'
}
sc_kubectl_get_missing() { kc -n diff get configmap nope; }
sc_kubectl_create_exists() { kc -n diff create configmap c1; }
sc_kubectl_apply_strict() {
  kc apply -f - <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: p4}
spec: {displayName: P, tier: t, isolation: {model: pooled}, colour: x}
Y
}
sc_kubectl_apply_invalid() {
  kc apply -f - <<'Y'
apiVersion: paybill.dev/v1alpha1
kind: Plan
metadata: {name: p5}
spec: {displayName: P, tier: t, isolation: {model: pink}}
Y
}
sc_kubectl_secret_protobuf() { kc -n diff create secret generic s1 --from-literal=a=b; }
sc_kubectl_cani_h2() { kc auth can-i list secrets -n diff --as=system:serviceaccount:diff:nobody; }
sc_kubectl_cani_h1() { DISABLE_HTTP2=1 kc auth can-i list secrets -n diff --as=system:serviceaccount:diff:nobody; }
sc_kubectl_as_h2() { kc -n diff get secrets --as=system:serviceaccount:diff:nobody; }
sc_kubectl_as_h1() { DISABLE_HTTP2=1 kc -n diff get secrets --as=system:serviceaccount:diff:nobody; }
sc_h2_concurrent_puts() {
  # 40 PUTs with bodies at once on one connection (curl multiplexes
  # --parallel transfers over HTTP/2 where the server offers it), as pooled
  # clients (client-go, undici) send them. The dev API server offers only
  # HTTP/1.1 unless started with --http2 (see README), so only the status
  # codes are compared.
  local i args=(-sS --parallel --parallel-max 40 --http2)
  for i in $(seq 1 40); do
    api POST /api/v1/namespaces/diff/configmaps "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"par$i\"}}" >/dev/null
    args+=(--cacert "$CACERT" -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' -X PUT
           --data-binary "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"par$i\",\"namespace\":\"diff\"},\"data\":{\"n\":\"$i\"}}"
           -o /dev/null -w '%{http_code}\n' "$SRV/api/v1/namespaces/diff/configmaps/par$i")
    [ "$i" -lt 40 ] && args+=(--next)
  done
  curl "${args[@]}" 2>&1 | grep -E '^[0-9]{3}$' | sort | uniq -c | sed 's/^ *//'
  Q='[.items[] | select(.metadata.name | startswith("par")) | .data.n | tonumber] | add' api GET /api/v1/namespaces/diff/configmaps
}

# rv PATH: the object's current resourceVersion.
rv() { curl -sS --cacert "$CACERT" -H "Authorization: Bearer $TOK" "$SRV$1" | jq -r .metadata.resourceVersion; }
# http_code PATH: the status code of a GET.
http_code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$CACERT" -H "Authorization: Bearer $TOK" "$SRV$1"; }

LEASES=/apis/coordination.k8s.io/v1/namespaces/diff/leases
PLANS=/apis/paybill.dev/v1alpha1/plans
plan() { # plan NAME [RV] [DISPLAYNAME] [STATUS_JSON]: a Plan body
  printf '{"apiVersion":"paybill.dev/v1alpha1","kind":"Plan","metadata":{"name":"%s"%s},"spec":{"displayName":"%s","tier":"t","isolation":{"model":"pooled"}}%s}' \
    "$1" "${2:+,\"resourceVersion\":\"$2\"}" "${3:-P}" "${4:+,\"status\":$4}"
}

# PUT without metadata.resourceVersion: ConfigMaps (like Secrets, Namespaces)
# take it; Leases and custom resources refuse it (their registry strategy's
# AllowUnconditionalUpdate is false), which is what keeps two writers of a
# Lease or a status from overwriting each other.
sc_update_unconditional_cm() {
  api PUT /api/v1/namespaces/diff/configmaps/c1 \
    '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1","namespace":"diff","labels":{"app":"x"}},"data":{"a":"1"}}'
  api PUT /api/v1/namespaces/diff/configmaps/uc-missing '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"uc-missing"}}'
}
sc_update_unconditional_lease() {
  local l='{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"ul"%s},"spec":{"holderIdentity":"%s"}}'
  # a PUT creates a missing Lease (AllowCreateOnUpdate), ...
  api PUT $LEASES/ul "$(printf "$l" "" a)"
  # ... refuses to update it without a resourceVersion, also through a patch
  # that drops it, and takes it with one
  api PUT $LEASES/ul "$(printf "$l" "" b)"
  CT=application/merge-patch+json api PATCH $LEASES/ul '{"metadata":{"resourceVersion":null}}'
  Q='.spec' api PUT $LEASES/ul "$(printf "$l" ",\"resourceVersion\":\"$(rv $LEASES/ul)\"" c)"
}
sc_update_unconditional_cr() {
  api POST $PLANS "$(plan uc)" | head -1
  api PUT $PLANS/uc "$(plan uc "" Q)"
  api PUT $PLANS/uc/status "$(plan uc "" P '{"tenants":1}')"
  api PUT $PLANS/uc-missing "$(plan uc-missing)"
  Q='.spec.displayName' api PUT $PLANS/uc "$(plan uc "$(rv $PLANS/uc)" Q)"
}
sc_update_name_checks() {
  api PUT /api/v1/namespaces/diff/configmaps/c1 '{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}'
  api PUT /api/v1/namespaces/diff/configmaps/c1 '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c2"}}'
  api PUT /api/v1/namespaces/diff/configmaps/c1 '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1","namespace":"other"}}'
}
# A JSON patch that does not decode (400, Go's words), and one that is too long (413).
sc_patch_json_bad() {
  CT=application/json-patch+json api PATCH /api/v1/namespaces/diff/configmaps/c1 '{"op":"add"}'
  CT=application/json-patch+json api PATCH /api/v1/namespaces/diff/configmaps/c1 '[{"op":"add","path":"/data/x","value":"1"},7]'
  CT=application/json-patch+json api PATCH /api/v1/namespaces/diff/configmaps/c1 '[{"op":1,"path":"/data/x"}]'
  CT=application/json-patch+json api PATCH '/api/v1/namespaces/diff/configmaps/c1?fieldValidation=Ignore' '{}'
  local many=$T/many.json i
  { printf '['; for i in $(seq 1 10001); do printf '{"op":"test","path":"/data/a","value":"1"},'; done
    printf '{"op":"test","path":"/data/a","value":"1"}]'; } >"$many"
  CT=application/json-patch+json api PATCH /api/v1/namespaces/diff/configmaps/c1 "@$many"
}
# Several conflicts: one manager owning two fields, then two managers (Go
# lists the causes of several managers in map order: sorted here).
sc_apply_conflict_many() {
  local cm='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa2"},"data":{%s}}'
  CT=application/apply-patch+yaml api PATCH '/api/v1/namespaces/diff/configmaps/ssa2?fieldManager=alice' \
    "$(printf "$cm" '"k":"a","j":"a"')" | head -1
  CT=application/merge-patch+json api PATCH '/api/v1/namespaces/diff/configmaps/ssa2?fieldManager=carol' '{"data":{"m":"c"}}' | head -1
  CT=application/apply-patch+yaml api PATCH '/api/v1/namespaces/diff/configmaps/ssa2?fieldManager=bob' "$(printf "$cm" '"k":"b","j":"b"')"
  CT=application/apply-patch+yaml Q='.details.causes |= sort_by(.field)' \
    api PATCH '/api/v1/namespaces/diff/configmaps/ssa2?fieldManager=bob' "$(printf "$cm" '"k":"b","m":"b"')"
}
# Status subresource: PUT/PATCH /status takes only status, the main resource
# keeps status; generation moves with spec only.
sc_status_subresource() {
  local q='{gen: .metadata.generation, name: .spec.displayName, status}'
  api POST $PLANS "$(plan st)" | head -1
  Q=$q api PUT $PLANS/st/status "$(plan st "$(rv $PLANS/st)" CHANGED '{"tenants":3}')"
  Q=$q api PUT $PLANS/st "$(plan st "$(rv $PLANS/st)" Q '{"tenants":99}')"
  CT=application/merge-patch+json Q=$q api PATCH $PLANS/st/status '{"status":{"tenants":4},"spec":{"displayName":"R"}}'
  CT=application/merge-patch+json Q=$q api PATCH $PLANS/st '{"metadata":{"annotations":{"a":"b"}},"status":{"tenants":5}}'
  CT=application/merge-patch+json Q=$q api PATCH $PLANS/st '{"metadata":{"finalizers":["example.com/x"]}}'
  CT=application/merge-patch+json Q=$q api PATCH $PLANS/st '{"metadata":{"finalizers":null},"spec":{"tier":"u"}}'
}
# Field selectors: the generic metadata.name/namespace, a kind's own label,
# and labels a kind does not support (the real server lists no kube-root-ca.crt
# publisher's ConfigMap here: it is dropped).
sc_list_field_selector() {
  local names='[.items[]?.metadata | select(.name != "kube-root-ca.crt") | .namespace + "/" + .name] // .'
  Q=$names api GET '/api/v1/namespaces/diff/configmaps?fieldSelector=metadata.name%3Dc1'
  Q=$names api GET '/api/v1/configmaps?fieldSelector=metadata.namespace%3Ddiff&labelSelector=app'
  Q=$names api GET '/api/v1/configmaps?fieldSelector=metadata.namespace%3Ddiff,metadata.name!%3Dc1&labelSelector=app'
  Q=$names api GET '/api/v1/namespaces/diff/secrets?fieldSelector=type%3DOpaque'
  Q='[.items[]?.metadata.name] // .' api GET "$PLANS?fieldSelector=metadata.name%3Dp1"
  api GET '/api/v1/namespaces/diff/configmaps?fieldSelector=data.a%3D1'
  api GET '/api/v1/namespaces?fieldSelector=metadata.namespace%3Ddiff'
  api GET "$PLANS?fieldSelector=spec.tier%3Dt"
  api GET '/api/v1/namespaces/diff/configmaps?watch=1&fieldSelector=data.a%3D1'
}
# A watch from before a resourceVersion the server can serve: 410 Expired as
# an ERROR event. The real server serves a custom resource from a watch cache
# made when it began serving the CRD, so resourceVersion 2 is always too old
# for Plans (it keeps everything for built-ins until etcd compacts: not
# deterministic, not compared). The revisions in the message differ.
sc_watch_expired() {
  curl -sS -m 10 --cacert "$CACERT" -H "Authorization: Bearer $TOK" \
    "$SRV$PLANS?watch=1&resourceVersion=2&timeoutSeconds=2" \
    | jq -c '.object.message |= gsub("[0-9]+"; "N") | [.type, .object.code, .object.reason, .object.message]'
}
sc_deletecollection_selector() {
  local i
  for i in 1 2 3; do
    api POST /api/v1/namespaces/diff/configmaps \
      "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"dc$i\",\"labels\":{\"dc\":\"$([ $i = 3 ] && echo keep || echo go)\"}}}" >/dev/null
  done
  Q='{kind, names: [.items[]?.metadata.name]}' api DELETE '/api/v1/namespaces/diff/configmaps?labelSelector=dc%3Dgo'
  Q='[.items[] | select(.metadata.name | startswith("dc")) | .metadata.name]' api GET /api/v1/namespaces/diff/configmaps
  api DELETE '/api/v1/namespaces/diff/configmaps?labelSelector=dc%3Dnone'
}
sc_kubectl_cani_list() { kc --token="$(kubectl -n diff create token nobody)" auth can-i --list -n diff; }
sc_ssar_raw() {
  local t ssar='{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{%s}}'
  t=$(kubectl -n diff create token nobody)
  Q='{kind, apiVersion, spec, status}' TOK=$t api POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews \
    "$(printf "$ssar" '"resourceAttributes":{"namespace":"diff","verb":"list","resource":"secrets"}')"
  Q='{kind, status}' TOK=$t api POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews \
    "$(printf "$ssar" '"nonResourceAttributes":{"path":"/apis","verb":"get"}')"
  Q='{kind, status}' api POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews \
    "$(printf "$ssar" '"resourceAttributes":{"namespace":"diff","verb":"delete","resource":"secrets"}')"
}
sc_dry_run_create() {
  api POST '/api/v1/namespaces/diff/configmaps?dryRun=All' '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dry"},"data":{"a":"1"}}'
  api GET /api/v1/namespaces/diff/configmaps/dry | head -1
  Q='{name: .metadata.name, gen: .metadata.generation, spec}' api POST "$PLANS?dryRun=All" \
    '{"apiVersion":"paybill.dev/v1alpha1","kind":"Plan","metadata":{"name":"pdry"},"spec":{"tier":"t","isolation":{"model":"pooled"}}}'
  api GET $PLANS/pdry | head -1
  api POST '/api/v1/namespaces/diff/configmaps?dryRun=Bogus' '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dry"}}'
  api DELETE '/api/v1/namespaces/diff/configmaps/c1?dryRun=x'
}
# Foreground deletion of an owner with a blocking dependent: the owner waits
# with the foregroundDeletion finalizer until the garbage collector (the real
# kube-controller-manager's) has deleted the dependent. Only the end state is
# compared: how long it takes differs.
sc_foreground_delete() {
  local uid c1 c2 i
  api POST /api/v1/namespaces/diff/configmaps '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"owner"}}' >/dev/null
  uid=$(jq -r .metadata.uid "$T/api.out")
  api POST /api/v1/namespaces/diff/configmaps "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"dep\",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"owner\",\"uid\":\"$uid\",\"blockOwnerDeletion\":true}]}}" | head -1
  Q='{fin: .metadata.finalizers}' api DELETE /api/v1/namespaces/diff/configmaps/owner \
    '{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground"}'
  for i in $(seq 1 150); do
    c1=$(http_code /api/v1/namespaces/diff/configmaps/owner) c2=$(http_code /api/v1/namespaces/diff/configmaps/dep)
    [ "$c1$c2" = 404404 ] && break
    sleep 0.2
  done
  echo "owner $c1, dependent $c2"
}
# kubectl's table of a custom resource (printer columns; -o wide adds the
# priority ones). Ages differ: the last column of each row is masked.
sc_kubectl_get_plans() {
  kc get plans p1 | sed -E '2,$s/[0-9]+[smhd]$/<age>/'
  kc get plans p1 -o wide | sed -E '2,$s/[0-9]+[smhd]$/<age>/'
}
# CRD defaulting of a stored Plan: the schema's defaults, nested ones where
# their parent object is given.
sc_plan_defaults() {
  Q='.spec' api POST $PLANS '{"apiVersion":"paybill.dev/v1alpha1","kind":"Plan","metadata":{"name":"pd"},"spec":{"tier":"t","isolation":{"model":"silo"},"database":{},"limits":{"stepTimeout":"1m"},"billing":{"price":"9.50"},"cloud":{}}}'
  Q='.spec' api GET $PLANS/pd
}
sc_kubectl_explain() { kc explain plan.spec.isolation; }

SCENARIOS=(
  get_missing get_missing_crd create create_exists update_stale create_no_kind update_no_kind
  create_no_kind_lease create_wrong_kind create_bad_name create_ns_mismatch patch_merge patch_json
  patch_json_test_fails patch_strategic apply_create apply_conflict list_selector list_bad_selector
  list_page delete delete_missing finalizer_delete too_large no_token rbac_forbidden
  rbac_forbidden_cluster plan_valid plan_enum plan_strict plan_status_ignored plan_generation
  plan_table discovery_paybill ns_terminating watch kubectl_get_missing kubectl_create_exists
  kubectl_apply_strict kubectl_apply_invalid kubectl_secret_protobuf kubectl_cani_h2
  kubectl_cani_h1 kubectl_as_h2 kubectl_as_h1 h2_concurrent_puts
  update_unconditional_cm update_unconditional_lease update_unconditional_cr update_name_checks
  patch_json_bad apply_conflict_many status_subresource list_field_selector watch_expired
  deletecollection_selector kubectl_cani_list ssar_raw dry_run_create foreground_delete
  kubectl_get_plans plan_defaults kubectl_explain
)
# DIFF_ONLY="a b": run only these scenarios (in SCENARIOS order; later ones may
# rely on objects earlier ones made), e.g. while fixing one.
if [ -n "${DIFF_ONLY:-}" ]; then
  mapfile -t SCENARIOS < <(for sc in "${SCENARIOS[@]}"; do [[ " $DIFF_ONLY " = *" $sc "* ]] && echo "$sc"; done)
fi

# ---- run and compare -----------------------------------------------------------
# Accepted differences: lines "- `name`: reason" in DIFFERENCES.md.
mapfile -t ACCEPTED < <(sed -nE 's/^- `([a-z0-9_]+)`:.*/\1/p' "$DIFFS_DOC" 2>/dev/null)
accepted() { local a; for a in "${ACCEPTED[@]}"; do [ "$a" = "$1" ] && return 0; done; return 1; }

mkdir -p "$T/out"
for s in dev kube; do
  server_env $s
  for sc in "${SCENARIOS[@]}"; do
    "sc_$sc" >"$T/out/$sc.$s" 2>&1
  done
done

bad=0
for sc in "${SCENARIOS[@]}"; do
  if cmp -s "$T/out/$sc.dev" "$T/out/$sc.kube"; then
    if accepted "$sc"; then
      echo "FAIL: $sc is listed in DIFFERENCES.md but no longer differs: remove it" >&2; bad=$((bad + 1))
    else
      ok "$sc: same answer"
    fi
  elif accepted "$sc"; then
    ok "$sc: differs (accepted: see DIFFERENCES.md)"
  else
    echo "FAIL: $sc: the dev API server (<) and kube-apiserver (>) answer differently:" >&2
    diff "$T/out/$sc.dev" "$T/out/$sc.kube" | head -40 >&2
    bad=$((bad + 1))
  fi
done
[ "$bad" -eq 0 ] || fail "$bad scenario(s) differ"
echo "PASS $TEST_NAME (${#SCENARIOS[@]} scenarios, ${#ACCEPTED[@]} accepted differences)"
