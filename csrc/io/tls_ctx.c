/*
** tls_ctx.c: the OpenSSL side of loom.tls (README, "TLS"): contexts made
** from an options table (loom.TlsContext, an SSL_CTX), OpenSSL's errors
** described for fail tuples, the peer's name and certificate. tls.c
** builds the TLS streams on these.
**
** A context is made once per options table (lua/loom/tls.lua caches it)
** and checks everything it can before any connection: the files load,
** the key matches the certificate, the versions and protocols are known;
** a bad option raises at the caller's line. The userdata owns one
** reference to the SSL_CTX and every SSL made from it another (OpenSSL
** counts them), so the SSL_CTX is freed with the last of them; each TLS
** stream also keeps the userdata as a user value, because a server's ALPN
** callback reads the protocol list the userdata owns.
**
** Verification: a client verifies by default (SSL_VERIFY_PEER) against
** opts.ca_file / opts.ca_path, or the system store
** (SSL_CTX_set_default_verify_paths); a server asks for a client
** certificate only with opts.verify = true. Renegotiation is refused.
*/
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "io.h"

/* TLS streams and contexts alive in the process (core.tls_stats): tests
** use them to check that nothing leaked. Not exact if several threads
** use TLS at once (each Lua state lives on one thread). */
static int nstreams, ncontexts;

/* [-0, +0, -] Count TLS streams made (+1) or freed (-1). */
void loom__tls_count(int delta) {
  nstreams += delta;
}

/* {====================================================================
** Errors
** ===================================================================== */

/* [-0, +0, -] Empty OpenSSL's error queue, keeping the oldest error. */
static unsigned long take_errors(void) {
  unsigned long e, first = 0;
  while ((e = ERR_get_error()) != 0)
    if (first == 0) first = e;
  return first;
}

/* [-0, +0, -] OpenSSL's reason of 'e' into 'msg' ('what' if none). */
static void reason_of(unsigned long e, const char *what, char *msg,
                      size_t n) {
  const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
  if (r != NULL) snprintf(msg, n, "%s", r);
  else if (e != 0) ERR_error_string_n(e, msg, n);
  else snprintf(msg, n, "%s", what);
}

/* [-0, +0, -] Describe the failure of an OpenSSL call on 'ssl' whose
** SSL_get_error was 'err' (io.h); empties the error queue. */
void loom__tls_describe(SSL *ssl, int err, char *msg, size_t n,
                        char *verr, size_t vn) {
  unsigned long e = take_errors();
  verr[0] = '\0';
  reason_of(e, err == SSL_ERROR_ZERO_RETURN
                   ? "the peer closed the connection"
                   : err == SSL_ERROR_SYSCALL ? "unexpected eof while reading"
                                              : "TLS failure",
            msg, n);
  if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
      ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK)
      snprintf(verr, vn, "%s", X509_verify_cert_error_string(v));
  }
}

/* [-0, +0, v] Raise the error of a bad option 'field' ("cannot load
** '%s'"...), with OpenSSL's reason; the context at index 'ud' is freed by
** its __gc. */
static int option_error(lua_State *L, const char *field, const char *what,
                        const char *arg) {
  char msg[256];
  reason_of(take_errors(), "refused by OpenSSL", msg, sizeof msg);
  return loom__error(L, "loom.tls: opts.%s: %s '%s' (%s)", field, what,
                     arg, msg);
}

/* {====================================================================
** Options
** ===================================================================== */

/* [-0, +0, v] opts[field] at 'idx' as a string, or NULL when absent. */
static const char *opt_string(lua_State *L, int idx, const char *field) {
  const char *v;
  lua_getfield(L, idx, field);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    loom__error(L, "loom.tls: opts.%s must be a string, got %s", field,
                luaL_typename(L, -1));
  v = lua_tostring(L, -1);
  lua_pop(L, 1);   /* the string stays alive in opts */
  return v;
}

/* [-0, +0, v] opts.min_version / opts.max_version: a protocol version, or
** 'def' when absent. */
static int opt_version(lua_State *L, int idx, const char *field, int def) {
  const char *v = opt_string(L, idx, field);
  if (v == NULL) return def;
  if (strcmp(v, "TLSv1.2") == 0) return TLS1_2_VERSION;
  if (strcmp(v, "TLSv1.3") == 0) return TLS1_3_VERSION;
  return loom__error(L, "loom.tls: opts.%s: unknown version '%s' (\"TLSv1.2\" "
                     "or \"TLSv1.3\")", field, v);
}

/* [-0, +1, v] opts.alpn (an array of protocol names) in the wire format
** of ALPN, pushed as a string; nil when absent. */
static void opt_alpn(lua_State *L, int idx) {
  luaL_Buffer b;
  lua_Integer i, n;
  int list;
  if (lua_getfield(L, idx, "alpn") == LUA_TNIL) return;
  if (!lua_istable(L, -1))
    loom__error(L, "loom.tls: opts.alpn must be an array of strings");
  list = lua_gettop(L);
  n = (lua_Integer)lua_rawlen(L, list);
  if (n == 0) loom__error(L, "loom.tls: opts.alpn is empty");
  luaL_buffinit(L, &b);
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *p;
    lua_rawgeti(L, list, i);
    p = lua_tolstring(L, -1, &len);
    if (lua_type(L, -1) != LUA_TSTRING || len == 0 || len > 255)
      loom__error(L, "loom.tls: opts.alpn[%I] must be a protocol name "
                  "(1 to 255 bytes)", i);
    lua_pop(L, 1);
    luaL_addchar(&b, (char)len);
    luaL_addlstring(&b, p, len);
  }
  luaL_pushresult(&b);
  lua_remove(L, list);
}

/* ALPN callback of a server (OpenSSL, in the handshake of a task): the
** first of the client's protocols that the server accepts. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg) {
  loom_tlsctx *c = (loom_tlsctx *)arg;
  unsigned char *sel;
  (void)ssl;
  if (SSL_select_next_proto(&sel, outlen, c->alpn, c->alpn_len, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;   /* no protocol in common: none */
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

/* [-0, +0, v] Load the trust anchors and set the verification mode. */
static void setup_verify(lua_State *L, int idx, loom_tlsctx *c) {
  const char *file = opt_string(L, idx, "ca_file");
  const char *path = opt_string(L, idx, "ca_path");
  SSL_CTX *sc = c->ssl_ctx;
  struct stat st;
  if (path != NULL && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
    loom__error(L, "loom.tls: opts.ca_path: '%s' is not a directory", path);
  if (file != NULL || path != NULL) {
    if (SSL_CTX_load_verify_locations(sc, file, path) != 1)
      option_error(L, file != NULL ? "ca_file" : "ca_path", "cannot load",
                   file != NULL ? file : path);
  } else if (c->verify && SSL_CTX_set_default_verify_paths(sc) != 1) {
    option_error(L, "verify", "cannot load", "the system's CA store");
  }
  if (c->server && c->verify && file != NULL) {
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(file);
    if (names != NULL) SSL_CTX_set_client_CA_list(sc, names);
  }
  SSL_CTX_set_verify(sc, !c->verify ? SSL_VERIFY_NONE
                         : c->server ? SSL_VERIFY_PEER |
                                           SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                     : SSL_VERIFY_PEER, NULL);
}

/* [-0, +0, v] Load the certificate chain and its key. */
static void setup_cert(lua_State *L, int idx, loom_tlsctx *c) {
  const char *cert = opt_string(L, idx, "cert_file");
  const char *key = opt_string(L, idx, "key_file");
  SSL_CTX *sc = c->ssl_ctx;
  if (cert == NULL) {
    if (c->server)
      loom__error(L, "loom.tls: opts.cert_file and opts.key_file are "
                  "required for a server");
    if (key != NULL)
      loom__error(L, "loom.tls: opts.key_file needs opts.cert_file");
    return;
  }
  if (key == NULL) key = cert;   /* one PEM file with both */
  if (SSL_CTX_use_certificate_chain_file(sc, cert) != 1)
    option_error(L, "cert_file", "cannot load", cert);
  if (SSL_CTX_use_PrivateKey_file(sc, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(sc) != 1) {
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
        ERR_GET_REASON(e) == SSL_R_PRIVATE_KEY_MISMATCH)
      option_error(L, "key_file", "does not match the certificate of",
                   cert);
    option_error(L, "key_file", "cannot load", key);
  }
}

/* {====================================================================
** loom.TlsContext
** ===================================================================== */

/* [-0, +0, v] The loom.TlsContext at 'idx'. */
loom_tlsctx *loom__tlsctx_check(lua_State *L, int idx) {
  loom_tlsctx *c = (loom_tlsctx *)luaL_testudata(L, idx, LOOM_TLSCTX_MT);
  if (c == NULL || c->ssl_ctx == NULL)
    loom__typeerror(L, idx, LOOM_TLSCTX_MT);
  return c;
}

/* [-2, +1, v] core.tls_context(opts, server) -> TlsContext: an SSL_CTX
** for the options table 'opts' (nil: the defaults), a server's if
** 'server'. Raises on a bad option. */
static int l_tls_context(lua_State *L) {
  int server = lua_toboolean(L, 2), min, max;
  loom_tlsctx *c;
  SSL_CTX *sc;
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  } else {
    loom__checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
  }
  c = (loom_tlsctx *)loom__newself(L, sizeof(loom_tlsctx), 0);  /* 2 */
  c->server = (unsigned char)server;
  sc = c->ssl_ctx = SSL_CTX_new(TLS_method());
  if (sc == NULL) return loom__error(L, "loom.tls: out of memory (SSL_CTX)");
  ncontexts++;
  lua_getfield(L, 1, "verify");
  c->verify = (unsigned char)(lua_isnil(L, -1) ? !server
                                               : lua_toboolean(L, -1));
  lua_pop(L, 1);
  min = opt_version(L, 1, "min_version", TLS1_2_VERSION);
  max = opt_version(L, 1, "max_version", 0);
  if (max != 0 && max < min)
    loom__error(L, "loom.tls: opts.max_version is below opts.min_version");
  SSL_CTX_set_min_proto_version(sc, min);
  SSL_CTX_set_max_proto_version(sc, max);
  SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION);
  if (server) {
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(sc, 0);   /* no resumption: send no tickets */
  }
  setup_cert(L, 1, c);
  setup_verify(L, 1, c);
  opt_alpn(L, 1);                                          /* 3 */
  if (!lua_isnil(L, 3)) {
    size_t len;
    const char *wire = lua_tolstring(L, 3, &len);
    if (!server) {
      if (SSL_CTX_set_alpn_protos(sc, (const unsigned char *)wire,
                                  (unsigned int)len) != 0)
        option_error(L, "alpn", "cannot use", "the list");
    } else {
      c->alpn = (unsigned char *)OPENSSL_memdup(wire, len);
      if (c->alpn == NULL) loom__error(L, "loom.tls: out of memory (alpn)");
      c->alpn_len = (unsigned int)len;
      SSL_CTX_set_alpn_select_cb(sc, on_alpn, c);
    }
  }
  lua_settop(L, 2);
  return 1;
}

/* [-1, +0, -] __gc: drop the context's reference to the SSL_CTX (the
** streams made with it hold their own). Idempotent, never raises. */
static int l_tlsctx_gc(lua_State *L) {
  loom_tlsctx *c = (loom_tlsctx *)lua_touserdata(L, 1);
  if (c->ssl_ctx != NULL) {
    SSL_CTX_free(c->ssl_ctx);
    c->ssl_ctx = NULL;
    ncontexts--;
  }
  OPENSSL_free(c->alpn);
  c->alpn = NULL;
  return 0;
}

/* [-1, +1, m] __tostring: "loom.TlsContext (client, verify)". */
static int l_tlsctx_tostring(lua_State *L) {
  loom_tlsctx *c = (loom_tlsctx *)lua_touserdata(L, 1);
  lua_pushfstring(L, "loom.TlsContext (%s%s)",
                  c->server ? "server" : "client",
                  c->verify ? ", verify" : "");
  return 1;
}

/* [-0, +1, m] core.tls_stats() -> { streams =, contexts = }: TLS streams
** and contexts alive (not freed yet) in the process; for leak checks. */
static int l_tls_stats(lua_State *L) {
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, nstreams);
  lua_setfield(L, -2, "streams");
  lua_pushinteger(L, ncontexts);
  lua_setfield(L, -2, "contexts");
  return 1;
}

/* {====================================================================
** The peer: its name, its certificate
** ===================================================================== */

/* [-0, +0, -] Set the name a client connects to (io.h). */
int loom__tls_set_peer(SSL *ssl, const char *name, int verify) {
  unsigned char ip[16];
  if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1)
    return !verify ||   /* no SNI for an address (RFC 6066) */
           X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1;
  if (SSL_set_tlsext_host_name(ssl, name) != 1) return 0;
  if (!verify) return 1;
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(ssl, name) == 1;
}

/* Room for the text of a certificate's fields, rendered before anything
** is pushed (a memory error while pushing then leaks nothing). */
#define CERT_TEXT 1024
#define CERT_NSAN 64

/* [-0, +0, -] What BIO 'b' holds, as a C string in 'out' (truncated to
** 'n' bytes); frees 'b'. */
static void bio_text(BIO *b, char *out, size_t n) {
  int k = b != NULL ? BIO_read(b, out, (int)n - 1) : 0;
  out[k > 0 ? k : 0] = '\0';
  BIO_free(b);
}

/* [-0, +0, -] A name (RFC 2253: "CN=localhost,O=loom") into 'out'. */
static void name_text(const X509_NAME *nm, char *out) {
  BIO *b = BIO_new(BIO_s_mem());
  if (b != NULL) X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253);
  bio_text(b, out, CERT_TEXT);
}

/* [-0, +0, -] A time (ISO 8601: "2025-01-31 12:00:00Z") into 'out'. */
static void time_text(const ASN1_TIME *t, char *out) {
  BIO *b = BIO_new(BIO_s_mem());
  if (b != NULL) ASN1_TIME_print_ex(b, t, ASN1_DTFLGS_ISO8601);
  bio_text(b, out, CERT_TEXT);
}

/* [-0, +0, -] The subject alternative names of 'x' (DNS names, addresses,
** e-mail addresses, URIs), NUL-separated in 'out' (at most CERT_NSAN,
** 'n' bytes); returns how many. */
static int san_text(X509 *x, char *out, size_t n) {
  GENERAL_NAMES *gens = (GENERAL_NAMES *)X509_get_ext_d2i(
      x, NID_subject_alt_name, NULL, NULL);
  size_t used = 0;
  int i, count = 0;
  for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) &&
              count < CERT_NSAN; i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
    char ipbuf[INET6_ADDRSTRLEN];
    const char *s = NULL;
    size_t len = 0;
    if (g->type == GEN_DNS || g->type == GEN_EMAIL || g->type == GEN_URI) {
      s = (const char *)ASN1_STRING_get0_data(g->d.ia5);
      len = (size_t)ASN1_STRING_length(g->d.ia5);
    } else if (g->type == GEN_IPADD) {
      int alen = ASN1_STRING_length(g->d.ip);
      if ((alen == 4 || alen == 16) &&
          inet_ntop(alen == 4 ? AF_INET : AF_INET6,
                    ASN1_STRING_get0_data(g->d.ip), ipbuf,
                    sizeof ipbuf) != NULL) {
        s = ipbuf;
        len = strlen(ipbuf);
      }
    }
    if (s == NULL || used + len + 1 > n) continue;
    memcpy(out + used, s, len);
    out[used + len] = '\0';
    used += len + 1;
    count++;
  }
  GENERAL_NAMES_free(gens);
  return count;
}

/* [-0, +1, m] Push the table of certificate 'x' (io.h). */
void loom__tls_push_cert(lua_State *L, X509 *x) {
  char subject[CERT_TEXT], issuer[CERT_TEXT], nb[CERT_TEXT], na[CERT_TEXT];
  char serial[CERT_TEXT], san[4 * CERT_TEXT];
  const char *p = san;
  int i, nsan;
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
  char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
  snprintf(serial, sizeof serial, "%s", hex != NULL ? hex : "");
  OPENSSL_free(hex);
  BN_free(bn);
  name_text(X509_get_subject_name(x), subject);
  name_text(X509_get_issuer_name(x), issuer);
  time_text(X509_get0_notBefore(x), nb);
  time_text(X509_get0_notAfter(x), na);
  nsan = san_text(x, san, sizeof san);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, subject);
  lua_setfield(L, -2, "subject");
  lua_pushstring(L, issuer);
  lua_setfield(L, -2, "issuer");
  lua_pushstring(L, nb);
  lua_setfield(L, -2, "not_before");
  lua_pushstring(L, na);
  lua_setfield(L, -2, "not_after");
  lua_pushstring(L, serial);
  lua_setfield(L, -2, "serial");
  lua_createtable(L, nsan, 0);
  for (i = 1; i <= nsan; i++) {
    lua_pushstring(L, p);
    lua_rawseti(L, -2, i);
    p += strlen(p) + 1;
  }
  lua_setfield(L, -2, "san");
}

/* {====================================================================
** Registration
** ===================================================================== */

static const luaL_Reg tlsctx_meta[] = {
  {"__gc", l_tlsctx_gc},
  {"__tostring", l_tlsctx_tostring},
  {NULL, NULL}
};

static const luaL_Reg tlsctx_funcs[] = {
  {"tls_context", l_tls_context},
  {"tls_stats", l_tls_stats},
  {NULL, NULL}
};

static const loom_class tlsctx_class = {
  LOOM_TLSCTX_MT, NULL, tlsctx_meta, NULL, tlsctx_funcs, NULL, NULL
};

/* [-0, +0, m] Register loom.TlsContext, core.tls_context and
** core.tls_stats. */
void loom__tlsctx_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &tlsctx_class);
  lua_pop(L, 1);
}
