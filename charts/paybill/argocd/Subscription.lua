-- Argo CD health check for paybill.dev/Subscription (resource.customizations.health.paybill.dev_Subscription).
-- Lua 5.1, as Argo CD embeds it: obj is the live object; returns {status, message}.
-- Until the operator has observed the current generation the object is Progressing.
local hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil then return hs end
local gen = obj.metadata and obj.metadata.generation
if gen ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < gen) then
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
if ready == nil then return hs end
if ready.status ~= "True" then return {status = "Degraded", message = msg(ready)} end
local state = obj.status.state or ""
local active = cond("Active")
local why = "subscription is " .. state .. (active and (" - " .. msg(active)) or "")
if state == "paused" then return {status = "Suspended", message = why} end
if state == "trialing" or state == "active" then return {status = "Healthy", message = why} end
if state == "pending" then return {status = "Progressing", message = why} end
-- past_due (still entitled, in grace), unpaid, canceled: needs attention
return {status = "Degraded", message = why}
