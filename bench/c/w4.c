/*
** W4 loopback echo, the limit: plain C on libuv, one process. A server on
** 127.0.0.1 (port 0) echoes what it reads; C clients connect (TCP_NODELAY
** on both sides) and each does R round trips: write 64 bytes, read until
** 64 bytes came back. Prints the round trips per second from before the
** first connect until the last client is done. C = BENCH_C (100),
** R = BENCH_R (1000).
*/
#include "common.h"

#define MSG 64

typedef struct conn {
  uv_tcp_t tcp;
  uv_write_t wreq;
  char rbuf[65536];
  char wbuf[65536];
  int writing;   /* wreq/wbuf in use */
  long got;      /* client: bytes of the current reply */
  long rounds;   /* client: round trips done */
  int client;
} conn;

typedef struct spare_write {
  uv_write_t req;
  char data[1];
} spare_write;

static uv_loop_t *loop;
static uv_tcp_t server;
static long nclients, nrounds, clients_done, total_rounds;
static double t_end, c_end;
static char msg[MSG];
static conn **server_conns;
static long nserver_conns;

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  conn *c = (conn *)h->data;
  (void)size;
  *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_closed(uv_handle_t *h) { free(h->data); }

static void on_write(uv_write_t *req, int status) {
  conn *c = (conn *)req->data;
  if (status < 0) bench_fail("W4", uv_strerror(status));
  c->writing = 0;
}

static void on_spare_write(uv_write_t *req, int status) {
  if (status < 0) bench_fail("W4", uv_strerror(status));
  free(req);
}

/* Write 'len' bytes from 'data' on 'c' (copied). */
static void send_bytes(conn *c, const char *data, size_t len) {
  uv_buf_t b;
  int rc;
  if (!c->writing && len <= sizeof c->wbuf) {
    memcpy(c->wbuf, data, len);
    b = uv_buf_init(c->wbuf, (unsigned)len);
    c->writing = 1;
    c->wreq.data = c;
    rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  } else {
    spare_write *w = (spare_write *)malloc(sizeof(spare_write) + len);
    if (w == NULL) bench_fail("W4", "out of memory");
    memcpy(w->data, data, len);
    b = uv_buf_init(w->data, (unsigned)len);
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_spare_write);
  }
  if (rc < 0) bench_fail("W4", uv_strerror(rc));
}

static void finish(void) {
  long i;
  t_end = bench_ms();
  c_end = bench_cpu_ms();
  uv_close((uv_handle_t *)&server, NULL);
  for (i = 0; i < nserver_conns; i++)
    uv_close((uv_handle_t *)&server_conns[i]->tcp, on_closed);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn *c = (conn *)s->data;
  if (nread < 0) {
    if (nread != UV_EOF) bench_fail("W4", uv_strerror((int)nread));
    return;
  }
  if (nread == 0) return;
  if (!c->client) {                 /* server: echo */
    send_bytes(c, buf->base, (size_t)nread);
    return;
  }
  c->got += nread;
  if (c->got < MSG) return;
  if (c->got > MSG) bench_fail("W4", "more bytes than sent");
  c->got = 0;
  c->rounds++;
  total_rounds++;
  if (c->rounds < nrounds) {
    send_bytes(c, msg, MSG);
  } else {
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    if (++clients_done == nclients) finish();
  }
}

static conn *conn_new(int client) {
  conn *c = (conn *)calloc(1, sizeof(conn));
  if (c == NULL) bench_fail("W4", "out of memory");
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->client = client;
  return c;
}

static void on_connection(uv_stream_t *srv, int status) {
  conn *c;
  if (status < 0) bench_fail("W4", uv_strerror(status));
  c = conn_new(0);
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) bench_fail("W4", "accept");
  uv_tcp_nodelay(&c->tcp, 1);
  server_conns[nserver_conns++] = c;
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_connect(uv_connect_t *req, int status) {
  conn *c = (conn *)req->data;
  free(req);
  if (status < 0) bench_fail("W4", uv_strerror(status));
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  send_bytes(c, msg, MSG);
}

int main(void) {
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof bound, rc;
  long i;
  double t0, c0;
  nclients = bench_env("BENCH_C", 100);
  nrounds = bench_env("BENCH_R", 1000);
  loop = uv_default_loop();
  memset(msg, 'x', sizeof msg);
  server_conns = (conn **)calloc((size_t)nclients, sizeof(conn *));
  uv_tcp_init(loop, &server);
  uv_ip4_addr("127.0.0.1", 0, &addr);
  rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&server, 1024, on_connection);
  if (rc == 0) rc = uv_tcp_getsockname(&server, (struct sockaddr *)&bound,
                                       &len);
  if (rc != 0) bench_fail("W4", uv_strerror(rc));
  addr.sin_port = ((struct sockaddr_in *)&bound)->sin_port;
  c0 = bench_cpu_ms();
  t0 = bench_ms();
  for (i = 0; i < nclients; i++) {
    conn *c = conn_new(1);
    uv_connect_t *req = (uv_connect_t *)malloc(sizeof(uv_connect_t));
    req->data = c;
    rc = uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)&addr,
                        on_connect);
    if (rc != 0) bench_fail("W4", uv_strerror(rc));
  }
  uv_run(loop, UV_RUN_DEFAULT);
  if (total_rounds != nclients * nrounds) bench_fail("W4", "lost rounds");
  printf("W4 c rtps=%.0f ms=%.1f cpu=%.1f c=%ld r=%ld\n",
         (double)total_rounds / ((t_end - t0) / 1000.0), t_end - t0,
         c_end - c0, nclients, nrounds);
  free(server_conns);
  (void)bench_n;
  (void)bench_status_kb;
  return 0;
}
