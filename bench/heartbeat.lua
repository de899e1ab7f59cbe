-- POST /core/heartbeat cycling through the core tokens in $BENCH_TOKENS
-- (one a line); each wrk thread starts at a different offset.
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local counter = 0
local threads = 0
function setup(thread)
  thread:set("first", threads * 7919)
  threads = threads + 1
end
function init(args)
  counter = first or 0
end
function request()
  counter = counter + 1
  local t = tokens[(counter % #tokens) + 1]
  return wrk.format("POST", "/core/heartbeat", { ["Authorization"] = t })
end
