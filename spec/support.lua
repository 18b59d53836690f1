-- Shared helpers of the specs: run a test body as a loom task and check
-- that nothing leaked afterwards (no live task, timer, anchor, scope).
local loom = require "loom"
local testing = require "loom.testing"

local S = {}

--- A busted test body that runs `fn` inside loom.run (real clock), then
-- runs the leak check.
function S.async(fn)
  return function()
    loom.run(fn)
    testing.assert_clean()
  end
end

--- The same under the virtual clock: sleeps take no real time.
function S.vasync(fn)
  return function()
    testing.run(fn)
    testing.assert_clean()
  end
end

--- An event recorder: rec("x") appends, rec.list is the array.
function S.recorder()
  local list = {}
  return setmetatable({ list = list }, {
    __call = function(_, v) list[#list + 1] = v end,
  })
end

--- pcall that returns the error value (or fails the test if none).
function S.catch(fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error, got success")
  return e
end

return S
