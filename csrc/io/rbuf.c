/*
** rbuf.c: the receive buffer of a byte stream (io.h, "The receive
** buffer"): the bytes that arrived and have not been read, and the
** condition of the read waiting for more. A Stream keeps the bytes libuv
** read (stream_read.c); a TLS stream keeps the bytes OpenSSL decrypted
** (tls.c). Both take their results here, so every stream reads the same
** way: `read` takes what is there, `read_exactly` waits for its count,
** `read_line` for a newline, with an optional bound on the line (and its
** ending kept or not), `read_all` for the end of the stream.
**
** Growth. The buffer is allocated at the first byte, LOOM_RBUF_SIZE at
** first, and grows only when it is full and a reader waits for more:
** twice its size, or up to what a read_exactly waits for if that is less.
** So a read never reserves memory for bytes that have not come (a
** read_exactly(2^40) that meets the end of the stream costs what arrived),
** and the buffer is never more than twice what it holds. Once a grown
** buffer is emptied it is given back.
**
** A line longer than the reader's bound (read_line{max = n}) is a fail
** tuple, ELINETOOLONG; its bytes stay buffered, so nothing is lost:
** `read` returns them.
*/
#include <stdlib.h>
#include <string.h>

#include "io.h"

/* [-0, +0, -] Free the storage of 'b' (it can be used again). */
void loom__rbuf_free(loom_rbuf *b) {
  free(b->buf);
  b->buf = NULL;
  b->cap = b->head = b->len = b->scan = 0;
}

/* [-0, +0, -] Make room at the free end of 'b' (pure C, also in libuv
** callbacks): allocate it, compact it when the free end is small, and,
** with 'grow' (a reader waits for more), grow it when it is full. Returns
** the free bytes at loom__rbuf_tail(b): 0 when full, or out of memory. */
size_t loom__rbuf_room(loom_rbuf *b, int grow) {
  if (b->buf == NULL) {
    b->buf = (char *)malloc(LOOM_RBUF_SIZE);
    if (b->buf == NULL) return 0;
    b->cap = LOOM_RBUF_SIZE;
    b->head = 0;
  }
  if (b->head > 0 && b->cap - (b->head + b->len) < b->cap / 4) {
    memmove(b->buf, b->buf + b->head, b->len);
    b->head = 0;
  }
  if (b->len == b->cap && grow) {
    size_t ncap = 2 * b->cap;
    char *nb;
    if (b->mode == LOOM_RM_EXACT && b->want > b->cap && b->want < ncap)
      ncap = b->want;                    /* no more than the read needs */
    nb = (char *)realloc(b->buf, ncap);
    if (nb == NULL) return 0;
    b->buf = nb;
    b->cap = ncap;
  }
  return b->cap - (b->head + b->len);
}

/* [-0, +0, -] Would the read recorded in 'b' be satisfied (or fail)
** now that the 'n' bytes at 'fresh' were appended? Pure C: the test of a
** read callback before it wakes the reader. */
int loom__rbuf_ready(const loom_rbuf *b, const char *fresh, size_t n) {
  switch (b->mode) {
    case LOOM_RM_ANY: return 1;
    case LOOM_RM_EXACT: return b->len >= b->want;
    case LOOM_RM_ALL: return 0;             /* the end of stream wakes it */
    default:
      return memchr(fresh, '\n', n) != NULL || b->len > b->want;
  }
}

/* [-0, +0, -] Take 'k' bytes off the front of 'b'; give back a buffer that
** a long read grew once it is empty. */
void loom__rbuf_consume(loom_rbuf *b, size_t k) {
  b->head += k;
  b->len -= k;
  b->scan = 0;
  if (b->len == 0) {
    b->head = 0;
    if (b->cap > LOOM_RBUF_SIZE) loom__rbuf_free(b);
  }
}

/* [-0, +3, m] The fail tuple of a line longer than the reader's bound. */
static int line_too_long(lua_State *L, size_t max) {
  lua_pushnil(L);
  lua_pushliteral(L, "ELINETOOLONG");
  lua_pushfstring(L, "line longer than %I bytes (read_line max)",
                  (lua_Integer)max);
  return 3;
}

/* [-0, +1, m] Push the 'e' bytes at the front of 'b' and consume 'k'. */
static int push_take(lua_State *L, loom_rbuf *b, size_t e, size_t k) {
  lua_pushlstring(L, b->buf != NULL ? b->buf + b->head : "", e);
  loom__rbuf_consume(b, k);
  return 1;
}

/* [-0, +(0|1|3), m] Satisfy a read of 'mode' ('want': the limit, the
** count or the longest line) from what 'b' holds: push its result and
** return the number of values (1, or 3 for the fail tuple of a line too
** long), or return -1, nothing pushed, if it must wait for more. With
** 'eof' no more bytes will come: it never returns -1; a partial line is
** the last line, anything else nil (read_exactly's partial bytes stay
** buffered). */
int loom__rbuf_take(lua_State *L, loom_rbuf *b, int mode, size_t want,
                    int eof) {
  const char *p = b->buf != NULL ? b->buf + b->head : "", *nl = NULL;
  size_t e;
  switch (mode) {
    case LOOM_RM_ANY:
      if (b->len > 0) {
        e = b->len < want ? b->len : want;
        return push_take(L, b, e, e);
      }
      break;
    case LOOM_RM_EXACT:
      if (b->len >= want) return push_take(L, b, want, want);
      break;
    case LOOM_RM_ALL:
      if (eof) return push_take(L, b, b->len, b->len);   /* "" if none */
      break;
    default:
      if (b->len > b->scan)
        nl = (const char *)memchr(p + b->scan, '\n', b->len - b->scan);
      if (nl != NULL) {
        size_t k = (size_t)(nl - p);
        e = k > 0 && p[k - 1] == '\r' ? k - 1 : k;
        if (e > want) return line_too_long(L, want);
        return push_take(L, b, mode == LOOM_RM_LINEKEEP ? k + 1 : e, k + 1);
      }
      b->scan = b->len;
      /* no newline: the line has at least len bytes (a last "\r" may be
      ** the start of its "\r\n") */
      e = b->len > 0 && p[b->len - 1] == '\r' && !eof ? b->len - 1 : b->len;
      if (e > want) return line_too_long(L, want);
      if (eof && b->len > 0) return push_take(L, b, b->len, b->len);
      break;
  }
  if (!eof) return -1;
  lua_pushnil(L);
  return 1;
}
