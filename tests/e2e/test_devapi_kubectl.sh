#!/usr/bin/env bash
# test_devapi_kubectl.sh - everyday kubectl against paybill-devapi: CRD
# lifecycle (Established), apply/get/describe/patch/replace/delete, printer
# columns, status subresource, label selectors, jsonpath, api-resources,
# explain, validation errors and strict field validation, wait --for=delete.
. "$(dirname "$0")/lib.sh"

devapi_start

# Discovery and built-ins.
out=$(k get ns -o name)
for ns in default kube-system kube-public; do assert_contains "$out" "namespace/$ns" "seeded namespace $ns"; done
out=$(k api-resources)
assert_contains "$out" "deployments" "api-resources lists deployments"
assert_contains "$out" "customresourcedefinitions" "api-resources lists CRDs"

apply_widget_crd
assert_eq "True" "$(k get crd widgets.e2e.paybill.dev -o jsonpath='{.status.conditions[?(@.type=="Established")].status}')" \
    "CRD Established condition"
assert_eq "Widget" "$(k get crd widgets.e2e.paybill.dev -o jsonpath='{.status.acceptedNames.kind}')" "acceptedNames.kind"
out=$(k api-resources --api-group=e2e.paybill.dev)
assert_contains "$out" "widgets" "api-resources shows the CRD resource"
assert_contains "$out" "wd" "api-resources shows the short name"

# Create through apply; defaulting; printer columns.
cat >"$E2E_TMP/w1.yaml" <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: w1, labels: {tier: gold}}
spec: {color: red}
EOF
assert_contains "$(k apply -f "$E2E_TMP/w1.yaml")" "widget.e2e.paybill.dev/w1 created" "apply creates"
assert_contains "$(k apply -f "$E2E_TMP/w1.yaml")" "unchanged" "re-apply is unchanged"
assert_eq "3" "$(k get wd w1 -o jsonpath='{.spec.size}')" "schema default spec.size"
assert_eq "1" "$(k get wd w1 -o jsonpath='{.metadata.generation}')" "generation starts at 1"
k create -f - >/dev/null <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: w2, labels: {tier: silver}}
spec: {color: blue}
EOF
out=$(k get widgets)
assert_contains "$out" "COLOR" "printer column header"
assert_contains "$(echo "$out" | grep '^w1')" "red" "printer column value"
assert_contains "$out" "AGE" "Age column"
assert_eq "w1" "$(k get wd -l tier=gold -o jsonpath='{.items[*].metadata.name}')" "label selector tier=gold"
assert_eq "w1 w2" "$(k get wd -l 'tier in (gold,silver)' -o jsonpath='{.items[*].metadata.name}')" "set-based selector"
assert_eq "w2" "$(k get wd -l 'tier!=gold' -o jsonpath='{.items[*].metadata.name}')" "!= selector"
assert_eq "w2" "$(k get wd --field-selector metadata.name=w2 -o jsonpath='{.items[*].metadata.name}')" "field selector"
assert_contains "$(k get paybill)" "w1" "get by category"

# Patch (spec bumps generation), status subresource, describe.
k patch wd w1 --type=merge -p '{"spec":{"color":"green"}}' >/dev/null
assert_eq "green/2" "$(k get wd w1 -o jsonpath='{.spec.color}/{.metadata.generation}')" "merge patch + generation"
k patch wd w1 --type=json -p '[{"op":"replace","path":"/spec/size","value":5}]' >/dev/null
assert_eq "5" "$(k get wd w1 -o jsonpath='{.spec.size}')" "json patch"
k label wd w1 extra=yes >/dev/null
assert_eq "3" "$(k get wd w1 -o jsonpath='{.metadata.generation}')" "metadata-only write keeps generation"
k patch wd w1 --subresource=status --type=merge \
    -p '{"status":{"conditions":[{"type":"Ready","status":"True"}]},"spec":{"color":"red"}}' >/dev/null
assert_eq "True/green/3" \
    "$(k get wd w1 -o jsonpath='{.status.conditions[0].status}/{.spec.color}/{.metadata.generation}')" \
    "status subresource takes only status"
k patch wd w1 --type=merge -p '{"status":{"conditions":[]}}' >/dev/null
assert_eq "True" "$(k get wd w1 -o jsonpath='{.status.conditions[0].status}')" "main endpoint ignores status"
assert_contains "$(k get wd w1)" "True" "Ready printer column from a filter JSONPath"
out=$(k describe wd w1)
assert_contains "$out" "Name:         w1" "describe name"
assert_contains "$out" "Color:  green" "describe spec"

# Replace.
k get wd w2 -o json | sed 's/"blue"/"red"/' | k replace -f - >/dev/null
assert_eq "red" "$(k get wd w2 -o jsonpath='{.spec.color}')" "replace"

# Validation: 422 with causes, unknown fields rejected (Strict) by kubectl.
out=$(k apply -f - 2>&1 <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: w3}
spec: {color: pink}
EOF
)
assert_contains "$out" 'spec.color: Unsupported value: "pink": supported values: "red", "green", "blue"' "enum violation"
out=$(k apply -f - 2>&1 <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: w3}
spec: {color: red, foo: 1}
EOF
)
assert_contains "$out" 'strict decoding error: unknown field "spec.foo"' "strict field validation"
out=$(k apply --validate=warn -f - 2>&1 <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: w3}
spec: {color: red, foo: 1}
EOF
)
assert_contains "$out" 'Warning: unknown field "spec.foo"' "fieldValidation=Warn gives a Warning header"
assert_eq "" "$(k get wd w3 -o jsonpath='{.spec.foo}')" "unknown field pruned"
k delete wd w3 >/dev/null
out=$(k create -f - 2>&1 <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: Bad_Name}
spec: {color: red}
EOF
)
assert_contains "$out" "a lowercase RFC 1123 subdomain" "name validation"

# explain on a CRD field (OpenAPI v3).
out=$(k explain widgets.spec.color)
assert_contains "$out" "The colour of the widget." "explain shows the description"

# Built-ins: configmap, deployment via apply; jsonpath.
k apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: default}
data: {a: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
EOF
assert_eq "1" "$(k get cm cfg -o jsonpath='{.data.a}')" "configmap data"
assert_eq "2" "$(k get deploy web -o jsonpath='{.spec.replicas}')" "deployment stored"
k scale deploy web --replicas=3 >/dev/null 2>&1 || k patch deploy web -p '{"spec":{"replicas":3}}' >/dev/null
assert_eq "3" "$(k get deploy web -o jsonpath='{.spec.replicas}')" "strategic merge patch on a deployment"

# Resource quantities come back in canonical form, as from kube-apiserver;
# one that does not parse is a 400 and a negative quota a 422.
k apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: ResourceQuota
metadata: {name: rq, namespace: default}
spec:
  hard: {requests.cpu: 1000m, requests.memory: 2048Mi, pods: 10}
EOF
assert_eq "1/2Gi/10" \
    "$(k get quota rq -o jsonpath='{.spec.hard.requests\.cpu}/{.spec.hard.requests\.memory}/{.spec.hard.pods}')" \
    "quota quantities in canonical form"
k patch quota rq --type=merge -p '{"spec":{"hard":{"requests.memory":"1.5Gi"}}}' >/dev/null
assert_eq "1536Mi" "$(k get quota rq -o jsonpath='{.spec.hard.requests\.memory}')" "patched quantity canonical"
out=$(k apply -f - 2>&1 <<'EOF'
apiVersion: v1
kind: ResourceQuota
metadata: {name: rq-bad, namespace: default}
spec:
  hard: {requests.cpu: 1Qi}
EOF
)
assert_contains "$out" "Error from server (BadRequest): error when creating \"STDIN\": ResourceQuota in version \"v1\" cannot be handled as a ResourceQuota: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)\$'" \
    "unparsable quantity refused as kube-apiserver does"
out=$(k apply -f - 2>&1 <<'EOF'
apiVersion: v1
kind: ResourceQuota
metadata: {name: rq-neg, namespace: default}
spec:
  hard: {requests.cpu: "-1"}
EOF
)
assert_contains "$out" 'The ResourceQuota "rq-neg" is invalid: spec.hard[requests.cpu]: Invalid value: "-1": must be greater than or equal to 0' \
    "negative quota refused with the field path"
out=$(k get quota -o name 2>&1)
assert_eq "resourcequota/rq" "$out" "only the valid quota stored"
k delete quota rq >/dev/null

# kubectl create <kind> (typed clients send protobuf), scale, whoami, tokens.
assert_contains "$(k create namespace typed)" "namespace/typed created" "create namespace"
k -n typed create secret generic s --from-literal=a=b >/dev/null
assert_eq "Yg==/Opaque" "$(k -n typed get secret s -o jsonpath='{.data.a}/{.type}')" "create secret (data, default type)"
k -n typed create configmap c --from-literal=x=y >/dev/null
assert_eq y "$(k -n typed get cm c -o jsonpath='{.data.x}')" "create configmap"
k -n typed create deployment api --image=nginx --replicas=2 --port=8080 >/dev/null
assert_eq "2/nginx/8080" \
    "$(k -n typed get deploy api -o jsonpath='{.spec.replicas}/{.spec.template.spec.containers[0].image}/{.spec.template.spec.containers[0].ports[0].containerPort}')" \
    "create deployment"
k -n typed scale deploy api --replicas=4 >/dev/null
assert_eq 4 "$(k -n typed get deploy api -o jsonpath='{.spec.replicas}')" "scale through the scale subresource"
k -n typed create job once --image=busybox -- echo hi >/dev/null
assert_eq "Never/echo hi" "$(k -n typed get job once -o jsonpath='{.spec.template.spec.restartPolicy}/{.spec.template.spec.containers[0].command[*]}')" \
    "create job"
k -n typed create service clusterip web --tcp=80:8080 >/dev/null
assert_eq "80/8080" "$(k -n typed get svc web -o jsonpath='{.spec.ports[0].port}/{.spec.ports[0].targetPort}')" "create service"
k -n typed create serviceaccount bot >/dev/null
k -n typed create role reader --verb=get,list --resource=configmaps >/dev/null
k -n typed create rolebinding bot-reads --role=reader --serviceaccount=typed:bot >/dev/null
tok=$(k -n typed create token bot)
assert_eq yes "$(k --token="$tok" -n typed auth can-i list configmaps 2>/dev/null)" "ServiceAccount token + RoleBinding"
assert_eq no "$(k --token="$tok" -n typed auth can-i delete configmaps 2>/dev/null)" "ServiceAccount token is limited"
assert_contains "$(k --token="$tok" auth whoami)" "system:serviceaccount:typed:bot" "auth whoami"
out=$(k -n typed get all)
assert_contains "$out" "deployment.apps/api" "get all"
assert_contains "$(k -n typed get deploy api)" "0/4" "deployment READY column"
assert_contains "$(k get crd)" "CREATED AT" "CRD table shows CREATED AT"

# Delete and wait --for=delete.
k delete wd w2 >/dev/null
assert_contains "$(k get wd w2 2>&1)" 'widgets.e2e.paybill.dev "w2" not found' "deleted object is gone"
k patch wd w1 --type=merge -p '{"metadata":{"finalizers":["e2e.paybill.dev/hold"]}}' >/dev/null
k delete wd w1 --wait=false >/dev/null
assert_contains "$(k get wd w1 -o jsonpath='{.metadata.deletionTimestamp}')" "T" "finalizer holds the object"
( sleep 1; k patch wd w1 --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null ) &
E2E_BG_PIDS+=($!)
assert_ok "wait --for=delete" k wait --for=delete wd/w1 --timeout=20s

# Deleting the CRD deletes its objects first (finalizers honoured), then it.
k apply -f - >/dev/null <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: last, finalizers: [e2e.paybill.dev/hold]}
spec: {color: red}
EOF
curl -sS -N --cacert "$DEVAPI_CA" -H "Authorization: Bearer $DEVAPI_TOKEN" \
    "$DEVAPI_URL/apis/e2e.paybill.dev/v1/widgets?watch=1&timeoutSeconds=120" >"$E2E_TMP/crdwatch" 2>&1 &
CRD_WATCH=$!
k delete crd widgets.e2e.paybill.dev --wait=false >/dev/null
assert_contains "$(k get crd widgets.e2e.paybill.dev -o jsonpath='{.metadata.deletionTimestamp}')" "T" "CRD terminating"
assert_contains "$(k get wd last -o jsonpath='{.metadata.deletionTimestamp}')" "T" "its objects are being deleted"
out=$(k create -f - 2>&1 <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: toolate}
spec: {color: red}
EOF
)
assert_contains "$out" "create not allowed while custom resource definition is terminating" "no creates while the CRD terminates"
k patch wd last --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
assert_ok "CRD gone" wait_for 10 bash -c "! kubectl get crd widgets.e2e.paybill.dev"
assert_ok "watches on the resource end with the CRD" wait_for 10 bash -c "! kill -0 $CRD_WATCH"
assert_contains "$(cat "$E2E_TMP/crdwatch")" '"type":"DELETED"' "the watch saw the objects go"
assert_eq 404 "$(api_code "$(api GET /apis/e2e.paybill.dev/v1/widgets)")" "resource no longer served"

e2e_finish
