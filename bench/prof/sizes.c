/*
** sizes.c: the bytes of loom's per-task structures (profiling aid, not a
** benchmark). Built against csrc/core/core.h:
**   cc -D_DEFAULT_SOURCE -I csrc $(pkg-config --cflags lua5.4 libuv) \
**      bench/prof/sizes.c \
**      -o build/bench/sizes && build/bench/sizes
** A Task is a full userdata (Lua's Udata header + one user value) holding
** loom_task, plus a coroutine (lua_State + its stack + CallInfos) and an
** anchor-table slot; those are measured from Lua by bench/prof/mem.lua.
*/
#include <stdio.h>

#include "core/core.h"

int main(void) {
  printf("sizeof(loom_task)  = %3zu  (root scope %zu + the rest %zu)\n",
         sizeof(loom_task), sizeof(loom_scope),
         sizeof(loom_task) - sizeof(loom_scope));
  printf("sizeof(loom_scope) = %3zu  (timer %zu)\n", sizeof(loom_scope),
         sizeof(loom_timer));
  printf("sizeof(loom_timer) = %3zu\n", sizeof(loom_timer));
  printf("sizeof(loom_lot)   = %3zu\n", sizeof(loom_lot));
  printf("sizeof(loom_group) = %3zu\n", sizeof(loom_group));
  printf("sizeof(loom_ctx)   = %3zu\n", sizeof(loom_ctx));
  printf("offsets in loom_task: root %zu co %zu scope %zu group %zu "
         "next %zu prev %zu wait_obj %zu abort %zu joiners %zu ref %zu "
         "id %zu nres %zu state %zu\n",
         offsetof(loom_task, root), offsetof(loom_task, co),
         offsetof(loom_task, scope), offsetof(loom_task, group),
         offsetof(loom_task, next), offsetof(loom_task, prev),
         offsetof(loom_task, wait_obj), offsetof(loom_task, abort),
         offsetof(loom_task, joiners), offsetof(loom_task, ref),
         offsetof(loom_task, id), offsetof(loom_task, nres),
         offsetof(loom_task, state));
  return 0;
}
