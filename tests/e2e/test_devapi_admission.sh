#!/usr/bin/env bash
# test_devapi_admission.sh - admission webhooks wired into writes: a
# mutating webhook (JSONPatch) runs before schema validation, a validating
# webhook can deny, failurePolicy Fail turns an unreachable webhook into an
# error. The webhook is a small HTTPS server in python3 on loopback.
. "$(dirname "$0")/lib.sh"

if ! command -v python3 >/dev/null || ! command -v openssl >/dev/null; then
    echo "SKIP: needs python3 and openssl" >&2
    exit 0
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$E2E_TMP/hook.key" -out "$E2E_TMP/hook.crt" >/dev/null 2>&1
cat >"$E2E_TMP/hook.py" <<'EOF'
import base64, json, ssl, sys
from http.server import HTTPServer, BaseHTTPRequestHandler

class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        req = review["request"]
        obj = req.get("object") or {}
        resp = {"uid": req["uid"], "allowed": True}
        if self.path.split("?")[0] == "/mutate":
            # size is required by nothing but defaulted by the schema to 3;
            # setting it here proves mutation happens before validation.
            patch = [{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}},
                     {"op": "add", "path": "/spec/size", "value": 7}]
            resp["patchType"] = "JSONPatch"
            resp["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        elif obj.get("spec", {}).get("color") == "blue":
            resp["allowed"] = False
            resp["status"] = {"code": 403, "message": "blue is not allowed"}
        out = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass

srv = HTTPServer(("127.0.0.1", 0), Hook)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(sys.argv[3] + ".tmp", "w") as f:
    f.write(str(srv.server_port))
import os
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
srv.serve_forever()
EOF
python3 "$E2E_TMP/hook.py" "$E2E_TMP/hook.crt" "$E2E_TMP/hook.key" "$E2E_TMP/hook.port" &
HOOK_PID=$!
E2E_BG_PIDS+=($HOOK_PID)
wait_for 10 test -s "$E2E_TMP/hook.port" || { echo "FAIL: webhook server did not start" >&2; exit 1; }
HOOK="https://127.0.0.1:$(cat "$E2E_TMP/hook.port")"
CA=$(base64 -w0 <"$E2E_TMP/hook.crt")

devapi_start
apply_widget_crd
k apply -f - >/dev/null <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: e2e-mutate}
webhooks:
- name: mutate.e2e.paybill.dev
  clientConfig: {url: "$HOOK/mutate", caBundle: "$CA"}
  rules: [{operations: [CREATE], apiGroups: [e2e.paybill.dev], apiVersions: [v1], resources: [widgets]}]
  sideEffects: None
  admissionReviewVersions: [v1]
  failurePolicy: Fail
  timeoutSeconds: 5
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: e2e-validate}
webhooks:
- name: validate.e2e.paybill.dev
  clientConfig: {url: "$HOOK/validate", caBundle: "$CA"}
  rules: [{operations: [CREATE, UPDATE], apiGroups: [e2e.paybill.dev], apiVersions: [v1], resources: [widgets]}]
  sideEffects: None
  admissionReviewVersions: [v1]
  failurePolicy: Fail
  timeoutSeconds: 5
EOF

k apply -f - >/dev/null <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: ok}
spec: {color: red}
EOF
assert_eq "yes/7" "$(k get wd ok -o jsonpath='{.metadata.labels.mutated}/{.spec.size}')" "mutating webhook patched the object"
out=$(k apply -f - 2>&1 <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: nope}
spec: {color: blue}
EOF
)
assert_contains "$out" 'admission webhook "validate.e2e.paybill.dev" denied the request: blue is not allowed' \
    "validating webhook denies"
assert_contains "$(k get wd nope 2>&1)" "not found" "denied object was not stored"
out=$(k patch wd ok --type=merge -p '{"spec":{"color":"blue"}}' 2>&1)
assert_contains "$out" "blue is not allowed" "validating webhook runs on update"
assert_eq red "$(k get wd ok -o jsonpath='{.spec.color}')" "denied update changed nothing"

kill "$HOOK_PID" 2>/dev/null
wait "$HOOK_PID" 2>/dev/null
out=$(k apply -f - 2>&1 <<'EOF'
apiVersion: e2e.paybill.dev/v1
kind: Widget
metadata: {name: unreachable}
spec: {color: green}
EOF
)
assert_contains "$out" "failed calling webhook" "failurePolicy Fail with the webhook down"
assert_contains "$(k get wd unreachable 2>&1)" "not found" "nothing stored when the webhook is down"

e2e_finish
