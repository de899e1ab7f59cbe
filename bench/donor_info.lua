-- wrk: GET /donors/info/donorN for a random one of the 100,000 filled donors.
-- With PACE_MS set, bench/paced.lua (through PACED_LUA) spaces the requests.
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/donors/info/donor" .. math.random(0, 99999))
end
if os.getenv("PACED_LUA") then dofile(os.getenv("PACED_LUA")) end
