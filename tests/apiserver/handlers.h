/*
 * handlers.h - the Kubernetes API semantics of the dev API server,
 * independent of the HTTP library: a parsed request goes in, a response (a
 * complete body, or a watch stream) comes out. server.c adapts this to
 * libwebsockets; unit tests call dv_api_handle directly.
 *
 * Convention (devapi-wide, simpler than pb_err): functions return 0 or -1
 * with a message in a caller buffer.
 * Threading: everything runs on the server's single event loop thread.
 * Ownership: dv_api owns its store, registry and auth; a dv_response owns
 * its body and headers (dv_response_clear frees them) and, for a watch, the
 * dv_watch until it is handed to dv_watch_close.
 */
#ifndef DEVAPI_HANDLERS_H
#define DEVAPI_HANDLERS_H

#include <jansson.h>
#include <stddef.h>

typedef struct dv_api dv_api;
typedef struct dv_watch dv_watch;

typedef struct dv_api_config {
    const char *data_dir;         /* NULL: memory only */
    const char *token_file;       /* token CSV for dv_auth (may be NULL) */
    const char *admin_token;      /* if set: a token for user "admin" in system:masters */
    int insecure_admin;           /* requests without credentials act as admin, like
                                   * kube-apiserver's old insecure port (kubectl
                                   * sends no bearer token over plain HTTP) */
    size_t watch_window;          /* events kept for watch resume */
    int fault_drop_watch_after_s; /* 0: off */
    double fault_error_rate;      /* 0..1: fraction of requests failed */
    int fault_error_code;         /* 500 or 429 */
    const char *record_file;      /* --record: every write request (not GET)
                                   * appended here as a JSON line; NULL: off */
} dv_api_config;

typedef struct dv_request {
    const char *method;       /* GET POST PUT PATCH DELETE */
    const char *path;         /* without query string, already URL-decoded */
    const json_t *query;      /* {"name": "value"} (URL-decoded), may be NULL */
    const char *accept;
    const char *content_type;
    const char *authorization;
    const char *user_agent;
    const char *impersonate_user;
    const char *const *impersonate_groups; /* NULL-terminated or NULL */
    const char *body;
    size_t body_len;
    const char *impersonate_uid; /* Impersonate-Uid, or NULL */
} dv_request;

typedef struct dv_response {
    int status;
    char content_type[96];
    char *body; /* malloc'd */
    size_t body_len;
    char warning[512];   /* Warning header value, "" when none */
    int retry_after;     /* Retry-After seconds, 0 when none */
    dv_watch *watch;     /* non-NULL: stream this watch after the headers */
} dv_response;

int dv_api_new(const dv_api_config *cfg, dv_api **out, char *msg, size_t n);
void dv_api_free(dv_api *api);

/* Serve one request. Always fills resp (status >= 200). */
void dv_api_handle(dv_api *api, const dv_request *req, dv_response *resp);
void dv_response_clear(dv_response *resp);

/* Durability (group commit): writes reach the store's log at once but are
 * fsync'ed by dv_api_sync. A server must call it, when dv_api_unsynced, before
 * sending anything (a reply or watch data); 0, or -1 when the writes may be
 * lost (the server must not acknowledge them). */
int dv_api_unsynced(const dv_api *api);
int dv_api_sync(dv_api *api);

/* Periodic work (~every 100 ms): watch bookmarks and timeouts, fault drops,
 * garbage collection. */
void dv_api_tick(dv_api *api);

/* Watch streams. The server registers `notify` (called when data becomes
 * available or the stream ends), then repeatedly takes pending bytes. Each
 * chunk handed out is one or more complete JSON lines. */
void dv_watch_set_notify(dv_watch *w, void (*notify)(void *ud), void *ud);
/* Pending bytes (borrowed, valid until dv_watch_consume/close). */
const char *dv_watch_data(const dv_watch *w, size_t *len);
void dv_watch_consume(dv_watch *w, size_t n);
/* 1 when the stream must end once pending bytes are written. */
int dv_watch_finished(const dv_watch *w);
/* The connection is gone or the stream ended: release it. */
void dv_watch_close(dv_watch *w);

#endif
