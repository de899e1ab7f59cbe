-- wrk: each connection waits PACE_MS (from the environment) after every
-- response before its next request, so the offered load stays below what
-- the server could take and the latencies are not queueing at saturation.
-- Other scripts take it in with dofile(PACED_LUA).
local pace = tonumber(os.getenv("PACE_MS") or "")
if pace then
  delay = function() return pace end
end
