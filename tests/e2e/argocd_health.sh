#!/usr/bin/env bash
# argocd_health.sh SCRIPT.lua < OBJECT.json - run one of the chart's Argo CD
# health checks (charts/paybill/argocd/*.lua) the way Argo CD does: in a
# Lua 5.1 interpreter (lua5.1, hack/deps.sh), with the live object as the
# global obj; prints "STATUS<TAB>MESSAGE". Exits non-zero when the script
# fails or returns something Argo CD would not accept.
set -euo pipefail
script=$1
lua=$(command -v lua5.1 || true)
[ -n "$lua" ] || { echo "argocd_health: lua5.1 not installed (hack/deps.sh installs it)" >&2; exit 2; }
obj=$(python3 -c '
import json, sys
def lua(v):
    if v is None: return "nil"
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, (int, float)): return repr(v)
    if isinstance(v, str):  # every byte outside [A-Za-z0-9 ] as a decimal escape
        return "\"" + "".join(chr(b) if chr(b).isalnum() and b < 128 or b == 32 else "\\%03d" % b for b in v.encode()) + "\""
    if isinstance(v, list): return "{" + ",".join(lua(x) for x in v) + "}"
    return "{" + ",".join("[%s]=%s" % (lua(k), lua(x)) for k, x in v.items()) + "}"
print(lua(json.load(sys.stdin)))')
"$lua" - "$script" <<LUA
obj = $obj
local chunk = assert(loadfile(arg[1]))
local ok, hs = pcall(chunk)
if not ok then io.stderr:write("health script error: " .. tostring(hs) .. "\n"); os.exit(3) end
local valid = {Healthy = true, Progressing = true, Degraded = true, Suspended = true, Missing = true, Unknown = true}
if type(hs) ~= "table" or not valid[hs.status] or type(hs.message) ~= "string" then
  io.stderr:write("health script returned no {status, message}\n"); os.exit(4)
end
io.write(hs.status .. "\t" .. hs.message .. "\n")
LUA
