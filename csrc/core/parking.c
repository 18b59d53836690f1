/*
** parking.c: the parking lot, a FIFO queue of blocked tasks linked through
** task->next/prev (Trio's ParkingLot). Every wait on a sync object, a
** task's joiners and a group's spawners waiting for room use it. A parked
** task's wait_obj is the lot, and its abort function removes it from the
** lot, so a cancelled waiter leaves no trace in the queue and never
** receives a hand-off (DESIGN.md B10: the data of a wake-up stays in the
** object, the woken task fetches it).
*/
#include "core.h"

/* [-0, +0, -] Append 't' to 'lot'. */
void loom__lot_push(loom_lot *lot, loom_task *t) {
  t->next = NULL;
  t->prev = lot->tail;
  if (lot->tail != NULL) lot->tail->next = t;
  else lot->head = t;
  lot->tail = t;
  lot->n++;
}

/* [-0, +0, -] Remove 't' (which is in 'lot'). */
void loom__lot_remove(loom_lot *lot, loom_task *t) {
  if (t->prev != NULL) t->prev->next = t->next;
  else lot->head = t->next;
  if (t->next != NULL) t->next->prev = t->prev;
  else lot->tail = t->prev;
  t->next = t->prev = NULL;
  lot->n--;
}

/* [-0, +0, -] Remove and return the first task, or NULL. */
loom_task *loom__lot_pop(loom_lot *lot) {
  loom_task *t = lot->head;
  if (t != NULL) loom__lot_remove(lot, t);
  return t;
}

/* Abort function of a parked task: leave the lot. */
int loom__lot_abort(loom_ctx *ctx, loom_task *t) {
  (void)ctx;
  loom__lot_remove((loom_lot *)t->wait_obj, t);
  return LOOM_ABORT_SUCCEEDED;
}

/* [-0, +0, y] Park the running task 't' in 'lot' (abortable) and suspend;
** 'k' continues it. The caller has passed the checkpoint test. */
int loom__lot_park(lua_State *L, loom_task *t, loom_lot *lot,
                   lua_KFunction k) {
  loom__lot_push(lot, t);
  return loom__suspend(L, t, loom__lot_abort, lot, k);
}

/* [-0, +0, -] Wake the first parked task; returns 1 if there was one. */
int loom__lot_wake_one(loom_ctx *ctx, loom_lot *lot) {
  loom_task *t = loom__lot_pop(lot);
  if (t == NULL) return 0;
  loom__wake(ctx, t, TW_OK);
  return 1;
}

/* [-0, +0, -] Wake every parked task, in order; returns how many. */
int loom__lot_wake_all(loom_ctx *ctx, loom_lot *lot) {
  int n = 0;
  while (loom__lot_wake_one(ctx, lot)) n++;
  return n;
}
