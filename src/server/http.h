/*
 * http.h - a small HTTP(S) server for the operator's own endpoints:
 * /metrics, /healthz and /readyz now, admission and billing webhooks later.
 *
 * Built on libwebsockets. One server = one listening address served by its
 * own thread running the lws event loop; handlers are plain callbacks that
 * run on that thread, one request at a time, with the whole request body
 * already read (bounded by the route's limit). Keep handlers short: a slow handler
 * delays every other request on the same server.
 *
 *     pb_http_server *srv;
 *     pb_http_config cfg = {.addr = "127.0.0.1:0"};
 *     pb_http_server_new(&cfg, &srv, &err);
 *     pb_http_route(srv, "GET", "/healthz", pb_http_ok_handler, NULL, &err);
 *     pb_http_server_start(srv, &err);
 *     ... pb_http_server_port(srv) ...
 *     pb_http_server_free(srv);               (stops and joins)
 *
 * Routing: exact path match, or a prefix when the route path ends in '*'
 * (e.g. "/billing/" followed by a star). Unknown path: 404; known path, other method: 405 with
 * an Allow header.
 *
 * Request bodies: each route declares the body it takes (pb_http_route_body;
 * pb_http_route: none for GET and HEAD routes, up to max_body otherwise), and
 * GET and HEAD requests never carry one. A request announcing a body that
 * its route does not take (or to an unknown path or method) is answered at
 * once (413, 404 or 405) without its body being buffered: a small body is
 * read and dropped so the connection can be reused, a larger one (over
 * 64 KiB, or chunked) closes the connection. A body over the route's limit
 * is 413 (one declared far over it is refused before reading and the
 * connection closed). Bodies need a Content-Length (lws 4.1 cannot decode
 * chunked uploads: those get 411 and the connection is closed); a
 * Content-Length that is not a plain number is 400 and closes.
 * "Expect: 100-continue" is answered. HTTPS is served when a PEM
 * certificate and key are configured; only HTTP/1.1 is offered (ALPN).
 *
 * Abuse limits, so that a client cannot pin memory or slots for long: at
 * most max_conns connections at a time (the next one gets a best-effort 503
 * and is closed at accept); the request line plus headers fit in
 * max_header_bytes (else the connection is closed); a client has
 * header_timeout_s from connecting (or from the first byte of a keep-alive
 * request) to finish the TLS handshake and the headers, request_timeout_s
 * after the headers to send the whole body, and again to take the response;
 * an idle keep-alive connection is closed after idle_timeout_s. Memory per
 * connection is then a few KB while it waits, plus its body while one is
 * being received.
 *
 * Ownership: the server copies the config strings and route paths. Request
 * fields are valid only during the handler call. Response bodies are copied
 * (pb_http_reply) or taken over (pb_http_reply_take) by the server.
 */
#ifndef PAYBILL_SERVER_HTTP_H
#define PAYBILL_SERVER_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define PB_HTTP_DEFAULT_MAX_BODY (4u * 1024 * 1024)
#define PB_HTTP_DEFAULT_MAX_CONNS 64
#define PB_HTTP_DEFAULT_MAX_HEADER_BYTES 8192
#define PB_HTTP_DEFAULT_HEADER_TIMEOUT_S 10
#define PB_HTTP_DEFAULT_REQUEST_TIMEOUT_S 30
#define PB_HTTP_DEFAULT_IDLE_TIMEOUT_S 30

typedef struct pb_http_server pb_http_server;
typedef struct pb_http_response pb_http_response;

typedef struct pb_http_config {
    const char *addr;          /* "host:port"; port 0 picks a free port; empty
                                  host = all interfaces; "[::1]:443" for IPv6 */
    const char *tls_cert_file; /* PEM; set both to serve HTTPS */
    const char *tls_key_file;
    size_t max_body;           /* body limit of pb_http_route routes that take
                                  one; 0 = PB_HTTP_DEFAULT_MAX_BODY */
    const char *name;          /* for log lines ("metrics", "webhooks") */
    /* Abuse limits; 0 = the PB_HTTP_DEFAULT_* value. */
    int max_conns;             /* concurrent connections, 1..65535 */
    unsigned max_header_bytes; /* request line + headers, 256..65535 */
    int header_timeout_s;      /* TLS handshake + request head (seconds) */
    int request_timeout_s;     /* whole body after the head; taking the response */
    int idle_timeout_s;        /* keep-alive connection between requests */
} pb_http_config;

typedef struct pb_http_request {
    const char *method;   /* "GET", "POST", ... */
    const char *path;     /* "/healthz" (no query string) */
    const char *query;    /* "a=1&b=2" without '?', "" when none; each
                             parameter is already percent-decoded (use
                             pb_http_request_query_param for values);
                             lws keeps only about the first 200 bytes */
    const char *body;     /* NUL-terminated for convenience; "" when none */
    size_t body_len;      /* excluding that NUL */
    void *internal;       /* for pb_http_request_header */
} pb_http_request;

typedef void (*pb_http_handler)(const pb_http_request *req, pb_http_response *resp, void *arg);

int pb_http_server_new(const pb_http_config *cfg, pb_http_server **out, pb_err *err);

/* Register a route before pb_http_server_start. method NULL = any method.
 * Registering the same method and path twice is PB_EEXIST. A GET or HEAD
 * route takes no request body; any other accepts one up to the server's
 * max_body. */
int pb_http_route(pb_http_server *srv, const char *method, const char *path,
                  pb_http_handler handler, void *arg, pb_err *err);

/* Same, declaring the body the route takes: max_body 0 = none (a request
 * announcing one is refused at once), else at most max_body bytes. */
int pb_http_route_body(pb_http_server *srv, const char *method, const char *path,
                       size_t max_body, pb_http_handler handler, void *arg, pb_err *err);

/* Bind and start serving on a new thread. Bind/TLS failures are reported
 * here (PB_EIO / PB_EINVAL), not later. */
int pb_http_server_start(pb_http_server *srv, pb_err *err);

/* The bound port (useful with port 0), or -1 when not started. */
int pb_http_server_port(const pb_http_server *srv);

/* Stop serving and join the thread; in-flight connections are dropped.
 * Idempotent; returns promptly. */
void pb_http_server_stop(pb_http_server *srv);

/* Stop (if needed) and free. NULL is fine. */
void pb_http_server_free(pb_http_server *srv);

/* ---- for handlers ------------------------------------------------------------ */

/* Copy a request header's value (case-insensitive name, no colon) into buf
 * (NUL-terminated). Returns the value length, or -1 when absent or too long
 * for buf. */
int pb_http_request_header(const pb_http_request *req, const char *name, char *buf, size_t n);

/* Percent-decoded value of a query parameter ("?dryRun=All" -> "All";
 * "?flag" -> ""), copied into buf; returns its length or -1 when absent or
 * too long. */
int pb_http_request_query_param(const pb_http_request *req, const char *name, char *buf,
                                size_t n);

/* Set status, content type and a copy of the body. A later call replaces
 * an earlier one. content_type NULL = "text/plain; charset=utf-8". */
int pb_http_reply(pb_http_response *resp, int status, const char *content_type,
                  const void *body, size_t len);
/* Same, taking ownership of a malloc'd body (freed by the server). */
int pb_http_reply_take(pb_http_response *resp, int status, const char *content_type,
                       char *body, size_t len);
/* Compact JSON body with Content-Type application/json; v is not stolen. */
int pb_http_reply_json(pb_http_response *resp, int status, const json_t *v);
/* Extra response header (e.g. "Retry-After", "30"); up to 8 per response. */
int pb_http_add_header(pb_http_response *resp, const char *name, const char *value);

/* Ready-made handlers: "ok" with 200 (probes), and the Prometheus text of
 * a metrics registry (arg: pb_metrics_registry *, NULL = the default). */
void pb_http_ok_handler(const pb_http_request *req, pb_http_response *resp, void *arg);
void pb_http_metrics_handler(const pb_http_request *req, pb_http_response *resp, void *arg);

#endif
