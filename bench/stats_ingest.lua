-- wrk: POST /stats batches of BATCH fragments (as an SCV's outbox sends
-- them, 200 by default), each from a random one of the 100,000 filled
-- donors, with ids made as an SCV makes them (src/scv/scv_index.c): 12 hex
-- digits of the time in milliseconds then 20 random ones. The server
-- secret comes from the environment (CC_PASS).
local batch = tonumber(os.getenv("BATCH") or "200")
local secret = os.getenv("CC_PASS")
local counter = 0
local nthreads = 0

-- Runs in wrk's main state: numbers each thread (the global tid there).
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

function init()
  math.randomseed(os.time() + tid)
end

-- A fragment id: the time in ms (wrk's Lua has seconds; the request
-- counter stands in for the milliseconds) as 12 hex digits, 80 random bits.
local function fragment_id()
  local ms = os.time() * 1000 + counter % 1000
  return string.format("%06x%06x%05x%05x%05x%05x", math.floor(ms / 16777216), ms % 16777216,
    math.random(0, 1048575), math.random(0, 1048575), math.random(0, 1048575), math.random(0, 1048575))
end

request = function()
  counter = counter + 1
  local parts = {}
  for k = 1, batch do
    parts[k] = string.format(
      '{"id":"%s","target_id":"target-%d","stream_id":"s%d:scv1","engine":"openmm","user":"donor%d",' ..
      '"start_time":1,"end_time":2,"frames":%d}', fragment_id(), math.random(0, 99), k,
      math.random(0, 99999), math.random(1, 20))
  end
  local body = '{"fragments":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/stats", {["Authorization"] = secret, ["Content-Type"] = "application/json"}, body)
end
