-- wrk script: POST Alertmanager v4 groups of 10 alerts to /webhook, each group distinct (no
-- duplicates across requests or wrk threads).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

counter = 0

local function make_body(n)
  local parts = {}
  for i = 1, 10 do
    parts[i] = string.format('{"status":"firing","labels":{"alertname":"SpO2Low","severity":"critical","ward":"icu-1","patient":"p%05d"},"annotations":{"summary":"SpO2 below 90%% for 10 s"},"startsAt":"2026-11-22T01:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"%016x"}', i, n * 16 + i)
  end
  return string.format('{"receiver":"wardwatch","status":"firing","alerts":[%s],"groupLabels":{"alertname":"SpO2Low"},"commonLabels":{"alertname":"SpO2Low"},"externalURL":"http://am:9093","version":"4","groupKey":"{}:{g=\\"%d\\"}"}', table.concat(parts, ","), n)
end

request = function()
  counter = counter + 1
  -- Thread id in the low digits keeps the groups of different threads apart.
  local n = counter * 100 + tid
  return wrk.format("POST", "/webhook", {["Content-Type"] = "application/json"}, make_body(n))
end
