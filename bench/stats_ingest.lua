-- wrk: POST /stats batches of BATCH fragments (as an SCV's outbox sends
-- them, 200 by default), each from a random one of the 100,000 filled
-- donors, with ids unique across threads and requests. The server secret
-- comes from the environment (CC_PASS).
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

request = function()
  counter = counter + 1
  local parts = {}
  for k = 1, batch do
    parts[k] = string.format(
      '{"id":"ing-%d-%d-%d","target_id":"target-%d","stream_id":"s%d:scv1","engine":"openmm","user":"donor%d",' ..
      '"start_time":1,"end_time":2,"frames":%d}', tid, counter, k, math.random(0, 99), k,
      math.random(0, 99999), math.random(1, 20))
  end
  local body = '{"fragments":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/stats", {["Authorization"] = secret, ["Content-Type"] = "application/json"}, body)
end
