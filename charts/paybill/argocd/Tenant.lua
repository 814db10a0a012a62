-- Argo CD health check for paybill.dev/Tenant (resource.customizations.health.paybill.dev_Tenant).
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
if obj.spec ~= nil and obj.spec.suspend == true and obj.status.phase == "Suspended" then
  return {status = "Suspended", message = "suspended (spec.suspend)" .. (ready and (" - " .. msg(ready)) or "")}
end
if obj.status.phase == "Suspended" then
  -- suspended by its subscription (unpaid, canceled, paused)
  return {status = "Suspended", message = ready and msg(ready) or "suspended"}
end
if ready == nil then return hs end
if ready.status == "True" then return {status = "Healthy", message = ready.message or ""} end
local degraded = {PlanNotFound = true, PlanInvalid = true, MultipleSubscriptions = true,
                  NamespaceNotOwned = true, SubscriptionNotReady = true, NoSubscription = true}
if obj.status.phase == "Failed" or degraded[ready.reason] then
  return {status = "Degraded", message = msg(ready)}
end
return {status = "Progressing", message = msg(ready)}
