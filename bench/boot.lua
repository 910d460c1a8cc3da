-- wrk script: POST /device/v1/boot, cycling over the bodies in a file (one JSON body per line).
-- Usage: wrk ... -s bench/boot.lua http://host:port -- <bodies file>
local bodies = {}
local next_body = 0
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  local path = args[1] or error("boot.lua: pass the bodies file after --")
  for line in io.lines(path) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  assert(#bodies > 0, "boot.lua: no bodies in " .. path)
  -- Threads start at different places in the list.
  next_body = ((thread_index or 0) * 500) % #bodies
end

local headers = { ["Content-Type"] = "application/json" }

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", "/device/v1/boot", headers, bodies[next_body])
end
