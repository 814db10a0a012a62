/*
 * http.c - the operator's HTTP(S) endpoint server on libwebsockets (see http.h).
 *
 * Per connection lws gives us a zeroed `conn` (its per-session data). A
 * request goes through three steps on the service thread:
 *   1. LWS_CALLBACK_HTTP: method, path, query captured and the route looked
 *      up; a body the route does not take is refused here, before a byte of
 *      it is read; requests without a body are dispatched at once, the
 *      others wait for their body;
 *   2. LWS_CALLBACK_HTTP_BODY(_COMPLETION): the body is accumulated (up to
 *      the route's limit; the excess is discarded and answered with 413),
 *      then the handler runs;
 *   3. LWS_CALLBACK_HTTP_WRITEABLE: headers, then the body in chunks, then
 *      lws_http_transaction_completed() so keep-alive connections go on
 *      (once the request body is in too, when the answer went out early).
 * Headers are written from WRITEABLE rather than from the HTTP callback as
 * lws recommends, which keeps working if HTTP/2 is ever offered.
 *
 * Abuse limits (see http.h) map onto lws 4.1 as follows, because several
 * of its knobs are not where their names suggest: max_http_header_data,
 * max_http_header_pool and timeout_secs are read from the *context*
 * creation info only (set on a vhost they are silently ignored);
 * timeout_secs_ah_idle and keepalive_timeout from the vhost's. The header
 * timeout is lws's "holding a header table" timeout, armed when a request
 * starts and not re-armed per byte, so a client dribbling headers is cut
 * off. lws re-arms its body timeout on every chunk, so the whole-body
 * deadline is our own per-connection timer. The connection cap is counted
 * here (lws has none): NEW_CLIENT_INSTANTIATED marks and counts a
 * connection, WSI_DESTROY uncounts a marked one, and FILTER_NETWORK_CONNECTION
 * refuses accepts over the cap.
 */
#include "server/http.h"

#include <libwebsockets.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/jdump.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/proc.h"

#define MAX_EXTRA_HEADERS 8
#define WRITE_CHUNK 16384
/* A stray body this small, on a route that takes none, is read and dropped
 * after the answer so the connection can be reused; a larger one closes it. */
#define DISCARD_MAX (64 * 1024)
/* Refusals at the connection cap are logged at most this often. */
#define CAP_LOG_INTERVAL_S 60

struct pb_http_response {
    int status;
    char *content_type;
    char *body;
    size_t len;
    int nheaders;
    char *hname[MAX_EXTRA_HEADERS], *hvalue[MAX_EXTRA_HEADERS];
};

typedef struct {
    char *method;
    char *path;
    int prefix;      /* route path ended in '*' */
    size_t max_body; /* 0: takes no request body */
    pb_http_handler handler;
    void *arg;
} route;

struct pb_http_server {
    char *addr, *host, *cert, *key, *name;
    int want_port;
    size_t max_body;
    int max_conns, header_timeout, request_timeout, idle_timeout;
    unsigned max_header;
    /* service thread only (and lws_context_destroy after the join) */
    int nconns;
    unsigned long refused;
    time_t refused_logged;
    route *routes;
    size_t nroutes;
    struct lws_protocols protocols[2];
    struct lws_context *ctx;
    pthread_t thread;
    int running;
    int port;
    atomic_int stopping;
};

/* Per-connection state, zeroed by lws; reset between keep-alive requests. */
typedef struct {
    const char *method; /* static string */
    char *path, *query;
    const route *route; /* NULL: answered 404 or 405 */
    size_t limit;       /* body bytes this request may carry */
    pb_buf body;
    int too_large; /* over the limit (or out of memory): answered 413 */
    int responding, headers_sent, head_only;
    int close_after; /* close the connection once the response is out */
    int body_expected, body_done; /* a body was announced / has all arrived */
    int response_done;            /* sent, waiting for the rest of the body */
    size_t sent;
    struct pb_http_response resp;
} conn;

/* ---- responses -------------------------------------------------------------------------- */

static void response_clear(struct pb_http_response *r)
{
    free(r->content_type);
    free(r->body);
    for (int i = 0; i < r->nheaders; i++) {
        free(r->hname[i]);
        free(r->hvalue[i]);
    }
    memset(r, 0, sizeof *r);
}

int pb_http_reply_take(pb_http_response *resp, int status, const char *content_type, char *body,
                       size_t len)
{
    char *ct = strdup(content_type ? content_type : "text/plain; charset=utf-8");
    if (!ct) {
        free(body);
        return PB_ENOMEM;
    }
    free(resp->content_type);
    free(resp->body);
    resp->status = status;
    resp->content_type = ct;
    resp->body = body;
    resp->len = body ? len : 0;
    return 0;
}

int pb_http_reply(pb_http_response *resp, int status, const char *content_type, const void *body,
                  size_t len)
{
    char *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return PB_ENOMEM;
        memcpy(copy, body, len);
    }
    return pb_http_reply_take(resp, status, content_type, copy, len);
}

int pb_http_reply_json(pb_http_response *resp, int status, const json_t *v)
{
    char *s = pb_jdump(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return PB_ENOMEM;
    return pb_http_reply_take(resp, status, "application/json", s, strlen(s));
}

int pb_http_add_header(pb_http_response *resp, const char *name, const char *value)
{
    if (resp->nheaders == MAX_EXTRA_HEADERS || !name || !value || !*name || strchr(name, ':') ||
        strpbrk(value, "\r\n"))
        return PB_EINVAL;
    /* lws wants lower-case names with the colon. */
    size_t n = strlen(name);
    char *hn = malloc(n + 2);
    char *hv = strdup(value);
    if (!hn || !hv) {
        free(hn);
        free(hv);
        return PB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        hn[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    hn[n] = ':';
    hn[n + 1] = '\0';
    resp->hname[resp->nheaders] = hn;
    resp->hvalue[resp->nheaders++] = hv;
    return 0;
}

static void reply_text(struct pb_http_response *resp, int status, const char *text)
{
    pb_http_reply(resp, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* ---- request accessors --------------------------------------------------------------- */

int pb_http_request_header(const pb_http_request *req, const char *name, char *buf, size_t n)
{
    struct lws *wsi = req->internal;
    size_t nlen = name ? strlen(name) : 0;
    if (!wsi || nlen == 0 || nlen > 120 || n == 0 || n > INT32_MAX)
        return -1;
    /* Headers lws knows are stored by token... */
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const char *ts = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        if (ts && strncasecmp(ts, name, nlen) == 0 && ts[nlen] == ':') {
            if (lws_hdr_total_length(wsi, (enum lws_token_indexes)t) <= 0)
                return -1;
            return lws_hdr_copy(wsi, buf, (int)n, (enum lws_token_indexes)t);
        }
    }
    /* ...the others by their (lower-cased) name with the colon. */
    char hname[128];
    for (size_t i = 0; i < nlen; i++)
        hname[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    hname[nlen] = ':';
    hname[nlen + 1] = '\0';
    if (lws_hdr_custom_length(wsi, hname, (int)nlen + 1) < 0)
        return -1;
    return lws_hdr_custom_copy(wsi, buf, (int)n, hname, (int)nlen + 1);
}

int pb_http_request_query_param(const pb_http_request *req, const char *name, char *buf, size_t n)
{
    /* lws percent-decodes each "k=v" fragment on its own, so match on the
     * fragments: re-splitting the joined query would break values holding
     * an encoded '&'. No fragment is longer than the whole query, so a
     * buffer of that size makes -1 from lws mean "no more fragments". */
    struct lws *wsi = req->internal;
    size_t nlen = strlen(name);
    int total = wsi ? lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) : 0;
    if (total <= 0 || n == 0)
        return -1;
    char *frag = malloc((size_t)total + 1);
    if (!frag)
        return -1;
    int rc = -1;
    for (int i = 0; i <= total; i++) {
        if (lws_hdr_copy_fragment(wsi, frag, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
            break;
        if (strncmp(frag, name, nlen) != 0 || (frag[nlen] != '\0' && frag[nlen] != '='))
            continue;
        const char *v = frag[nlen] ? frag + nlen + 1 : frag + nlen;
        size_t vlen = strlen(v);
        if (vlen + 1 <= n) {
            memcpy(buf, v, vlen + 1);
            rc = (int)vlen;
        }
        break;
    }
    free(frag);
    return rc;
}

/* ---- ready-made handlers ------------------------------------------------------------------ */

void pb_http_ok_handler(const pb_http_request *req, pb_http_response *resp, void *arg)
{
    reply_text(resp, 200, "ok");
}

void pb_http_metrics_handler(const pb_http_request *req, pb_http_response *resp, void *arg)
{
    pb_metrics_registry *reg = arg ? arg : pb_metrics_default();
    char *text;
    size_t len;
    pb_err err;
    if (pb_metrics_render(reg, &text, &len, &err)) {
        reply_text(resp, 500, "rendering metrics failed\n");
        return;
    }
    pb_http_reply_take(resp, 200, PB_METRICS_CONTENT_TYPE, text, len);
}

/* ---- request handling on the service thread ------------------------------------------ */

static void conn_reset(conn *c)
{
    free(c->path);
    free(c->query);
    pb_buf_free(&c->body);
    response_clear(&c->resp);
    memset(c, 0, sizeof *c);
}

static int path_matches(const route *r, const char *path)
{
    if (r->prefix)
        return strncmp(path, r->path, strlen(r->path)) == 0;
    return strcmp(path, r->path) == 0;
}

/* The route serving method + path, or NULL; then allow (when not NULL)
 * lists the methods the path does take ("" for an unknown path). */
static const route *find_route(const pb_http_server *srv, const char *method, const char *path,
                               char *allow, size_t n)
{
    if (allow)
        allow[0] = '\0';
    for (size_t i = 0; i < srv->nroutes; i++) {
        const route *r = &srv->routes[i];
        if (!path_matches(r, path))
            continue;
        if (!r->method || strcmp(r->method, method) == 0)
            return r;
        if (allow) {
            size_t used = strlen(allow);
            snprintf(allow + used, n - used, "%s%s", used ? ", " : "", r->method);
        }
    }
    return NULL;
}

/* 404 or 405 (with Allow) for a request no route serves. */
static void reply_unrouted(const pb_http_server *srv, conn *c)
{
    char allow[128];
    find_route(srv, c->method, c->path, allow, sizeof allow);
    if (allow[0]) {
        reply_text(&c->resp, 405, "method not allowed\n");
        pb_http_add_header(&c->resp, "Allow", allow);
        return;
    }
    reply_text(&c->resp, 404, "404 page not found\n");
}

/* Run the matching handler (or produce 404/405/413) into c->resp. */
static void dispatch(pb_http_server *srv, struct lws *wsi, conn *c)
{
    struct pb_http_response *resp = &c->resp;
    if (c->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body larger than %zu bytes\n", c->limit);
        reply_text(resp, 413, msg);
        return;
    }
    if (!c->route) {
        reply_unrouted(srv, c);
        return;
    }
    pb_http_request req = {
        .method = c->method,
        .path = c->path,
        .query = c->query ? c->query : "",
        .body = pb_buf_str(&c->body),
        .body_len = c->body.len,
        .internal = wsi,
    };
    resp->status = 200;
    c->route->handler(&req, resp, c->route->arg);
    if (!resp->content_type) /* handler set nothing: empty 200/status */
        pb_http_reply(resp, resp->status ? resp->status : 200, NULL, NULL, 0);
}

/* Queue c->resp for writing. */
static void send_reply(struct lws *wsi, conn *c)
{
    c->responding = 1;
    lws_callback_on_writable(wsi);
}

static void respond(pb_http_server *srv, struct lws *wsi, conn *c)
{
    dispatch(srv, wsi, c);
    send_reply(wsi, c);
}

/* Answer now, before (or instead of) reading the body. close_after: the
 * connection is closed once the answer is out, so a body nobody wants is
 * not read at all; otherwise the (small) body is read and dropped first. */
static void refuse(struct lws *wsi, conn *c, int status, const char *text, int close_after)
{
    if (status)
        reply_text(&c->resp, status, text);
    c->close_after = close_after;
    if (close_after) /* clients should not reuse it, nor wait for more */
        pb_http_add_header(&c->resp, "Connection", "close");
    send_reply(wsi, c);
}

static const char *method_name(struct lws *wsi)
{
    static const char *const names[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH",
                                        "DELETE", "CONNECT", "HEAD"};
    char *uri;
    int len;
    int m = lws_http_get_uri_and_method(wsi, &uri, &len);
    if (m < 0 || m >= (int)(sizeof names / sizeof names[0]))
        return NULL;
    return names[m];
}

/* The query string: lws splits it into '&'-separated fragments. */
static char *copy_query(struct lws *wsi)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    if (total <= 0)
        return NULL;
    /* fragments plus one '&' between each: at most 2 * total bytes */
    size_t cap = 2 * (size_t)total + 1, len = 0;
    char *q = malloc(cap), *frag = malloc((size_t)total + 1);
    if (!q || !frag) {
        free(q);
        free(frag);
        return NULL;
    }
    q[0] = '\0';
    for (int i = 0; i <= total; i++) {
        if (lws_hdr_copy_fragment(wsi, frag, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
            break;
        size_t f = strlen(frag);
        if (len + f + 2 > cap)
            break;
        if (i)
            q[len++] = '&';
        memcpy(q + len, frag, f + 1);
        len += f;
    }
    free(frag);
    return q;
}

/* The announced Content-Length: 0 when there is none, -1 when it is not a
 * plain decimal number (lws itself would read "12abc" or two headers
 * "12" and "99" as 12: such a request is refused and its connection
 * closed rather than framed on a guess). A number too long for the buffer
 * is ULLONG_MAX, i.e. far too large. */
static int content_length(struct lws *wsi, unsigned long long *out)
{
    char cl[32];
    *out = 0;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return 0;
    int n = lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (n <= 0) {
        *out = ULLONG_MAX;
        return 0;
    }
    while (n > 0 && (cl[n - 1] == ' ' || cl[n - 1] == '\t')) /* optional whitespace */
        n--;
    if (n == 0)
        return -1;
    unsigned long long v = 0;
    for (int i = 0; i < n; i++) {
        if (cl[i] < '0' || cl[i] > '9')
            return -1;
        unsigned d = (unsigned)(cl[i] - '0');
        v = v > (ULLONG_MAX - d) / 10 ? ULLONG_MAX : v * 10 + d;
    }
    *out = v;
    return 0;
}

static void arm_body_deadline(pb_http_server *srv, struct lws *wsi, conn *c)
{
    /* lws restarts its own body timeout on every chunk, so a client
     * sending a byte now and then would never hit it: this one is total. */
    c->body_expected = 1;
    lws_set_timer_usecs(wsi, (lws_usec_t)srv->request_timeout * LWS_US_PER_SEC);
}

static int on_http(pb_http_server *srv, struct lws *wsi, conn *c, const char *uri)
{
    conn_reset(c);
    c->method = method_name(wsi);
    c->path = strdup(uri ? uri : "/");
    c->query = copy_query(wsi);
    if (!c->path)
        return -1;
    /* From the end of the head, the client has request_timeout_s to send
     * its body and to take the response: lws's own timeout here is the
     * (shorter) header one, which would be tight for a large response. */
    lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, srv->request_timeout);

    unsigned long long declared;
    int chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    if (content_length(wsi, &declared) != 0) {
        refuse(wsi, c, 400, "invalid Content-Length\n", 1);
        return 0;
    }
    if (!c->method) {
        c->method = "UNKNOWN";
        refuse(wsi, c, 405, "method not allowed\n", chunked || declared > 0);
        return 0;
    }
    c->head_only = strcmp(c->method, "HEAD") == 0;
    c->route = find_route(srv, c->method, c->path, NULL, 0);
    /* GET and HEAD carry no body whatever the route (RFC 9110 gives one no
     * meaning there); other methods get what their route declared. */
    c->limit = c->route && strcmp(c->method, "GET") != 0 && !c->head_only ? c->route->max_body : 0;

    if (c->limit == 0 && (chunked || declared > 0)) {
        /* A body nobody takes: answer now, never buffer it. A small one is
         * read and dropped (keeping the connection usable), a large or
         * chunked one closes the connection rather than be read at all. */
        int close_after = chunked || declared > DISCARD_MAX;
        if (c->route)
            refuse(wsi, c, 413, "this endpoint takes no request body\n", close_after);
        else {
            reply_unrouted(srv, c);
            refuse(wsi, c, 0, NULL, close_after);
        }
        if (!close_after)
            arm_body_deadline(srv, wsi, c);
        return 0;
    }
    /* lws 4.1 does not decode chunked request bodies, so those are refused
     * (411) and the connection closed, rather than left waiting for a body
     * that never comes. */
    if (chunked) {
        refuse(wsi, c, 411, "chunked request bodies are not supported: send Content-Length\n", 1);
        return 0;
    }
    if (declared / 4 > c->limit) {
        /* Far over the limit: refuse now and close rather than read it all.
         * (Bodies just over the limit are read and dropped instead, so the
         * client reliably sees the 413 and keeps its connection.) */
        c->too_large = 1;
        dispatch(srv, wsi, c);
        refuse(wsi, c, 0, NULL, 1);
        return 0;
    }
    if (declared == 0) {
        respond(srv, wsi, c);
        return 0;
    }
    arm_body_deadline(srv, wsi, c);
    /* lws does not answer "Expect: 100-continue" itself; clients such as
     * curl would otherwise stall a second before sending the body. */
    char expect[32];
    if (lws_hdr_copy(wsi, expect, sizeof expect, WSI_TOKEN_HTTP_EXPECT) > 0 &&
        strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        unsigned char buf[LWS_PRE + sizeof cont];
        memcpy(buf + LWS_PRE, cont, sizeof cont - 1);
        if (lws_write(wsi, buf + LWS_PRE, sizeof cont - 1, LWS_WRITE_HTTP) != (int)sizeof cont - 1)
            return -1;
    }
    return 0;
}

static void on_body(conn *c, const void *in, size_t len)
{
    if (c->too_large || c->responding || len == 0 || !in)
        return; /* answered already: read and dropped */
    if (c->body.len + len > c->limit) {
        c->too_large = 1; /* keep reading, but discard */
        pb_buf_free(&c->body);
        return;
    }
    if (pb_buf_append(&c->body, in, len))
        c->too_large = 1;
}

/* The exchange is over (response out, body in): free it now (keep-alive
 * reuses the conn) and let lws decide whether the connection stays open.
 * Returns what the lws callback must return. */
static int finish(struct lws *wsi, conn *c)
{
    int close_after = c->close_after;
    conn_reset(c);
    if (close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Write the next piece of the response. Returns what the lws callback must
 * return: 0 to go on, -1 to close the connection. */
static int on_writeable(struct lws *wsi, conn *c)
{
    unsigned char buf[LWS_PRE + WRITE_CHUNK];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    struct pb_http_response *r = &c->resp;
    if (!c->responding || c->response_done)
        return 0;
    if (!c->headers_sent) {
        if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->content_type,
                                        (lws_filepos_t)r->len, &p, end))
            return -1;
        for (int i = 0; i < r->nheaders; i++)
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)r->hname[i],
                                            (const unsigned char *)r->hvalue[i],
                                            (int)strlen(r->hvalue[i]), &p, end))
                return -1;
        if (lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        c->headers_sent = 1;
        if (r->len > 0 && !c->head_only) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else {
        size_t chunk = r->len - c->sent;
        if (chunk > WRITE_CHUNK)
            chunk = WRITE_CHUNK;
        memcpy(start, r->body + c->sent, chunk);
        int last = c->sent + chunk == r->len;
        if (lws_write(wsi, start, chunk, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)chunk)
            return -1;
        c->sent += chunk;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    /* Answered before the body was all in (a refusal): the transaction
     * ends when the rest of it has been read and dropped. */
    if (c->body_expected && !c->body_done && !c->close_after) {
        c->response_done = 1;
        return 0;
    }
    return finish(wsi, c);
}

/* ---- connection accounting ------------------------------------------------------------- */

/* Over the cap: a best-effort 503 on plain HTTP (a TLS client would only
 * see garbage) and the socket closed by lws. Whatever the client already
 * sent is drained first so the close is a FIN the 503 arrives before,
 * rather than a reset that may discard it. */
static void refuse_connection(pb_http_server *srv, int fd)
{
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
                              "Content-Type: text/plain; charset=utf-8\r\n"
                              "Content-Length: 20\r\nConnection: close\r\n\r\n"
                              "too many connections";
    if (!srv->cert && fd >= 0) {
        char sink[4096];
        (void)!recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        (void)!send(fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
    }
    srv->refused++;
    time_t now = time(NULL);
    if (srv->refused_logged == 0 || now - srv->refused_logged >= CAP_LOG_INTERVAL_S) {
        char limit[16], refused[24];
        snprintf(limit, sizeof limit, "%d", srv->max_conns);
        snprintf(refused, sizeof refused, "%lu", srv->refused);
        pb_log_warn("http server at its connection limit: refusing connections", "server",
                    srv->name, "limit", limit, "refusedTotal", refused, NULL);
        srv->refused_logged = now;
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    conn *c = user; /* only for the HTTP reasons: others pass other things */
    pb_http_server *srv = NULL;
    struct lws_context *ctx = lws_get_context(wsi);
    if (ctx)
        srv = lws_context_user(ctx);

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        /* a just-accepted socket (in = its fd): non-zero makes lws close it */
        if (srv && srv->nconns >= srv->max_conns) {
            refuse_connection(srv, (int)(intptr_t)in);
            return 1;
        }
        return 0;
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        /* marked, so that WSI_DESTROY (also sent for the listener and for
         * connections that failed before this point) uncounts only these */
        if (srv && lws_get_opaque_user_data(wsi) != srv) {
            srv->nconns++;
            lws_set_opaque_user_data(wsi, srv);
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (srv && lws_get_opaque_user_data(wsi) == srv) {
            lws_set_opaque_user_data(wsi, NULL);
            srv->nconns--;
        }
        break;
    case LWS_CALLBACK_HTTP:
        return on_http(srv, wsi, c, in);
    case LWS_CALLBACK_HTTP_BODY:
        on_body(c, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        c->body_done = 1;
        /* lws dropped its timeout with the last byte: the response gets
         * the same time to be taken as the body had to arrive */
        lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, srv->request_timeout);
        if (c->response_done) /* answered early; the rest is now dropped */
            return finish(wsi, c);
        if (!c->responding) /* else an early answer (413) is still going out */
            respond(srv, wsi, c);
        return 0;
    case LWS_CALLBACK_TIMER:
        /* the whole-body deadline (a stale one from an earlier request on
         * this connection finds body_expected clear, or body_done set) */
        if (c && c->body_expected && !c->body_done) {
            pb_log_debug("http request body not received in time: closing", "server",
                         srv ? srv->name : "", NULL);
            return -1;
        }
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writeable(wsi, c);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c)
            conn_reset(c);
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static void lws_log_emit(int level, const char *line)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", line);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* Some lws "errors" only say that a client sent headers over the
     * budget: at debug, or any client could fill the log at will. */
    static const char *const client_faults[] = {"Ran out of header data space", "exceeds limit"};
    pb_log_level lvl = level == LLL_ERR ? PB_LOG_ERROR : PB_LOG_WARN;
    for (size_t i = 0; i < sizeof client_faults / sizeof client_faults[0]; i++)
        if (strstr(msg, client_faults[i]))
            lvl = PB_LOG_DEBUG;
    pb_log(lvl, "libwebsockets", "detail", msg, NULL);
}

static pthread_once_t lws_log_once = PTHREAD_ONCE_INIT;

static void lws_log_setup(void)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
}

/* Split "host:port" into host (brackets removed) and port. */
static int parse_addr(const char *addr, char **host, int *port, pb_err *err)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    char *end;
    if (!colon || colon[1] == '\0')
        return pb_err_set(err, PB_EINVAL, "invalid listen address \"%s\": want host:port",
                          addr ? addr : "");
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return pb_err_set(err, PB_EINVAL, "invalid listen address \"%s\": bad port", addr);
    const char *h = addr;
    size_t hlen = (size_t)(colon - addr);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 9 && strncmp(h, "localhost", 9) == 0) {
        h = "127.0.0.1";
        hlen = 9;
    }
    *host = strndup(h, hlen);
    if (!*host)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    *port = (int)p;
    return 0;
}

static int or_default(int v, int def)
{
    return v ? v : def;
}

int pb_http_server_new(const pb_http_config *cfg, pb_http_server **out, pb_err *err)
{
    if (!cfg)
        return pb_err_set(err, PB_EINVAL, "NULL http config");
    if (!cfg->tls_cert_file != !cfg->tls_key_file)
        return pb_err_set(err, PB_EINVAL, "HTTPS needs both a certificate and a key file");
    pb_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    s->port = -1;
    s->max_body = cfg->max_body ? cfg->max_body : PB_HTTP_DEFAULT_MAX_BODY;
    s->max_conns = or_default(cfg->max_conns, PB_HTTP_DEFAULT_MAX_CONNS);
    s->max_header = cfg->max_header_bytes ? cfg->max_header_bytes
                                          : PB_HTTP_DEFAULT_MAX_HEADER_BYTES;
    s->header_timeout = or_default(cfg->header_timeout_s, PB_HTTP_DEFAULT_HEADER_TIMEOUT_S);
    s->request_timeout = or_default(cfg->request_timeout_s, PB_HTTP_DEFAULT_REQUEST_TIMEOUT_S);
    s->idle_timeout = or_default(cfg->idle_timeout_s, PB_HTTP_DEFAULT_IDLE_TIMEOUT_S);
    /* lws keeps header sizes and pool counts in unsigned shorts */
    const char *bad = NULL;
    if (s->max_conns < 1 || s->max_conns > 65535)
        bad = "max_conns (1..65535)";
    else if (s->max_header < 256 || s->max_header > 65535)
        bad = "max_header_bytes (256..65535)";
    else if (s->header_timeout < 1 || s->request_timeout < 1 || s->idle_timeout < 1)
        bad = "timeouts (at least 1 s)";
    if (bad) {
        free(s);
        return pb_err_set(err, PB_EINVAL, "http server %s: invalid %s",
                          cfg->name ? cfg->name : "", bad);
    }
    int rc = parse_addr(cfg->addr, &s->host, &s->want_port, err);
    if (rc) {
        free(s);
        return rc;
    }
    s->addr = strdup(cfg->addr);
    s->name = strdup(cfg->name ? cfg->name : "http");
    s->cert = cfg->tls_cert_file ? strdup(cfg->tls_cert_file) : NULL;
    s->key = cfg->tls_key_file ? strdup(cfg->tls_key_file) : NULL;
    if (!s->addr || !s->name || (cfg->tls_cert_file && (!s->cert || !s->key))) {
        pb_http_server_free(s);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    *out = s;
    return 0;
}

int pb_http_route(pb_http_server *srv, const char *method, const char *path,
                  pb_http_handler handler, void *arg, pb_err *err)
{
    if (!srv)
        return pb_err_set(err, PB_EINVAL, "NULL server");
    int bodyless = method && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
    return pb_http_route_body(srv, method, path, bodyless ? 0 : srv->max_body, handler, arg, err);
}

int pb_http_route_body(pb_http_server *srv, const char *method, const char *path,
                       size_t max_body, pb_http_handler handler, void *arg, pb_err *err)
{
    if (!srv || !path || path[0] != '/' || !handler)
        return pb_err_set(err, PB_EINVAL, "route needs a path starting with '/' and a handler");
    if (srv->running)
        return pb_err_set(err, PB_EINVAL, "route %s added after the server started", path);
    size_t plen = strlen(path);
    int prefix = path[plen - 1] == '*';
    for (size_t i = 0; i < srv->nroutes; i++) {
        route *r = &srv->routes[i];
        int same_method = (!r->method && !method) || (r->method && method && !strcmp(r->method, method));
        if (same_method && r->prefix == prefix && strncmp(r->path, path, plen - (size_t)prefix) == 0 &&
            strlen(r->path) == plen - (size_t)prefix)
            return pb_err_set(err, PB_EEXIST, "route %s %s registered twice", method ? method : "*", path);
    }
    route *grown = realloc(srv->routes, (srv->nroutes + 1) * sizeof *grown);
    if (!grown)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    srv->routes = grown;
    route *r = &srv->routes[srv->nroutes];
    r->method = method ? strdup(method) : NULL;
    r->path = strndup(path, plen - (size_t)prefix);
    r->prefix = prefix;
    r->max_body = max_body;
    r->handler = handler;
    r->arg = arg;
    if ((method && !r->method) || !r->path) {
        free(r->method);
        free(r->path);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    srv->nroutes++;
    return 0;
}

static void *serve(void *arg)
{
    pb_http_server *s = arg;
    pb_thread_name("http:", s->name);
    /* lws_service returns after each batch of events; lws_cancel_service()
     * from pb_http_server_stop wakes it so the flag is seen promptly. */
    while (!atomic_load(&s->stopping))
        if (lws_service(s->ctx, 0) < 0)
            break;
    return NULL;
}

int pb_http_server_start(pb_http_server *s, pb_err *err)
{
    if (!s)
        return pb_err_set(err, PB_EINVAL, "NULL server");
    if (s->running)
        return pb_err_set(err, PB_EINVAL, "%s server already started", s->name);
    pthread_once(&lws_log_once, lws_log_setup);
    for (const char *f = s->cert; f; f = (f == s->cert ? s->key : NULL))
        if (access(f, R_OK) != 0)
            return pb_err_set(err, PB_EINVAL, "%s server: cannot read TLS file %s", s->name, f);

    s->protocols[0] = (struct lws_protocols){"paybill-http", callback, sizeof(conn), 0, 0, NULL, 0};
    memset(&s->protocols[1], 0, sizeof s->protocols[1]);

    /* The context is created without vhosts and the listening vhost added
     * separately: when lws_create_context itself fails (bad port, bad
     * certificate) lws 4.1 leaks part of the half-built context, whereas a
     * failed lws_create_vhost is cleaned up by lws_context_destroy. */
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (s->cert)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.user = s;
    info.protocols = s->protocols;
    info.port = CONTEXT_PORT_NO_LISTEN;
    /* Context-wide in lws 4.1 (ignored on a vhost): the request line and
     * headers must fit in one header table (else lws closes the
     * connection); one table per connection at most; lws's per-step
     * network timeout (TLS handshake, gaps between body chunks). */
    info.max_http_header_data = (unsigned short)s->max_header;
    info.max_http_header_pool = (unsigned short)s->max_conns;
    info.timeout_secs = (unsigned)s->header_timeout;
    /* Size lws's fd tables for the cap (the default is the process fd
     * limit), with room for the listener, lws's wake-up pipe and the
     * socket being refused. */
    info.fd_limit_per_thread = (unsigned)s->max_conns + 16;
    s->nconns = 0;
    s->ctx = lws_create_context(&info);
    if (!s->ctx)
        return pb_err_set(err, PB_EIO, "%s server: cannot create libwebsockets context", s->name);

    memset(&info, 0, sizeof info);
    info.port = s->want_port;
    info.iface = s->host[0] ? s->host : NULL;
    info.protocols = s->protocols;
    info.vhost_name = "default";
    /* from connecting (or the first byte of a keep-alive request) to the
     * end of the headers: not re-armed per byte, so dribbling is cut off */
    info.timeout_secs_ah_idle = (unsigned)s->header_timeout;
    info.keepalive_timeout = s->idle_timeout;
    if (s->host[0] && !strchr(s->host, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (s->cert) {
        /* The OS CA bundle is for verifying peers, which a server without
         * client certificates never does: loading it cost each start
         * ~0.1 s of CPU. */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
        info.ssl_cert_filepath = s->cert;
        info.ssl_private_key_filepath = s->key;
        info.alpn = "http/1.1";
    }
    struct lws_vhost *vh = lws_create_vhost(s->ctx, &info);
    s->port = vh ? lws_get_vhost_listen_port(vh) : -1;
    if (s->port <= 0) {
        lws_context_destroy(s->ctx);
        s->ctx = NULL;
        s->port = -1;
        return pb_err_set(err, PB_EIO, "%s server: cannot listen on %s%s", s->name, s->addr,
                          s->cert ? " (or bad TLS certificate/key)" : "");
    }
    atomic_store(&s->stopping, 0);
    if (pthread_create(&s->thread, NULL, serve, s) != 0) {
        lws_context_destroy(s->ctx);
        s->ctx = NULL;
        s->port = -1;
        return pb_err_set(err, PB_EIO, "%s server: cannot start thread", s->name);
    }
    s->running = 1;
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    pb_log_info("http server listening", "server", s->name, "addr", s->addr, "port", port, "tls",
                s->cert ? "true" : "false", NULL);
    return 0;
}

int pb_http_server_port(const pb_http_server *s)
{
    return s && s->running ? s->port : -1;
}

void pb_http_server_stop(pb_http_server *s)
{
    if (!s || !s->running)
        return;
    atomic_store(&s->stopping, 1);
    lws_cancel_service(s->ctx);
    pthread_join(s->thread, NULL);
    lws_context_destroy(s->ctx);
    s->ctx = NULL;
    s->running = 0;
    s->port = -1;
}

void pb_http_server_free(pb_http_server *s)
{
    if (!s)
        return;
    pb_http_server_stop(s);
    for (size_t i = 0; i < s->nroutes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].path);
    }
    free(s->routes);
    free(s->addr);
    free(s->host);
    free(s->cert);
    free(s->key);
    free(s->name);
    free(s);
}
