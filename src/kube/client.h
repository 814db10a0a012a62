/*
 * client.h - REST client for the Kubernetes API (libcurl + jansson).
 *
 * Generic over group/version/resource: objects are jansson values, there is
 * no per-type code. One kube_client is shared by every controller and is
 * thread-safe: each call borrows a pooled curl handle (connection reuse:
 * HTTP/1.1 keep-alive, or HTTP/2 when asked for and the server offers it
 * through ALPN) and passes a client-side token-bucket rate limiter
 * (qps/burst).
 *
 * Errors: every call returns 0 or a negative PB_E* code and fills `err` with
 * the server's metav1.Status message when there is one. HTTP status maps to:
 *   404 -> PB_ENOTFOUND        409 AlreadyExists -> PB_EEXIST
 *   409 Conflict -> PB_ECONFLICT   410 -> PB_EGONE
 *   400/422 -> PB_EINVAL       401 -> PB_EUNAUTHORIZED   403 -> PB_EFORBIDDEN
 *   429, 5xx, connection failure -> PB_EUNAVAILABLE (after retries)
 *   timeout -> PB_ETIMEOUT
 * Pass a kube_status to receive the parsed Status (code, reason, causes).
 * Messages read "<verb> <resource>[.<group>] <ns>/<name>: <code> <reason>:
 * <message>", e.g. "get tenants.paybill.dev default/acme: 404 NotFound: ...".
 *
 * Retries (max_retries, exponential backoff from backoff_base_ms, capped at
 * 5 s; Retry-After seconds win when given): 429 for every verb, since the
 * server did not act on the request; 500/502/503/504 and dropped
 * connections only where repeating is harmless: GET, LIST, DELETE, and PUT
 * when the object carries metadata.resourceVersion. Never POST or PATCH. A
 * refused connection (nothing was sent) is retried for every verb. A 401
 * refetches exec-plugin / token-file credentials and repeats once.
 *
 * Ownership: every `json_t **out` receives a new reference the caller must
 * json_decref(); input objects are borrowed (never stolen). Strings in
 * kube_gvr returned by discovery are owned by the client and live as long
 * as it does.
 */
#ifndef PAYBILL_KUBE_CLIENT_H
#define PAYBILL_KUBE_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>

#include "kube/config.h"
#include "util/err.h"

typedef struct kube_client kube_client;

/* group "" is the core group (paths under /api/v1). */
typedef struct kube_gvr {
    const char *group;
    const char *version;
    const char *resource; /* plural, lower case: "tenants" */
} kube_gvr;

typedef struct kube_client_options {
    double qps;              /* sustained requests/s; 0 = default (50) */
    int burst;               /* bucket size; 0 = default (100) */
    long timeout_ms;         /* per request, not for watches; 0 = 30000 */
    int max_retries;         /* for 429/5xx on idempotent verbs; 0 = 5, -1 = none */
    const char *user_agent;  /* NULL = "paybill-operator/<version> (linux)" */
    long backoff_base_ms;    /* first retry delay, doubled each time (capped
                                at 5 s), used without Retry-After; 0 = 200 */
    long watch_idle_ms;      /* a watch that receives nothing for this long
                                ends with PB_ETIMEOUT; 0 = timeoutSeconds + 30 s,
                                or 5 min without timeoutSeconds */
    int http2;               /* 1: HTTP/2 over TLS when the server offers it
                                (requests multiplexed on one connection);
                                0: HTTP/1.1, a keep-alive connection per
                                request in flight. 0 is the default: against
                                kube-apiserver it cost the operator ~27 % and
                                the server ~13 % less CPU in a cold start
                                (bench/RESULTS-operator.md) */
} kube_client_options;

/* Parsed metav1.Status of a failed request (all fields empty on success). */
typedef struct kube_status {
    int code;               /* HTTP status code, 0 if no response */
    char reason[64];        /* "NotFound", "Conflict", "Invalid", ... */
    char message[1024];
    json_t *causes;         /* details.causes array or NULL; owned, free with kube_status_clear */
    long retry_after_s;     /* from Retry-After, -1 if absent */
} kube_status;
void kube_status_clear(kube_status *st);

/* Options for one request; zero-initialise and set what you need. */
typedef struct kube_request_opts {
    const char *subresource;           /* "status", ... or NULL */
    /* list / watch */
    const char *label_selector;
    const char *field_selector;
    const char *resource_version;
    const char *resource_version_match; /* "NotOlderThan" | "Exact" */
    long limit;                        /* 0 = no limit */
    const char *continue_token;
    int allow_watch_bookmarks;
    long timeout_seconds;              /* server-side watch/list timeout, 0 = none */
    int drop_managed_fields;           /* watch: hand events over without
                                          metadata.managedFields (a third of a
                                          stream, not decoded at all) */
    int wake_fd;                       /* watch: a descriptor that becomes
                                          readable once *stop is set (an
                                          eventfd): the watch then sleeps until
                                          data, that or its idle guard instead
                                          of polling *stop every 100 ms.
                                          Any other request: once it is
                                          readable no retry is made (the last
                                          failure is returned), so a stopping
                                          thread does not sit out the backoff
                                          of a server that is down. 0 = none
                                          (descriptor 0 is never one) */
    long timeout_ms;                   /* not a watch: the whole request,
                                          retries included, within this many
                                          ms (each try gets what is left, no
                                          retry starts that could not finish
                                          in time); 0 = the client's timeout
                                          per try. Leader election bounds its
                                          lease requests by the renew
                                          deadline with it, as client-go does */
    /* writes */
    const char *field_manager;         /* default "paybill-operator" */
    int force;                         /* server-side apply: take ownership */
    int dry_run;                       /* dryRun=All */
    /* delete */
    const char *propagation_policy;    /* "Background" | "Foreground" | "Orphan" */
    const char *precondition_uid;
    const char *precondition_resource_version;
    long grace_period_seconds;         /* < 0 = not sent; zero-init sends nothing
                                          only if has_grace_period is 0 */
    int has_grace_period;
    /* out */
    kube_status *status;               /* filled on failure when non-NULL */
    char *new_resource_version;        /* create/update/patch: the object's
                                          resourceVersion after the write, read
                                          from the reply without decoding the
                                          object ("" when it has none), into this
                                          caller's buffer of */
    size_t new_resource_version_len;   /* bytes */
} kube_request_opts;

typedef enum {
    KUBE_PATCH_MERGE = 0,   /* application/merge-patch+json */
    KUBE_PATCH_JSON,        /* application/json-patch+json */
    KUBE_PATCH_STRATEGIC,   /* application/strategic-merge-patch+json */
    KUBE_PATCH_APPLY        /* application/apply-patch+yaml (server-side apply) */
} kube_patch_type;

int kube_client_new(const kube_config *cfg, const kube_client_options *opt,
                    kube_client **out, pb_err *err);
void kube_client_free(kube_client *c);

/* Discovery: map apiVersion ("paybill.dev/v1alpha1", "v1") + kind to the
 * resource. Cached; the cache is refreshed once when a kind is unknown. */
int kube_discover(kube_client *c, const char *api_version, const char *kind,
                  kube_gvr *out, int *namespaced, pb_err *err);

/* ns: NULL or "" for cluster-scoped resources or all-namespace lists. */
int kube_get(kube_client *c, const kube_gvr *r, const char *ns, const char *name,
             const kube_request_opts *o, json_t **out, pb_err *err);

/* One page: out is the List object (items, metadata.resourceVersion,
 * metadata.continue). */
int kube_list(kube_client *c, const kube_gvr *r, const char *ns,
              const kube_request_opts *o, json_t **out, pb_err *err);

/* Called with each page of a list (borrowed; json_incref to keep it).
 * first is 1 on the first page of a pass: after an expired continue token
 * the list starts over, and whatever the caller gathered from the earlier
 * pass is stale. Return non-zero to stop listing. */
typedef int (*kube_page_fn)(void *ud, json_t *page, int first);

/* Every page in turn (o->limit is the page size), so a caller can consume
 * a big list without holding all of it. Every page of a pass shares the
 * first page's resourceVersion (the snapshot). On an expired continue
 * token (410) restarts from scratch once. PB_ECANCELED when fn stopped. */
int kube_list_pages(kube_client *c, const kube_gvr *r, const char *ns, const kube_request_opts *o,
                    kube_page_fn fn, void *ud, pb_err *err);

/* All pages in one List (kube_list_pages gathering them); its
 * metadata.resourceVersion is the first page's. */
int kube_list_all(kube_client *c, const kube_gvr *r, const char *ns,
                  const kube_request_opts *o, json_t **out, pb_err *err);

int kube_create(kube_client *c, const kube_gvr *r, const char *ns, json_t *obj,
                const kube_request_opts *o, json_t **out, pb_err *err);

/* PUT of obj (name from obj.metadata.name); obj should carry
 * metadata.resourceVersion; a stale one returns PB_ECONFLICT. Set
 * o->subresource = "status" to update status. */
int kube_update(kube_client *c, const kube_gvr *r, const char *ns, json_t *obj,
                const kube_request_opts *o, json_t **out, pb_err *err);

/* body: the patch document (a JSON array for KUBE_PATCH_JSON, an object
 * otherwise; for KUBE_PATCH_APPLY the object is sent as JSON, which is valid
 * YAML). */
int kube_patch(kube_client *c, const kube_gvr *r, const char *ns, const char *name,
               kube_patch_type type, json_t *body, const kube_request_opts *o,
               json_t **out, pb_err *err);

/* Several creates and patches sent together, KUBE_WRITE_MANY_MAX at a
 * time, each on a connection of its own: the caller waits once for the lot
 * instead of once per write. For writes that do not depend on one another:
 * their order on the server is not defined. Each item gets what kube_create
 * or kube_patch would have given it, retries included (the same policy;
 * retries run one by one); replies are not decoded (use
 * opts->new_resource_version and opts->status). Returns the first non-zero
 * rc in items order, or 0. The caller owns the items and what they point
 * to. */
#define KUBE_WRITE_MANY_MAX 8
typedef enum kube_write_kind {
    KUBE_WRITE_CREATE, /* kube_create(gvr, ns, body) */
    KUBE_WRITE_PATCH   /* kube_patch(gvr, ns, name, type, body) */
} kube_write_kind;

typedef struct kube_write {
    /* in */
    kube_write_kind kind;
    const kube_gvr *gvr;
    const char *ns;
    const char *name;              /* PATCH */
    kube_patch_type type;          /* PATCH */
    json_t *body;                  /* the object (CREATE) or the patch (PATCH) */
    const kube_request_opts *opts; /* NULL: none */
    /* out */
    int rc;
    pb_err err;
} kube_write;

int kube_write_many(kube_client *c, kube_write *items, size_t n);

/* out (optional) is whatever the server returned: the object (finalizers
 * pending) or a Status. */
int kube_delete(kube_client *c, const kube_gvr *r, const char *ns, const char *name,
                const kube_request_opts *o, json_t **out, pb_err *err);

/* Watch. Called once per event, in order, from the calling thread.
 * type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" ("ERROR" events are
 * not delivered: they end the watch with their code). object is borrowed.
 * Return 0 to continue, non-zero to stop the watch (kube_watch then
 * returns 0). */
typedef int (*kube_watch_fn)(void *ud, const char *type, json_t *object);

/* Blocks until the stream ends. Returns 0 when the server closed it
 * normally (timeoutSeconds) or the callback / *stop asked to stop;
 * PB_EGONE when the resourceVersion is too old (HTTP 410 or an ERROR event
 * with code 410): relist; other codes on failure, PB_ETIMEOUT when nothing
 * arrived for kube_client_options.watch_idle_ms (a hung connection).
 * `stop` (may be NULL) is read at least every 200 ms so shutdown never
 * waits for a quiet stream, or, with o->wake_fd, whenever that descriptor
 * becomes readable (an idle watch then does not wake up at all). */
int kube_watch(kube_client *c, const kube_gvr *r, const char *ns,
               const kube_request_opts *o, kube_watch_fn fn, void *ud,
               const atomic_int *stop, pb_err *err);

/* A descriptor for kube_request_opts.wake_fd: an eventfd that, once set,
 * stays readable (never drained), so every later wait sees it.
 * kube_wake_fd_new returns 0 when none can be had (out of descriptors):
 * waits then only lose their early wake-up. Set and free accept 0. */
int kube_wake_fd_new(void);
/* fd as a wake_fd: fd itself, or 0 (none) when the call that made it
 * failed (fd < 0) or gave descriptor 0, which is closed, since 0 means
 * "none" there. For a descriptor of another kind (a signalfd, an epoll set). */
int kube_wake_fd_adopt(int fd);
void kube_wake_fd_set(int fd);
void kube_wake_fd_free(int fd);

/* The wake_fd of every request that names none (watches excepted: a
 * watch's wake_fd is its stop signal, see kube_watch): once it is readable
 * no request of this client retries. The manager sets one that becomes
 * readable when it is stopping, or a stop signal is pending, so a lease
 * renewal or a reconcile against a server that is down gives up at once
 * instead of sitting out its backoff (up to ~6 s a request). The
 * descriptor stays the caller's: set 0 before closing it. */
void kube_client_set_wake_fd(kube_client *c, int fd);

/* Close the client for good (thread-safe; the first reason stays): every
 * request, watch and retry from then on fails at once with PB_ECANCELED
 * and the reason, and transfers in flight are cut within about a second.
 * The manager closes its client when it loses the Lease, so no write
 * leaves a replica that has stopped leading while it drains (a fence:
 * what was already on the wire may still land). Free it as usual. */
void kube_client_close(kube_client *c, const char *reason);

/* A deadline on CLOCK_MONOTONIC (seconds, 0 = none; thread-safe, may be
 * moved or lifted): no request, retry or watch starts after it (PB_ETIMEOUT,
 * "cut off"), and transfers still in flight then are cut within about a
 * second. The manager sets it to its drain deadline when it shuts down, so
 * a reconcile stuck on a hung API server cannot hold the process past it
 * (the release of the Lease, after the drain, is given its own). */
void kube_client_set_cutoff(kube_client *c, double deadline);
/* The cutoff now (0: none), for other waits that should end with it. */
double kube_client_cutoff(const kube_client *c);

/* Raw request for endpoints outside the resource model (/version,
 * /healthz). path starts with '/'. body may be NULL. out receives the parsed
 * JSON body (or a JSON string holding a non-JSON body). */
int kube_raw(kube_client *c, const char *method, const char *path,
             const char *content_type, const char *body, json_t **out,
             kube_status *st, pb_err *err);

/* Metrics: the client counts requests by verb (GET, LIST, WATCH, POST, PUT,
 * PATCH, DELETE, or the method of kube_raw) and code, with their latency:
 * one count per HTTP attempt, code 0 for a connection failure; a watch
 * counts when its stream ends, its latency being the time to the response
 * headers. Two ways to read them:
 *  - kube_client_stats(): a snapshot, a new JSON array the caller owns, of
 *    {"verb":"GET","code":200,"count":N,"seconds_sum":S} objects;
 *  - an observer called after every attempt, from the requesting thread
 *    (e.g. to feed the process metrics registry). Set it before sharing the
 *    client between threads. */
int kube_client_stats(kube_client *c, json_t **out);
typedef void (*kube_request_observer)(void *ud, const char *verb, int code, double seconds);
void kube_client_set_observer(kube_client *c, kube_request_observer fn, void *ud);

/* The server URL the client talks to (owned by the client). */
const char *kube_client_server(const kube_client *c);

/* Transport facts, for tests and diagnostics (any thread may read them).
 * kube_client_last_http_version: curl's CURLINFO_HTTP_VERSION for the most
 * recently finished request of any thread (a watch finishes when its stream
 * ends): CURL_HTTP_VERSION_1_1 (2) or CURL_HTTP_VERSION_2_0 (3); 0 before
 * the first request or when the last one got no response.
 * kube_client_connections_opened: CURLINFO_NUM_CONNECTS summed over every
 * request and watch, i.e. the connections opened so far; requests that
 * reuse a connection leave it unchanged. */
long kube_client_last_http_version(const kube_client *c);
unsigned long kube_client_connections_opened(const kube_client *c);

/*
 * Watch stream decoding, separate from the transport so it can be tested
 * byte by byte: feed the body as it arrives, in pieces of any size; every
 * complete line is one event, handed to fn. Lines may be of any size up to
 * max_line (0 = 64 MiB), after which the stream is PB_ETOOLARGE.
 *
 * feed() returns 0 to go on, 1 when fn asked to stop, PB_EGONE for an ERROR
 * event with code 410, another negative code for other ERROR events (as the
 * HTTP mapping above) or a malformed line (PB_EPARSE). st (may be NULL)
 * receives an ERROR event's Status. finish() handles a last line without a
 * newline; the decoder is owned by the caller.
 */
typedef struct kube_watch_decoder kube_watch_decoder;
kube_watch_decoder *kube_watch_decoder_new(size_t max_line);
void kube_watch_decoder_free(kube_watch_decoder *d);
int kube_watch_decoder_feed(kube_watch_decoder *d, const char *data, size_t len, kube_watch_fn fn,
                            void *ud, kube_status *st, pb_err *err);
int kube_watch_decoder_finish(kube_watch_decoder *d, kube_watch_fn fn, void *ud, kube_status *st,
                              pb_err *err);
/* Events delivered so far. */
unsigned long kube_watch_decoder_events(const kube_watch_decoder *d);
/* on: events arrive without object.metadata.managedFields (cut from the
 * text before decoding: see kube_request_opts.drop_managed_fields). */
void kube_watch_decoder_drop_managed_fields(kube_watch_decoder *d, int on);

/* Map an HTTP status code (and Status reason) to a PB_E* code as above. */
int kube_code_from_http(int http_code, const char *reason);
/* Fill st from a metav1.Status JSON object (borrowed); returns 1 when obj is
 * a Status, 0 otherwise (st then untouched). */
int kube_status_from_json(const json_t *obj, kube_status *st);

/*
 * Discovery cache, used by kube_discover() (one per client). Lookups go
 * through the client's kube_raw(); names handed out are interned and live
 * as long as the cache.
 */
typedef struct kube_discovery kube_discovery;
kube_discovery *kube_discovery_new(void);
void kube_discovery_free(kube_discovery *d);
int kube_discovery_lookup(kube_discovery *d, kube_client *c, const char *api_version,
                          const char *kind, kube_gvr *out, int *namespaced, pb_err *err);

#endif
