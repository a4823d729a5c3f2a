-- GET the URL as a logged-in supervisor (SB_COOKIE: "sb_session=...").
wrk.headers["Cookie"] = os.getenv("SB_COOKIE") or ""
function done(summary, latency, requests)
  io.write(string.format("LAT p50_us=%d p99_us=%d non2xx=%d\n",
    latency:percentile(50), latency:percentile(99),
    summary.errors.status))
end
