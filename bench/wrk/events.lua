-- wrk script: POST /api/v1/events as the Python SDK would, with a unique
-- client id per event, taking the session keys in turn.
--
--   wrk -t2 -c32 -d10s -s bench/wrk/events.lua http://127.0.0.1:PORT/api/v1/events -- KEYS_FILE [EVENTS]
--
-- EVENTS is 1 (the default: one EVENT object per request) or the size of
-- an {"events": [...]} batch. The final line is machine-readable:
--   WRK requests=… rps=… p50_ms=… p99_ms=… max_ms=… non2xx=… socket_errors=…

local threads = 0 -- counted in the main state by setup()
local keys = {}
local template
local n = 0

-- setup runs in the main state; thread:set makes "tid" a global of the thread's own state
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

-- one event; REQID is replaced per request, so every id stays unique. Ids
-- are shaped as the SDK makes them (observable._events.new_id): the time
-- first, so that ids made one after another sort side by side.
local function event(i, stamp)
  return string.format('{"id":"REQID%04x","name":"train_model_%d","status":"%s","duration_ms":1234.5,'
    .. '"timestamp":"%s","source":{"host":"bench","pid":4242,"sdk":"observable-python/0.1.0",'
    .. '"runtime":"CPython 3.11.9"}}', i, i % 20, (i % 10 == 0) and "failed" or "completed", stamp)
end

function init(args)
  local file = assert(io.open(args[1] or "", "r"), "usage: -- KEYS_FILE [EVENTS]: the keys file is missing")
  for line in file:lines() do
    if line ~= "" then keys[#keys + 1] = line end
  end
  file:close()
  assert(#keys > 0, "the keys file holds no session key")
  local batch = tonumber(args[2] or "1")
  local stamp = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
  if batch == 1 then
    template = event(0, stamp)
  else
    local events = {}
    for i = 1, batch do events[i] = event(i, stamp) end
    template = '{"events":[' .. table.concat(events, ",") .. ']}'
  end
end

-- a salt of this wrk process's own: two processes (bench/scaleout/run.sh)
-- number their threads and requests alike, and must not send the same ids
local function salt()
  local f = io.open("/dev/urandom", "rb")
  local b = f and f:read(4) or tostring(os.clock())
  if f then f:close() end
  return string.format("%02x%02x%02x%02x", b:byte(1, 4))
end

function request()
  n = n + 1
  if not runsalt then runsalt = salt() end
  -- 12 hex digits of milliseconds (os.time has seconds), the process, the thread, the request
  local body = template:gsub("REQID", string.format("%012x%s%04x%08x", os.time() * 1000, runsalt, tid, n))
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. keys[n % #keys + 1],
  }
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
