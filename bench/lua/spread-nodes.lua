-- wrk wrapper: runs another wrk script (TARGET_SCRIPT, a path) and points wrk
-- thread i at node i mod #NODES, so the load is spread over every node of a
-- cluster (wrk gives each thread connections/threads connections, all to the
-- thread's address). NODES: "host:port host:port ..." (space or comma separated).
-- The Host header stays the one of the URL given to wrk; meshkv and etcd ignore it.
-- The wrapped script's setup() (if any) still runs, after the address is set.
local target = os.getenv("TARGET_SCRIPT") or error("spread-nodes.lua: set TARGET_SCRIPT")
local dir = target:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
dofile(target)
local inner_setup = rawget(_G, "setup")

local addrs = {}
for hp in (os.getenv("NODES") or ""):gmatch("[^%s,]+") do
  local host, port = hp:match("^(.*):(%d+)$")
  if not host then error("spread-nodes.lua: bad NODES entry " .. hp) end
  local a = wrk.lookup(host, port)
  if not a or #a == 0 then error("spread-nodes.lua: cannot resolve " .. hp) end
  addrs[#addrs + 1] = a[1]
end
if #addrs == 0 then error("spread-nodes.lua: set NODES") end

local nthreads = 0
function setup(thread)
  thread.addr = addrs[nthreads % #addrs + 1]
  nthreads = nthreads + 1
  if inner_setup then inner_setup(thread) end
end
