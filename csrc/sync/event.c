/*
** event.c: loom.event(), a flag tasks can wait for. ev:set() wakes every
** waiter in the order they came; ev:wait() returns at once while it is
** set. Waiters park on the event's lot (sync.h).
*/
#include <string.h>

#include "sync.h"

/* {====================================================================
** Event
** ===================================================================== */

typedef struct sync_event {
  loom_lot waiters;
  int set;
} sync_event;

#define check_event(L, i) \
  ((sync_event *)loom__checkself(L, i))

/* [-0, +1, m] loom.event() -> a new Event, not set. */
static int l_event_new(lua_State *L) {
  loom__newself(L, sizeof(sync_event), 0);
  return 1;
}

/* [-1, +0, v] ev:set(): set the flag and wake every waiter, in order
** (idempotent). */
static int l_event_set(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_event *ev = check_event(L, 1);
  ev->set = 1;
  loom__lot_wake_all(ctx, &ev->waiters);
  return 0;
}

/* [-1, +0, v] ev:clear(): reset the flag; tasks already woken still
** return. */
static int l_event_clear(lua_State *L) {
  check_event(L, 1)->set = 0;
  return 0;
}

/* [-1, +1, v] ev:is_set() -> boolean. */
static int l_event_is_set(lua_State *L) {
  lua_pushboolean(L, check_event(L, 1)->set);
  return 1;
}

/* [-0, +0, e] Continuation of ev:wait(): Cancelled if aborted. */
static int k_event_wait(lua_State *L, int status, lua_KContext kc) {
  (void)status;
  loom__resumed(L, loom_ctxup(L), (loom_task *)kc);
  return 0;
}

/* [-1, +0, y] Checkpoint. ev:wait(): return once the event is set. */
static int l_event_wait(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_event *ev = check_event(L, 1);
  loom_task *t = loom__checkpoint_enter(L, ctx);
  if (ev->set) return 0;
  lua_settop(L, 1);
  loom__waiting(t, "event");
  return loom__lot_park(L, t, &ev->waiters, k_event_wait);
}

/* [-1, +1, m] __tostring: the flag and the number of waiters. */
static int l_event_tostring(lua_State *L) {
  sync_event *ev = check_event(L, 1);
  lua_pushfstring(L, "loom.Event (%s, %d waiting)",
                  ev->set ? "set" : "not set", ev->waiters.n);
  return 1;
}

static const luaL_Reg event_methods[] = {
  {"set", l_event_set},
  {"clear", l_event_clear},
  {"is_set", l_event_is_set},
  {"wait", l_event_wait},
  {NULL, NULL}
};

static const luaL_Reg event_meta[] = {
  {"__tostring", l_event_tostring},
  {NULL, NULL}
};

static const luaL_Reg event_funcs[] = {
  {"event", l_event_new},
  {NULL, NULL}
};

static const loom_class event_class = {
  LOOM_EVENT_MT, event_methods, event_meta, NULL, event_funcs, NULL, NULL
};

/* [-0, +0, m] Register the Event class and core.event in the core
** table on top. */
void loom__event_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &event_class);
  lua_pop(L, 1);
}
