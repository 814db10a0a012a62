-- Argo CD health check for paybill.dev/Workflow (resource.customizations.health.paybill.dev_Workflow).
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
local why = "workflow is " .. phase .. (obj.status.progress and (" (" .. obj.status.progress .. " steps)") or "")
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then why = why .. " - " .. msg(ready) end
if phase == "Succeeded" then return {status = "Healthy", message = why} end
if phase == "Failed" or phase == "Denied" then return {status = "Degraded", message = why} end
if phase == "AwaitingApproval" then
  local a = obj.status.awaitingApproval
  if a ~= nil and a.step ~= nil then why = why .. "; step " .. a.step .. " needs an Approval" end
  return {status = "Suspended", message = why}
end
return {status = "Progressing", message = why}
