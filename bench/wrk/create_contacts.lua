-- POST /api/v1/contacts with a fresh id per request, spread over queues.
-- Each wrk thread and run gets its own id range so no two requests share an id.
local counter = 0
local base = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
-- `-- RUN` after the URL: each run gets its own range too.
function init(args)
  base = (tonumber(args[1]) or 0) * 10000000000 + (tid or 1) * 100000000
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("SB_BEARER") or "")
function request()
  counter = counter + 1
  local q = 2 + (counter % 5)
  return wrk.format(nil, "/api/v1/contacts", nil,
    string.format('{"id":%d,"queue":%d}', base + counter, q))
end
-- p50/p99 in a form the script can grep.
function done(summary, latency, requests)
  io.write(string.format("LAT p50_us=%d p99_us=%d non2xx=%d\n",
    latency:percentile(50), latency:percentile(99),
    summary.errors.status))
end
