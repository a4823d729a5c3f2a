-- POST /api/v1/contacts spread over queues. The server chooses each
-- contact's id (a body must not name one; the 201 answer says which).
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("SB_BEARER") or "")
function request()
  counter = counter + 1
  local q = 2 + (counter % 5)
  return wrk.format(nil, "/api/v1/contacts", nil,
    string.format('{"queue":%d}', q))
end
-- p50/p99 in a form the script can grep.
function done(summary, latency, requests)
  io.write(string.format("LAT p50_us=%d p99_us=%d non2xx=%d\n",
    latency:percentile(50), latency:percentile(99),
    summary.errors.status))
end
