-- Argo CD health of an otp.agents.dev Agent, read from the status the agent-supervisor operator writes:
-- status.phase (a function of the conditions), the conditions, and the generations they were written for.
-- Argo CD runs each health script alone, without modules: agentsupervisor.lua repeats the small helpers.
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

-- The newest generation any writer has reported. A supervised Agent's status is written by its supervisor
-- and by its own reconcile, each stamping the conditions it owns, so the conditions count as well as
-- status.observedGeneration.
local function observed_generation(status)
  local newest = status.observedGeneration
  for _, condition in ipairs(status.conditions or {}) do
    local seen = condition.observedGeneration
    if seen ~= nil and (newest == nil or seen > newest) then
      newest = seen
    end
  end
  return newest
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
  hs.message = "Waiting for the operator to report the agent's status"
  return hs
end

local generation = obj.metadata.generation
local observed = observed_generation(status)
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local phase = status.phase
if phase == "Failed" then
  local cause = is_true(status, "Invalid") or is_true(status, "RestartBudgetExhausted")
    or is_true(status, "Terminated")
  hs.status = "Degraded"
  hs.message = message_of(cause, "The agent failed")
elseif phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = message_of(is_true(status, "Terminated"), "The agent completed its task")
elseif phase == "Stopped" then
  hs.status = "Suspended"
  hs.message = message_of(is_true(status, "Terminated"), "The agent was stopped")
elseif phase == "Running" then
  local config = find_condition(status, "ConfigApplied")
  local progressing = is_true(status, "Progressing")
  if config ~= nil and config.status == "False" and config.reason == "Pending" then
    hs.status = "Progressing"
    hs.message = message_of(config, "The agent has not applied its new configuration yet")
  elseif progressing ~= nil then
    -- Serving, while its pod is replaced for a changed spec.
    hs.status = "Progressing"
    hs.message = message_of(progressing, "The agent is being updated")
  else
    hs.status = "Healthy"
    hs.message = message_of(is_true(status, "Ready"), "The agent is running")
  end
else
  -- Pending, Starting, Restarting: the operator is bringing the agent (back) up.
  hs.status = "Progressing"
  hs.message = message_of(find_condition(status, "Progressing"), "The agent is " .. string.lower(phase))
end
return hs
