# hack/lib/pyjwt.sh - the independent JWT verifier the licence tests use:
# PyJWT (with cryptography, for EdDSA) in a virtualenv under .cache/ (or
# $PAYBILL_CACHE), installed from PyPI by pip the first time and reused.
#
#   pyjwt_ensure     creates/refreshes the venv; prints nothing on success
#   PYJWT_PYTHON     the venv's python (set by sourcing this file)
PYJWT_VERSION=2.10.1
PYJWT_VENV=${PAYBILL_CACHE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.cache}/pyjwt-$PYJWT_VERSION
PYJWT_PYTHON=$PYJWT_VENV/bin/python

pyjwt_ensure() {
  if [ -x "$PYJWT_PYTHON" ] && "$PYJWT_PYTHON" -c 'import jwt, cryptography' 2>/dev/null; then
    return 0
  fi
  local py
  py=$(command -v python3) || { echo "pyjwt: python3 not found" >&2; return 1; }
  rm -rf "$PYJWT_VENV"
  "$py" -m venv "$PYJWT_VENV" || { echo "pyjwt: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; return 1; }
  "$PYJWT_VENV/bin/pip" install -q --disable-pip-version-check "PyJWT[crypto]==$PYJWT_VERSION" \
    || { echo "pyjwt: pip install PyJWT[crypto]==$PYJWT_VERSION failed" >&2; return 1; }
}
