-- Cancellation of loom.to_thread (README, "Blocking work: to_thread"):
-- while the job runs (waiting for it by default, at once with
-- abandon_on_cancel), at the moment it completes, with a deadline already
-- expired, under a shield, while it waits for a slot; loom.run waits for
-- every job; loom.thread.cancelled inside the worker.
local loom = require "loom"
local core = require "loom.core"
local T = require "spec.thread_support"
local S = require "spec.support"

local to_thread = loom.to_thread

describe("loom.to_thread cancelled", function()
  after_each(function() T.assert_no_jobs() end)

  it("while the job runs: waits for it, then raises Cancelled (results "
     .. "discarded); the worker sees loom.thread.cancelled()",
    T.async(function()
      local t0, got, err = loom.now(), "none", nil
      loom.scope(function(s)
        loom.with_group(function(g)
          g:spawn(function()
            local ok, a = pcall(to_thread, T.until_cancelled, 3000)
            got, err = ok and a, not ok and a
          end)
          g:spawn(function()
            loom.sleep(0.05)
            s:cancel()
          end)
        end)
      end)
      assert.is_false(got)
      assert.is_true(loom.is_cancelled(err))
      local dt = loom.now() - t0
      assert.is_true(dt >= 0.05 and dt < 1, "took " .. dt)
    end))

    it("while the job runs: the caller waits until fn returns",
      T.async(function()
        local t0 = loom.now()
        loom.move_on_after(0.05, function()
          to_thread(T.block, 300)     -- does not look at cancelled()
        end)
        S.took(t0, 0.3)
      end))

    it("while the job runs, with abandon_on_cancel: raises at once; "
       .. "loom.run still waits for the job", function()
      local t0, back = loom.now(), nil
      loom.run(function()
        loom.move_on_after(0.05, function()
          to_thread({ abandon_on_cancel = true }, T.block, 300)
        end)
        back = loom.now() - t0
      end)
      assert.is_true(back < 0.25, "to_thread took " .. back)
      S.took(t0, 0.3)                 -- loom.run waited for the job
      T.assert_no_jobs()
    end)

    it("abandon_on_cancel = false is the default", T.async(function()
      local t0 = loom.now()
      loom.move_on_after(0.05, function()
        to_thread({ abandon_on_cancel = false }, T.block, 200)
      end)
      S.took(t0, 0.2)
    end))

    it("an abandoned job still sees loom.thread.cancelled()", function()
      local path = T.marker()
      loom.run(function()
        loom.move_on_after(0.05, function()
          to_thread({ abandon_on_cancel = true }, function(p)
            local l = require "loom"
            local c = require "loom.core"
            for _ = 1, 3000 do
              if l.thread.cancelled() then
                local f = assert(io.open(p, "w"))
                f:close()
                return
              end
              c.thread_block(1)
            end
          end, path)
        end)
      end)
      assert.is_true(T.marked(path))
    end)

    it("at the moment it completes: returns the results; the next "
       .. "checkpoint raises", T.async(function()
      local out, scope = {}, nil
      loom.with_group(function(g)
        g:spawn(function()
          loom.scope(function(s)
            scope = s
            out.r = { to_thread(T.block, 50) }
            out.after = select(2, pcall(loom.checkpoint))
          end)
        end)
        g:spawn(function()
          loom.sleep(0)
          -- The job's delivery makes the other task ready; cancel it
          -- before it resumes.
          while out.r == nil and require("loom.testing").stats().ready_empty do
            loom.sleep(0)
          end
          scope:cancel()
        end)
      end)
      assert.equal(50, out.r[1])
      assert.is_true(loom.is_cancelled(out.after))
    end))

    it("with an expired deadline: raises at once, fn never runs",
      T.async(function()
        local path = T.marker()
        local ran = "no"
        loom.move_on_after(-1, function()
          ran = to_thread(T.mark, path)
        end)
        loom.sleep(0.05)
        assert.equal("no", ran)
        assert.is_false(T.marked(path))
      end))

    it("under a shield: runs to the end and returns", T.async(function()
      local r
      loom.scope(function(s)
        s:cancel()
        loom.shield(function()
          r = { to_thread(T.block, 30) }
        end)
      end)
      assert.equal(30, r[1])
    end))

    it("while waiting for a slot: raises at once, fn never runs",
      T.async(function()
        T.with_limit(1, function()
          local path = T.marker()
          local t0, queued_for
          loom.with_group(function(g)
            g:spawn(to_thread, T.block, 200)
            g:spawn(function()
              loom.move_on_after(0.05, function()
                to_thread(T.mark, path)
              end)
              queued_for = loom.now() - t0
            end)
            t0 = loom.now()
            loom.sleep(0.01)
            assert.equal(1, core.thread_stats().waiting)
          end)
          assert.is_true(queued_for < 0.15, "waited " .. queued_for)
          assert.is_false(T.marked(path))
        end)
      end))

    it("an error raised by fn after the cancellation is raised, not lost",
      T.async(function()
        local e
        loom.move_on_after(0.05, function()
          local ok, err = pcall(to_thread, function()
            local l = require "loom"
            local c = require "loom.core"
            while not l.thread.cancelled() do c.thread_block(1) end
            error("stopped early")
          end)
          e = not ok and err
        end)
        assert.matches("stopped early", e)
      end))

    it("a task cancelled with t:cancel() leaves its group alone",
      T.async(function()
        loom.with_group(function(g)
          local t = g:spawn(to_thread, T.until_cancelled, 3000)
          loom.sleep(0.03)
          t:cancel()
          assert.equal("cancelled", (t:wait()))
        end)
      end))

    it("many cancelled jobs leave nothing behind", T.async(function()
      T.with_limit(2, function()
        loom.with_group(function(g)
          for i = 1, 40 do
            g:spawn(function()
              loom.move_on_after(0.001 * (i % 7), function()
                to_thread({ abandon_on_cancel = i % 2 == 0 },
                          T.until_cancelled, 50)
              end)
            end)
          end
        end)
      end)
    end))
end)
