-- One bench scenario for wrk:
--   wrk ... -s scenario.lua URL -- METHOD PATH IDS_FILE BODY_FILE API_KEY TAG
-- PATH and the body may contain {id} (a random id from IDS_FILE, one per line) and
-- {unique} (TAG-thread-counter, unique per request). "-" means no ids / no body.
-- done() prints one line "BENCH_JSON {...}" with the counts and latency percentiles.

local thread_counter = 0

function setup(thread)
   thread_counter = thread_counter + 1
   thread:set("thread_number", thread_counter)
end

local method, path, body, key, tag
local ids = {}
local prebuilt = nil
local counter = 0

local function read_file(name)
   local f = assert(io.open(name, "r"))
   local text = f:read("*a")
   f:close()
   return text
end

function init(args)
   method, path, key, tag = args[1], args[2], args[5], args[6]
   if args[3] ~= "-" then
      for line in io.lines(args[3]) do
         if #line > 0 then table.insert(ids, line) end
      end
   end
   if args[4] ~= "-" then body = read_file(args[4]) end
   local headers = { ["X-API-Key"] = key }
   if body then headers["Content-Type"] = "application/json" end
   wrk.headers = headers
   math.randomseed(os.time() + (thread_number or 0) * 7919)
   local unique = string.find(path, "{unique}", 1, true) or (body and string.find(body, "{unique}", 1, true))
   if not unique then
      -- Same requests over and over: format them once, in a shuffled order.
      prebuilt = {}
      local count = math.max(#ids, 1)
      for i = 1, count do
         local id = ids[math.random(math.max(#ids, 1))] or ""
         local p = string.gsub(path, "{id}", id)
         local b = body and string.gsub(body, "{id}", id) or nil
         prebuilt[i] = wrk.format(method, p, nil, b)
      end
   end
end

function request()
   counter = counter + 1
   if prebuilt then
      return prebuilt[(counter - 1) % #prebuilt + 1]
   end
   local id = #ids > 0 and ids[math.random(#ids)] or ""
   local unique = tag .. "-" .. (thread_number or 0) .. "-" .. counter
   local p = string.gsub(string.gsub(path, "{id}", id), "{unique}", unique)
   local b = body and string.gsub(string.gsub(body, "{id}", id), "{unique}", unique) or nil
   return wrk.format(method, p, nil, b)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"p50": %d, "p95": %d, "p99": %d, "mean": %.1f, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(95), latency:percentile(99),
      latency.mean, latency.max))
end
