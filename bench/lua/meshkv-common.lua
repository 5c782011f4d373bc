-- Shared helpers for the meshkv wrk scripts. Key formatting (bench/<8 digits>),
-- KEYSPACE / VALSIZE and the WRKJSON summary line come from the peer benchmark's
-- etcd-common.lua, so meshkv and etcd runs are parsed the same way.
-- Environment: PEER_LUA_DIR (peer-bench lua/), TOKEN (bearer token), KEYSPACE, VALSIZE.
package.path = (os.getenv("PEER_LUA_DIR") or "/work/shared/peer-bench/lua") .. "/?.lua;" .. package.path
local c = require("etcd-common")

local M = { keyspace = c.keyspace, valsize = c.valsize, done = c.done }

-- "/v1/kv/bench/00001234": the key needs no percent-encoding.
function M.path(i) return "/v1/kv/" .. c.key(i) end

function M.headers(extra)
  local token = os.getenv("TOKEN") or ""
  local h = { ["Authorization"] = "Bearer " .. token }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end
return M
