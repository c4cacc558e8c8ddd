-- wrk-json.lua: makes wrk print its summary as one JSON line (prefixed "WRKJSON ") after the usual
-- report, so bench/run.sh does not have to parse wrk's human-readable units. Defines only done(), so
-- wrk keeps sending its pre-built request (no per-request Lua cost).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"req_per_sec":%.1f,"bytes_per_req":%.1f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_ms":{"p50":%.3f,"p90":%.3f,"p99":%.3f,"p999":%.3f,"max":%.3f,"mean":%.3f}}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.requests / (summary.duration / 1e6),
    summary.requests > 0 and summary.bytes / summary.requests or 0,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, latency.mean / 1000))
end
