-- Argo CD health of an otp.agents.dev AgentSupervisor, read from the status the agent-supervisor operator
-- writes: status.phase (a function of the conditions), the conditions, observedGeneration, readyChildren.
-- Argo CD runs each health script alone, without modules: agent.lua repeats the small helpers.
local hs = {}

local function find_condition(status, condition_type)
  for _, condition in ipairs(status.conditions or {}) do
    if condition.type == condition_type then
      return condition
    end
  end
  return nil
end

local function is_true(status, condition_type)
  local condition = find_condition(status, condition_type)
  if condition ~= nil and condition.status == "True" then
    return condition
  end
  return nil
end

local function message_of(condition, fallback)
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return fallback
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report the supervisor's status"
  return hs
end

local generation = obj.metadata.generation
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local phase = status.phase
local children = ""
if status.readyChildren ~= nil then
  children = " (" .. status.readyChildren .. " children ready)"
end
if phase == "Failed" then
  local cause = is_true(status, "Invalid") or is_true(status, "RestartBudgetExhausted")
    or is_true(status, "Terminated")
  hs.status = "Degraded"
  hs.message = message_of(cause, "The supervisor failed")
elseif phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = message_of(is_true(status, "Terminated"), "The supervisor completed")
elseif phase == "Stopped" then
  hs.status = "Suspended"
  hs.message = message_of(is_true(status, "Terminated"), "The supervisor was stopped")
elseif phase == "Running" then
  local progressing = is_true(status, "Progressing")
  local ready = find_condition(status, "Ready")
  if ready ~= nil and ready.status == "False" and ready.reason == "ChildStartFailed" then
    -- Serving, but a child added by a spec change cannot start: the spec needs a fix (or a reset).
    hs.status = "Degraded"
    hs.message = message_of(ready, "A child added by a spec change failed to start")
  elseif progressing ~= nil then
    -- Serving, while a spec change replaces, adds or removes children one at a time.
    hs.status = "Progressing"
    hs.message = message_of(progressing, "Updating") .. children
  else
    hs.status = "Healthy"
    hs.message = "Running" .. children
  end
else
  -- Pending, Starting, Restarting: children are being started or restarted.
  hs.status = "Progressing"
  hs.message = message_of(find_condition(status, "Progressing"), phase) .. children
end
return hs
