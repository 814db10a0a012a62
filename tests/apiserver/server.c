/*
 * server.c - libwebsockets front end of the dev API server (see server.h).
 *
 * Per HTTP transaction: headers arrive (LWS_CALLBACK_HTTP), the body if any
 * (HTTP_BODY / HTTP_BODY_COMPLETION), then dv_api_handle runs and the
 * response is written from HTTP_WRITEABLE in pieces. Watches keep the
 * transaction open: the dv_watch calls back when it has data, we ask for
 * writability, and write what is pending - framed as chunks on HTTP/1.1,
 * plain DATA frames on HTTP/2 - until the watch finishes.
 * A 100 ms timer drives dv_api_tick (bookmarks, timeouts, GC).
 *
 * HTTP/1.1 only unless cfg->http2: lws 4.1 parses non-standard request
 * headers (LWS_WITH_CUSTOM_HEADERS) on HTTP/1.1 alone. On an HTTP/2 stream
 * lws_hdr_custom_length/_copy return -1 (they refuse mux substreams) and the
 * HPACK decoder drops unknown names without a trace (no count, no flag, no
 * raw header access in the 4.1 API), so Impersonate-User/-Group/-Uid would
 * silently be ignored and an impersonating request would run as its
 * caller. A request whose impersonation cannot be read must never be
 * served, and the only way to know that no request carries unreadable
 * headers is to never accept HTTP/2: ALPN offers only http/1.1, h2c
 * upgrades are always refused, prior knowledge is not enabled, and a
 * stream that still arrives over HTTP/2 is answered 400 without being
 * served. With --http2 (benchmarks) ALPN offers h2 too, and requests with
 * bodies may be multiplexed on a connection thanks to h2cut.c, which works
 * around lws 4.1's DATA frame check; per-request state is per stream (lws
 * gives each stream wsi its own pss).
 * Group commit: a reply to a write (or one read after it) is held until the
 * WRITEABLE callback, whose first sync fsyncs every write of the loop turn.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "h2cut.h"
#include "util/buf.h"
#include "util/log.h"

#define MAX_BODY 3145728u /* kube-apiserver's request body limit */
#define WRITE_CHUNK 4096
#define MAX_QUERY 64

struct dv_server {
    dv_api *api;
    int latency_ms;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    lws_sorted_usec_list_t tick;
    char *ca_pem, *cert_pem, *key_pem;
    volatile sig_atomic_t stop;
    int port;
    int http2; /* HTTP/2 accepted (--http2): Impersonate-* unreadable there */
    /* HTTP/1.1 watch connections: lws does not read a connection while its
     * response streams, so a client's close goes unnoticed and its
     * readable socket makes poll() return at once, forever (a busy loop).
     * The tick looks at these sockets itself. */
    struct lws **h1_watches;
    size_t n_h1_watches, cap_h1_watches;
};

/* Per-transaction state (lws allocates and zeroes it per wsi). */
typedef struct pss {
    int active;          /* a request is in progress */
    char method[16];
    char *path;
    json_t *query;
    char *hdr[6];        /* accept, content-type, authorization, user-agent, impersonate-user, -uid */
    char *imp_group;     /* the first Impersonate-Group (lws finds no other) */
    pb_buf body;
    int too_big;
    dv_response resp;
    int have_resp;
    int headers_sent;
    size_t sent;         /* bytes of resp.body written */
    int h2;
    int delayed;         /* fault latency timer armed */
    dv_server *srv;
    struct lws *wsi;
    int tracked;         /* in srv->h1_watches */
    int peer_gone;       /* the client closed (or sent data into) an HTTP/1.1 watch */
    int h2_refused;      /* arrived over HTTP/2 while it is off: answer 400, serve nothing */
} pss;

enum { H_ACCEPT, H_CTYPE, H_AUTH, H_UA, H_IMP_USER, H_IMP_UID, N_HDR };

static void untrack_h1_watch(pss *p)
{
    dv_server *s = p->srv;
    for (size_t i = 0; p->tracked && i < s->n_h1_watches; i++)
        if (s->h1_watches[i] == p->wsi) {
            s->h1_watches[i] = s->h1_watches[--s->n_h1_watches];
            break;
        }
    p->tracked = 0;
}

static void track_h1_watch(pss *p)
{
    dv_server *s = p->srv;
    if (s->n_h1_watches == s->cap_h1_watches) {
        s->cap_h1_watches = s->cap_h1_watches ? 2 * s->cap_h1_watches : 16;
        s->h1_watches = realloc(s->h1_watches, s->cap_h1_watches * sizeof(*s->h1_watches));
    }
    s->h1_watches[s->n_h1_watches++] = p->wsi;
    p->tracked = 1;
}

/* A watch's client sends nothing after its request: anything readable
 * (data, a TLS close_notify, EOF) means it is gone; close it from WRITEABLE. */
static void check_h1_watches(dv_server *s)
{
    for (size_t i = 0; i < s->n_h1_watches; i++) {
        struct lws *wsi = s->h1_watches[i];
        pss *p = lws_wsi_user(wsi);
        struct pollfd pfd = {.fd = lws_get_socket_fd(wsi), .events = POLLIN | POLLRDHUP};
        if (!p->peer_gone && pfd.fd >= 0 && poll(&pfd, 1, 0) > 0) {
            p->peer_gone = 1;
            lws_callback_on_writable(wsi);
        }
    }
}

static void pss_clear(pss *p)
{
    if (p->tracked)
        untrack_h1_watch(p);
    free(p->path);
    json_decref(p->query);
    for (int i = 0; i < N_HDR; i++)
        free(p->hdr[i]);
    free(p->imp_group);
    pb_buf_free(&p->body);
    if (p->have_resp)
        dv_response_clear(&p->resp);
    memset(p, 0, sizeof(*p));
}

static char *hdr_dup(struct lws *wsi, enum lws_token_indexes t)
{
    int len = lws_hdr_total_length(wsi, t);
    if (len <= 0)
        return NULL;
    char *s = malloc((size_t)len + 1);
    if (lws_hdr_copy(wsi, s, len + 1, t) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static char *custom_dup(struct lws *wsi, const char *name)
{
    int nlen = (int)strlen(name);
    int len = lws_hdr_custom_length(wsi, name, nlen);
    if (len <= 0)
        return NULL;
    char *s = malloc((size_t)len + 1);
    if (lws_hdr_custom_copy(wsi, s, len + 1, name, nlen) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void collect_request(struct lws *wsi, pss *p)
{
    char *uri = NULL;
    int ulen = 0;
    int m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
    static const char *const names[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE", "CONNECT", "HEAD"};
    if (m >= 0 && m < (int)(sizeof(names) / sizeof(names[0])))
        snprintf(p->method, sizeof(p->method), "%s", names[m]);
    else if (lws_hdr_copy(wsi, p->method, sizeof(p->method), WSI_TOKEN_HTTP_COLON_METHOD) < 0)
        p->method[0] = 0;
    p->path = uri ? strndup(uri, (size_t)ulen) : strdup("/");
    p->path[strcspn(p->path, "?")] = 0;
    p->query = json_object();
    char frag[16384];
    for (int i = 0; i < MAX_QUERY; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        char *eq = strchr(frag, '=');
        if (eq) {
            *eq = 0;
            json_object_set_new(p->query, frag, json_string(eq + 1));
        } else if (*frag) {
            json_object_set_new(p->query, frag, json_string(""));
        }
    }
    p->hdr[H_ACCEPT] = hdr_dup(wsi, WSI_TOKEN_HTTP_ACCEPT);
    p->hdr[H_CTYPE] = hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    p->hdr[H_AUTH] = hdr_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    p->hdr[H_UA] = hdr_dup(wsi, WSI_TOKEN_HTTP_USER_AGENT);
    /* lws stores custom header names lower-cased, with their colon. */
    p->hdr[H_IMP_USER] = custom_dup(wsi, "impersonate-user:");
    p->hdr[H_IMP_UID] = custom_dup(wsi, "impersonate-uid:");
    p->imp_group = custom_dup(wsi, "impersonate-group:");
    p->h2 = lws_get_network_wsi(wsi) != wsi;
}

static void watch_notify(void *ud) { lws_callback_on_writable((struct lws *)ud); }

static int write_headers(struct lws *wsi, pss *p)
{
    unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *ptr = start, *end = buf + sizeof(buf) - 1;
    dv_response *r = &p->resp;
    lws_filepos_t len = r->watch ? LWS_ILLEGAL_HTTP_CONTENT_LEN : (lws_filepos_t)r->body_len;
    if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->content_type, len, &ptr, end))
        return -1;
    if (r->watch && !p->h2 &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"transfer-encoding:", (const unsigned char *)"chunked",
                                    7, &ptr, end))
        return -1;
    if (r->warning[0] && lws_add_http_header_by_name(wsi, (const unsigned char *)"warning:",
                                                     (const unsigned char *)r->warning, (int)strlen(r->warning), &ptr,
                                                     end))
        return -1;
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", r->retry_after);
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:", (const unsigned char *)ra,
                                        (int)strlen(ra), &ptr, end))
            return -1;
    }
    if (r->watch && p->h2) {
        lws_http_mark_sse(wsi); /* long-lived: no idle timeouts on this stream */
    } else if (r->watch) {
        /* What mark_sse does on HTTP/1.1, without its h2-only step (which
         * logs "lws_mux_mark_immortal: not h2 substream" there): give the
         * header table back to the pool and cancel the timeout. */
        lws_http_headers_detach(wsi);
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    }
    if (lws_finalize_write_http_header(wsi, start, &ptr, end))
        return -1;
    return 0;
}

static int is_health(const char *path)
{
    return !strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/livez");
}

static int dispatch(struct lws *wsi, dv_server *s, pss *p)
{
    if (s->latency_ms > 0 && !p->delayed && !is_health(p->path)) {
        /* Injected latency: come back on LWS_CALLBACK_TIMER. */
        p->delayed = 1;
        lws_set_timer_usecs(wsi, (lws_usec_t)s->latency_ms * 1000);
        return 0;
    }
    const char *groups[2] = {p->imp_group, NULL};
    dv_request req = {.method = p->method,
                      .path = p->path,
                      .query = p->query,
                      .accept = p->hdr[H_ACCEPT],
                      .content_type = p->hdr[H_CTYPE],
                      .authorization = p->hdr[H_AUTH],
                      .user_agent = p->hdr[H_UA],
                      .impersonate_user = p->hdr[H_IMP_USER],
                      .impersonate_groups = p->imp_group ? groups : NULL,
                      .body = p->body.data,
                      .body_len = p->body.len,
                      .impersonate_uid = p->hdr[H_IMP_UID]};
    if (p->h2_refused) {
        p->resp.status = 400;
        snprintf(p->resp.content_type, sizeof(p->resp.content_type), "application/json");
        p->resp.body = strdup("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                              "\"message\":\"HTTP/2 is not served here: Impersonate-* headers cannot be read over "
                              "HTTP/2 (use HTTP/1.1)\",\"reason\":\"BadRequest\",\"code\":400}");
        p->resp.body_len = strlen(p->resp.body);
    } else if (p->too_big) {
        p->resp.status = 413;
        snprintf(p->resp.content_type, sizeof(p->resp.content_type), "application/json");
        p->resp.body = strdup("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                              "\"message\":\"Request entity too large: limit is 3145728\",\"reason\":\"RequestEntityTooLarge\","
                              "\"code\":413}");
        p->resp.body_len = strlen(p->resp.body);
    } else {
        dv_api_handle(s->api, &req, &p->resp);
    }
    p->have_resp = 1;
    if (p->resp.watch)
        dv_watch_set_notify(p->resp.watch, watch_notify, wsi);
    /* With writes not yet durable, even the status line waits for the
     * WRITEABLE callback, where one fsync covers every write before it. */
    if (!dv_api_unsynced(s->api)) {
        if (write_headers(wsi, p) != 0)
            return -1;
        p->headers_sent = 1;
    }
    if (p->resp.watch && !p->h2)
        track_h1_watch(p);
    lws_callback_on_writable(wsi);
    return 0;
}

/* Group commit: fsync the writes of this loop turn before anything is sent.
 * A failed fsync leaves writes that may be lost but were applied in memory:
 * nothing may acknowledge them, so stop (as etcd and PostgreSQL do). */
static void sync_or_die(dv_server *s)
{
    if (dv_api_unsynced(s->api) && dv_api_sync(s->api) != 0) {
        pb_log_error("fsync of the store failed: exiting without acknowledging unsynced writes", NULL);
        abort();
    }
}

/* Finish the transaction; nonzero means close the connection. */
static int complete(struct lws *wsi, pss *p)
{
    pss_clear(p);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int write_watch(struct lws *wsi, pss *p)
{
    dv_watch *w = p->resp.watch;
    size_t len;
    const char *data = dv_watch_data(w, &len);
    int finished = dv_watch_finished(w);
    if (len > WRITE_CHUNK)
        len = WRITE_CHUNK;
    if (len == 0 && !finished)
        return 0;
    unsigned char *buf = malloc(LWS_PRE + WRITE_CHUNK + 32);
    unsigned char *start = buf + LWS_PRE;
    size_t n = 0;
    size_t total;
    dv_watch_data(w, &total);
    int final = finished && len == total;
    if (p->h2) {
        memcpy(start, data, len);
        n = len;
    } else {
        if (len) {
            n = (size_t)snprintf((char *)start, 32, "%zx\r\n", len);
            memcpy(start + n, data, len);
            n += len;
            memcpy(start + n, "\r\n", 2);
            n += 2;
        }
        if (final) {
            memcpy(start + n, "0\r\n\r\n", 5);
            n += 5;
        }
    }
    int rc = lws_write(wsi, start, n, p->h2 && final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    free(buf);
    if (rc < (int)n)
        return -1;
    dv_watch_consume(w, len);
    if (final)
        return complete(wsi, p);
    dv_watch_data(w, &len);
    if (len || dv_watch_finished(w))
        lws_callback_on_writable(wsi);
    return 0;
}

static int write_body(struct lws *wsi, pss *p)
{
    size_t left = p->resp.body_len - p->sent;
    size_t n = left > WRITE_CHUNK ? WRITE_CHUNK : left;
    unsigned char *buf = malloc(LWS_PRE + WRITE_CHUNK);
    if (n)
        memcpy(buf + LWS_PRE, p->resp.body + p->sent, n);
    int final = n == left;
    int rc = lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    free(buf);
    if (rc < (int)n)
        return -1;
    p->sent += n;
    if (final)
        return complete(wsi, p);
    lws_callback_on_writable(wsi);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    pss *p = user;
    struct lws_context *ctx = lws_get_context(wsi);
    dv_server *s = ctx ? lws_context_user(ctx) : NULL;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        pss_clear(p);
        p->active = 1;
        p->srv = s;
        p->wsi = wsi;
        collect_request(wsi, p);
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        if (p->h2 && !s->http2) {
            /* Unreachable while ALPN and upgrades keep HTTP/2 out; if a
             * stream gets here anyway, its headers may have been lost. */
            pb_log_error("refusing a request that arrived over HTTP/2, which is off", "path", p->path, NULL);
            p->h2_refused = 1;
        }
        int has_body = 0;
        char cl[32];
        if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
            has_body = atoll(cl) > 0;
        if (has_body)
            return 0; /* wait for HTTP_BODY_COMPLETION */
        return dispatch(wsi, s, p);
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (!p->active)
            return 0;
        if (p->body.len + len > MAX_BODY) {
            p->too_big = 1;
            return 0;
        }
        if (pb_buf_append(&p->body, in, len))
            abort(); /* out of memory: this is a test server */
        if (p->h2) {
            /* lws 4.1 grants the peer a fixed window per stream and does not
             * replenish it as the body is read: give back what we consumed,
             * on the stream and on the connection, or big bodies stall. */
            lws_h2_update_peer_txcredit(wsi, LWS_H2_STREAM_SID, (int)len);
            lws_h2_update_peer_txcredit(lws_get_network_wsi(wsi), 0, (int)len);
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!p->active || p->have_resp)
            return 0;
        return dispatch(wsi, s, p);
    case LWS_CALLBACK_TIMER:
        if (p && p->active && p->delayed && !p->have_resp)
            return dispatch(wsi, s, p);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!p->have_resp)
            return 0;
        if (p->peer_gone)
            return -1; /* close: the client left its watch */
        sync_or_die(s);
        if (!p->headers_sent) {
            if (write_headers(wsi, p) != 0)
                return -1;
            p->headers_sent = 1;
            if (p->h2) { /* one frame per WRITEABLE on a stream */
                lws_callback_on_writable(wsi);
                return 0;
            }
        }
        if (p->resp.watch)
            return write_watch(wsi, p);
        return write_body(wsi, p);
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        /* An HTTP/1.1 request may ask to become HTTP/2 ("Upgrade: h2c",
         * on plain HTTP, or even over TLS); lws would then serve the rest of
         * the connection as h2 streams, unseen by the checks above and, on
         * plain HTTP, by h2cut.c. kube-apiserver does not speak h2c either:
         * refuse it, with or without --http2. */
        if (in && !strcasecmp((const char *)in, "h2c")) {
            if (lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST,
                                       "HTTP/2 (h2c) is not served here: Impersonate-* headers cannot be read "
                                       "over HTTP/2"))
                return -1;
            return 1; /* answered: lws completes the transaction */
        }
        break;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (p)
            pss_clear(p);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", callback, sizeof(pss), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_tick(lws_sorted_usec_list_t *sul)
{
    dv_server *s = lws_container_of(sul, dv_server, tick);
    dv_api_tick(s->api);
    check_h1_watches(s);
    sync_or_die(s); /* GC writes, with no reply to wait for them */
    lws_sul_schedule(s->ctx, 0, &s->tick, on_tick, 100 * LWS_US_PER_MS);
}

/* ---- TLS material ------------------------------------------------------------------ */

static char *pem_of_cert(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(b);
    return s;
}

static char *pem_of_key(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(b);
    return s;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static X509 *new_cert(EVP_PKEY *key, const char *cn, long days)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    return x;
}

int dv_tls_generate(char **ca_pem, char **cert_pem, char **key_pem, char *msg, size_t n)
{
    EVP_PKEY *cakey = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    X509 *ca = NULL, *cert = NULL;
    int rc = -1;
    if (!cakey || !key)
        goto out;
    ca = new_cert(cakey, "paybill-devapi-ca", 3650);
    X509_set_issuer_name(ca, X509_get_subject_name(ca));
    if (add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE") || add_ext(ca, ca, NID_key_usage,
                                                                              "critical,keyCertSign,cRLSign") ||
        add_ext(ca, ca, NID_subject_key_identifier, "hash") || !X509_sign(ca, cakey, EVP_sha256()))
        goto out;
    cert = new_cert(key, "paybill-devapi", 3650);
    X509_set_issuer_name(cert, X509_get_subject_name(ca));
    if (add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(cert, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        add_ext(cert, ca, NID_ext_key_usage, "serverAuth") ||
        add_ext(cert, ca, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1") ||
        add_ext(cert, ca, NID_authority_key_identifier, "keyid") || !X509_sign(cert, cakey, EVP_sha256()))
        goto out;
    *ca_pem = pem_of_cert(ca);
    *cert_pem = pem_of_cert(cert);
    *key_pem = pem_of_key(key);
    rc = 0;
out:
    if (rc)
        snprintf(msg, n, "generating TLS certificates failed");
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(key);
    return rc;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

static int write_private(const char *path, const char *data)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    size_t len = strlen(data);
    int ok = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    return ok ? 0 : -1;
}

/* Generated TLS material, reused from cert_dir when it is there. */
static int load_or_generate(dv_server *s, const char *cert_dir, char *msg, size_t n)
{
    char ca[4096], crt[4096], key[4096];
    if (cert_dir) {
        snprintf(ca, sizeof(ca), "%s/ca.crt", cert_dir);
        snprintf(crt, sizeof(crt), "%s/tls.crt", cert_dir);
        snprintf(key, sizeof(key), "%s/tls.key", cert_dir);
        s->ca_pem = slurp(ca);
        s->cert_pem = slurp(crt);
        s->key_pem = slurp(key);
        if (s->ca_pem && s->cert_pem && s->key_pem)
            return 0;
        free(s->ca_pem);
        free(s->cert_pem);
        free(s->key_pem);
        s->ca_pem = s->cert_pem = s->key_pem = NULL;
    }
    if (dv_tls_generate(&s->ca_pem, &s->cert_pem, &s->key_pem, msg, n) != 0)
        return -1;
    if (cert_dir && (write_private(ca, s->ca_pem) || write_private(crt, s->cert_pem) ||
                     write_private(key, s->key_pem)))
        pb_log_warn("cannot keep TLS material", "dir", cert_dir, "error", strerror(errno), NULL);
    return 0;
}

/* ---- lifecycle --------------------------------------------------------------------- */

int dv_server_new(dv_api *api, const dv_server_config *cfg, dv_server **out, char *msg, size_t n)
{
    dv_server *s = calloc(1, sizeof(*s));
    s->api = api;
    s->latency_ms = cfg->fault_latency_ms;
    s->http2 = cfg->http2;
    if (cfg->http2 && dv_h2cut_init() != 0) {
        /* Without it, concurrent request bodies on one HTTP/2 connection
         * make lws 4.1 drop the connection (h2cut.c). */
        snprintf(msg, n, "cannot interpose SSL_read for HTTP/2 (dlsym failed)");
        goto fail;
    }
    char host[256] = "127.0.0.1";
    int port = 0;
    const char *colon = cfg->listen ? strrchr(cfg->listen, ':') : NULL;
    if (cfg->listen && colon) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - cfg->listen), cfg->listen);
        port = atoi(colon + 1);
    } else if (cfg->listen) {
        port = atoi(cfg->listen);
    }
    if (!cfg->insecure_http) {
        if (cfg->tls_cert && cfg->tls_key) {
            s->cert_pem = slurp(cfg->tls_cert);
            s->key_pem = slurp(cfg->tls_key);
            if (!s->cert_pem || !s->key_pem) {
                snprintf(msg, n, "cannot read --tls-cert/--tls-key: %s", strerror(errno));
                goto fail;
            }
            s->ca_pem = strdup(s->cert_pem);
        } else if (load_or_generate(s, cfg->cert_dir, msg, n) != 0) {
            goto fail;
        }
    } else {
        s->ca_pem = strdup("");
    }
    /* lws chatter only when debugging; its own format, on stderr. */
    lws_set_log_level(pb_log_enabled(PB_LOG_DEBUG) ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO : LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DISABLE_IPV6;
    if (!cfg->insecure_http)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.user = s;
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        snprintf(msg, n, "lws_create_context failed");
        goto fail;
    }
    memset(&info, 0, sizeof(info));
    info.vhost_name = "devapi";
    info.port = port == 0 ? 0 : port;
    info.iface = host;
    info.protocols = protocols;
    info.keepalive_timeout = 60;
    info.timeout_secs = 60;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_H2_JUST_FIX_WINDOW_UPDATE_OVERFLOW;
    if (!cfg->insecure_http) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.server_ssl_cert_mem = s->cert_pem;
        info.server_ssl_cert_mem_len = (unsigned)strlen(s->cert_pem);
        info.server_ssl_private_key_mem = s->key_pem;
        info.server_ssl_private_key_mem_len = (unsigned)strlen(s->key_pem);
        info.alpn = cfg->http2 ? "h2,http/1.1" : "http/1.1"; /* see the top of this file */
        /* lws 4.1's HPACK decoder mangles a dynamic-table :path that had a
         * query string (the second identical request reaches us with the
         * query as its path). A tiny header table keeps clients from
         * indexing paths (0 would break the first request, which clients
         * encode before they have seen our SETTINGS). */
        info.http2_settings[0] = 1;
        info.http2_settings[H2SET_HEADER_TABLE_SIZE] = 64;
        info.http2_settings[H2SET_ENABLE_PUSH] = 0;
        info.http2_settings[H2SET_MAX_CONCURRENT_STREAMS] = 128;
        info.http2_settings[H2SET_INITIAL_WINDOW_SIZE] = 65535;
        info.http2_settings[H2SET_MAX_FRAME_SIZE] = 16384;
        info.http2_settings[H2SET_MAX_HEADER_LIST_SIZE] = 65536;
    }
    s->vh = lws_create_vhost(s->ctx, &info);
    if (!s->vh) {
        snprintf(msg, n, "cannot listen on %s:%d", host, port);
        goto fail;
    }
    s->port = lws_get_vhost_listen_port(s->vh);
    lws_sul_schedule(s->ctx, 0, &s->tick, on_tick, 100 * LWS_US_PER_MS);
    *out = s;
    return 0;
fail:
    dv_server_free(s);
    return -1;
}

void dv_server_free(dv_server *s)
{
    if (!s)
        return;
    if (s->ctx)
        lws_context_destroy(s->ctx);
    free(s->h1_watches);
    free(s->ca_pem);
    free(s->cert_pem);
    free(s->key_pem);
    free(s);
}

int dv_server_port(const dv_server *s) { return s->port; }
const char *dv_server_ca_pem(const dv_server *s) { return s->ca_pem; }

int dv_server_run(dv_server *s)
{
    while (!s->stop)
        if (lws_service(s->ctx, 0) < 0)
            return -1;
    return 0;
}

void dv_server_stop(dv_server *s) { s->stop = 1; }

/* ---- kubeconfig ----------------------------------------------------------------------- */

int dv_write_kubeconfig(const char *path, const char *server_url, const char *ca_pem, const char *token, char *msg,
                        size_t n)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        snprintf(msg, n, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    fprintf(f, "apiVersion: v1\nkind: Config\nclusters:\n- name: devapi\n  cluster:\n    server: %s\n", server_url);
    if (ca_pem && *ca_pem) {
        size_t len = strlen(ca_pem);
        char *b64 = malloc(4 * ((len + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)ca_pem, (int)len);
        fprintf(f, "    certificate-authority-data: %s\n", b64);
        free(b64);
    }
    fprintf(f,
            "users:\n- name: admin\n  user:\n    token: %s\ncontexts:\n- name: devapi\n  context:\n    cluster: devapi\n"
            "    user: admin\n    namespace: default\ncurrent-context: devapi\n",
            token);
    int ok = fflush(f) == 0 && fsync(fd) == 0;
    fclose(f);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(msg, n, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
