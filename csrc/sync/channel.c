/*
** channel.c: channels, FIFO queues of Lua values between tasks with
** backpressure. A channel is a userdata holding two parking lots (blocked
** receivers, blocked senders) and two rings of values kept in tables in its
** user values: 'buf', the buffered values (at most 'cap'; #ch counts
** them), and 'hand', the values already handed to receivers that have been
** woken but have not run yet.
**
** Invariants:
**  - receivers wait only while 'buf' is empty and no sender waits; senders
**    wait only while 'buf' is full (always, for a rendezvous channel) and
**    no receiver waits;
**  - a blocked sender's value stays on its own stack (slot 2) until a
**    receiver takes it: the receiver copies it, clears the slot and wakes
**    the sender; a sender that wakes with its slot still set was woken by
**    close() and raises "closed"; an aborted sender sent nothing;
**  - a sender that finds a waiting receiver appends its value to 'hand'
**    and wakes the first receiver (DESIGN.md B10: the value is in the channel,
**    not on the wake-up). Woken tasks run in wake-up order and a TW_OK
**    wake-up cannot be aborted, so each woken receiver takes the first
**    value of 'hand' and no value is ever lost: a receiver cancelled at
**    that moment returns the value and meets Cancelled at its next
**    checkpoint. Receivers woken by close() find 'hand' empty (they were
**    woken after every hand-off) and return nil;
**  - every waiting or woken task keeps the channel on its stack, so a
**    channel is never collected while anything refers to its rings.
*/
#include <math.h>
#include <string.h>

#include "sync.h"

/* A ring of values in the table at user value 'uv' of the channel, slots
** 1..size; the first value is at slot head + 1. */
typedef struct chan_ring {
  int head, n, size;
  int uv;
} chan_ring;

typedef struct sync_chan {
  loom_lot recvq, sendq;
  chan_ring buf, hand;
  lua_Integer cap;    /* LUA_MAXINTEGER: unbounded */
  int closed;
} sync_chan;

#define UV_BUF 1
#define UV_HAND 2

#define check_chan(L, i) \
  ((sync_chan *)loom__checkself(L, i))

/* {====================================================================
** Rings (the channel is always at stack index 1)
** ===================================================================== */

/* [-0, +1, m] Push the table of 'r', creating it on first use. */
static void ring_table(lua_State *L, chan_ring *r) {
  if (lua_getiuservalue(L, 1, r->uv) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, r->size, 0);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, r->uv);
  }
}

/* [-0, +0, e] Double the size of the full ring 'r', whose table is on
** top: the values before 'head' (the wrapped part) move after the old
** end, so the ring stays contiguous from 'head'. */
static void ring_grow(lua_State *L, chan_ring *r) {
  int old = r->size, i;
  if (old >= 0x3fffffff) luaL_error(L, "loom: channel too large");
  for (i = 1; i <= r->head; i++) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, old + i);
    lua_pushnil(L);
    lua_rawseti(L, -2, i);
  }
  r->size = old > 0 ? 2 * old : 4;
}

/* [-1, +0, m] Append the value on top to 'r'. */
static void ring_push(lua_State *L, chan_ring *r) {
  ring_table(L, r);                       /* [v tab] */
  if (r->n == r->size) ring_grow(L, r);
  lua_insert(L, -2);                      /* [tab v] */
  lua_rawseti(L, -2, (r->head + r->n) % r->size + 1);
  r->n++;
  lua_pop(L, 1);
}

/* [-0, +1, -] Remove the first value of the non-empty ring 'r' and push
** it. */
static void ring_shift(lua_State *L, chan_ring *r) {
  lua_getiuservalue(L, 1, r->uv);         /* [tab] */
  lua_rawgeti(L, -1, r->head + 1);        /* [tab v] */
  lua_pushnil(L);
  lua_rawseti(L, -3, r->head + 1);
  lua_remove(L, -2);                      /* [v] */
  r->n--;
  r->head = r->n == 0 ? 0 : (r->head + 1) % r->size;
}

/* {====================================================================
** Moving values
** ===================================================================== */

/* [-0, +1, m] Take the value of blocked sender 's' (slot 2 of its stack),
** clear the slot so that it knows its value went, and wake it. */
static void take_from_sender(lua_State *L, loom_ctx *ctx, loom_task *s) {
  lua_State *co = s->co;
  lua_checkstack(co, 2);  /* a suspended C frame has room; be sure */
  lua_pushvalue(co, 2);
  lua_xmove(co, L, 1);
  lua_pushnil(co);
  lua_replace(co, 2);
  loom__wake(ctx, s, TW_OK);
}

/* [-0, +(0|1), m] Take a value now if there is one: from the buffer (then
** refill it from the first blocked sender) or, for a rendezvous, straight
** from the first blocked sender. Returns 1 with the value pushed, or 0.
** Values handed to woken receivers are not available. */
static int chan_take(lua_State *L, loom_ctx *ctx, sync_chan *ch) {
  loom_task *s;
  if (ch->buf.n > 0) {
    ring_shift(L, &ch->buf);
    s = loom__lot_pop(&ch->sendq);
    if (s != NULL) {
      take_from_sender(L, ctx, s);
      ring_push(L, &ch->buf);
    }
    return 1;
  }
  s = loom__lot_pop(&ch->sendq);
  if (s == NULL) return 0;
  take_from_sender(L, ctx, s);
  return 1;
}

/* [-0, +0, m] Put the value at 'v' now if possible: hand it to the first
** waiting receiver, or buffer it. Returns 1 if done, 0 if full. */
static int chan_put(lua_State *L, loom_ctx *ctx, sync_chan *ch, int v) {
  loom_task *r = loom__lot_pop(&ch->recvq);
  if (r != NULL) {
    lua_pushvalue(L, v);
    ring_push(L, &ch->hand);
    loom__wake(ctx, r, TW_OK);
    return 1;
  }
  if (ch->buf.n < ch->cap) {
    lua_pushvalue(L, v);
    ring_push(L, &ch->buf);
    return 1;
  }
  return 0;
}

/* [-0, +0, v] Raise the "closed" error of sends. */
static int closed_error(lua_State *L) {
  return luaL_error(L, "loom: send on a closed channel");
}

/* {====================================================================
** Methods
** ===================================================================== */

/* [-0|1, +1, v] loom.channel([capacity]) -> a new Channel; capacity 0
** (default) is a rendezvous, math.huge is unbounded. */
static int l_chan_new(lua_State *L) {
  lua_Integer cap = 0;
  sync_chan *ch;
  if (!lua_isnoneornil(L, 1)) {
    lua_Number d;
    loom__checktype(L, 1, LUA_TNUMBER);
    d = lua_tonumber(L, 1);
    if (d == HUGE_VAL) {
      cap = LUA_MAXINTEGER;
    } else {
      loom__argcheck(L, lua_isinteger(L, 1) || (d == floor(d) && d >= 0 &&
                    d < 1e15), 1, "capacity must be an integer >= 0 or "
                    "math.huge");
      cap = lua_isinteger(L, 1) ? lua_tointeger(L, 1) : (lua_Integer)d;
      loom__argcheck(L, cap >= 0, 1, "capacity must be an integer >= 0 or "
                    "math.huge");
    }
  }
  lua_settop(L, 0);
  ch = (sync_chan *)lua_newuserdatauv(L, sizeof(sync_chan), 2);
  memset(ch, 0, sizeof(*ch));
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_setmetatable(L, -2);
  ch->cap = cap;
  ch->buf.uv = UV_BUF;
  ch->hand.uv = UV_HAND;
  ch->buf.size = cap > 0 && cap <= 64 ? (int)cap : 0;
  if (ch->buf.size > 0) {
    ring_table(L, &ch->buf);
    lua_pop(L, 1);
  }
  return 1;
}

/* [-0, +0, e] Continuation of a blocked send: Cancelled if aborted (the
** value was not sent); returns if a receiver took the value (its slot was
** cleared); raises "closed" if close() woke it. */
static int k_chan_send(lua_State *L, int status, lua_KContext kc) {
  (void)status;
  loom__resumed(L, loom_ctxup(L), (loom_task *)kc);
  if (lua_isnil(L, 2)) return 0;          /* a receiver took it */
  return closed_error(L);
}

/* [-2, +0, y] Checkpoint. ch:send(v): put v in the channel, waiting
** (FIFO) while it is full; for a rendezvous, until a receiver takes it.
** Raises "closed" on a closed channel, also when it is closed while the
** sender waits. */
static int l_chan_send(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_chan *ch = check_chan(L, 1);
  loom_task *t;
  loom__argcheck(L, !lua_isnoneornil(L, 2), 2,
                "cannot send nil (nil marks a closed channel)");
  t = loom__running(L, ctx);
  if (ch->closed) return closed_error(L);
  loom__check_cancel(L, ctx, t);
  lua_settop(L, 2);
  if (chan_put(L, ctx, ch, 2)) return 0;
  loom__waiting(t, "channel send");
  return loom__lot_park(L, t, &ch->sendq, k_chan_send);
}

/* [-2, +1, v] ch:try_send(v) -> true if v was handed to a receiver or
** buffered, false if the channel is full. Not a checkpoint. Raises
** "closed" on a closed channel. */
static int l_chan_try_send(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_chan *ch = check_chan(L, 1);
  loom__argcheck(L, !lua_isnoneornil(L, 2), 2,
                "cannot send nil (nil marks a closed channel)");
  if (ch->closed) return closed_error(L);
  lua_pushboolean(L, chan_put(L, ctx, ch, 2));
  return 1;
}

static int k_chan_receive(lua_State *L, int status, lua_KContext kc);

/* [-0, +1, y] Receive on the channel at index 1 for 't' (past the
** checkpoint). */
static int chan_receive(lua_State *L, loom_ctx *ctx, loom_task *t,
                        sync_chan *ch) {
  if (chan_take(L, ctx, ch)) return 1;
  if (ch->closed) {
    lua_pushnil(L);
    return 1;
  }
  loom__waiting(t, "channel receive");
  return loom__lot_park(L, t, &ch->recvq, k_chan_receive);
}

/* [-0, +1, y] Continuation of a blocked receive: Cancelled if aborted
** (nothing was handed to it); else the first handed value; else (woken by
** close) receive again, which returns nil once drained. */
static int k_chan_receive(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  sync_chan *ch = (sync_chan *)lua_touserdata(L, 1);
  (void)status;
  loom__resumed(L, ctx, t);               /* aborted: nothing was handed */
  if (ch->hand.n > 0) {
    ring_shift(L, &ch->hand);
    return 1;
  }
  return chan_receive(L, ctx, t, ch);     /* woken by close() */
}

/* [-n, +1, y] Checkpoint. ch:receive() -> the next value, waiting (FIFO)
** while the channel is empty; nil once it is closed and drained. Extra
** arguments are ignored (so it serves as the iterator of ch:iter()). */
static int l_chan_receive(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_chan *ch = check_chan(L, 1);
  loom_task *t = loom__checkpoint_enter(L, ctx);
  lua_settop(L, 1);
  return chan_receive(L, ctx, t, ch);
}

/* [-1, +1, m] ch:try_receive() -> the next value if one is ready, else
** nil. Not a checkpoint. */
static int l_chan_try_receive(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_chan *ch = check_chan(L, 1);
  lua_settop(L, 1);
  if (!chan_take(L, ctx, ch)) lua_pushnil(L);
  return 1;
}

/* [-1, +0, v] ch:close(): refuse further sends; blocked senders raise
** "closed", blocked receivers return nil; buffered values can still be
** received. Idempotent. */
static int l_chan_close(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_chan *ch = check_chan(L, 1);
  if (ch->closed) return 0;
  ch->closed = 1;
  loom__lot_wake_all(ctx, &ch->recvq);
  loom__lot_wake_all(ctx, &ch->sendq);
  return 0;
}

/* [-1, +1, v] ch:is_closed() -> true once closed. */
static int l_chan_is_closed(lua_State *L) {
  lua_pushboolean(L, check_chan(L, 1)->closed);
  return 1;
}

/* [-1, +2, m] ch:iter() -> an iterator for a generic for: `for v in
** ch:iter() do` receives until the channel is closed and drained. */
static int l_chan_iter(lua_State *L) {
  check_chan(L, 1);
  lua_settop(L, 1);
  lua_getfield(L, lua_upvalueindex(2), "__index");
  lua_getfield(L, -1, "receive");
  lua_replace(L, -2);                     /* [ch receive] */
  lua_insert(L, 1);                       /* [receive ch] */
  return 2;
}

/* [-1, +1, v] #ch: the number of buffered values (blocked senders and
** values handed to woken receivers are not counted). */
static int l_chan_len(lua_State *L) {
  lua_pushinteger(L, check_chan(L, 1)->buf.n);
  return 1;
}

/* [-1, +1, m] __tostring: capacity, buffered values, waiters, closed. */
static int l_chan_tostring(lua_State *L) {
  sync_chan *ch = check_chan(L, 1);
  if (ch->cap == LUA_MAXINTEGER)
    lua_pushliteral(L, "unbounded");
  else
    lua_pushfstring(L, "capacity %I", (LUAI_UACINT)ch->cap);
  lua_pushfstring(L, "loom.Channel (%s, %d buffered, %d receivers and %d "
                  "senders waiting%s)", lua_tostring(L, -1), ch->buf.n,
                  ch->recvq.n, ch->sendq.n, ch->closed ? ", closed" : "");
  return 1;
}

static const luaL_Reg chan_methods[] = {
  {"send", l_chan_send},
  {"try_send", l_chan_try_send},
  {"receive", l_chan_receive},
  {"try_receive", l_chan_try_receive},
  {"close", l_chan_close},
  {"is_closed", l_chan_is_closed},
  {"iter", l_chan_iter},
  {NULL, NULL}
};

static const luaL_Reg chan_meta[] = {
  {"__len", l_chan_len},
  {"__tostring", l_chan_tostring},
  {NULL, NULL}
};

static const luaL_Reg chan_funcs[] = {
  {"channel", l_chan_new},
  {NULL, NULL}
};

static const loom_class chan_class = {
  LOOM_CHANNEL_MT, chan_methods, chan_meta, NULL, chan_funcs, NULL, NULL
};

/* [-0, +0, m] Register the Channel class and core.channel in the core
** table on top. */
void loom__channel_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &chan_class);
  lua_pop(L, 1);
}
