-- Argo CD health check for Ferry's StorageNode and StorageCluster (ferry.dev/v1alpha1).
-- Derived from the operator's conditions Ready / Progressing / Degraded and from observedGeneration:
-- a status that does not yet reflect the latest spec (a freshly committed state change) is Progressing.
-- Lua 5.1 (Argo CD's gopher-lua). Install: see argocd-cm.yaml beside this file.
local hs = {}

local function cond(status, name)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == name then
      return c
    end
  end
  return nil
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

-- reasons of Ready=False that mean "on its way" rather than "broken"
local pending = {
  TransitionInProgress = true, WaitingForTurn = true, WaitingForPod = true, WaitingForCluster = true,
  PodNotReady = true, Rebalancing = true,
}

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end

local generation = (obj.metadata and obj.metadata.generation) or 0
if status.observedGeneration == nil or status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready, progressing, degraded = cond(status, "Ready"), cond(status, "Progressing"), cond(status, "Degraded")
for _, name in ipairs({"Ready", "Progressing", "Degraded"}) do
  local c = cond(status, name)
  if c ~= nil and c.observedGeneration ~= nil and c.observedGeneration < generation then
    hs.status = "Progressing"
    hs.message = c.type .. " condition is from generation " .. tostring(c.observedGeneration)
    return hs
  end
end

if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = text(degraded, "Degraded")
  return hs
end
if progressing ~= nil and progressing.status == "True" then
  hs.status = "Progressing"
  hs.message = text(progressing, "Transition in progress")
  return hs
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end
-- not Ready: shut down on purpose, a terminal state reached, on its way, or broken
if ready.reason == "ClusterShutDown" or (ready.reason == "StateReached" and status.state == "shutdown") then
  hs.status = "Suspended"
  hs.message = text(ready, "The storage cluster is shut down")
  return hs
end
if ready.reason == "StateReached" then
  hs.status = "Healthy"
  hs.message = text(ready, "State reached")
  return hs
end
if pending[ready.reason or ""] then
  hs.status = "Progressing"
  hs.message = text(ready, "Not ready yet")
  return hs
end
hs.status = "Degraded"
hs.message = text(ready, "Not ready")
return hs
