/*
 * client.c - the Kubernetes REST client (see client.h): URL building,
 * authentication, rate limiting, retries, error mapping, watches, metrics.
 *
 * Every request goes through do_request(), which is the whole policy in one
 * loop: take a rate-limiter token, get current credentials, perform with a
 * pooled curl easy handle (a handle keeps its connections, so reusing handles
 * reuses connections), then decide: done, re-authenticate once after a 401,
 * or retry with backoff (429 always, since the server did not act on it;
 * 5xx and dropped connections only when repeating the request is harmless).
 *
 * Watches use their own easy handle driven through a multi handle so the
 * stop flag and an idle deadline can be checked every 100 ms while the
 * stream is quiet; curl's own progress callback slows to once a second.
 *
 * kube_write_many sends several writes at once through a pooled "lane set":
 * a multi handle with its own easy handles, whose connection cache keeps one
 * connection per lane (a multi handle owns the connections of the handles it
 * drives, and adding a handle to one drops that handle's own connections, so
 * lanes never mix with the single-request pool). Only the first attempt is
 * concurrent; what it leaves to retry goes through do_request's loop.
 */
#include "kube/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "kube/ratelimit.h"
#include "util/buf.h"
#include "util/jdump.h"
#include "util/jload.h"
#include "util/jscan.h"
#include "util/log.h"
#include "util/timeutil.h"

#define POOL_MAX 16                      /* idle easy handles kept */
#define LANES_MAX 16                     /* idle lane sets kept */
#define MAX_BODY ((size_t)256 << 20)     /* a response larger is refused */
#define MAX_ERROR_BODY ((size_t)64 << 10)
#define BACKOFF_CAP_MS 5000
#define RETRY_AFTER_CAP_S 30
#define STATS_MAX 128
#define DEFAULT_FIELD_MANAGER "paybill-operator"

struct stat_entry {
    char verb[12];
    int code;
    unsigned long count;
    double seconds;
};

/* Concurrent transfers: a multi handle and the easy handles it drives. */
struct lanes {
    CURLM *m;
    CURL *h[KUBE_WRITE_MANY_MAX];
};

static void lanes_free(struct lanes *l);

struct kube_client {
    char *server;       /* as configured, for messages */
    char *base;         /* URL prefix requests are built on */
    CURLU *origin;      /* base's scheme, host and port, parsed once */
    char *base_path;    /* base's path without the trailing slash ("" for none) */
    struct curl_slist *connect_to; /* tls-server-name: URL names it, we connect to the server */
    char *user_agent;
    int http2; /* kube_client_options.http2 */
    char *ca_pem;
    size_t ca_len;
    int insecure;
    long timeout_ms;
    int max_retries;
    long backoff_ms;
    long watch_idle_ms;
    kube_auth *auth;
    kube_ratelimit *rl;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_mu;
    CURL *pool[POOL_MAX];
    int npool;
    struct lanes *lanes[LANES_MAX]; /* under pool_mu */
    int nlanes;
    pthread_mutex_t stats_mu;
    struct stat_entry stats[STATS_MAX];
    int nstats;
    kube_request_observer observer;
    void *observer_ud;
    kube_discovery *disc;
    atomic_long last_http_version;   /* see kube_client_last_http_version */
    atomic_ulong connections_opened;
    atomic_int wake_fd;              /* kube_client_set_wake_fd; 0 = none */
    atomic_int closing;              /* kube_client_close taken (the first call wins) */
    atomic_int closed;               /* kube_client_close: requests refused, transfers cut */
    char close_reason[160];          /* written once, by the winner, before closed is set */
    _Atomic double cutoff;           /* kube_client_set_cutoff: CLOCK_MONOTONIC s, 0 = none */
};

/* ------------------------------------------------------------ small bits */

/* Append a URL-escaped path segment or query value. */
static int buf_esc(pb_buf *b, const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    if (!e)
        return -1;
    int rc = pb_buf_puts(b, e);
    curl_free(e);
    return rc;
}

static void query_add(pb_buf *b, const char *key, const char *val)
{
    if (!val || !*val)
        return;
    pb_buf_puts(b, strchr(pb_buf_str(b), '?') ? "&" : "?");
    pb_buf_puts(b, key);
    pb_buf_puts(b, "=");
    buf_esc(b, val);
}

static void query_long(pb_buf *b, const char *key, long v)
{
    char n[32];
    snprintf(n, sizeof n, "%ld", v);
    query_add(b, key, n);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Wait ms before a retry; 1 at once when wake_fd (> 0) is readable: its
 * owner is stopping and wants no more tries. */
static int retry_wait(int wake_fd, long ms)
{
    double until = pb_time_mono_s() + (double)ms / 1000.0, left;
    while (wake_fd > 0 && (left = until - pb_time_mono_s()) > 0) {
        struct pollfd p = {.fd = wake_fd, .events = POLLIN};
        int n = poll(&p, 1, (int)(left * 1000.0) + 1);
        if (n > 0 && (p.revents & POLLIN))
            return 1;
        if (n > 0 || (n < 0 && errno != EINTR))
            break; /* cannot watch it: just wait */
    }
    if ((left = until - pb_time_mono_s()) > 0)
        sleep_ms((long)(left * 1000.0));
    return 0;
}

int kube_wake_fd_adopt(int fd)
{
    if (fd == 0) /* descriptor 0 means "none" in kube_request_opts */
        close(fd);
    return fd > 0 ? fd : 0;
}

int kube_wake_fd_new(void)
{
    return kube_wake_fd_adopt(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

void kube_wake_fd_set(int fd)
{
    uint64_t one = 1;
    if (fd > 0 && write(fd, &one, sizeof one) < 0) {
        /* Only EAGAIN (the counter is full: it is readable already). */
    }
}

void kube_client_set_wake_fd(kube_client *c, int fd)
{
    if (c)
        atomic_store(&c->wake_fd, fd > 0 ? fd : 0);
}

void kube_client_close(kube_client *c, const char *reason)
{
    int first = 0;
    if (!c || !atomic_compare_exchange_strong(&c->closing, &first, 1))
        return;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason && *reason ? reason : "client closed");
    atomic_store(&c->closed, 1);
}

void kube_client_set_cutoff(kube_client *c, double deadline)
{
    if (c)
        atomic_store(&c->cutoff, deadline > 0 ? deadline : 0);
}

double kube_client_cutoff(const kube_client *c)
{
    return c ? atomic_load(&((kube_client *)c)->cutoff) : 0;
}

/* 1 once nothing more may go out: the client is closed or its cutoff
 * has passed (a clock read only while a cutoff is set). */
static int cut_off(kube_client *c)
{
    if (atomic_load(&c->closed))
        return 1;
    double cut = atomic_load(&c->cutoff);
    return cut > 0 && pb_time_mono_s() >= cut;
}

/* Transfers in flight once the client is closed, or its cutoff passed,
 * stop at their next progress call (libcurl makes one at least every
 * second, more often while data moves): atomic loads, and a clock read
 * only while a cutoff is set. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return cut_off(ud);
}

void kube_wake_fd_free(int fd)
{
    if (fd > 0)
        close(fd);
}

/* ---------------------------------------------------- errors and statuses */

void kube_status_clear(kube_status *st)
{
    if (!st)
        return;
    json_decref(st->causes);
    memset(st, 0, sizeof *st);
    st->retry_after_s = -1;
}

int kube_code_from_http(int http, const char *reason)
{
    if (http >= 200 && http < 300)
        return 0;
    switch (http) {
    case 400:
    case 422:
        return PB_EINVAL;
    case 401:
        return PB_EUNAUTHORIZED;
    case 403:
        return PB_EFORBIDDEN;
    case 404:
        return PB_ENOTFOUND;
    case 409:
        return reason && strcmp(reason, "AlreadyExists") == 0 ? PB_EEXIST : PB_ECONFLICT;
    case 410:
        return PB_EGONE;
    case 413:
        return PB_ETOOLARGE;
    case 429:
        return PB_EUNAVAILABLE;
    case 504:
        return PB_ETIMEOUT;
    default:
        return http >= 500 ? PB_EUNAVAILABLE : http >= 400 ? PB_EINVAL : PB_EIO;
    }
}

/* Reason to show when the body is not a Status. */
static const char *default_reason(int code)
{
    switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "Unknown";
    }
}

int kube_status_from_json(const json_t *obj, kube_status *st)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!json_is_object(obj) || !kind || strcmp(kind, "Status") != 0)
        return 0;
    const char *reason = json_string_value(json_object_get(obj, "reason"));
    const char *msg = json_string_value(json_object_get(obj, "message"));
    json_t *code = json_object_get(obj, "code");
    if (json_is_integer(code))
        st->code = (int)json_integer_value(code);
    snprintf(st->reason, sizeof st->reason, "%s", reason ? reason : "");
    snprintf(st->message, sizeof st->message, "%s", msg ? msg : "");
    json_t *causes = json_object_get(json_object_get(obj, "details"), "causes");
    json_decref(st->causes);
    st->causes = json_is_array(causes) ? json_incref(causes) : NULL;
    return 1;
}

/* ------------------------------------------------------------- the client */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    kube_client *c = ud;
    pthread_mutex_lock(&c->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    kube_client *c = ud;
    pthread_mutex_unlock(&c->share_mu[data]);
}

/* Parse the base URL (c->base, its trailing slashes dropped: paths are
 * appended with their own) once. A request then hands libcurl a copy of it
 * with only the path and query set (CURLOPT_CURLU) instead of a URL string
 * libcurl would parse again (request_url). */
static int setup_origin(kube_client *c, pb_err *err)
{
    size_t n = strlen(c->base);
    while (n > 0 && c->base[n - 1] == '/')
        c->base[--n] = '\0';
    char *path = NULL;
    c->origin = curl_url();
    if (!c->origin)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    CURLUcode uc = curl_url_set(c->origin, CURLUPART_URL, c->base, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(c->origin, CURLUPART_PATH, &path, 0);
    if (uc != CURLUE_OK)
        return pb_err_set(err, PB_EINVAL, "server URL %s: %s", c->server, curl_url_strerror(uc));
    n = strlen(path);
    while (n > 0 && path[n - 1] == '/') /* "/" when the server has no path */
        n--;
    c->base_path = strndup(path, n);
    curl_free(path);
    curl_url_set(c->origin, CURLUPART_QUERY, NULL, 0);
    curl_url_set(c->origin, CURLUPART_FRAGMENT, NULL, 0);
    return c->base_path ? 0 : pb_err_set(err, PB_ENOMEM, "out of memory");
}

/* With tls-server-name, the URL carries that name (so SNI and certificate
 * checks use it) and CURLOPT_CONNECT_TO sends the connection to the real
 * host. */
static int setup_base(kube_client *c, const char *server, const char *sni, pb_err *err)
{
    int rc = 0;
    if (!sni) {
        c->base = strdup(server);
    } else {
        CURLU *u = curl_url();
        char *host = NULL, *port = NULL, *url = NULL;
        if (!u || curl_url_set(u, CURLUPART_URL, server, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
            curl_url_set(u, CURLUPART_HOST, sni, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
            rc = pb_err_set(err, PB_EINVAL, "server URL %s: cannot apply tls-server-name %s", server, sni);
        } else {
            char line[1024];
            snprintf(line, sizeof line, "%s:%s:%s:%s", sni, port, host, port);
            c->connect_to = curl_slist_append(NULL, line);
            c->base = strdup(url);
        }
        curl_free(host);
        curl_free(port);
        curl_free(url);
        curl_url_cleanup(u);
    }
    if (rc)
        return rc;
    if (!c->base)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    return setup_origin(c, err);
}

int kube_client_new(const kube_config *cfg, const kube_client_options *opt, kube_client **out,
                    pb_err *err)
{
    kube_client_options def = {0};
    if (!opt)
        opt = &def;
    *out = NULL;
    if (!cfg)
        return pb_err_set(err, PB_EINVAL, "kube_client_new: no configuration");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return pb_err_set(err, PB_EINTERNAL, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
    kube_client *c = calloc(1, sizeof *c);
    if (!c)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    pthread_mutex_init(&c->pool_mu, NULL);
    pthread_mutex_init(&c->stats_mu, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_mu[i], NULL);
    c->server = strdup(kube_config_server(cfg));
    c->insecure = kube_config_insecure(cfg);
    size_t ca_len = 0;
    const char *ca = kube_config_ca_pem(cfg, &ca_len);
    if (ca && (c->ca_pem = malloc(ca_len + 1))) {
        memcpy(c->ca_pem, ca, ca_len);
        c->ca_pem[ca_len] = '\0';
        c->ca_len = ca_len;
    }
    char ua[256];
    snprintf(ua, sizeof ua, "paybill-operator/%s (linux)", PAYBILL_VERSION);
    c->user_agent = strdup(opt->user_agent ? opt->user_agent : ua);
    c->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 30000;
    c->http2 = opt->http2;
    c->max_retries = opt->max_retries < 0 ? 0 : opt->max_retries ? opt->max_retries : 5;
    c->backoff_ms = opt->backoff_base_ms > 0 ? opt->backoff_base_ms : 200;
    c->watch_idle_ms = opt->watch_idle_ms;
    c->rl = kube_ratelimit_new(opt->qps > 0 ? opt->qps : 50, opt->burst > 0 ? opt->burst : 100);
    c->disc = kube_discovery_new();
    c->share = curl_share_init();
    int rc = 0;
    if (!c->server || !c->user_agent || !c->rl || !c->disc || !c->share || (ca && !c->ca_pem))
        rc = pb_err_set(err, PB_ENOMEM, "out of memory");
    if (!rc)
        rc = setup_base(c, c->server, kube_config_tls_server_name(cfg), err);
    if (!rc)
        rc = kube_auth_new(cfg, &c->auth, err);
    if (rc) {
        kube_client_free(c);
        return rc;
    }
    /* DNS answers and TLS sessions are shared by all handles; connections
     * stay with the handle that opened them. */
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *out = c;
    return 0;
}

void kube_client_free(kube_client *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    for (int i = 0; i < c->nlanes; i++)
        lanes_free(c->lanes[i]);
    if (c->share)
        curl_share_cleanup(c->share);
    kube_discovery_free(c->disc);
    kube_auth_free(c->auth);
    kube_ratelimit_free(c->rl);
    curl_slist_free_all(c->connect_to);
    free(c->server);
    free(c->base);
    curl_url_cleanup(c->origin);
    free(c->base_path);
    free(c->user_agent);
    free(c->ca_pem);
    pthread_mutex_destroy(&c->pool_mu);
    pthread_mutex_destroy(&c->stats_mu);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_mu[i]);
    free(c);
}

const char *kube_client_server(const kube_client *c)
{
    return c->server;
}

long kube_client_last_http_version(const kube_client *c)
{
    return atomic_load(&c->last_http_version);
}

unsigned long kube_client_connections_opened(const kube_client *c)
{
    return atomic_load(&c->connections_opened);
}

/* Note what curl says about the transfer h just finished. */
static void note_transport(kube_client *c, CURL *h)
{
    long version = 0, conns = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
    atomic_store(&c->last_http_version, version);
    if (conns > 0)
        atomic_fetch_add(&c->connections_opened, (unsigned long)conns);
}

static CURL *pool_get(kube_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->npool > 0)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->pool_mu);
    if (h)
        curl_easy_reset(h); /* keeps its live connections */
    else
        h = curl_easy_init();
    return h;
}

static void pool_put(kube_client *c, CURL *h)
{
    pthread_mutex_lock(&c->pool_mu);
    if (c->npool < POOL_MAX) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

static void lanes_free(struct lanes *l)
{
    if (!l)
        return;
    for (int i = 0; i < KUBE_WRITE_MANY_MAX; i++)
        if (l->h[i]) {
            curl_multi_remove_handle(l->m, l->h[i]); /* no-op unless still added */
            curl_easy_cleanup(l->h[i]);
        }
    curl_multi_cleanup(l->m);
    free(l);
}

/* A lane set with its live connections, or a new one; NULL when out of
 * memory. Its easy handles are not added to its multi handle; reset one
 * before use (it keeps the options of its last transfer). */
static struct lanes *lanes_get(kube_client *c)
{
    struct lanes *l = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->nlanes > 0)
        l = c->lanes[--c->nlanes];
    pthread_mutex_unlock(&c->pool_mu);
    if (l)
        return l;
    if (!(l = calloc(1, sizeof *l)) || !(l->m = curl_multi_init())) {
        free(l);
        return NULL;
    }
    /* Keep a connection per lane between batches (curl's default is four
     * per handle added, counted when a transfer ends). */
    curl_multi_setopt(l->m, CURLMOPT_MAXCONNECTS, (long)KUBE_WRITE_MANY_MAX);
    for (int i = 0; i < KUBE_WRITE_MANY_MAX; i++)
        if (!(l->h[i] = curl_easy_init())) {
            lanes_free(l);
            return NULL;
        }
    return l;
}

static void lanes_put(kube_client *c, struct lanes *l)
{
    pthread_mutex_lock(&c->pool_mu);
    if (c->nlanes < LANES_MAX) {
        c->lanes[c->nlanes++] = l;
        l = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    lanes_free(l);
}

/* ---------------------------------------------------------------- metrics */

static void record(kube_client *c, const char *verb, int code, double seconds)
{
    pthread_mutex_lock(&c->stats_mu);
    int i;
    for (i = 0; i < c->nstats; i++)
        if (c->stats[i].code == code && strcmp(c->stats[i].verb, verb) == 0)
            break;
    if (i == c->nstats && c->nstats < STATS_MAX) {
        snprintf(c->stats[i].verb, sizeof c->stats[i].verb, "%s", verb);
        c->stats[i].code = code;
        c->nstats++;
    }
    if (i < c->nstats) {
        c->stats[i].count++;
        c->stats[i].seconds += seconds;
    }
    pthread_mutex_unlock(&c->stats_mu);
    if (c->observer)
        c->observer(c->observer_ud, verb, code, seconds);
}

int kube_client_stats(kube_client *c, json_t **out)
{
    json_t *a = json_array();
    if (!a)
        return PB_ENOMEM;
    pthread_mutex_lock(&c->stats_mu);
    for (int i = 0; i < c->nstats; i++)
        json_array_append_new(a, json_pack("{s:s, s:i, s:I, s:f}", "verb", c->stats[i].verb, "code",
                                           c->stats[i].code, "count", (json_int_t)c->stats[i].count,
                                           "seconds_sum", c->stats[i].seconds));
    pthread_mutex_unlock(&c->stats_mu);
    *out = a;
    return 0;
}

void kube_client_set_observer(kube_client *c, kube_request_observer fn, void *ud)
{
    c->observer = fn;
    c->observer_ud = ud;
}

/* ------------------------------------------------------------ one request */

typedef struct request {
    const char *op;      /* for messages: "get", "create", ... */
    const char *verb;    /* for metrics: GET, LIST, POST, PUT, PATCH, DELETE */
    const char *method;
    const pb_buf *url;   /* checked for a failed append before sending */
    const char *what;    /* "tenants.paybill.dev default/acme" */
    const char *content_type;
    const char *body;
    size_t body_len;
    int safe;            /* repeating it after a 5xx or a dropped connection is harmless */
    int raw;             /* a non-JSON 2xx body is returned as a JSON string */
    int wake_fd;         /* kube_request_opts.wake_fd: readable = no more retries */
    long timeout_ms;     /* kube_request_opts.timeout_ms: the whole request's budget */
    double deadline;     /* pb_time_mono_s() + timeout_ms once run_request starts; 0 = none */
    char *rv_out;        /* kube_request_opts.new_resource_version */
    size_t rv_out_len;
} request;

typedef struct response {
    long code;
    pb_buf body;
    int too_large; /* the body would have passed MAX_BODY */
    long retry_after;
    CURLcode curl;
    char curl_msg[CURL_ERROR_SIZE];
} response;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    response *r = ud;
    size_t len = size * n;
    if (r->body.len + len > MAX_BODY) {
        r->too_large = 1;
        return 0;
    }
    return pb_buf_append(&r->body, p, len) == 0 ? len : 0;
}

/* The body was cut short: over MAX_BODY, or out of memory. */
static int body_refused(const response *r)
{
    return r->too_large || r->body.oom;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    response *r = ud;
    size_t len = size * n;
    static const char key[] = "retry-after:";
    if (len > sizeof key && (p[0] | 0x20) == 'r' && strncasecmp(p, key, sizeof key - 1) == 0) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(len - (sizeof key - 1)), p + sizeof key - 1);
        char *end;
        long v = strtol(tmp, &end, 10);
        if (end != tmp && v >= 0)
            r->retry_after = v; /* the HTTP-date form is not used by the API server */
    }
    return len;
}

/* What a transfer's options point to; setup_release frees it once the
 * transfer is over. */
typedef struct handle_setup {
    struct curl_slist *headers;
    CURLU *url; /* NULL: the URL was given as text */
} handle_setup;

/* The request URL for libcurl: a copy of the parsed origin with this
 * request's path and query. NULL (libcurl then parses the text) when out
 * of memory, for a URL not built on the base, and for one with a
 * percent-encoding, which curl_url_set would send in lower case. */
static CURLU *request_url(const kube_client *c, const char *url)
{
    size_t blen = strlen(c->base);
    if (strncmp(url, c->base, blen) != 0 || url[blen] != '/' || strchr(url + blen, '%'))
        return NULL;
    const char *rest = url + blen, *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest), bplen = strlen(c->base_path);
    char *path = malloc(bplen + plen + 1);
    CURLU *u = path ? curl_url_dup(c->origin) : NULL;
    if (u) {
        memcpy(path, c->base_path, bplen);
        memcpy(path + bplen, rest, plen);
        path[bplen + plen] = '\0';
        if (curl_url_set(u, CURLUPART_PATH, path, 0) != CURLUE_OK ||
            (q && curl_url_set(u, CURLUPART_QUERY, q + 1, 0) != CURLUE_OK)) {
            curl_url_cleanup(u);
            u = NULL;
        }
    }
    free(path);
    return u;
}

static void setup_release(CURL *h, handle_setup *s)
{
    if (s->url)
        curl_easy_setopt(h, CURLOPT_CURLU, NULL); /* the handle may be reused; keep no pointer to it */
    curl_url_cleanup(s->url);
    curl_slist_free_all(s->headers);
    s->url = NULL;
    s->headers = NULL;
}

/* Options shared by plain requests and watches, into s (release with
 * setup_release after the transfer). */
static void setup_handle(kube_client *c, CURL *h, const char *method, const char *url,
                         const kube_credentials *cr, const char *content_type, char *errbuf,
                         handle_setup *s)
{
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "Accept: application/json");
    hd = curl_slist_append(hd, "Expect:"); /* no 100-continue round trip */
    if (content_type) {
        char line[128];
        snprintf(line, sizeof line, "Content-Type: %s", content_type);
        hd = curl_slist_append(hd, line);
    }
    if (cr->token) {
        size_t n = strlen(cr->token) + 32;
        char *line = malloc(n);
        if (line) {
            snprintf(line, n, "Authorization: Bearer %s", cr->token);
            hd = curl_slist_append(hd, line);
            free(line);
        }
    } else if (cr->username) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, cr->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, cr->password ? cr->password : "");
    }
    s->url = request_url(c, url);
    if (s->url)
        curl_easy_setopt(h, CURLOPT_CURLU, s->url);
    else
        curl_easy_setopt(h, CURLOPT_URL, url);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L); /* a custom HEAD would wait for a body */
    else
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, c->http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
    /* Compressed replies are worth it for reads (the server compresses
     * large lists); a write's reply is small and mostly unread, and the
     * header costs every request its formatting. */
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to);
    if (c->ca_pem) {
        struct curl_blob b = {c->ca_pem, c->ca_len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    }
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (cr->cert_pem && cr->key_pem) {
        struct curl_blob cb = {cr->cert_pem, cr->cert_len, CURL_BLOB_COPY};
        struct curl_blob kb = {cr->key_pem, cr->key_len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    s->headers = hd;
}

/* Set h up for rq, its reply going to rs; release s with transfer_done. */
static void transfer_setup(kube_client *c, CURL *h, const request *rq, const kube_credentials *cr,
                           response *rs, handle_setup *s)
{
    rs->curl_msg[0] = '\0';
    setup_handle(c, h, rq->method, rq->url->data, cr, rq->content_type, rs->curl_msg, s);
    if (rq->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    }
    long timeout = c->timeout_ms;
    if (rq->timeout_ms > 0) { /* what is left of the request's own budget */
        long left = rq->deadline > 0 ? (long)((rq->deadline - pb_time_mono_s()) * 1000.0) : rq->timeout_ms;
        left = left > 1 ? left : 1;
        if (left < timeout)
            timeout = left;
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000 ? timeout : 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, rs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, rs);
}

/* After h's transfer (rs->curl set): the status code, transport notes and
 * a message for a failure. */
static void transfer_done(kube_client *c, CURL *h, response *rs, handle_setup *s)
{
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->code);
    note_transport(c, h);
    if (!rs->curl_msg[0])
        snprintf(rs->curl_msg, sizeof rs->curl_msg, "%s", curl_easy_strerror(rs->curl));
    setup_release(h, s);
}

static void perform(kube_client *c, const request *rq, const kube_credentials *cr, response *rs)
{
    CURL *h = pool_get(c);
    if (!h) {
        rs->curl = CURLE_OUT_OF_MEMORY;
        snprintf(rs->curl_msg, sizeof rs->curl_msg, "out of memory");
        return;
    }
    handle_setup hs = {0};
    transfer_setup(c, h, rq, cr, rs, &hs);
    rs->curl = curl_easy_perform(h);
    transfer_done(c, h, rs, &hs);
    pool_put(c, h);
}

/* The first attempt of n (<= KUBE_WRITE_MANY_MAX) requests, all in flight
 * at once: one wait for the lot instead of one each. Records each in the
 * metrics as do_request does. */
static void perform_many(kube_client *c, const request *const *rqs, response *const *rss, size_t n,
                         const kube_credentials *cr)
{
    struct lanes *l = lanes_get(c);
    if (!l) {
        for (size_t i = 0; i < n; i++) {
            rss[i]->curl = CURLE_OUT_OF_MEMORY;
            snprintf(rss[i]->curl_msg, sizeof rss[i]->curl_msg, "out of memory");
        }
        return;
    }
    handle_setup hs[KUBE_WRITE_MANY_MAX] = {0};
    for (size_t i = 0; i < n; i++) {
        curl_easy_reset(l->h[i]);
        transfer_setup(c, l->h[i], rqs[i], cr, rss[i], &hs[i]);
        /* Until curl says otherwise: a transfer the multi handle drops
         * without a word (it cannot add it, or fails as a whole) has failed
         * and may have reached the server. */
        rss[i]->curl = CURLE_SEND_ERROR;
        if (curl_multi_add_handle(l->m, l->h[i]) != CURLM_OK)
            snprintf(rss[i]->curl_msg, sizeof rss[i]->curl_msg, "could not start the transfer");
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform(l->m, &running) != CURLM_OK)
            break;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(l->m, &left)))
            for (size_t i = 0; i < n; i++)
                if (msg->msg == CURLMSG_DONE && msg->easy_handle == l->h[i])
                    rss[i]->curl = msg->data.result;
        if (running && curl_multi_poll(l->m, NULL, 0, 1000, NULL) != CURLM_OK)
            break;
    }
    for (size_t i = 0; i < n; i++) {
        curl_multi_remove_handle(l->m, l->h[i]);
        transfer_done(c, l->h[i], rss[i], &hs[i]);
        curl_off_t us = 0;
        curl_easy_getinfo(l->h[i], CURLINFO_TOTAL_TIME_T, &us);
        record(c, rqs[i]->verb, rss[i]->curl == CURLE_OK ? (int)rss[i]->code : 0, (double)us / 1e6);
    }
    lanes_put(c, l);
}

/* Nothing reached the server: any verb may be repeated. */
static int never_sent(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST;
}

/* Fill st and err from a failed HTTP response. */
static int http_error(const request *rq, long code, const pb_buf *body, long retry_after,
                      kube_status *st, pb_err *err)
{
    kube_status tmp = {0};
    kube_status *s = st ? st : &tmp;
    kube_status_clear(s);
    json_t *j = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    if (!kube_status_from_json(j, s)) {
        /* Not a Status (a proxy's HTML page, plain text): keep a readable
         * excerpt of it as the message. */
        size_t n = body->len < 200 ? body->len : 200;
        if (n)
            snprintf(s->message, sizeof s->message, "%.*s", (int)n, body->data);
        else
            snprintf(s->message, sizeof s->message, "(empty body)");
        for (char *p = s->message; *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
    }
    json_decref(j);
    s->code = (int)code;
    s->retry_after_s = retry_after;
    if (!s->reason[0])
        snprintf(s->reason, sizeof s->reason, "%s", default_reason((int)code));
    int rc = kube_code_from_http((int)code, s->reason);
    pb_err_set(err, rc, "%s %s: %ld %s: %s", rq->op, rq->what, code, s->reason, s->message);
    kube_status_clear(&tmp);
    return rc;
}

/* The resourceVersion of the object a write sent back. Most writers want
 * only this of it, and decoding it all cost as much as the write; text the
 * scanner does not follow is decoded whole. "" when there is none. */
static void reply_resource_version(const pb_buf *body, char *buf, size_t len)
{
    if (!body->len || pb_jscan_string(body->data, body->len, "metadata.resourceVersion", buf, len) == 0)
        return;
    json_t *j = json_loadb(body->data, body->len, 0, NULL);
    const char *v = json_string_value(json_object_get(json_object_get(j, "metadata"), "resourceVersion"));
    snprintf(buf, len, "%s", v && strlen(v) < len ? v : "");
    json_decref(j);
}

/* Why a request is not made or was cut: PB_ECANCELED with the reason
 * kube_client_close gave, or PB_ETIMEOUT past the cutoff. */
static int refused(kube_client *c, const request *rq, pb_err *err)
{
    if (!atomic_load(&c->closed))
        return pb_err_set(err, PB_ETIMEOUT, "%s %s: cut off: the shutdown deadline passed", rq->op, rq->what);
    return pb_err_set(err, PB_ECANCELED, "%s %s: %s", rq->op, rq->what, c->close_reason);
}

/* Clear a request's outputs; non-zero (err filled) when it must not be
 * sent. */
static int request_begin(kube_client *c, const request *rq, kube_status *st, json_t **out, pb_err *err)
{
    if (out)
        *out = NULL;
    kube_status_clear(st);
    if (rq->rv_out && rq->rv_out_len)
        rq->rv_out[0] = '\0';
    if (cut_off(c))
        return refused(c, rq, err);
    if (rq->url->oom) /* a URL cut short by a failed append must not be sent */
        return pb_err_set(err, PB_ENOMEM, "%s %s: out of memory building the URL", rq->op, rq->what);
    return 0;
}

/* An empty response: no reply yet, no Retry-After. */
static void response_init(response *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->retry_after = -1;
}

/* The whole policy for one request. first, when not NULL, is its first
 * attempt, already performed and recorded (perform_many); its body is
 * taken over. */
static int run_request(kube_client *c, const request *rq_in, response *first, kube_status *st, json_t **out,
                       pb_err *err)
{
    request r = *rq_in;
    const request *rq = &r;
    if (r.timeout_ms > 0) /* a first attempt made in perform_many counts from here */
        r.deadline = pb_time_mono_s() + (double)r.timeout_ms / 1000.0;
    response rs;
    int reauthed = 0, rc = 0;
    for (int attempt = 0;; attempt++) {
        if (first) {
            rs = *first;
            memset(first, 0, sizeof *first);
            first = NULL;
        } else {
            response_init(&rs);
            kube_ratelimit_wait(c->rl);
            kube_credentials cr;
            if ((rc = kube_auth_get(c->auth, &cr, err)) != 0)
                return pb_err_wrap(err, "%s %s", rq->op, rq->what);
            double t0 = pb_time_mono_s();
            perform(c, rq, &cr, &rs);
            kube_credentials_clear(&cr);
            record(c, rq->verb, rs.curl == CURLE_OK ? (int)rs.code : 0, pb_time_mono_s() - t0);
        }

        int retry = 0;
        if (rs.curl == CURLE_ABORTED_BY_CALLBACK || cut_off(c))
            retry = 0; /* closed or cut off: nothing more goes out */
        else if (rs.curl != CURLE_OK)
            retry = rs.curl != CURLE_OPERATION_TIMEDOUT && !body_refused(&rs) &&
                    (rq->safe || never_sent(rs.curl));
        else if (rs.code == 401 && !reauthed && kube_auth_invalidate(c->auth)) {
            reauthed = 1; /* a rotated token or expired exec credential: fetch anew */
            pb_buf_free(&rs.body);
            attempt--;
            continue;
        } else if (rs.code == 429)
            retry = 1;
        else if (rs.code == 500 || rs.code == 502 || rs.code == 503 || rs.code == 504)
            retry = rq->safe;
        if (!retry || attempt >= c->max_retries)
            break;
        long delay = c->backoff_ms << (attempt < 10 ? attempt : 10);
        if (delay > BACKOFF_CAP_MS)
            delay = BACKOFF_CAP_MS;
        if (rs.retry_after >= 0)
            delay = (rs.retry_after < RETRY_AFTER_CAP_S ? rs.retry_after : RETRY_AFTER_CAP_S) * 1000;
        pb_log_debug("retrying request", "op", rq->op, "what", rq->what, "error",
                     rs.curl != CURLE_OK ? rs.curl_msg : default_reason((int)rs.code), NULL);
        if (r.deadline > 0 && pb_time_mono_s() + (double)delay / 1000.0 >= r.deadline)
            break; /* no time left for another try: the last failure is the answer */
        if (retry_wait(rq->wake_fd > 0 ? rq->wake_fd : atomic_load(&c->wake_fd), delay))
            break; /* the caller is stopping: the last failure is the answer */
        pb_buf_free(&rs.body);
    }

    if (rs.curl != CURLE_OK) {
        if (st)
            st->code = 0;
        if (rs.curl == CURLE_ABORTED_BY_CALLBACK) {
            rc = refused(c, rq, err);
        } else {
            rc = body_refused(&rs) ? PB_ETOOLARGE
                 : rs.curl == CURLE_OPERATION_TIMEDOUT ? PB_ETIMEOUT : PB_EUNAVAILABLE;
            pb_err_set(err, rc, "%s %s: %s", rq->op, rq->what,
                       body_refused(&rs) ? "response too large" : rs.curl_msg);
        }
    } else if (rs.code < 200 || rs.code >= 300) {
        rc = http_error(rq, rs.code, &rs.body, rs.retry_after, st, err);
    } else if (rq->rv_out && rq->rv_out_len) {
        reply_resource_version(&rs.body, rq->rv_out, rq->rv_out_len);
    }
    if (rc == 0 && out) {
        if (rs.body.len == 0) {
            *out = json_object();
        } else {
            json_error_t je;
            *out = pb_jload(rs.body.data, rs.body.len, JSON_DECODE_ANY, &je);
            if (!*out && rq->raw)
                *out = json_stringn(rs.body.data, rs.body.len);
            if (!*out)
                rc = pb_err_set(err, PB_EPARSE, "%s %s: %ld: malformed JSON body: %s", rq->op, rq->what,
                                rs.code, je.text);
        }
    }
    pb_buf_free(&rs.body);
    return rc;
}

static int do_request(kube_client *c, const request *rq, kube_status *st, json_t **out, pb_err *err)
{
    int rc = request_begin(c, rq, st, out, err);
    return rc ? rc : run_request(c, rq, NULL, st, out, err);
}

/* --------------------------------------------------------- URLs and verbs */

/* "tenants.paybill.dev/status default/acme" for messages. */
static void describe(char *out, size_t n, const kube_gvr *r, const char *ns, const char *name,
                     const char *sub)
{
    const char *res = r && r->resource ? r->resource : "(no resource)";
    const char *group = r && r->group ? r->group : "";
    snprintf(out, n, "%s%s%s%s%s %s%s%s", res, *group ? "." : "", group, sub ? "/" : "", sub ? sub : "",
             ns && *ns ? ns : "", ns && *ns && name ? "/" : "", name ? name : "");
    size_t l = strlen(out);
    while (l > 0 && out[l - 1] == ' ')
        out[--l] = '\0';
}

static int resource_url(kube_client *c, pb_buf *b, const kube_gvr *r, const char *ns,
                        const char *name, const char *sub, pb_err *err)
{
    if (!r || !r->resource || !*r->resource || !r->version || !*r->version)
        return pb_err_set(err, PB_EINVAL, "resource: version and resource are required");
    if (name && !*name)
        return pb_err_set(err, PB_EINVAL, "%s: empty name", r->resource);
    pb_buf_puts(b, c->base);
    if (r->group && *r->group) {
        pb_buf_puts(b, "/apis/");
        buf_esc(b, r->group);
    } else {
        pb_buf_puts(b, "/api");
    }
    pb_buf_puts(b, "/");
    buf_esc(b, r->version);
    if (ns && *ns) {
        pb_buf_puts(b, "/namespaces/");
        buf_esc(b, ns);
    }
    pb_buf_puts(b, "/");
    buf_esc(b, r->resource);
    if (name) {
        pb_buf_puts(b, "/");
        buf_esc(b, name);
    }
    if (sub && *sub) {
        pb_buf_puts(b, "/");
        buf_esc(b, sub);
    }
    return b->oom ? pb_err_set(err, PB_ENOMEM, "out of memory") : 0;
}

static void list_query(pb_buf *b, const kube_request_opts *o)
{
    query_add(b, "labelSelector", o->label_selector);
    query_add(b, "fieldSelector", o->field_selector);
    query_add(b, "resourceVersion", o->resource_version);
    query_add(b, "resourceVersionMatch", o->resource_version_match);
    if (o->limit > 0)
        query_long(b, "limit", o->limit);
    query_add(b, "continue", o->continue_token);
    if (o->timeout_seconds > 0)
        query_long(b, "timeoutSeconds", o->timeout_seconds);
}

static void write_query(pb_buf *b, const kube_request_opts *o, int apply)
{
    query_add(b, "fieldManager", o->field_manager ? o->field_manager : DEFAULT_FIELD_MANAGER);
    if (apply && o->force)
        query_add(b, "force", "true");
    if (o->dry_run)
        query_add(b, "dryRun", "All");
}

static const kube_request_opts no_opts;

static const char *obj_meta(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* Where a write of obj goes: ns when given, else the object's own namespace. */
static const char *obj_namespace(json_t *obj, const char *ns)
{
    return ns && *ns ? ns : obj_meta(obj, "namespace");
}

int kube_get(kube_client *c, const kube_gvr *r, const char *ns, const char *name,
             const kube_request_opts *o, json_t **out, pb_err *err)
{
    o = o ? o : &no_opts;
    pb_buf url = {0};
    char what[512];
    describe(what, sizeof what, r, ns, name, o->subresource);
    if (!name)
        return pb_err_set(err, PB_EINVAL, "get %s: name is required", what);
    int rc = resource_url(c, &url, r, ns, name, o->subresource, err);
    if (rc == 0) {
        query_add(&url, "resourceVersion", o->resource_version);
        request rq = {.op = "get", .verb = "GET", .method = "GET", .url = &url, .what = what,
                      .safe = 1, .wake_fd = o->wake_fd, .timeout_ms = o->timeout_ms};
        rc = do_request(c, &rq, o->status, out, err);
    }
    pb_buf_free(&url);
    return rc;
}

int kube_list(kube_client *c, const kube_gvr *r, const char *ns, const kube_request_opts *o,
              json_t **out, pb_err *err)
{
    o = o ? o : &no_opts;
    pb_buf url = {0};
    char what[512];
    describe(what, sizeof what, r, ns, NULL, NULL);
    int rc = resource_url(c, &url, r, ns, NULL, NULL, err);
    if (rc == 0) {
        list_query(&url, o);
        request rq = {.op = "list", .verb = "LIST", .method = "GET", .url = &url, .what = what,
                      .safe = 1, .wake_fd = o->wake_fd, .timeout_ms = o->timeout_ms};
        rc = do_request(c, &rq, o->status, out, err);
    }
    pb_buf_free(&url);
    return rc;
}

/* One pass over all pages, each handed to fn. *continued tells whether
 * the failure (if any) happened on a continued page. */
static int list_pages(kube_client *c, const kube_gvr *r, const char *ns, const kube_request_opts *o,
                      kube_page_fn fn, void *ud, int *continued, pb_err *err)
{
    kube_request_opts po = *o;
    char *token = NULL; /* the page it came from is freed before it is used */
    int rc = 0;
    *continued = 0;
    for (;;) {
        json_t *page = NULL;
        *continued = po.continue_token != NULL;
        if ((rc = kube_list(c, r, ns, &po, &page, err)) != 0)
            break;
        if (!json_is_array(json_object_get(page, "items")))
            json_object_set_new(page, "items", json_array());
        const char *cont = obj_meta(page, "continue");
        free(token);
        token = cont && *cont ? strdup(cont) : NULL;
        if (fn(ud, page, !*continued) != 0) {
            json_decref(page);
            rc = pb_err_set(err, PB_ECANCELED, "list %s: stopped by the caller", r->resource);
            break;
        }
        json_decref(page);
        if (!token)
            break;
        po.continue_token = token;
        po.resource_version = NULL; /* the token pins the snapshot */
        po.resource_version_match = NULL;
    }
    free(token);
    return rc;
}

int kube_list_pages(kube_client *c, const kube_gvr *r, const char *ns, const kube_request_opts *o,
                    kube_page_fn fn, void *ud, pb_err *err)
{
    if (!fn)
        return pb_err_set(err, PB_EINVAL, "kube_list_pages: no page function");
    o = o ? o : &no_opts;
    int continued = 0;
    int rc = list_pages(c, r, ns, o, fn, ud, &continued, err);
    if (rc == PB_EGONE && continued) {
        /* The snapshot expired between pages: start over, once. */
        pb_log_info("continue token expired, restarting list", "resource", r->resource, NULL);
        rc = list_pages(c, r, ns, o, fn, ud, &continued, err);
    }
    return rc;
}

/* kube_list_all's page function: the first page becomes the List, later
 * pages' items are appended to it. */
static int append_page(void *ud, json_t *page, int first)
{
    json_t **all = ud;
    if (first) {
        json_decref(*all); /* a restarted pass */
        *all = json_incref(page);
        return 0;
    }
    return json_array_extend(json_object_get(*all, "items"), json_object_get(page, "items"));
}

int kube_list_all(kube_client *c, const kube_gvr *r, const char *ns, const kube_request_opts *o,
                  json_t **out, pb_err *err)
{
    *out = NULL;
    json_t *all = NULL;
    int rc = kube_list_pages(c, r, ns, o, append_page, &all, err);
    if (rc) {
        json_decref(all);
        return rc;
    }
    json_t *meta = json_object_get(all, "metadata");
    json_object_del(meta, "continue");
    json_object_del(meta, "remainingItemCount");
    *out = all;
    return 0;
}

/* A write made ready to send: its body, URL and request. */
typedef struct write_request {
    char what[512];
    char *body;
    pb_buf url;
    request rq;
} write_request;

static void write_release(write_request *w)
{
    pb_buf_free(&w->url);
    free(w->body);
    w->body = NULL;
}

static int create_prepare(kube_client *c, const kube_gvr *r, const char *ns, json_t *obj,
                          const kube_request_opts *o, write_request *w, pb_err *err)
{
    memset(w, 0, sizeof *w);
    ns = obj_namespace(obj, ns);
    const char *name = obj_meta(obj, "name");
    describe(w->what, sizeof w->what, r, ns, name ? name : obj_meta(obj, "generateName"), o->subresource);
    if (!(w->body = pb_jdump(obj, JSON_COMPACT)))
        return pb_err_set(err, PB_EINVAL, "create %s: object cannot be serialised", w->what);
    int rc = resource_url(c, &w->url, r, ns, NULL, NULL, err);
    if (rc != 0)
        return rc;
    write_query(&w->url, o, 0);
    w->rq = (request){.op = "create", .verb = "POST", .method = "POST", .url = &w->url, .what = w->what,
                      .content_type = "application/json", .body = w->body, .body_len = strlen(w->body),
                      .rv_out = o->new_resource_version, .rv_out_len = o->new_resource_version_len,
                      .wake_fd = o->wake_fd, .timeout_ms = o->timeout_ms};
    return 0;
}

int kube_create(kube_client *c, const kube_gvr *r, const char *ns, json_t *obj,
                const kube_request_opts *o, json_t **out, pb_err *err)
{
    o = o ? o : &no_opts;
    write_request w;
    int rc = create_prepare(c, r, ns, obj, o, &w, err);
    if (rc == 0)
        rc = do_request(c, &w.rq, o->status, out, err);
    write_release(&w);
    return rc;
}

int kube_update(kube_client *c, const kube_gvr *r, const char *ns, json_t *obj,
                const kube_request_opts *o, json_t **out, pb_err *err)
{
    o = o ? o : &no_opts;
    ns = obj_namespace(obj, ns);
    const char *name = obj_meta(obj, "name");
    char what[512];
    describe(what, sizeof what, r, ns, name, o->subresource);
    if (!name || !*name)
        return pb_err_set(err, PB_EINVAL, "update %s: metadata.name is required", what);
    char *body = pb_jdump(obj, JSON_COMPACT);
    if (!body)
        return pb_err_set(err, PB_EINVAL, "update %s: object cannot be serialised", what);
    const char *rv = obj_meta(obj, "resourceVersion");
    pb_buf url = {0};
    int rc = resource_url(c, &url, r, ns, name, o->subresource, err);
    if (rc == 0) {
        write_query(&url, o, 0);
        /* With a resourceVersion a repeated PUT cannot apply twice: the
         * second one conflicts. Without one it could overwrite a change. */
        request rq = {.op = "update", .verb = "PUT", .method = "PUT", .url = &url, .what = what,
                      .content_type = "application/json", .body = body, .body_len = strlen(body),
                      .safe = rv && *rv, .rv_out = o->new_resource_version,
                      .rv_out_len = o->new_resource_version_len, .wake_fd = o->wake_fd, .timeout_ms = o->timeout_ms};
        rc = do_request(c, &rq, o->status, out, err);
    }
    pb_buf_free(&url);
    free(body);
    return rc;
}

static int patch_prepare(kube_client *c, const kube_gvr *r, const char *ns, const char *name,
                         kube_patch_type type, json_t *patch, const kube_request_opts *o,
                         write_request *p, pb_err *err)
{
    memset(p, 0, sizeof *p);
    describe(p->what, sizeof p->what, r, ns, name, o->subresource);
    static const char *const ctypes[] = {"application/merge-patch+json", "application/json-patch+json",
                                         "application/strategic-merge-patch+json",
                                         "application/apply-patch+yaml"};
    if ((int)type < 0 || type > KUBE_PATCH_APPLY)
        return pb_err_set(err, PB_EINVAL, "patch %s: unknown patch type %d", p->what, (int)type);
    if (!name)
        return pb_err_set(err, PB_EINVAL, "patch %s: name is required", p->what);
    if (type == KUBE_PATCH_JSON ? !json_is_array(patch) : !json_is_object(patch))
        return pb_err_set(err, PB_EINVAL, "patch %s: body must be a JSON %s", p->what,
                          type == KUBE_PATCH_JSON ? "array" : "object");
    if (!(p->body = pb_jdump(patch, JSON_COMPACT)))
        return pb_err_set(err, PB_ENOMEM, "patch %s: out of memory", p->what);
    int rc = resource_url(c, &p->url, r, ns, name, o->subresource, err);
    if (rc != 0)
        return rc;
    write_query(&p->url, o, type == KUBE_PATCH_APPLY);
    p->rq = (request){.op = type == KUBE_PATCH_APPLY ? "apply" : "patch", .verb = "PATCH", .method = "PATCH",
                      .url = &p->url, .what = p->what, .content_type = ctypes[type], .body = p->body,
                      .body_len = strlen(p->body), .rv_out = o->new_resource_version,
                      .rv_out_len = o->new_resource_version_len, .wake_fd = o->wake_fd, .timeout_ms = o->timeout_ms};
    return 0;
}

int kube_patch(kube_client *c, const kube_gvr *r, const char *ns, const char *name,
               kube_patch_type type, json_t *patch, const kube_request_opts *o, json_t **out,
               pb_err *err)
{
    o = o ? o : &no_opts;
    write_request p;
    int rc = patch_prepare(c, r, ns, name, type, patch, o, &p, err);
    if (rc == 0)
        rc = do_request(c, &p.rq, o->status, out, err);
    write_release(&p);
    return rc;
}

/* Up to KUBE_WRITE_MANY_MAX items whose requests are ready (ok[i]): their
 * first attempts together, then each through the rest of the policy. */
static void write_lanes(kube_client *c, kube_write *items, write_request *ws, const int *ok, size_t n)
{
    const request *rqs[KUBE_WRITE_MANY_MAX];
    response rs[KUBE_WRITE_MANY_MAX], *rsp[KUBE_WRITE_MANY_MAX];
    size_t idx[KUBE_WRITE_MANY_MAX], m = 0;
    for (size_t i = 0; i < n; i++)
        if (ok[i]) {
            response_init(&rs[m]);
            rqs[m] = &ws[i].rq;
            rsp[m] = &rs[m];
            idx[m++] = i;
        }
    if (m == 0)
        return;
    for (size_t j = 0; j < m; j++)
        kube_ratelimit_wait(c->rl);
    kube_credentials cr;
    pb_err aerr;
    pb_err_clear(&aerr);
    int arc = kube_auth_get(c->auth, &cr, &aerr);
    if (arc == 0) {
        perform_many(c, rqs, rsp, m, &cr);
        kube_credentials_clear(&cr);
    }
    for (size_t j = 0; j < m; j++) {
        kube_write *it = &items[idx[j]];
        const kube_request_opts *o = it->opts ? it->opts : &no_opts;
        if (arc != 0) {
            it->err = aerr;
            it->rc = pb_err_wrap(&it->err, "%s %s", rqs[j]->op, rqs[j]->what);
        } else {
            it->rc = run_request(c, rqs[j], &rs[j], o->status, NULL, &it->err); /* takes rs[j]'s body */
        }
    }
}

int kube_write_many(kube_client *c, kube_write *items, size_t n)
{
    int first_rc = 0;
    for (size_t at = 0; at < n; at += KUBE_WRITE_MANY_MAX) {
        size_t k = n - at < KUBE_WRITE_MANY_MAX ? n - at : KUBE_WRITE_MANY_MAX;
        kube_write *batch = items + at;
        write_request ws[KUBE_WRITE_MANY_MAX];
        int ok[KUBE_WRITE_MANY_MAX];
        for (size_t i = 0; i < k; i++) {
            kube_write *it = &batch[i];
            const kube_request_opts *o = it->opts ? it->opts : &no_opts;
            pb_err_clear(&it->err);
            if (it->kind == KUBE_WRITE_CREATE)
                it->rc = create_prepare(c, it->gvr, it->ns, it->body, o, &ws[i], &it->err);
            else if (it->kind == KUBE_WRITE_PATCH)
                it->rc = patch_prepare(c, it->gvr, it->ns, it->name, it->type, it->body, o, &ws[i], &it->err);
            else {
                memset(&ws[i], 0, sizeof ws[i]);
                it->rc = pb_err_set(&it->err, PB_EINVAL, "write %d: unknown kind", (int)it->kind);
            }
            if (it->rc == 0)
                it->rc = request_begin(c, &ws[i].rq, o->status, NULL, &it->err);
            ok[i] = it->rc == 0;
        }
        write_lanes(c, batch, ws, ok, k);
        for (size_t i = 0; i < k; i++) {
            write_release(&ws[i]);
            if (!first_rc)
                first_rc = batch[i].rc;
        }
    }
    return first_rc;
}

int kube_delete(kube_client *c, const kube_gvr *r, const char *ns, const char *name,
                const kube_request_opts *o, json_t **out, pb_err *err)
{
    o = o ? o : &no_opts;
    char what[512];
    describe(what, sizeof what, r, ns, name, o->subresource);
    if (!name)
        return pb_err_set(err, PB_EINVAL, "delete %s: name is required", what);
    json_t *opts = json_pack("{s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1");
    if (o->propagation_policy)
        json_object_set_new(opts, "propagationPolicy", json_string(o->propagation_policy));
    if (o->has_grace_period && o->grace_period_seconds >= 0)
        json_object_set_new(opts, "gracePeriodSeconds", json_integer(o->grace_period_seconds));
    if (o->precondition_uid || o->precondition_resource_version) {
        json_t *pre = json_object();
        if (o->precondition_uid)
            json_object_set_new(pre, "uid", json_string(o->precondition_uid));
        if (o->precondition_resource_version)
            json_object_set_new(pre, "resourceVersion", json_string(o->precondition_resource_version));
        json_object_set_new(opts, "preconditions", pre);
    }
    if (o->dry_run)
        json_object_set_new(opts, "dryRun", json_pack("[s]", "All"));
    char *body = json_object_size(opts) > 2 ? pb_jdump(opts, JSON_COMPACT) : NULL;
    json_decref(opts);
    pb_buf url = {0};
    int rc = resource_url(c, &url, r, ns, name, o->subresource, err);
    if (rc == 0) {
        /* Repeating a DELETE cannot delete anything else: at worst the
         * repeat answers 404 for what the first attempt removed. */
        request rq = {.op = "delete", .verb = "DELETE", .method = "DELETE", .url = &url,
                      .what = what, .content_type = body ? "application/json" : NULL, .body = body,
                      .body_len = body ? strlen(body) : 0, .safe = 1, .wake_fd = o->wake_fd,
                      .timeout_ms = o->timeout_ms};
        json_t *res = NULL;
        rc = do_request(c, &rq, o->status, &res, err);
        if (out)
            *out = res;
        else
            json_decref(res);
    }
    pb_buf_free(&url);
    free(body);
    return rc;
}

int kube_raw(kube_client *c, const char *method, const char *path, const char *content_type,
             const char *body, json_t **out, kube_status *st, pb_err *err)
{
    if (!path || path[0] != '/')
        return pb_err_set(err, PB_EINVAL, "%s %s: path must start with '/'", method, path ? path : "(null)");
    pb_buf url = {0};
    pb_buf_puts(&url, c->base);
    pb_buf_puts(&url, path);
    char op[16];
    snprintf(op, sizeof op, "%s", method);
    for (char *p = op; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    int safe = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    /* Non-JSON bodies (/healthz says "ok") come back as a JSON string. */
    request rq = {.op = op, .verb = method, .method = method, .url = &url, .what = path,
                  .content_type = body ? content_type : NULL, .body = body,
                  .body_len = body ? strlen(body) : 0, .safe = safe, .raw = 1};
    int rc = do_request(c, &rq, st, out, err);
    pb_buf_free(&url);
    return rc;
}

/* ------------------------------------------------------------------ watch */

typedef struct watch_ctx {
    CURL *h;
    kube_watch_decoder *dec;
    kube_watch_fn fn;
    void *ud;
    kube_status *st;
    pb_err *err;
    long code;
    int rc;          /* decoder result: 1 = stopped by callback, < 0 = error */
    pb_buf errbody;  /* body of a non-200 answer, up to MAX_ERROR_BODY */
    double last_data;
    double headers_at; /* when the response began: a watch's latency */
} watch_ctx;

static size_t on_watch_body(char *p, size_t size, size_t n, void *ud)
{
    watch_ctx *w = ud;
    size_t len = size * n;
    w->last_data = pb_time_mono_s();
    if (!w->code)
        curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &w->code);
    if (w->code != 200) {
        if (w->errbody.len + len <= MAX_ERROR_BODY)
            pb_buf_append(&w->errbody, p, len);
        return len;
    }
    w->rc = kube_watch_decoder_feed(w->dec, p, len, w->fn, w->ud, w->st, w->err);
    return w->rc == 0 ? len : 0; /* 0 makes curl abort the transfer */
}

static size_t on_watch_header(char *p, size_t size, size_t n, void *ud)
{
    watch_ctx *w = ud;
    w->last_data = pb_time_mono_s();
    if (!w->headers_at)
        w->headers_at = w->last_data;
    return size * n;
}

int kube_watch(kube_client *c, const kube_gvr *r, const char *ns, const kube_request_opts *o,
               kube_watch_fn fn, void *ud, const atomic_int *stop, pb_err *err)
{
    o = o ? o : &no_opts;
    char what[512];
    describe(what, sizeof what, r, ns, NULL, NULL);
    kube_status_clear(o->status);
    pb_buf url = {0};
    int rc = resource_url(c, &url, r, ns, NULL, NULL, err);
    if (rc)
        return rc;
    query_add(&url, "watch", "1");
    list_query(&url, o);
    if (o->allow_watch_bookmarks)
        query_add(&url, "allowWatchBookmarks", "true");
    if (url.oom) {
        pb_buf_free(&url);
        return pb_err_set(err, PB_ENOMEM, "watch %s: out of memory building the URL", what);
    }
    if (cut_off(c)) {
        request rq = {.op = "watch", .what = what};
        pb_buf_free(&url);
        return refused(c, &rq, err);
    }
    kube_credentials cr;
    if ((rc = kube_auth_get(c->auth, &cr, err)) != 0) {
        pb_buf_free(&url);
        return pb_err_wrap(err, "watch %s", what);
    }
    kube_ratelimit_wait(c->rl);

    long idle_ms = c->watch_idle_ms > 0 ? c->watch_idle_ms
                   : o->timeout_seconds > 0 ? (o->timeout_seconds + 30) * 1000
                                            : 300000;
    char errbuf[CURL_ERROR_SIZE] = "";
    watch_ctx w = {0};
    w.fn = fn;
    w.ud = ud;
    w.st = o->status;
    w.err = err;
    w.dec = kube_watch_decoder_new(0);
    if (w.dec)
        kube_watch_decoder_drop_managed_fields(w.dec, o->drop_managed_fields);
    w.h = curl_easy_init();
    CURLM *m = curl_multi_init();
    handle_setup hs = {0};
    if (!w.dec || !w.h || !m) {
        rc = pb_err_set(err, PB_ENOMEM, "watch %s: out of memory", what);
        goto out;
    }
    setup_handle(c, w.h, "GET", url.data, &cr, NULL, errbuf, &hs);
    curl_easy_setopt(w.h, CURLOPT_WRITEFUNCTION, on_watch_body);
    curl_easy_setopt(w.h, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(w.h, CURLOPT_HEADERFUNCTION, on_watch_header);
    curl_easy_setopt(w.h, CURLOPT_HEADERDATA, &w);
    curl_multi_add_handle(m, w.h);

    double t0 = pb_time_mono_s();
    w.last_data = t0;
    int running = 1, stopped = 0, idle = 0;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (!running)
            break;
        if (stop && atomic_load(stop)) {
            stopped = 1;
            break;
        }
        double quiet_ms = (pb_time_mono_s() - w.last_data) * 1000;
        if (quiet_ms > (double)idle_ms) {
            idle = 1;
            break;
        }
        /* Without a wake descriptor, wake every 100 ms to read *stop: with
         * fourteen informers that was most of an idle operator's CPU. */
        struct curl_waitfd wake = {.fd = o->wake_fd, .events = CURL_WAIT_POLLIN};
        int has_wake = wake.fd > 0;
        long wait_ms = has_wake ? (long)((double)idle_ms - quiet_ms) + 1 : 100;
        curl_multi_poll(m, has_wake ? &wake : NULL, has_wake ? 1 : 0, wait_ms, NULL);
    }
    CURLcode cc = CURLE_OK;
    int msgs;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &msgs)))
        if (msg->msg == CURLMSG_DONE)
            cc = msg->data.result;
    if (!w.code)
        curl_easy_getinfo(w.h, CURLINFO_RESPONSE_CODE, &w.code);
    note_transport(c, w.h);
    /* Latency is the time to the response, as client-go measures it; the
     * stream's own length says nothing about the server. */
    record(c, "WATCH", (int)w.code, (w.headers_at ? w.headers_at : pb_time_mono_s()) - t0);
    curl_multi_remove_handle(m, w.h);

    request rq = {.op = "watch", .verb = "WATCH", .method = "GET", .url = &url, .what = what,
                  .safe = 1};
    if (w.rc < 0) {
        rc = pb_err_wrap(err, "watch %s", what);
    } else if (w.rc > 0 || stopped) {
        rc = 0;
    } else if (w.code && w.code != 200) {
        if (w.code == 401)
            kube_auth_invalidate(c->auth); /* the next watch fetches fresh credentials */
        rc = http_error(&rq, w.code, &w.errbody, -1, o->status, err);
    } else if (idle) {
        rc = pb_err_set(err, PB_ETIMEOUT, "watch %s: no data for %ld ms", what, idle_ms);
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        rc = refused(c, &rq, err);
    } else if (cc != CURLE_OK) {
        rc = pb_err_set(err, cc == CURLE_OPERATION_TIMEDOUT ? PB_ETIMEOUT : PB_EUNAVAILABLE, "watch %s: %s",
                        what, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else {
        /* The server ended the stream (timeoutSeconds): a last line without
         * a newline still counts. */
        rc = kube_watch_decoder_finish(w.dec, fn, ud, o->status, err);
        if (rc < 0)
            pb_err_wrap(err, "watch %s", what);
        else
            rc = 0;
    }
out:
    kube_credentials_clear(&cr);
    if (w.h)
        setup_release(w.h, &hs);
    if (m)
        curl_multi_cleanup(m);
    if (w.h)
        curl_easy_cleanup(w.h);
    kube_watch_decoder_free(w.dec);
    pb_buf_free(&w.errbody);
    pb_buf_free(&url);
    return rc;
}

/* -------------------------------------------------------------- discovery */

int kube_discover(kube_client *c, const char *api_version, const char *kind, kube_gvr *out,
                  int *namespaced, pb_err *err)
{
    return kube_discovery_lookup(c->disc, c, api_version, kind, out, namespaced, err);
}
