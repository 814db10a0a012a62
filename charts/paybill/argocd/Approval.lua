-- Argo CD health check for paybill.dev/Approval (resource.customizations.health.paybill.dev_Approval).
-- Lua 5.1, as Argo CD embeds it: obj is the live object; returns {status, message}.
-- Until the operator has observed the current generation the object is Progressing.
local hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil then return hs end
local gen = obj.metadata and obj.metadata.generation
-- (the spec is immutable after admission: a status without observedGeneration is current)
if gen ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < gen then
  hs.message = "waiting for the operator to observe generation " .. tostring(gen)
  return hs
end
local function cond(t)
  if obj.status.conditions == nil then return nil end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then return c end
  end
  return nil
end
local function msg(c) return (c.reason or "") .. ": " .. (c.message or "") end
local ready = cond("Ready")
local phase = obj.status.phase or ""
if phase == "Used" then return {status = "Healthy", message = "used by " .. (obj.status.usedBy or "a workflow step")} end
if phase == "Expired" then return {status = "Degraded", message = "expired before it was used"} end
if ready ~= nil and ready.status == "False" then return {status = "Degraded", message = msg(ready)} end
if phase == "Pending" then return {status = "Healthy", message = "granted; not used yet"} end
return hs
