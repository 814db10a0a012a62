"""licence_verify.py - verify Paybill licences with PyJWT, an independent,
widely used JWT implementation (tests/e2e/test_licence.sh).

  licence_verify.py JWKS_FILE TOKEN_FILE [--iss I] [--aud A] [--sub S]
                    [--at EPOCH] [--no-exp] [--tamper]
Prints the verified claims as JSON and exits 0, or prints the PyJWT error
class and message and exits 1. --at verifies as if the clock said EPOCH;
--no-exp skips only the expiry check (to tell a removed key from an
expired token); --tamper changes a claim (keeping the signature) first.
"""
import argparse
import base64
import json
import sys
from unittest import mock

import jwt


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jwks")
    ap.add_argument("token")
    ap.add_argument("--iss", default="paybill")
    ap.add_argument("--aud", default="paybill-tenant")
    ap.add_argument("--sub")
    ap.add_argument("--at", type=float)
    ap.add_argument("--no-exp", action="store_true")
    ap.add_argument("--tamper", action="store_true")
    a = ap.parse_args()
    token = open(a.token).read().strip()
    if a.tamper:
        h, p, s = token.split(".")
        claims = json.loads(b64d(p))
        claims["paybill"]["plan"] = "enterprise"
        claims["paybill"]["status"] = "active"
        token = ".".join([h, b64e(json.dumps(claims).encode()), s])
    keys = jwt.PyJWKSet.from_dict(json.load(open(a.jwks)))
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = next((k for k in keys.keys if k.key_id == kid), None)
        if key is None:
            raise jwt.PyJWKError("no key with kid %r in the JWKS" % kid)
        opts = {"require": ["exp", "iat", "nbf", "iss", "sub", "aud", "jti"]}
        if a.no_exp:
            opts["verify_exp"] = False
        kw = dict(key=key.key, algorithms=["EdDSA"], audience=a.aud, issuer=a.iss, options=opts)
        if a.sub:
            kw["subject"] = a.sub
        if a.at is not None:
            import datetime as real
            fake = mock.MagicMock(wraps=real.datetime)
            fake.now = lambda tz=None: real.datetime.fromtimestamp(a.at, tz=tz)
            with mock.patch("jwt.api_jwt.datetime", fake):
                claims = jwt.decode(token, **kw)
        else:
            claims = jwt.decode(token, **kw)
    except (jwt.PyJWTError, jwt.PyJWKError) as e:
        print("%s: %s" % (type(e).__name__, e))
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
