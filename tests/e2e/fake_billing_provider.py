#!/usr/bin/env python3
"""fake_billing_provider.py - a local stand-in for a billing provider's API,
for tests/e2e/test_billing.sh (loopback only; records everything it gets).

  POST /v1/billing/meter_events   Stripe's Billing Meter Events (form body,
                                  Authorization: Bearer <api key>); like
                                  Stripe, an identifier seen before is not
                                  counted again (answered 200, recorded as
                                  duplicate)
  GET  /v1/subscriptions/<id>     Stripe's subscription object, from the
                                  state set through /_control (else 404)
  POST /usage                     the generic signed JSON usage report
                                  (Paybill-Webhook-Timestamp/-Signature,
                                  HMAC-SHA256 over "{t}.{body}", base64)
  POST /_control                  JSON: {"fail_next": N, "fail_status": 500}
                                  fail the next N reports; {"outage": bool}
                                  503 for every report while true;
                                  {"subscriptions": {id: object}}
  GET  /_log                      every request recorded, as a JSON array

Usage: fake_billing_provider.py PORTFILE API_KEY HMAC_SECRET
"""
import base64
import hashlib
import hmac
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, API_KEY, HMAC_SECRET = sys.argv[1], sys.argv[2], sys.argv[3].encode()
lock = threading.Lock()
log = []
seen = set()
state = {"fail_next": 0, "fail_status": 500, "outage": False, "subscriptions": {}}


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n)

    def failing(self):
        """The status to fail this report with, or None (lock held)."""
        if state["outage"]:
            return 503
        if state["fail_next"] > 0:
            state["fail_next"] -= 1
            return state["fail_status"]
        return None

    def do_GET(self):
        if self.path == "/_log":
            with lock:
                return self.reply(200, log)
        if self.path.startswith("/v1/subscriptions/"):
            sid = self.path[len("/v1/subscriptions/"):]
            ok = self.headers.get("Authorization") == "Bearer " + API_KEY
            with lock:
                obj = state["subscriptions"].get(sid)
                log.append({"kind": "fetch", "id": sid, "auth_ok": ok, "found": obj is not None})
            if not ok:
                return self.reply(401, {"error": {"message": "bad key"}})
            if obj is None:
                return self.reply(404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}})
            return self.reply(200, obj)
        self.reply(404, {})

    def do_POST(self):
        raw = self.body()
        if self.path == "/_control":
            with lock:
                state.update(json.loads(raw))
            return self.reply(200, {"ok": True})
        if self.path == "/v1/billing/meter_events":
            ok = self.headers.get("Authorization") == "Bearer " + API_KEY
            form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode(), strict_parsing=True).items()}
            rec = {"kind": "meter_event", "auth_ok": ok, "form": form,
                   "idempotency_key": self.headers.get("Idempotency-Key"),
                   "content_type": self.headers.get("Content-Type")}
            with lock:
                code = 401 if not ok else self.failing() or 200
                rec["status"] = code
                if code == 200:
                    rec["duplicate"] = form.get("identifier") in seen
                    seen.add(form.get("identifier"))
                log.append(rec)
            return self.reply(code, {"object": "billing.meter_event", "identifier": form.get("identifier")})
        if self.path == "/usage":
            ts = self.headers.get("Paybill-Webhook-Timestamp", "")
            sig = self.headers.get("Paybill-Webhook-Signature", "")
            want = "v1=" + base64.b64encode(hmac.new(HMAC_SECRET, ts.encode() + b"." + raw, hashlib.sha256).digest()).decode()
            ok = hmac.compare_digest(sig, want)
            doc = json.loads(raw)
            rec = {"kind": "usage", "sig_ok": ok, "doc": doc, "idempotency_key": self.headers.get("Idempotency-Key")}
            with lock:
                code = 401 if not ok else self.failing() or 200
                rec["status"] = code
                if code == 200:
                    rec["duplicate"] = doc.get("identifier") in seen
                    seen.add(doc.get("identifier"))
                log.append(rec)
            return self.reply(code, {"ok": code == 200})
        self.reply(404, {})


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
