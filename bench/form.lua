-- wrk script: POST one form body (application/x-www-form-urlencoded) to one path.
-- Usage: wrk ... -s bench/form.lua http://host:port -- <path> <body file>
local path, body

function init(args)
  path = args[1] or error("form.lua: pass the path and the body file after --")
  local file = assert(io.open(args[2] or error("form.lua: pass the body file"), "r"))
  body = file:read("*a"):gsub("%s+$", "")
  file:close()
end

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function request()
  return wrk.format("POST", path, headers, body)
end
