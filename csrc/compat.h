/*
** compat.h: the Lua versions loom builds against. Only Lua 5.4 is accepted
** (rule B15); within 5.4, lua_closethread appeared in 5.4.6 and replaces
** lua_resetthread, which closes the pending to-be-closed variables of a
** dead or suspended coroutine (rule B8).
*/
#ifndef loom_compat_h
#define loom_compat_h

#include "lua.h"

#if !defined(LUA_VERSION_NUM) || LUA_VERSION_NUM != 504
#error "loom needs Lua 5.4"
#endif

#if LUA_VERSION_RELEASE_NUM < 50406
#define lua_closethread(L, from) ((void)(from), lua_resetthread(L))
#endif

#endif
