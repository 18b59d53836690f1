--- Channels: FIFO queues of values between tasks, with backpressure
-- (`loom.channel`).
-- This file is module `loom.channel`; its documentation is part of
-- the page of `loom` (config.ld merges it there).
-- @module loom
local core = require "loom.core"

local M = {}

--- Channels.
-- `loom.channel()` is a rendezvous (a send waits for a receiver);
-- `loom.channel(n)` buffers up to `n` values; `loom.channel(math.huge)`
-- is unbounded. `nil` cannot be sent: `receive` returns `nil` once the
-- channel is closed and drained.
--
-- A value is never lost to cancellation: a receiver cancelled while it
-- waits takes nothing; a receiver cancelled at the moment a value is
-- handed to it returns that value and meets `Cancelled` at its next
-- checkpoint; a cancelled sender has sent nothing (and one whose value
-- was taken returns normally even if it is cancelled before it runs).
-- Waiters queue in FIFO order; `send`, `receive` and each step of `iter`
-- are checkpoints even when they complete at once (then without
-- yielding); the other methods are not checkpoints and also work outside
-- tasks.
-- @section channels

--- Make a channel. Not a checkpoint.
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

--- Channels, made by `loom.channel([capacity])`.
-- @type Channel

--- **Checkpoint.** Send `v`, waiting (FIFO) while the channel is full; on a
-- rendezvous channel, until a receiver takes it.
-- @param v any value but `nil`
-- @raise an error containing "closed" if the channel is closed, also when
-- it is closed while the sender waits; `loom.Cancelled` (then nothing was
-- sent); an argument error for `nil`
-- @function Channel:send
-- @usage jobs:send(job)          -- waits while the buffer is full

--- Send `v` if it can be done without waiting: hand it to a waiting
-- receiver or buffer it. Not a checkpoint.
-- @param v any value but `nil`
-- @treturn boolean `true` if sent, `false` if the channel is full
-- @raise an error containing "closed" on a closed channel; an argument
-- error for `nil`
-- @function Channel:try_send

--- **Checkpoint.** The next value, waiting (FIFO) while the channel is empty;
-- `nil` once it is closed and drained.
-- @return a value, or `nil`
-- @raise `loom.Cancelled` (then nothing was taken)
-- @function Channel:receive
-- @usage local v = ch:receive()
-- if v == nil then return end    -- closed and drained

--- The next value if one is ready (buffered, or from a blocked sender),
-- else `nil`. Not a checkpoint.
-- @return a value, or `nil`
-- @function Channel:try_receive

--- Close the channel (idempotent; not a checkpoint). Later sends raise,
-- blocked senders raise "closed", blocked receivers get `nil`; buffered
-- values can still be received.
-- @function Channel:close

--- `true` once `close` was called.
-- @treturn boolean
-- @function Channel:is_closed

--- An iterator for a generic `for`, receiving until the channel is closed
-- and drained. Each step is a checkpoint (as `receive`); `iter` itself
-- does not wait.
-- @function Channel:iter
-- @return an iterator
-- @usage for job in jobs:iter() do process(job) end

--- `#ch`: the number of buffered values (blocked senders are not counted:
-- `#ch` is always 0 on a rendezvous channel).
-- @function Channel:__len
-- @treturn integer

--- @section end

return M
