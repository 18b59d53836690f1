--- Channels: FIFO queues of values between tasks, with backpressure.
-- `loom.channel()` is a rendezvous (a send waits for a receiver);
-- `loom.channel(n)` buffers up to `n` values; `loom.channel(math.huge)`
-- is unbounded. `nil` cannot be sent: `receive` returns `nil` once the
-- channel is closed and drained.
--
-- A value is never lost to cancellation: a receiver cancelled while it
-- waits takes nothing; a receiver cancelled at the moment a value is
-- handed to it returns that value and meets `Cancelled` at its next
-- checkpoint; a cancelled sender has sent nothing.
-- @module loom.channel
local core = require "loom.core"

local M = {}

--- Make a channel.
-- @tparam[opt=0] number capacity an integer >= 0, or `math.huge`
-- @treturn Channel
-- @usage
-- local ch = loom.channel(10)
-- g:spawn(function()
--   for i = 1, 3 do ch:send(i) end
--   ch:close()
-- end)
-- for v in ch:iter() do print(v) end
-- @function channel
M.channel = core.channel

--- Channel methods.
-- @type Channel

--- Checkpoint. Send `v`, waiting (FIFO) while the channel is full; on a
-- rendezvous channel, until a receiver takes it.
-- @param v any value but `nil`
-- @raise an error containing "closed" if the channel is closed, also when
-- it is closed while the sender waits; `loom.Cancelled` (then nothing was
-- sent)
-- @function Channel:send

--- Send `v` if it can be done without waiting. Not a checkpoint.
-- @param v any value but `nil`
-- @treturn boolean `true` if sent, `false` if the channel is full
-- @raise an error containing "closed" on a closed channel
-- @function Channel:try_send

--- Checkpoint. The next value, waiting (FIFO) while the channel is empty;
-- `nil` once it is closed and drained.
-- @return a value, or `nil`
-- @function Channel:receive

--- The next value if one is ready, else `nil`. Not a checkpoint.
-- @return a value, or `nil`
-- @function Channel:try_receive

--- Close the channel (idempotent): later sends raise, blocked senders
-- raise "closed", blocked receivers get `nil`; buffered values can still
-- be received.
-- @function Channel:close

--- `true` once `close` was called.
-- @treturn boolean
-- @function Channel:is_closed

--- An iterator for a generic `for`, receiving until the channel is closed
-- and drained: `for v in ch:iter() do ... end`. Each step is a checkpoint.
-- @function Channel:iter

--- `#ch`: the number of buffered values (blocked senders are not counted).
-- @function Channel:__len

return M
