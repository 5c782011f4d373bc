-- wrk script: GET /v1/kv/bench/<8-digit key> of random keys over KEYSPACE (the keys
-- must be preloaded: a 404 counts as non-2xx). Also the load for hello_server, which
-- answers any request, so both see byte-identical requests.
package.path = (os.getenv("LUA_DIR") or ".") .. "/?.lua;" .. package.path
local m = require("meshkv-common")
local reqs, n = {}, 0
function init(args)
  for i = 0, m.keyspace - 1 do
    reqs[i + 1] = wrk.format("GET", m.path(i), m.headers())
  end
  n = m.keyspace
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
function request() return reqs[math.random(n)] end
function done(summary, latency, requests) m.done(summary, latency, requests) end
