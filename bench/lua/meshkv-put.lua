-- wrk script: PUT /v1/kv/bench/<8-digit key> with a VALSIZE-byte body; keys cycle
-- over KEYSPACE (each wrk thread starts at a different offset), as etcd-put.lua does.
package.path = (os.getenv("LUA_DIR") or ".") .. "/?.lua;" .. package.path
local m = require("meshkv-common")
local reqs, n, idx = {}, 0, 0

local threads_setup = 0
function setup(thread) thread:set("tid", threads_setup); threads_setup = threads_setup + 1 end
function init(args)
  local body = string.rep("v", m.valsize)
  for i = 0, m.keyspace - 1 do
    reqs[i + 1] = wrk.format("PUT", m.path(i),
      m.headers({ ["Content-Type"] = "application/octet-stream" }), body)
  end
  n = m.keyspace
  idx = ((tonumber(rawget(_G, "tid")) or 0) * 7919) % n
end
function request() idx = idx % n + 1; return reqs[idx] end
function done(summary, latency, requests) m.done(summary, latency, requests) end
