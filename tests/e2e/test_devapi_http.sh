#!/usr/bin/env bash
# test_devapi_http.sh - the API's wire behaviour seen with curl: Status
# bodies (401/403/404/405/409/410/415/422/400), bodies without kind/apiVersion
# (built-ins take them from the URL, custom resources may not), generateName,
# optimistic concurrency, list pagination over a snapshot and continue
# expiry, watches over HTTP/1.1 (chunked) and HTTP/2 (--http2) with resume,
# 410 ERROR events and bookmarks, token authentication with RBAC and
# `kubectl auth can-i`, impersonation that fails closed (HTTP/1.1 only
# unless --http2).
. "$(dirname "$0")/lib.sh"

cat >"$E2E_TMP/tokens.csv" <<'EOF'
bob-token,bob,bob-uid,"devs"
EOF
# --http2: the wire checks below run over HTTP/2 as well as HTTP/1.1.
devapi_start --http2 --watch-window 20 --token-auth-file "$E2E_TMP/tokens.csv"
CM=/api/v1/namespaces/default/configmaps
assert_eq 2 "$(curl -sS --http2 -o /dev/null -w '%{http_version}' --cacert "$DEVAPI_CA" "$DEVAPI_URL/readyz")" \
    "--http2 offers h2"
assert_contains "$(cat "$DEVAPI_DIR/devapi.log")" "Impersonate-* headers cannot be read on HTTP/2" \
    "--http2 warns that impersonation is unsafe"

# 401 and 404.
out=$(API_TOKEN=wrong api GET /api/v1/namespaces)
assert_eq 401 "$(api_code "$out")" "bad token -> 401"
assert_eq Unauthorized "$(api_body "$out" | jget reason)" "401 reason"
out=$(api GET $CM/nope)
assert_eq 404 "$(api_code "$out")" "missing -> 404"
assert_eq 'configmaps "nope" not found' "$(api_body "$out" | jget message)" "404 message"
assert_eq configmaps "$(api_body "$out" | jget details.kind)" "404 details.kind is the resource"

# Create, 409 AlreadyExists, generateName.
body='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1"},"data":{"k":"v"}}'
out=$(api POST $CM -H 'Content-Type: application/json' -d "$body")
assert_eq 201 "$(api_code "$out")" "create -> 201"
rv1=$(api_body "$out" | jget metadata.resourceVersion)
uid=$(api_body "$out" | jget metadata.uid)
assert_contains "$uid" "-" "uid assigned"
out=$(api POST $CM -H 'Content-Type: application/json' -d "$body")
assert_eq 409 "$(api_code "$out")" "create twice -> 409"
assert_eq AlreadyExists "$(api_body "$out" | jget reason)" "409 reason AlreadyExists"
assert_eq 'configmaps "c1" already exists' "$(api_body "$out" | jget message)" "409 message"
out=$(api POST $CM -H 'Content-Type: application/json' \
    -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"gen-"}}')
assert_eq 201 "$(api_code "$out")" "generateName create"
name=$(api_body "$out" | jget metadata.name)
assert_eq 9 "${#name}" "generateName adds 5 characters ($name)"

# Bodies without kind/apiVersion, as client-go typed clients (terraform's
# kubernetes backend) send them: a built-in type takes both from the URL.
for t in "/api/v1/namespaces/default/configmaps nokind-cm v1 ConfigMap" \
         "/api/v1/namespaces/default/secrets nokind-s v1 Secret" \
         "/apis/coordination.k8s.io/v1/namespaces/default/leases nokind-l coordination.k8s.io/v1 Lease"; do
    set -- $t
    out=$(api POST "$1" -H 'Content-Type: application/json' -d '{"metadata":{"name":"'"$2"'","labels":{"v":"1"}}}')
    assert_eq 201 "$(api_code "$out")" "create $4 without kind/apiVersion"
    assert_eq "$3 $4" "$(api_body "$out" | jget apiVersion) $(api_body "$out" | jget kind)" "created $4 has its type"
    rv=$(api_body "$out" | jget metadata.resourceVersion) # a Lease may not be updated without one
    out=$(api PUT "$1/$2" -H 'Content-Type: application/json' \
        -d '{"metadata":{"name":"'"$2"'","resourceVersion":"'"$rv"'","labels":{"v":"2"}}}')
    assert_eq 200 "$(api_code "$out")" "update $4 without kind/apiVersion"
    out=$(api GET "$1/$2")
    assert_eq "$3 $4 2" "$(api_body "$out" | jget apiVersion) $(api_body "$out" | jget kind) $(api_body "$out" | jget metadata.labels.v)" \
        "stored $4 has its type and the update"
done
out=$(api POST $CM -H 'Content-Type: application/json' -d '{"kind":"Secret","metadata":{"name":"wrong"}}')
assert_eq 400 "$(api_code "$out")" "a Secret posted as a ConfigMap -> 400"
assert_eq 'Secret in version "v1" cannot be handled as a ConfigMap: converting (v1.Secret) to (core.ConfigMap): unknown conversion' \
    "$(api_body "$out" | jget message)" "wrong kind message"
out=$(api PUT $CM/nokind-cm -H 'Content-Type: application/json' -d '{"apiVersion":"v2","metadata":{"name":"nokind-cm"}}')
assert_eq 400 "$(api_code "$out")" "a wrong apiVersion -> 400"
assert_contains "$(api_body "$out" | jget message)" 'no kind "ConfigMap" is registered for version "v2"' "wrong apiVersion message"
api DELETE $CM/nokind-cm >/dev/null # the pagination checks below count ConfigMaps

# Optimistic concurrency.
upd='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1","resourceVersion":"'$rv1'"},"data":{"k":"v2"}}'
out=$(api PUT $CM/c1 -H 'Content-Type: application/json' -d "$upd")
assert_eq 200 "$(api_code "$out")" "update with current RV"
rv2=$(api_body "$out" | jget metadata.resourceVersion)
[ "$rv2" -gt "$rv1" ] && pass || fail "RV increases" ">$rv1" "$rv2"
out=$(api PUT $CM/c1 -H 'Content-Type: application/json' -d "$upd")
assert_eq 409 "$(api_code "$out")" "stale RV -> 409"
assert_eq Conflict "$(api_body "$out" | jget reason)" "409 reason Conflict"
assert_eq 'Operation cannot be fulfilled on configmaps "c1": the object has been modified; please apply your changes to the latest version and try again' \
    "$(api_body "$out" | jget message)" "conflict message"
out=$(api PUT $CM/c1 -H 'Content-Type: application/json' -d "$upd")
assert_eq "$rv2" "$(api GET $CM/c1 | api_body "$(cat)" | jget metadata.resourceVersion)" "failed write leaves RV"

# 400, 405, 415, 422.
out=$(api POST $CM -H 'Content-Type: application/json' -d '{not json')
assert_eq 400 "$(api_code "$out")" "bad JSON -> 400"
out=$(api GET /apis/authorization.k8s.io/v1/selfsubjectaccessreviews)
assert_eq 405 "$(api_code "$out")" "GET on create-only resource -> 405"
assert_eq MethodNotAllowed "$(api_body "$out" | jget reason)" "405 reason"
apply_widget_crd
out=$(api POST /apis/e2e.paybill.dev/v1/namespaces/default/widgets -H 'Content-Type: application/json' \
    -d '{"apiVersion":"e2e.paybill.dev/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":0}}')
assert_eq 422 "$(api_code "$out")" "schema violation -> 422"
assert_eq Invalid "$(api_body "$out" | jget reason)" "422 reason"
assert_eq Widget "$(api_body "$out" | jget details.kind)" "422 details.kind is the Kind"
causes=$(api_body "$out" | jget details.causes)
assert_contains "$causes" '"field": "spec.color"' "cause for the missing field"
assert_contains "$causes" FieldValueRequired "cause reason"
api POST /apis/e2e.paybill.dev/v1/namespaces/default/widgets -H 'Content-Type: application/json' \
    -d '{"apiVersion":"e2e.paybill.dev/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"color":"red"}}' >/dev/null
out=$(api PATCH /apis/e2e.paybill.dev/v1/namespaces/default/widgets/w \
    -H 'Content-Type: application/strategic-merge-patch+json' -d '{"spec":{"color":"blue"}}')
assert_eq 415 "$(api_code "$out")" "strategic merge patch on a CR -> 415"
# A custom resource is decoded as unstructured JSON: unlike a built-in it
# must carry its kind (and apiVersion), as with kube-apiserver.
W=/apis/e2e.paybill.dev/v1/namespaces/default/widgets
out=$(api POST $W -H 'Content-Type: application/json' -d '{"metadata":{"name":"nokind"},"spec":{"color":"red"}}')
assert_eq 400 "$(api_code "$out")" "CR without kind -> 400"
assert_eq "the object provided is unrecognized (must be of type Widget): Object 'Kind' is missing in '{\"metadata\":{\"name\":\"nokind\"},\"spec\":{\"color\":\"red\"}}' ({\"metadata\":{\"name\":\"nokind\"}, ...)" \
    "$(api_body "$out" | jget message)" "CR without kind message"
out=$(api PUT $W/w -H 'Content-Type: application/json' -d '{"kind":"Widget","metadata":{"name":"w"},"spec":{"color":"red"}}')
assert_eq 'the API version in the data () does not match the expected API version (e2e.paybill.dev/v1)' \
    "$(api_body "$out" | jget message)" "CR update without apiVersion -> 400"
out=$(api POST $W -H 'Content-Type: application/json' \
    -d '{"apiVersion":"e2e.paybill.dev/v1","kind":"Gadget","metadata":{"name":"g"},"spec":{"color":"red"}}')
assert_eq 422 "$(api_code "$out")" "CR of another kind -> 422"
assert_eq 'Gadget.e2e.paybill.dev "g" is invalid: kind: Invalid value: "Gadget": must be Widget' \
    "$(api_body "$out" | jget message)" "CR of another kind message"

# Big bodies: HTTP/2 flow control is replenished; kube-apiserver's 3 MiB limit.
for size in 1200000 3300000; do
    python3 -c "import json,sys; print(json.dumps({'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'big%d' % $size},'data':{'b':'x'*$size}}))" >"$E2E_TMP/big.json"
    for proto in --http2 --http1.1; do
        code=$(curl -sS $proto -o /dev/null -w '%{http_code}' --cacert "$DEVAPI_CA" -H "Authorization: Bearer $DEVAPI_TOKEN" \
            -H 'Content-Type: application/json' --data-binary @"$E2E_TMP/big.json" "$DEVAPI_URL$CM?dryRun=All")
        assert_eq "$([ $size -lt 3000000 ] && echo 201 || echo 413)" "$code" "POST of $size bytes over $proto"
    done
done

# 40 POSTs, then 40 PUTs, with bodies, at once on one HTTP/2 connection (curl
# multiplexes --parallel transfers), as pooled clients send them under load.
# (A raw HTTP/2 client that packs the frames as tightly as client-go does is
# in tests/apiserver/unit/test_h2_multiplex.c.)
par() { # par METHOD: the 40 transfers as a curl config (options are per transfer)
    local i url
    for i in $(seq 1 40); do
        [ "$i" -gt 1 ] && echo next # between transfers: a trailing one is an error
        url="$DEVAPI_URL$CM"; [ "$1" = PUT ] && url="$DEVAPI_URL$CM/mux$i"
        printf 'http2\nsilent\nshow-error\ncacert = "%s"\nheader = "Authorization: Bearer %s"\n' "$DEVAPI_CA" "$DEVAPI_TOKEN"
        printf 'header = "Content-Type: application/json"\nurl = "%s"\nrequest = "%s"\noutput = "/dev/null"\n' "$url" "$1"
        printf 'data = "{\\"apiVersion\\":\\"v1\\",\\"kind\\":\\"ConfigMap\\",\\"metadata\\":{\\"name\\":\\"mux%d\\",\\"labels\\":{\\"mux\\":\\"yes\\"}},\\"data\\":{\\"n\\":\\"%s-%d\\"}}"\n' "$i" "$1" "$i"
        printf 'write-out = "%%{http_code} %%{http_version} %%{num_connects}\\n"\n'
    done
}
for m in POST PUT; do
    par $m >"$E2E_TMP/par.cfg"
    out=$(curl --no-progress-meter --parallel --parallel-max 40 -K "$E2E_TMP/par.cfg" 2>&1)
    assert_eq "40 $([ $m = POST ] && echo 201 || echo 200) 2" "$(cut -d' ' -f1,2 <<<"$out" | sort | uniq -c | sed 's/^ *//')" \
        "40 concurrent ${m}s over HTTP/2 all succeed"
    assert_eq 1 "$(awk '{s += $3} END {print s}' <<<"$out")" "the 40 ${m}s share one connection"
done
got=$(api_body "$(api GET "$CM?labelSelector=mux%3Dyes")" | python3 -c 'import json,sys
print(" ".join(sorted(i["metadata"]["name"] + "=" + i["data"]["n"] for i in json.load(sys.stdin)["items"])))')
assert_eq "$(for i in $(seq 1 40); do echo "mux$i=PUT-$i"; done | sort | tr '\n' ' ' | sed 's/ $//')" "$got" \
    "every object has its own PUT"
api DELETE "$CM?labelSelector=mux%3Dyes" >/dev/null # the pagination checks below count ConfigMaps

# Pagination over a consistent snapshot.
for i in 1 2 3 4; do
    api POST $CM -H 'Content-Type: application/json' \
        -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"p'$i'","labels":{"page":"yes"}}}' >/dev/null
done
out=$(api GET "$CM?limit=2")
body=$(api_body "$out")
assert_eq 2 "$(echo "$body" | jget items | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "limit=2 gives 2 items"
cont=$(echo "$body" | jget metadata.continue)
assert_eq 4 "$(echo "$body" | jget metadata.remainingItemCount)" "remainingItemCount"
api POST $CM -H 'Content-Type: application/json' -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"p9"}}' >/dev/null
names=""
while [ -n "$cont" ]; do
    body=$(api_body "$(api GET "$CM?limit=2&continue=$cont")")
    names="$names $(echo "$body" | python3 -c 'import json,sys; print(" ".join(i["metadata"]["name"] for i in json.load(sys.stdin)["items"]))')"
    cont=$(echo "$body" | jget metadata.continue)
done
assert_eq " p1 p2 p3 p4" "$names" "later pages come from the first page's snapshot"
out=$(api GET "$CM?labelSelector=page%3Dyes")
assert_eq 4 "$(api_body "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')" "labelSelector over HTTP"

# Watch over HTTP/1.1 (chunked) and HTTP/2, resuming from an RV.
rv=$(api_body "$(api GET "$CM")" | jget metadata.resourceVersion)
for proto in --http1.1 --http2; do
    curl -sS $proto -N -D "$E2E_TMP/h$proto" --cacert "$DEVAPI_CA" -H "Authorization: Bearer $DEVAPI_TOKEN" \
        "$DEVAPI_URL$CM?watch=1&resourceVersion=$rv&timeoutSeconds=3" >"$E2E_TMP/w$proto" &
    E2E_BG_PIDS+=($!)
done
sleep 0.5
api PATCH $CM/p1 -H 'Content-Type: application/merge-patch+json' -d '{"data":{"x":"y"}}' >/dev/null
api DELETE $CM/p2 >/dev/null
api POST $CM -H 'Content-Type: application/json' -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"p5"}}' >/dev/null
wait "${E2E_BG_PIDS[@]}" 2>/dev/null
E2E_BG_PIDS=()
for proto in --http1.1 --http2; do
    types=$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["type"]+":"+json.loads(l)["object"]["metadata"]["name"] for l in open(sys.argv[1]) if l.strip()))' "$E2E_TMP/w$proto")
    assert_eq "MODIFIED:p1 DELETED:p2 ADDED:p5" "$types" "watch events over $proto"
done
assert_contains "$(tr -d '\r' <"$E2E_TMP/h--http1.1" | tr 'A-Z' 'a-z')" "transfer-encoding: chunked" "HTTP/1.1 watch is chunked"
assert_contains "$(head -1 "$E2E_TMP/h--http2")" "HTTP/2 200" "HTTP/2 watch"

# Bookmark at timeout; 410 for an RV that left the window.
out=$(curl -sS -N --cacert "$DEVAPI_CA" -H "Authorization: Bearer $DEVAPI_TOKEN" \
    "$DEVAPI_URL$CM?watch=1&resourceVersion=$(api_body "$(api GET "$CM")" | jget metadata.resourceVersion)&allowWatchBookmarks=true&timeoutSeconds=1")
assert_contains "$(echo "$out" | tail -1)" '"type":"BOOKMARK"' "bookmark at timeout"
for i in $(seq 1 25); do
    api PATCH $CM/p1 -H 'Content-Type: application/merge-patch+json' -d '{"data":{"n":"'$i'"}}' >/dev/null
done
out=$(curl -sS -N --cacert "$DEVAPI_CA" -H "Authorization: Bearer $DEVAPI_TOKEN" \
    "$DEVAPI_URL$CM?watch=1&resourceVersion=$rv&timeoutSeconds=2")
assert_contains "$out" '"type":"ERROR"' "too old RV -> ERROR event"
assert_contains "$out" '"code":410' "ERROR event carries 410"
assert_contains "$out" "too old resource version: $rv" "410 message"
out=$(api GET "$CM?limit=1")
cont=$(api_body "$out" | jget metadata.continue)
for i in $(seq 1 25); do
    api PATCH $CM/p1 -H 'Content-Type: application/merge-patch+json' -d '{"data":{"m":"'$i'"}}' >/dev/null
done
out=$(api GET "$CM?limit=1&continue=$cont")
assert_eq 410 "$(api_code "$out")" "expired continue token -> 410"
assert_eq Expired "$(api_body "$out" | jget reason)" "410 reason Expired"

# Tokens, RBAC and auth can-i.
out=$(API_TOKEN=bob-token api GET $CM)
assert_eq 403 "$(api_code "$out")" "bob cannot list configmaps"
assert_eq 'configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "default"' \
    "$(api_body "$out" | jget message)" "403 message"
assert_eq no "$(k --token=bob-token auth can-i list configmaps 2>/dev/null)" "can-i as bob before the binding"
assert_eq yes "$(k auth can-i list configmaps)" "can-i as admin"
k create role cm-reader --verb=get,list --resource=configmaps >/dev/null 2>&1 || k apply -f - >/dev/null <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-reader, namespace: default}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get, list]}]
EOF
k apply -f - >/dev/null <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs-read, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}
subjects: [{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]
EOF
assert_eq yes "$(k --token=bob-token auth can-i list configmaps 2>/dev/null)" "can-i as bob after the binding"
assert_eq no "$(k --token=bob-token auth can-i delete configmaps 2>/dev/null)" "bob still cannot delete"
assert_eq 200 "$(api_code "$(API_TOKEN=bob-token api GET $CM)")" "bob lists configmaps"

# deletecollection with a label selector.
out=$(api DELETE "$CM?labelSelector=page%3Dyes")
assert_eq 200 "$(api_code "$out")" "deletecollection"
assert_eq 0 "$(api_body "$(api GET "$CM?labelSelector=page%3Dyes")" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')" \
    "deletecollection removed the selected objects"
assert_eq 200 "$(api_code "$(api GET $CM/p9)")" "deletecollection kept the others"
devapi_stop

# Plain HTTP (explicit flag): kubectl sends no token over HTTP, so requests
# without credentials act as admin, as kube-apiserver's insecure port did.
DEVAPI_DIR=$E2E_TMP/plain; devapi_start --insecure-http --token-auth-file "$E2E_TMP/tokens.csv"
assert_contains "$DEVAPI_URL" "http://" "--insecure-http serves plain HTTP"
assert_eq yes "$(k auth can-i list secrets)" "admin over plain HTTP"
assert_eq 403 "$(api_code "$(API_TOKEN=bob-token api GET $CM)")" "a token still authenticates over HTTP"
devapi_stop

# Impersonation (kubectl --as) fails closed: lws 4.1 cannot read
# Impersonate-* headers on HTTP/2 streams, so by default the server speaks
# HTTP/1.1 only (ALPN http/1.1, h2c upgrades refused). kubectl asks for h2
# by default and DISABLE_HTTP2=1 makes it ask for HTTP/1.1: either way an
# impersonating request runs as the impersonated user, never as the caller.
DEVAPI_DIR=$E2E_TMP/imp; devapi_start --token-auth-file "$E2E_TMP/tokens.csv"
assert_eq 1.1 "$(curl -sS --http2 -o /dev/null -w '%{http_version}' --cacert "$DEVAPI_CA" "$DEVAPI_URL/readyz")" \
    "ALPN offers only http/1.1 by default"
out=$(curl -sS --http1.1 -o /dev/null -w '%{http_code} %{http_version}' --cacert "$DEVAPI_CA" \
    -H "Authorization: Bearer $DEVAPI_TOKEN" -H 'Connection: Upgrade, HTTP2-Settings' -H 'Upgrade: h2c' \
    -H 'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA' "$DEVAPI_URL/api/v1/namespaces")
assert_eq 400 "${out% *}" "an h2c upgrade is refused"
SA=system:serviceaccount:ns:nobody
kh2() { k "$@"; }
kh1() { DISABLE_HTTP2=1 k "$@" 2> >(grep -v "HTTP2 has been explicitly disabled" >&2); }
for kc in kh2 kh1; do
    assert_eq no "$($kc auth can-i create secrets --as=$SA 2>/dev/null)" "$kc: can-i --as runs as the impersonated SA"
    assert_contains "$($kc get secrets --as=$SA 2>&1)" \
        "secrets is forbidden: User \"$SA\" cannot list resource \"secrets\"" "$kc: get --as is 403"
    assert_eq "$SA" "$($kc auth whoami --as=$SA -o jsonpath='{.status.userInfo.username}' 2>&1)" \
        "$kc: whoami --as shows the impersonated user"
    assert_eq "u-7" "$($kc auth whoami --as=$SA --as-uid=u-7 -o jsonpath='{.status.userInfo.uid}' 2>&1)" \
        "$kc: --as-uid"
    assert_eq no "$($kc auth can-i list secrets --as=bob 2>/dev/null)" "$kc: --as=bob is honoured"
    assert_eq yes "$($kc auth can-i list secrets --as=bob --as-group=system:masters 2>/dev/null)" "$kc: --as-group"
    assert_contains "$($kc --token=bob-token get secrets --as=admin 2>&1)" "cannot impersonate" "$kc: bob may not impersonate"
done
assert_eq yes "$(k auth can-i create secrets)" "without --as, admin is admin"
out=$(api GET /api/v1/namespaces -H 'Impersonate-Group: devs' -H 'Impersonate-Uid: u-9')
assert_eq 400 "$(api_code "$out")" "Impersonate-Group/-Uid without Impersonate-User -> 400"
assert_eq 'requested &user.DefaultInfo{Name:"", UID:"u-9", Groups:[]string{"devs"}, Extra:map[string][]string(nil)} without impersonating a user name' \
    "$(api_body "$out" | jget message)" "... in kube-apiserver's words"
devapi_stop

# A certificate of our own (--tls-cert/--tls-key) instead of a generated CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$E2E_TMP/own.key" -out "$E2E_TMP/own.crt" >/dev/null 2>&1
DEVAPI_DIR=$E2E_TMP/owncert; devapi_start --tls-cert "$E2E_TMP/own.crt" --tls-key "$E2E_TMP/own.key"
assert_eq "$(base64 -w0 <"$E2E_TMP/own.crt")" "$(awk '/certificate-authority-data/ {print $2}' "$KUBECONFIG")" \
    "kubeconfig trusts the given certificate"
assert_contains "$(k get ns default)" "Active" "kubectl over the given certificate"

e2e_finish
