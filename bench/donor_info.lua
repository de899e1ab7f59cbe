-- wrk: GET /donors/info/donorN for a random one of the 100,000 filled donors.
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/donors/info/donor" .. math.random(0, 99999))
end
