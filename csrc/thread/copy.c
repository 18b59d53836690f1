/*
** copy.c: values copied between Lua states (thread.h), the arguments and
** results of loom.to_thread. The state that owns the values encodes them
** into a malloc'd byte buffer on its own thread; the other state decodes
** the buffer on its thread (DESIGN.md B14: no Lua API call on another
** thread's state).
**
** The encoding is a sequence of tagged values: nil, false, true, an
** integer, a float, a string (length and bytes), a table (TABLE, a size
** hint, its key/value pairs, END) or a reference to a table already
** encoded (REF and its number, in the order the tables began). So a table
** reached twice, within one value or across the values of one call, is
** one table in the copy too, and cycles are kept. Only raw contents are
** copied (no metatable, no __pairs).
**
** Both directions walk tables with an explicit stack of frames on the Lua
** stack, never with C recursion: nesting is limited by the Lua stack
** (about a million slots), not by the C stack of a worker thread.
**  - Encoding: a frame is [t k] while lua_next looks for t's next entry,
**    and [t k v phase] while the entry is encoded (phase 0: the key, 1:
**    the value). A table met inside an entry pushes its own frame above
**    it, so the frame of depth d starts at a fixed place (frame_base),
**    which is how the path of a value that cannot be copied is named.
**  - Decoding: a frame is [t slot]: slot is SENTINEL, or the key waiting
**    for its value.
*/
#include <stdlib.h>
#include <string.h>

#include "thread.h"

/* Tags of the encoding. */
#define T_NIL 0
#define T_FALSE 1
#define T_TRUE 2
#define T_INT 3
#define T_FLT 4
#define T_STR 5
#define T_TABLE 6   /* + unsigned size hint (array part) */
#define T_END 7
#define T_REF 8     /* + unsigned table number, from 1 */

/* {====================================================================
** Buffers
** ===================================================================== */

/* [-0, +0, -] See thread.h. */
int loom__buf_reserve(loom_buf *b, size_t extra) {
  size_t cap;
  char *np;
  if (b->cap - b->n >= extra) return 0;
  if (extra > (size_t)-1 / 2 - b->n) return -1;
  cap = b->cap ? b->cap : 64;
  while (cap - b->n < extra) cap *= 2;
  np = (char *)realloc(b->p, cap);
  if (np == NULL) return -1;
  b->p = np;
  b->cap = cap;
  return 0;
}

/* [-0, +0, -] See thread.h. */
int loom__buf_add(loom_buf *b, const void *data, size_t len) {
  if (loom__buf_reserve(b, len) != 0) return -1;
  if (len > 0) memcpy(b->p + b->n, data, len);
  b->n += len;
  return 0;
}

/* [-0, +0, -] See thread.h. */
void loom__buf_free(loom_buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

/* {====================================================================
** Encoding
** ===================================================================== */

typedef struct encoder {
  lua_State *L;
  loom_buf *b;
  int seen;       /* index of the table -> number map, 0 until needed */
  int nseen;      /* tables numbered so far */
  int frames;     /* index of the first frame's table */
  int depth;      /* frames open */
} encoder;

/* [-0, +0, m] Append 'len' bytes, or raise a memory error. */
static void put(encoder *e, const void *data, size_t len) {
  if (loom__buf_add(e->b, data, len) != 0)
    luaL_error(e->L, "not enough memory (copying values for a thread)");
}

static void put_tag(encoder *e, unsigned char tag) { put(e, &tag, 1); }

static void put_uint(encoder *e, unsigned v) { put(e, &v, sizeof v); }

/* The stack index of the table of frame 'd' (from 1): every frame above
** the first is pushed over an entry [t k v phase] of the one below. */
#define frame_base(e, d) ((e)->frames + 4 * ((d) - 1))

/* [-0, +1, m] Push a short description of key 'idx' for a path: ".name",
** "[3]", "[\"a b\"]", "[table]". */
static void push_key(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t len, i;
      const char *s = lua_tolstring(L, idx, &len);
      int ident = len > 0 && len <= 40 && !(s[0] >= '0' && s[0] <= '9');
      for (i = 0; ident && i < len; i++)
        ident = s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
                (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9');
      if (ident) lua_pushfstring(L, ".%s", s);
      else if (len <= 40 && strlen(s) == len) lua_pushfstring(L, "[\"%s\"]", s);
      else lua_pushliteral(L, "[(a string)]");
      break;
    }
    case LUA_TNUMBER:
      lua_pushvalue(L, idx);
      luaL_tolstring(L, -1, NULL);            /* [v s] */
      lua_pushfstring(L, "[%s]", lua_tostring(L, -1));
      lua_replace(L, -3);
      lua_pop(L, 1);
      break;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, idx) ? "[true]" : "[false]");
      break;
    default:
      lua_pushfstring(L, "[%s]", luaL_typename(L, idx));
      break;
  }
}

/* [-0, +1, m] The description of the value at 'idx' that cannot be
** copied, met in the entry of the top frame ('iskey': as its key): "a
** function at [2].cb", "a thread used as a key in .t". */
static void push_bad(encoder *e, int idx, int iskey) {
  lua_State *L = e->L;
  luaL_Buffer b;
  int d, top = e->depth;
  const char *tname = luaL_typename(L, idx);
  luaL_checkstack(L, 8, NULL);
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "a ");
  luaL_addstring(&b, tname);
  if (top > 0) {
    if (iskey) top--;
    luaL_addstring(&b, iskey ? " used as a key" : "");
    if (top > 0) luaL_addstring(&b, iskey ? " in " : " at ");
    for (d = 1; d <= top; d++) {
      push_key(L, frame_base(e, d) + 1);
      luaL_addvalue(&b);
    }
  }
  luaL_pushresult(&b);
}

/* [-0, +(0|2), m] Encode the value at 'idx': a scalar, a reference, or the
** start of a table, whose frame [t nil] is pushed (returns 1). Returns 0
** when done, -1 if the value cannot be copied. */
static int encode_item(encoder *e, int idx) {
  lua_State *L = e->L;
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      put_tag(e, T_NIL);
      return 0;
    case LUA_TBOOLEAN:
      put_tag(e, lua_toboolean(L, idx) ? T_TRUE : T_FALSE);
      return 0;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer i = lua_tointeger(L, idx);
        put_tag(e, T_INT);
        put(e, &i, sizeof i);
      } else {
        lua_Number x = lua_tonumber(L, idx);
        put_tag(e, T_FLT);
        put(e, &x, sizeof x);
      }
      return 0;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      put_tag(e, T_STR);
      put(e, &len, sizeof len);
      put(e, s, len);
      return 0;
    }
    case LUA_TTABLE: {
      lua_Integer n;
      luaL_checkstack(L, 6, "table nesting too deep to copy");
      lua_pushvalue(L, idx);
      if (lua_rawget(L, e->seen) != LUA_TNIL) {
        n = lua_tointeger(L, -1);
        lua_pop(L, 1);
        put_tag(e, T_REF);
        put_uint(e, (unsigned)n);
        return 0;
      }
      lua_pop(L, 1);
      lua_pushvalue(L, idx);
      lua_pushinteger(L, ++e->nseen);
      lua_rawset(L, e->seen);
      n = (lua_Integer)lua_rawlen(L, idx);
      put_tag(e, T_TABLE);
      put_uint(e, n > 0xFFFFFF ? 0xFFFFFFu : (unsigned)n);
      lua_pushvalue(L, idx);
      lua_pushnil(L);
      e->depth++;
      return 1;
    }
    default:
      return -1;
  }
}

/* [-0, +0, m] Encode the entries of the table whose frame was just
** pushed, and of every table inside it, until its END. Returns 0, or -1
** with the frames left on the stack and the description of the bad value
** pushed. */
static int encode_frames(encoder *e) {
  lua_State *L = e->L;
  int next = 1, r;
  while (e->depth > 0) {
    if (next) {                               /* [t k] */
      if (!lua_next(L, -2)) {                 /* [t] */
        put_tag(e, T_END);
        lua_pop(L, 1);
        e->depth--;
        next = 0;                             /* back in the parent entry */
        continue;
      }
      lua_pushinteger(L, 0);                  /* [t k v 0] */
      r = encode_item(e, -3);
      if (r < 0) {
        push_bad(e, -3, 1);
        return -1;
      }
      if (r > 0) continue;                    /* the key is a new table */
      next = 0;
    } else if (lua_tointeger(L, -1) == 0) {   /* [t k v 0]: the value */
      lua_pushinteger(L, 1);
      lua_replace(L, -2);
      r = encode_item(e, -2);
      if (r < 0) {
        push_bad(e, -2, 0);
        return -1;
      }
      if (r > 0) next = 1;
    } else {                                  /* [t k v 1]: entry done */
      lua_pop(L, 2);
      next = 1;
    }
  }
  return 0;
}

/* [-0, +(0|1), m] Encode the 'n' values from index 'first' into 'b', with
** one numbering of tables (a table shared by two values stays shared).
** Returns 0; or, if one cannot be copied, its position (from 1) with a
** description of the culprit pushed; 'b' then holds a partial encoding.
** Raises only memory errors. */
int loom__copy_encode(lua_State *L, int first, int n, loom_buf *b) {
  encoder e;
  int top = lua_gettop(L), i, r;
  first = lua_absindex(L, first);
  e.L = L;
  e.b = b;
  e.seen = 0;
  e.nseen = 0;
  e.depth = 0;
  for (i = 0; i < n; i++) {
    if (lua_type(L, first + i) == LUA_TTABLE && e.seen == 0) {
      lua_newtable(L);
      e.seen = lua_gettop(L);
      e.frames = e.seen + 1;
    }
    r = encode_item(&e, first + i);
    if (r > 0) r = encode_frames(&e);
    if (r < 0) {
      if (e.depth == 0) push_bad(&e, first + i, 0);
      if (lua_gettop(L) > top + 1) {
        lua_replace(L, top + 1);
        lua_settop(L, top + 1);
      }
      return i + 1;
    }
  }
  lua_settop(L, top);
  return 0;
}

/* {====================================================================
** Decoding
** ===================================================================== */

/* The marker of a decoding frame whose next item is a key. */
static const char sentinel = 's';

typedef struct decoder {
  lua_State *L;
  const char *p, *end;
  int ids;        /* index of the number -> table array */
  int nids;
  int depth;
} decoder;

/* [-0, +0, v] Take 'len' bytes from the input. */
static const char *take(decoder *d, size_t len) {
  const char *s = d->p;
  if ((size_t)(d->end - d->p) < len)
    luaL_error(d->L, "loom: internal error (truncated thread values)");
  d->p += len;
  return s;
}

/* [-0, +0, v] Take a C value of 'size' bytes into 'out'. */
static void take_into(decoder *d, void *out, size_t size) {
  memcpy(out, take(d, size), size);
}

/* [-1, +(0|1), m] The value on top is complete: it is a top-level value
** (it stays), a key (it waits in its frame's slot) or a value (stored). */
static void deliver(decoder *d) {
  lua_State *L = d->L;
  if (d->depth == 0) return;
  if (lua_touserdata(L, -2) == (void *)&sentinel) {
    lua_replace(L, -2);                     /* [t key] */
  } else {
    lua_rawset(L, -3);                      /* [t] */
    lua_pushlightuserdata(L, (void *)&sentinel);
  }
}

/* [-0, +n, m] See thread.h. */
size_t loom__copy_decode(lua_State *L, const char *p, size_t len, int n) {
  decoder d;
  int done = 0;
  unsigned u;
  d.L = L;
  d.p = p;
  d.end = p + len;
  d.nids = 0;
  d.depth = 0;
  luaL_checkstack(L, n + 4, "too many values from a thread");
  lua_pushnil(L);                           /* the ids array, when needed */
  d.ids = lua_gettop(L);
  while (done < n) {
    unsigned char tag = (unsigned char)*take(&d, 1);
    switch (tag) {
      case T_NIL: lua_pushnil(L); break;
      case T_FALSE: lua_pushboolean(L, 0); break;
      case T_TRUE: lua_pushboolean(L, 1); break;
      case T_INT: {
        lua_Integer i;
        take_into(&d, &i, sizeof i);
        lua_pushinteger(L, i);
        break;
      }
      case T_FLT: {
        lua_Number x;
        take_into(&d, &x, sizeof x);
        lua_pushnumber(L, x);
        break;
      }
      case T_STR: {
        size_t sl;
        take_into(&d, &sl, sizeof sl);
        lua_pushlstring(L, take(&d, sl), sl);
        break;
      }
      case T_REF:
        take_into(&d, &u, sizeof u);
        if (u == 0 || (int)u > d.nids)
          luaL_error(L, "loom: internal error (bad table reference)");
        lua_rawgeti(L, d.ids, (lua_Integer)u);
        break;
      case T_TABLE:
        take_into(&d, &u, sizeof u);
        luaL_checkstack(L, 4, "table nesting too deep to copy");
        if (d.nids == 0) {
          lua_newtable(L);
          lua_replace(L, d.ids);
        }
        lua_createtable(L, (int)u, 0);
        lua_pushvalue(L, -1);
        lua_rawseti(L, d.ids, ++d.nids);
        lua_pushlightuserdata(L, (void *)&sentinel);
        d.depth++;
        continue;                           /* not complete yet */
      case T_END:
        lua_pop(L, 1);                      /* the sentinel */
        d.depth--;
        break;
      default:
        luaL_error(L, "loom: internal error (bad thread value tag)");
    }
    deliver(&d);
    if (d.depth == 0) done++;
  }
  lua_remove(L, d.ids);
  return (size_t)(d.p - p);
}
