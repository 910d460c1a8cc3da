-- wrk script: a mixed admin + device load on a `ztd bench seed` fleet. Every request should answer 200:
-- boots of registered devices, device pages (plain and filtered by serial), single devices by id, and
-- members pages of the three seeded groups. Prints the status codes seen, per code, at the end.
-- Usage: wrk ... -s bench/mixed.lua http://host:port -- <token> <boot bodies file> <device ids file> \
--          <group id> [<group id> ...]
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local bodies, ids, groups = {}, {}, {}
local auth, json = {}, { ["Content-Type"] = "application/json" }
local n = 0
codes = {}

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    if #line > 0 then out[#out + 1] = line end
  end
  assert(#out > 0, "mixed.lua: " .. path .. " is empty")
  return out
end

function init(args)
  assert(#args >= 4, "mixed.lua: pass <token> <bodies> <ids> <group id>... after --")
  auth = { ["Authorization"] = "Bearer " .. args[1] }
  bodies = lines(args[2])
  ids = lines(args[3])
  for i = 4, #args do groups[#groups + 1] = args[i] end
  n = (thread_index or 0) * 7919
end

local devices = "/beta/deviceManagement/windowsAutopilotDeviceIdentities"

-- Ten slots, in this order: 3 boots, 3 single devices, 1 device page, 1 filtered device page, 2 members pages.
function request()
  n = n + 1
  local slot = n % 10
  local k = math.floor(n / 10)
  if slot == 0 or slot == 4 or slot == 7 then
    return wrk.format("POST", "/device/v1/boot", json, bodies[k % #bodies + 1])
  elseif slot == 1 or slot == 5 or slot == 8 then
    return wrk.format("GET", devices .. "/" .. ids[k % #ids + 1], auth)
  elseif slot == 2 then
    return wrk.format("GET", devices .. "?$top=100", auth)
  elseif slot == 3 then
    return wrk.format("GET", devices .. "?$top=100&$filter=contains(serialNumber,'L" .. (k % 10) .. "-')", auth)
  else
    return wrk.format("GET", "/v1.0/groups/" .. groups[k % #groups + 1] .. "/members?$top=100", auth)
  end
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for code, count in pairs(t:get("codes") or {}) do
      total[code] = (total[code] or 0) + count
    end
  end
  for code, count in pairs(total) do
    io.write(string.format("status %d: %d\n", code, count))
  end
end
