/*
 * test_h2_multiplex.c - many requests with bodies in flight at once on one
 * HTTP/2 connection (the server's --http2), as pooled clients (client-go,
 * undici) send them under load.
 *
 * The client here speaks raw HTTP/2 over OpenSSL so that it controls the
 * framing: it writes the HEADERS of 40 requests and then their DATA frames
 * in a single TLS write, so every DATA frame but the last reaches the server
 * in the same read as the frames after it. That is the case libwebsockets
 * 4.1 mishandled (a GOAWAY PROTOCOL_ERROR "More rx than content_length
 * told", killing every stream on the connection); curl happens to write
 * each request in its own TLS record and does not show it.
 *
 * Phases on one connection: 40 POSTs (create), 40 PUTs (update), then 40
 * GETs whose bodies prove what was stored.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "testutil.h"

#include "handlers.h"
#include "server.h"
#include "util/buf.h"

#define TOKEN "mux-test-token"
#define N 40
#define CM "/api/v1/namespaces/default/configmaps"

enum { F_DATA = 0, F_HEADERS = 1, F_RST = 3, F_SETTINGS = 4, F_PING = 6, F_GOAWAY = 7, F_WINDOW = 8 };
enum { FL_END_STREAM = 1, FL_ACK = 1, FL_END_HEADERS = 4 };

/* ------------------------------------------------------------ server */

typedef struct env {
    dv_api *api;
    dv_server *srv;
    pthread_t th;
} env;

static void *serve(void *s)
{
    dv_server_run(s);
    return NULL;
}

static void env_start(env *e)
{
    memset(e, 0, sizeof *e);
    dv_api_config acfg = {0};
    acfg.watch_window = 100;
    acfg.admin_token = TOKEN;
    char msg[512] = "";
    assert_int_equal(dv_api_new(&acfg, &e->api, msg, sizeof msg), 0);
    dv_server_config scfg = {.listen = "127.0.0.1:0", .http2 = 1};
    if (dv_server_new(e->api, &scfg, &e->srv, msg, sizeof msg) != 0)
        fail_msg("dv_server_new: %s", msg);
    assert_int_equal(pthread_create(&e->th, NULL, serve, e->srv), 0);
}

static void env_free(env *e)
{
    dv_server_stop(e->srv);
    pthread_join(e->th, NULL);
    dv_server_free(e->srv);
    dv_api_free(e->api);
}

/* ------------------------------------------------------------ client */

typedef struct h2c {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    pb_buf in; /* received bytes not yet parsed into frames */
} h2c;

static void put24(pb_buf *b, size_t v)
{
    unsigned char x[3] = {(unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    pb_buf_append(b, x, 3);
}

static void frame(pb_buf *b, int type, int flags, unsigned sid, const void *payload, size_t len)
{
    put24(b, len);
    unsigned char h[6] = {(unsigned char)type, (unsigned char)flags, (unsigned char)(sid >> 24),
                          (unsigned char)(sid >> 16), (unsigned char)(sid >> 8), (unsigned char)sid};
    pb_buf_append(b, h, 6);
    pb_buf_append(b, payload, len);
}

/* An HPACK integer with an n-bit prefix whose high bits are `first`. */
static void hpack_int(pb_buf *b, unsigned char first, int n, size_t v)
{
    size_t max = ((size_t)1 << n) - 1;
    unsigned char c;
    if (v < max) {
        c = (unsigned char)(first | v);
        pb_buf_append(b, &c, 1);
        return;
    }
    c = (unsigned char)(first | max);
    pb_buf_append(b, &c, 1);
    for (v -= max; v >= 128; v >>= 7) {
        c = (unsigned char)(0x80 | (v & 0x7f));
        pb_buf_append(b, &c, 1);
    }
    c = (unsigned char)v;
    pb_buf_append(b, &c, 1);
}

/* "Literal Header Field without Indexing - Indexed Name" (RFC 7541 6.2.2)
 * with a static-table name and a plain (not Huffman) value. */
static void hpack_field(pb_buf *b, int name_index, const char *value)
{
    hpack_int(b, 0x00, 4, (size_t)name_index);
    hpack_int(b, 0x00, 7, strlen(value));
    pb_buf_puts(b, value);
}

/* Static table indexes (RFC 7541 Appendix A). */
enum { HP_AUTHORITY = 1, HP_METHOD = 2, HP_PATH = 4, HP_SCHEME = 7, HP_AUTHORIZATION = 23,
       HP_CONTENT_LENGTH = 28, HP_CONTENT_TYPE = 31 };

/* HEADERS (and, with a body, a separate DATA frame) of one request. */
static void request(pb_buf *headers, pb_buf *data, unsigned sid, const char *method, const char *path,
                    const char *body)
{
    pb_buf h = {0};
    char len[24];
    hpack_field(&h, HP_METHOD, method);
    hpack_field(&h, HP_SCHEME, "https");
    hpack_field(&h, HP_PATH, path);
    hpack_field(&h, HP_AUTHORITY, "127.0.0.1");
    hpack_field(&h, HP_AUTHORIZATION, "Bearer " TOKEN);
    if (body) {
        snprintf(len, sizeof len, "%zu", strlen(body));
        hpack_field(&h, HP_CONTENT_TYPE, "application/json");
        hpack_field(&h, HP_CONTENT_LENGTH, len);
    }
    frame(headers, F_HEADERS, FL_END_HEADERS | (body ? 0 : FL_END_STREAM), sid, h.data, h.len);
    if (body)
        frame(data, F_DATA, FL_END_STREAM, sid, body, strlen(body));
    pb_buf_free(&h);
}

static void send_all(h2c *c, const pb_buf *b)
{
    /* One SSL_write: the frames travel together, in as few TLS records as
     * their size allows. */
    assert_int_equal(SSL_write(c->ssl, b->data, (int)b->len), (int)b->len);
}

typedef struct h2frame {
    int type, flags;
    unsigned sid;
    unsigned char *payload; /* malloc'd */
    size_t len;
} h2frame;

/* The next frame from the server (blocking, 10 s timeout set on the socket). */
static int next_frame(h2c *c, h2frame *f)
{
    for (;;) {
        if (c->in.len >= 9) {
            const unsigned char *p = (const unsigned char *)c->in.data;
            size_t len = ((size_t)p[0] << 16) | ((size_t)p[1] << 8) | p[2];
            if (c->in.len >= 9 + len) {
                f->type = p[3];
                f->flags = p[4];
                f->sid = ((unsigned)(p[5] & 0x7f) << 24) | ((unsigned)p[6] << 16) | ((unsigned)p[7] << 8) | p[8];
                f->len = len;
                f->payload = malloc(len + 1);
                memcpy(f->payload, p + 9, len);
                f->payload[len] = 0;
                memmove(c->in.data, c->in.data + 9 + len, c->in.len - 9 - len);
                c->in.len -= 9 + len;
                return 0;
            }
        }
        char buf[16384];
        int n = SSL_read(c->ssl, buf, sizeof buf);
        if (n <= 0)
            return -1;
        pb_buf_append(&c->in, buf, (size_t)n);
    }
}

static void h2_connect(h2c *c, int port)
{
    memset(c, 0, sizeof *c);
    c->ctx = SSL_CTX_new(TLS_client_method());
    static const unsigned char alpn[] = {2, 'h', '2'};
    SSL_CTX_set_alpn_protos(c->ctx, alpn, sizeof alpn);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {10, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    assert_int_equal(SSL_connect(c->ssl), 1);
    const unsigned char *proto = NULL;
    unsigned plen = 0;
    SSL_get0_alpn_selected(c->ssl, &proto, &plen);
    assert_true(plen == 2 && !memcmp(proto, "h2", 2));

    /* Preface, our SETTINGS (a large stream window), a large connection
     * window; then wait for the server's SETTINGS and acknowledge them. */
    pb_buf b = {0};
    pb_buf_puts(&b, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    static const unsigned char settings[] = {0, 4, 0, 0x10, 0, 0}; /* INITIAL_WINDOW_SIZE 1 MiB */
    frame(&b, F_SETTINGS, 0, 0, settings, sizeof settings);
    static const unsigned char window[] = {0, 0x10, 0, 0}; /* +1 MiB on the connection */
    frame(&b, F_WINDOW, 0, 0, window, sizeof window);
    send_all(c, &b);
    pb_buf_free(&b);
    h2frame f;
    for (;;) {
        assert_int_equal(next_frame(c, &f), 0);
        int is_settings = f.type == F_SETTINGS && !(f.flags & FL_ACK);
        free(f.payload);
        if (is_settings)
            break;
    }
    frame(&b, F_SETTINGS, FL_ACK, 0, NULL, 0);
    send_all(c, &b);
    pb_buf_free(&b);
}

static void h2_close(h2c *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
    pb_buf_free(&c->in);
}

/* Send n requests (all HEADERS, then all DATA, in one write) on streams
 * first, first+2, ...; collect each stream's response body into bodies[]
 * (malloc'd). Fails on GOAWAY or RST_STREAM. */
static void exchange(h2c *c, unsigned first, int n, const char *method, char *const paths[], char *const reqs[],
                     char *bodies[])
{
    pb_buf headers = {0}, data = {0};
    for (int i = 0; i < n; i++)
        request(&headers, &data, first + 2 * (unsigned)i, method, paths[i], reqs ? reqs[i] : NULL);
    pb_buf_append(&headers, data.data, data.len);
    send_all(c, &headers);
    pb_buf_free(&headers);
    pb_buf_free(&data);

    pb_buf got[N];
    int done = 0;
    memset(got, 0, sizeof got);
    while (done < n) {
        h2frame f;
        if (next_frame(c, &f) != 0)
            fail_msg("connection closed with %d of %d %s responses complete", done, n, method);
        if (f.type == F_GOAWAY || f.type == F_RST)
            fail_msg("%s from the server (%s, stream %u): %d of %d %s responses complete",
                     f.type == F_GOAWAY ? "GOAWAY" : "RST_STREAM", f.len > 8 ? (char *)f.payload + 8 : "", f.sid,
                     done, n, method);
        if (f.type == F_PING && !(f.flags & FL_ACK)) {
            pb_buf pong = {0};
            frame(&pong, F_PING, FL_ACK, 0, f.payload, f.len);
            send_all(c, &pong);
            pb_buf_free(&pong);
        }
        if ((f.type == F_DATA || f.type == F_HEADERS) && f.sid >= first) {
            int i = (int)(f.sid - first) / 2;
            assert_true(i < n);
            if (f.type == F_DATA)
                pb_buf_append(&got[i], f.payload, f.len);
            if (f.flags & FL_END_STREAM)
                done++;
        }
        free(f.payload);
    }
    for (int i = 0; i < n; i++) {
        pb_buf_puts(&got[i], ""); /* a string even when empty */
        bodies[i] = pb_buf_take(&got[i], NULL);
    }
}

static const char *data_n(const json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "data"), "n"));
}

static void check_bodies(char *bodies[], const char *what, const char *want_kind, int with_data)
{
    for (int i = 0; i < N; i++) {
        json_t *o = json_loads(bodies[i], 0, NULL);
        if (!o)
            fail_msg("%s %d: not JSON: %s", what, i, bodies[i]);
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (!kind || strcmp(kind, want_kind))
            fail_msg("%s %d: %s", what, i, bodies[i]);
        char name[32], n[32];
        snprintf(name, sizeof name, "mux%d", i);
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "metadata"), "name")), name);
        if (with_data) {
            snprintf(n, sizeof n, "put-%d", i);
            assert_string_equal(data_n(o), n);
        }
        json_decref(o);
        free(bodies[i]);
    }
}

/* ------------------------------------------------------------ tests */

static void test_concurrent_bodies_on_one_connection(void **state)
{
    (void)state;
    env e;
    env_start(&e);
    h2c c;
    h2_connect(&c, dv_server_port(e.srv));
    char *paths[N], *reqs[N], *bodies[N];

    for (int i = 0; i < N; i++) {
        paths[i] = strdup(CM);
        char b[256];
        snprintf(b, sizeof b,
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"mux%d\"},"
                 "\"data\":{\"n\":\"post-%d\"}}",
                 i, i);
        reqs[i] = strdup(b);
    }
    exchange(&c, 1, N, "POST", paths, reqs, bodies);
    check_bodies(bodies, "POST", "ConfigMap", 0);

    for (int i = 0; i < N; i++) {
        char p[128], b[256];
        snprintf(p, sizeof p, CM "/mux%d", i);
        snprintf(b, sizeof b,
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"mux%d\"},"
                 "\"data\":{\"n\":\"put-%d\"}}",
                 i, i);
        free(paths[i]);
        free(reqs[i]);
        paths[i] = strdup(p);
        reqs[i] = strdup(b);
    }
    exchange(&c, 1 + 2 * N, N, "PUT", paths, reqs, bodies);
    check_bodies(bodies, "PUT", "ConfigMap", 1);

    /* What was stored, read back on the same connection. */
    exchange(&c, 1 + 4 * N, N, "GET", paths, NULL, bodies);
    check_bodies(bodies, "GET", "ConfigMap", 1);

    for (int i = 0; i < N; i++) {
        free(paths[i]);
        free(reqs[i]);
    }
    h2_close(&c);
    env_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_bodies_on_one_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
