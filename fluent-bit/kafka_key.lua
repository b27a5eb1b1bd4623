-- Log Sentinel: the Kafka message key and a slimmer record.
--
-- Sets record.logsentinel_key = "<namespace>/<service>" (the kafka output's message_key_field),
-- so that all records of one service land in one partition and one processor owns its windows.
-- The service is found exactly as src/logsentinel/parsing/workload.py finds it: the label
-- app.kubernetes.io/name, else the label app, else the workload named by the pod name
-- (Deployment <name>-<hash>-<5>, DaemonSet/Job <name>-<5>, StatefulSet <name>-<ordinal>).
--
-- Also drops kubernetes metadata the processors never read (docker_id, container_hash,
-- container_image, pod_id): less to ship, store in Kafka and parse.

local HASH_CHARS = "^[bcdfghjklmnpqrstvwxz2456789]+$"
local SUFFIX_CHARS = "^[a-z0-9]+$"

local function workload_from_pod_name(pod)
  local base, hash, suffix = string.match(pod, "^(.+)%-([^%-]+)%-([^%-]+)$")
  if base ~= nil and #suffix == 5 and string.match(suffix, SUFFIX_CHARS)
      and #hash >= 6 and #hash <= 10 and string.match(hash, HASH_CHARS) then
    return base
  end
  local name, tail = string.match(pod, "^(.+)%-([^%-]+)$")
  if name ~= nil and #tail == 5 and string.match(tail, SUFFIX_CHARS) then
    return name
  end
  local set = string.match(pod, "^(.+)%-%d+$")
  if set ~= nil then
    return set
  end
  return pod
end

local function service_name(kubernetes)
  local labels = kubernetes["labels"]
  if type(labels) == "table" then
    for _, label in ipairs({"app.kubernetes.io/name", "app"}) do
      local value = labels[label]
      if type(value) == "string" and value ~= "" then
        return value
      end
    end
  end
  local pod = kubernetes["pod_name"]
  if type(pod) == "string" and pod ~= "" then
    return workload_from_pod_name(pod)
  end
  return nil
end

function add_kafka_key(tag, timestamp, record)
  local kubernetes = record["kubernetes"]
  if type(kubernetes) ~= "table" then
    return 0, timestamp, record
  end
  local namespace = kubernetes["namespace_name"]
  local service = service_name(kubernetes)
  if type(namespace) == "string" and service ~= nil then
    record["logsentinel_key"] = namespace .. "/" .. service
  end
  kubernetes["docker_id"] = nil
  kubernetes["container_hash"] = nil
  kubernetes["container_image"] = nil
  kubernetes["pod_id"] = nil
  return 2, timestamp, record
end

