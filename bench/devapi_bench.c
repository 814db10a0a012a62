/*
 * devapi_bench.c - load generator for the dev API server (paybill-devapi).
 *
 * Question answered: how fast does the dev API server serve the requests an
 * operator and kubectl make, over HTTPS, on this 2-core machine? The issue's
 * targets are >= 2,000 creates/s and >= 10,000 gets/s.
 *
 * It measures the server, not our client: requests are made with plain
 * libcurl (multi interface, one thread, no src/kube code), authenticated with
 * the admin token and CA of the kubeconfig the server wrote. Against
 * ConfigMaps in fresh namespaces, with keep-alive connections (HTTP/1.1: C
 * connections; HTTP/2: C concurrent streams on one connection):
 *   create   POST N objects with C requests in flight (C = 1, 4, 16), each C
 *            in its own namespace;
 *   get      GET each of those N objects by name, same C;
 *   list     one full list of the N objects of one namespace (median of 5),
 *            and the same list paged with limit=500 (sum of the page times);
 *   watch    W = 1, 10, 100 watchers on one namespace, then K updates (PUT,
 *            one in flight): time from sending update k until its event has
 *            reached every watcher, and events delivered per second.
 * Rates are the median of 5 consecutive windows of N/5 completions (the
 * overall rate is printed too); latencies are client-side, from handing the
 * request to libcurl to its last byte. With --server-pid the server's CPU
 * time per request is printed as well, which does not depend on how much of
 * the 2 cores the client took.
 *
 * Every phase is bounded in time (--phase-seconds each, --max-seconds for
 * the whole run); a phase cut short says so and reports what completed.
 * Concurrency levels run in the order given, so a later level's store also
 * holds the earlier levels' objects.
 *
 * --replay FILE is a different question: how fast the server takes the
 * writes an operator made (recorded by paybill-devapi --record), sent again
 * without the operator; see "replay" below, and bench/replay_floor.sh.
 *
 * Usage: bench_devapi_bench --kubeconfig F [--http2] [--server-pid PID]
 *          [--n 10000] [--conc 1,4,16] [--watchers 1,10,100] [--updates 1000]
 *          [--phase-seconds 10] [--max-seconds 80] [--ns-prefix P]
 *        bench_devapi_bench --kubeconfig F --replay FILE [--agent PREFIX]
 *          [--conc 16] [--server-pid PID]
 * bench/devapi_bench.sh starts a server and runs this against it.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#include "util/flags.h"
#include "util/yaml.h"

#define TARGET_CREATES 2000.0
#define TARGET_GETS 10000.0
#define MAX_CONC 64
#define MAX_WATCHERS 200
#define REQ_TIMEOUT_MS 30000L
#define LIST_REPEATS 5
#define PAGE_LIMIT 500
#define RATE_WINDOWS 5

/* ---- small helpers ------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile (p in 0..1) of n values; sorts v in place. */
static double percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    return v[rank > n ? n - 1 : rank - 1];
}

/* CPU seconds (user + system) of this process. */
static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of another process from /proc/PID/stat, or -1. */
static double pid_cpu_s(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields after the parenthesised command name: state is field 3,
     * utime 14, stime 15. */
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- kubeconfig ---------------------------------------------------------------------- */

typedef struct kcfg {
    char *server;
    char *ca_pem; /* may be NULL (plain HTTP) */
    char *token;
} kcfg;

static json_t *named(json_t *arr, const char *name, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (!name || (n && !strcmp(n, name)))
            return json_object_get(e, field);
    }
    return NULL;
}

/* Server, CA and bearer token of the current context. */
static int kcfg_load(const char *path, kcfg *out, pb_err *err)
{
    json_t *docs = NULL;
    int rc = pb_yaml_parse_file(path, &docs, err);
    if (rc)
        return rc;
    json_t *doc = json_array_get(docs, 0);
    const char *cur = json_string_value(json_object_get(doc, "current-context"));
    json_t *ctx = named(json_object_get(doc, "contexts"), cur, "context");
    const char *cname = json_string_value(json_object_get(ctx, "cluster"));
    const char *uname = json_string_value(json_object_get(ctx, "user"));
    json_t *cluster = named(json_object_get(doc, "clusters"), cname, "cluster");
    json_t *user = named(json_object_get(doc, "users"), uname, "user");
    const char *server = json_string_value(json_object_get(cluster, "server"));
    const char *ca64 = json_string_value(json_object_get(cluster, "certificate-authority-data"));
    const char *token = json_string_value(json_object_get(user, "token"));
    if (!server || !token) {
        json_decref(docs);
        return pb_err_set(err, PB_EINVAL, "%s: no server or token in the current context", path);
    }
    memset(out, 0, sizeof(*out));
    out->server = strdup(server);
    out->token = strdup(token);
    if (ca64 && *ca64) {
        size_t len = strlen(ca64);
        out->ca_pem = calloc(1, len + 1);
        if (EVP_DecodeBlock((unsigned char *)out->ca_pem, (const unsigned char *)ca64, (int)len) < 0) {
            json_decref(docs);
            return pb_err_set(err, PB_EPARSE, "%s: certificate-authority-data is not base64", path);
        }
    }
    json_decref(docs);
    return 0;
}

static void kcfg_free(kcfg *k)
{
    free(k->server);
    free(k->ca_pem);
    free(k->token);
}

/* ---- HTTP client: libcurl multi, one thread -------------------------------------------- */

typedef struct client client;
typedef struct xfer xfer;

struct xfer {
    CURL *easy;
    client *cl;
    char *body; /* response body (not for streams) */
    size_t len, cap;
    double t0, t1; /* handed to curl, finished */
    long status;
    CURLcode res;
    int busy;
    void (*on_done)(xfer *x);                             /* after completion */
    void (*on_data)(xfer *x, const char *d, size_t n);    /* streams: instead of buffering */
    void *ud;
    size_t idx; /* which request of a phase */
};

struct client {
    CURLM *multi;
    kcfg *kc;
    int http2;
    struct curl_slist *hdr_get, *hdr_body;
};

static size_t on_write(char *d, size_t sz, size_t nm, void *ud)
{
    xfer *x = ud;
    size_t n = sz * nm;
    if (x->on_data) {
        x->on_data(x, d, n);
        return n;
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = (x->len + n + 1) * 2;
        char *b = realloc(x->body, cap);
        if (!b)
            return 0;
        x->body = b;
        x->cap = cap;
    }
    memcpy(x->body + x->len, d, n);
    x->len += n;
    x->body[x->len] = 0;
    return n;
}

static int client_init(client *c, kcfg *kc, int http2, pb_err *err)
{
    memset(c, 0, sizeof(*c));
    c->kc = kc;
    c->http2 = http2;
    c->multi = curl_multi_init();
    if (!c->multi)
        return pb_err_set(err, PB_ENOMEM, "curl_multi_init failed");
    /* Streams multiplexed on one connection for HTTP/2; for HTTP/1.1 one
     * request per connection at a time, connections kept for reuse. */
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, http2 ? (long)CURLPIPE_MULTIPLEX : (long)CURLPIPE_NOTHING);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)(MAX_WATCHERS + MAX_CONC + 8));
    curl_multi_setopt(c->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)(MAX_WATCHERS + MAX_CONC));
    char auth[512];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", kc->token);
    c->hdr_get = curl_slist_append(NULL, auth);
    c->hdr_get = curl_slist_append(c->hdr_get, "Accept: application/json");
    c->hdr_body = curl_slist_append(NULL, auth);
    c->hdr_body = curl_slist_append(c->hdr_body, "Accept: application/json");
    c->hdr_body = curl_slist_append(c->hdr_body, "Content-Type: application/json");
    c->hdr_body = curl_slist_append(c->hdr_body, "Expect:"); /* no 100-continue round trip */
    return 0;
}

static void client_free(client *c)
{
    curl_multi_cleanup(c->multi);
    curl_slist_free_all(c->hdr_get);
    curl_slist_free_all(c->hdr_body);
}

static xfer *xfer_new(client *c)
{
    xfer *x = calloc(1, sizeof(*x));
    x->cl = c;
    x->easy = curl_easy_init();
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     c->http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, (long)c->http2);
    if (c->kc->ca_pem) {
        struct curl_blob blob = {c->kc->ca_pem, strlen(c->kc->ca_pem), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    }
    return x;
}

static void xfer_free(xfer *x)
{
    if (!x)
        return;
    if (x->busy)
        curl_multi_remove_handle(x->cl->multi, x->easy);
    curl_easy_cleanup(x->easy);
    free(x->body);
    free(x);
}

/* Start a request. path is appended to the server URL; body may be NULL.
 * timeout_ms 0 = none (watches). */
static void xfer_start(xfer *x, const char *method, const char *path, const char *body, long timeout_ms)
{
    client *c = x->cl;
    CURL *e = x->easy;
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", c->kc->server, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (body) {
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdr_body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") ? method : NULL);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdr_get);
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
    }
    x->len = 0;
    if (x->body)
        x->body[0] = 0;
    x->status = 0;
    x->res = CURLE_OK;
    x->busy = 1;
    x->t0 = now_s();
    curl_multi_add_handle(c->multi, e);
}

/* Drive transfers and dispatch completions; waits (at most wait_ms) for
 * network activity only when nothing completed, so callers re-check their
 * condition right after a completion instead of after a sleep. */
static void client_pump(client *c, int wait_ms)
{
    int running = 0, queued = 0, completed = 0;
    curl_multi_perform(c->multi, &running);
    CURLMsg *m;
    while ((m = curl_multi_info_read(c->multi, &queued))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        xfer *x = NULL;
        CURL *e = m->easy_handle;
        CURLcode res = m->data.result;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        x->t1 = now_s();
        x->res = res;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &x->status);
        curl_multi_remove_handle(c->multi, e);
        x->busy = 0;
        completed++;
        if (x->on_done)
            x->on_done(x);
    }
    if (!completed)
        curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
}

/* Run one request to completion; returns the HTTP status (0 on transport
 * failure, with the curl error in *err). */
static long do_sync(xfer *x, const char *method, const char *path, const char *body, pb_err *err)
{
    void (*saved)(xfer *) = x->on_done;
    x->on_done = NULL;
    xfer_start(x, method, path, body, REQ_TIMEOUT_MS);
    while (x->busy)
        client_pump(x->cl, 100);
    x->on_done = saved;
    if (x->res != CURLE_OK) {
        pb_err_set(err, PB_EIO, "%s %s: %s", method, path, curl_easy_strerror(x->res));
        return 0;
    }
    if (x->status >= 300)
        pb_err_set(err, PB_EIO, "%s %s: HTTP %ld: %.300s", method, path, x->status, x->body ? x->body : "");
    return x->status;
}

/* ---- load phases: N requests, C in flight ----------------------------------------------- */

typedef struct load {
    const char *name;
    const char *ns;
    size_t n, started, done;
    size_t objects; /* gets: names cm-0 .. cm-(objects-1) exist */
    long want_status;
    double *lat, *done_t; /* per completion, in completion order */
    double t_start, deadline;
    size_t errors;
    char first_error[400];
} load;

static void object_body(char *buf, size_t n, const char *ns, size_t i, const char *seq)
{
    /* ConfigMap-like: ~350 bytes of JSON, as a small real ConfigMap. */
    snprintf(buf, n,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-%06zu\","
             "\"namespace\":\"%s\",\"labels\":{\"app\":\"devapi-bench\",\"shard\":\"%zu\"}},"
             "\"data\":{\"seq\":\"%s\",\"a\":\"%064zu\",\"b\":\"alpha beta gamma delta epsilon zeta eta theta\","
             "\"c\":\"%064zu\"}}",
             i, ns, i % 16, seq, i * 7919, i);
}

static void load_next(xfer *x)
{
    load *l = x->ud;
    if (l->started >= l->n || now_s() > l->deadline)
        return;
    size_t i = l->started++;
    x->idx = i;
    char path[512];
    if (!strcmp(l->name, "create")) {
        char body[1024];
        object_body(body, sizeof(body), l->ns, i, "0");
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", l->ns);
        xfer_start(x, "POST", path, body, REQ_TIMEOUT_MS);
    } else {
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/cm-%06zu", l->ns, i % l->objects);
        xfer_start(x, "GET", path, NULL, REQ_TIMEOUT_MS);
    }
}

static void load_done(xfer *x)
{
    load *l = x->ud;
    l->lat[l->done] = x->t1 - x->t0;
    l->done_t[l->done] = x->t1;
    l->done++;
    if (x->res != CURLE_OK || x->status != l->want_status) {
        if (!l->errors++)
            snprintf(l->first_error, sizeof(l->first_error), "request %zu: %s HTTP %ld %.300s", x->idx,
                     x->res != CURLE_OK ? curl_easy_strerror(x->res) : "", x->status, x->body ? x->body : "");
    }
    load_next(x);
}

typedef struct result {
    char label[48];
    int conc;
    size_t ops, errors;
    int truncated;
    double wall, rate_median, rate_overall, p50, p99, max, srv_cpu_us, cli_cpu_us;
    char first_error[400];
} result;

/* Median over RATE_WINDOWS consecutive windows of completions: a hiccup in
 * one window (a GC tick, the other engineers' builds) moves it less than the
 * overall mean. */
static double windowed_rate(const double *done_t, size_t n, double t_start)
{
    if (n < RATE_WINDOWS)
        return n && done_t[n - 1] > t_start ? (double)n / (done_t[n - 1] - t_start) : 0;
    size_t w = n / RATE_WINDOWS;
    double rates[RATE_WINDOWS], prev = t_start;
    for (int i = 0; i < RATE_WINDOWS; i++) {
        double end = done_t[(size_t)(i + 1) * w - 1];
        rates[i] = end > prev ? (double)w / (end - prev) : 0;
        prev = end;
    }
    return percentile(rates, RATE_WINDOWS, 0.5);
}

/* n requests, conc in flight; gets cycle over the first `objects` names. */
static void run_load(client *c, xfer **pool, int conc, const char *name, const char *ns, size_t n, size_t objects,
                     long want_status, double deadline, int server_pid, result *r)
{
    load l = {.name = name,
              .ns = ns,
              .n = n,
              .objects = objects,
              .want_status = want_status,
              .lat = calloc(n, sizeof(double)),
              .done_t = calloc(n, sizeof(double)),
              .deadline = deadline};
    /* Warm up: one request per slot at once so HTTP/1.1 has C connections
     * (TLS handshakes done) before the clock starts. */
    for (int i = 0; i < conc; i++) {
        pool[i]->on_done = NULL;
        xfer_start(pool[i], "GET", "/version", NULL, REQ_TIMEOUT_MS);
    }
    for (int busy = 1; busy;) {
        client_pump(c, 100);
        busy = 0;
        for (int i = 0; i < conc; i++)
            busy |= pool[i]->busy;
    }
    double srv0 = pid_cpu_s(server_pid), cli0 = self_cpu_s();
    l.t_start = now_s();
    for (int i = 0; i < conc; i++) {
        pool[i]->ud = &l;
        pool[i]->on_done = load_done;
        load_next(pool[i]);
    }
    for (;;) {
        int busy = 0;
        for (int i = 0; i < conc; i++)
            busy |= pool[i]->busy;
        if (!busy)
            break;
        client_pump(c, 100);
    }
    double t_end = l.done ? l.done_t[l.done - 1] : now_s();
    double srv1 = pid_cpu_s(server_pid), cli1 = self_cpu_s();
    for (int i = 0; i < conc; i++) {
        pool[i]->on_done = NULL;
        pool[i]->ud = NULL;
    }
    memset(r, 0, sizeof(*r));
    snprintf(r->label, sizeof(r->label), "%s", name);
    r->conc = conc;
    r->ops = l.done;
    r->errors = l.errors;
    r->truncated = l.done < n;
    r->wall = t_end - l.t_start;
    r->rate_overall = r->wall > 0 ? (double)l.done / r->wall : 0;
    r->rate_median = windowed_rate(l.done_t, l.done, l.t_start);
    r->max = percentile(l.lat, l.done, 1.0);
    r->p50 = percentile(l.lat, l.done, 0.50);
    r->p99 = percentile(l.lat, l.done, 0.99);
    r->srv_cpu_us = srv0 >= 0 && l.done ? (srv1 - srv0) / (double)l.done * 1e6 : -1;
    r->cli_cpu_us = l.done ? (cli1 - cli0) / (double)l.done * 1e6 : -1;
    snprintf(r->first_error, sizeof(r->first_error), "%s", l.first_error);
    free(l.lat);
    free(l.done_t);
}

static void print_load_header(void)
{
    printf("%-7s %4s %7s %7s %9s %9s %8s %8s %8s %9s %9s %6s\n", "phase", "C", "ops", "wall_s", "rate/s",
           "overall/s", "p50_ms", "p99_ms", "max_ms", "srv_us/op", "cli_us/op", "errors");
}

static void print_load(const result *r)
{
    printf("%-7s %4d %7zu %7.2f %9.0f %9.0f %8.3f %8.3f %8.2f %9.0f %9.0f %6zu%s\n", r->label, r->conc, r->ops,
           r->wall, r->rate_median, r->rate_overall, r->p50 * 1e3, r->p99 * 1e3, r->max * 1e3, r->srv_cpu_us,
           r->cli_cpu_us, r->errors, r->truncated ? "  TRUNCATED (time budget)" : "");
    if (r->errors)
        printf("        first error: %s\n", r->first_error);
    fflush(stdout);
}

/* ---- list ---------------------------------------------------------------------------------- */

typedef struct list_result {
    double full_median, full_min, paged_median, paged_min;
    size_t items, bytes, pages;
    int ok;
} list_result;

static void run_list(xfer *x, const char *ns, size_t want, double deadline, list_result *lr, pb_err *err)
{
    char path[2048];
    double full[LIST_REPEATS], paged[LIST_REPEATS];
    int nf = 0, np = 0;
    memset(lr, 0, sizeof(*lr));
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", ns);
    for (int rep = 0; rep < LIST_REPEATS && now_s() < deadline; rep++) {
        if (do_sync(x, "GET", path, NULL, err) != 200)
            return;
        full[nf++] = x->t1 - x->t0;
        if (rep == 0) { /* check once, outside the timed part */
            json_t *doc = json_loadb(x->body, x->len, 0, NULL);
            lr->items = json_array_size(json_object_get(doc, "items"));
            lr->bytes = x->len;
            json_decref(doc);
            if (lr->items != want) {
                pb_err_set(err, PB_EINTERNAL, "list returned %zu items, want %zu", lr->items, want);
                return;
            }
        }
    }
    for (int rep = 0; rep < LIST_REPEATS && now_s() < deadline; rep++) {
        double total = 0;
        size_t items = 0, pages = 0;
        char *cont = NULL;
        do {
            if (cont) {
                char *esc = curl_easy_escape(x->easy, cont, 0);
                snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps?limit=%d&continue=%s", ns,
                         PAGE_LIMIT, esc);
                curl_free(esc);
                free(cont);
                cont = NULL;
            } else {
                snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps?limit=%d", ns, PAGE_LIMIT);
            }
            if (do_sync(x, "GET", path, NULL, err) != 200)
                return;
            total += x->t1 - x->t0; /* request time only: our JSON parsing is not the server's */
            pages++;
            json_t *doc = json_loadb(x->body, x->len, 0, NULL);
            items += json_array_size(json_object_get(doc, "items"));
            const char *c = json_string_value(json_object_get(json_object_get(doc, "metadata"), "continue"));
            if (c && *c)
                cont = strdup(c);
            json_decref(doc);
        } while (cont && pages < 10 * want / PAGE_LIMIT + 10);
        free(cont);
        if (items != want) {
            pb_err_set(err, PB_EINTERNAL, "paged list returned %zu items in %zu pages, want %zu", items, pages,
                       want);
            return;
        }
        lr->pages = pages;
        paged[np++] = total;
    }
    lr->full_min = nf ? percentile(full, (size_t)nf, 0) : 0;
    lr->full_median = percentile(full, (size_t)nf, 0.5);
    lr->paged_min = np ? percentile(paged, (size_t)np, 0) : 0;
    lr->paged_median = percentile(paged, (size_t)np, 0.5);
    lr->ok = nf == LIST_REPEATS && np == LIST_REPEATS;
}

/* ---- watch fan-out -------------------------------------------------------------------------- */

typedef struct fanout {
    int w, k;            /* watchers, updates (index k is the priming update) */
    int *delivered;      /* per update: watchers that got it */
    double *t_sent, *t_first, *t_all, *t_acked;
    size_t events, stray; /* lines received; lines that were not ours (ERROR, BOOKMARK) */
} fanout;

typedef struct watcher {
    fanout *f;
    char *line;
    size_t len, cap;
} watcher;

static void fanout_line(fanout *f, const char *s, size_t n)
{
    /* Events carry data.seq; a substring search keeps the client's cost per
     * event far below the server's (no JSON parse). */
    const char *m = memmem(s, n, "\"seq\":\"", 7);
    f->events++;
    if (!m || !isdigit((unsigned char)m[7])) {
        f->stray++;
        return;
    }
    long k = strtol(m + 7, NULL, 10);
    if (k < 0 || k > f->k) {
        f->stray++;
        return;
    }
    double t = now_s();
    if (++f->delivered[k] == 1)
        f->t_first[k] = t;
    if (f->delivered[k] == f->w)
        f->t_all[k] = t;
}

static void watcher_data(xfer *x, const char *d, size_t n)
{
    watcher *w = x->ud;
    while (n) {
        const char *nl = memchr(d, '\n', n);
        size_t take = nl ? (size_t)(nl - d) : n;
        if (w->len + take + 1 > w->cap) {
            w->cap = (w->len + take + 1) * 2;
            w->line = realloc(w->line, w->cap);
        }
        memcpy(w->line + w->len, d, take);
        w->len += take;
        if (!nl)
            break;
        fanout_line(w->f, w->line, w->len);
        w->len = 0;
        d += take + 1;
        n -= take + 1;
    }
}

typedef struct watch_result {
    int watchers, updates;
    size_t delivered, missing, stray;
    double wall, events_per_s, p50_all, p99_all, p50_first, p99_first, p50_update, srv_cpu_us;
    int truncated;
    char error[400];
} watch_result;

static void update_acked(xfer *x)
{
    fanout *f = x->ud;
    f->t_acked[x->idx] = x->t1;
}

static void send_update(xfer *x, fanout *f, const char *ns, int k)
{
    char body[1024], path[512], seq[16];
    snprintf(seq, sizeof(seq), "%d", k);
    object_body(body, sizeof(body), ns, 0, seq);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/cm-%06d", ns, 0);
    x->ud = f;
    x->idx = (size_t)k;
    x->on_done = update_acked;
    f->t_sent[k] = now_s();
    xfer_start(x, "PUT", path, body, REQ_TIMEOUT_MS);
}

/* Pump until every watcher has update k or the deadline; 0 when complete. */
static int wait_delivered(client *c, fanout *f, int k, double deadline)
{
    while (f->delivered[k] < f->w && now_s() < deadline)
        client_pump(c, 50);
    return f->delivered[k] == f->w ? 0 : -1;
}

static void run_watch(client *c, xfer *upd, const char *ns, int nw, int k, double deadline, int server_pid,
                      watch_result *r)
{
    memset(r, 0, sizeof(*r));
    r->watchers = nw;
    r->updates = k;
    size_t slots = (size_t)k + 1;
    fanout f = {.w = nw,
                .k = k,
                .delivered = calloc(slots, sizeof(int)),
                .t_sent = calloc(slots, sizeof(double)),
                .t_first = calloc(slots, sizeof(double)),
                .t_all = calloc(slots, sizeof(double)),
                .t_acked = calloc(slots, sizeof(double))};
    xfer **ws = calloc((size_t)nw, sizeof(*ws));
    watcher *wst = calloc((size_t)nw, sizeof(*wst));
    pb_err err;
    pb_err_clear(&err);
    char path[512];
    /* The object the updates modify, and the revision the watches start at,
     * so a watch opened after an update still replays it. */
    char body[1024];
    object_body(body, sizeof(body), ns, 0, "x");
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/cm-%06d", ns, 0);
    upd->on_done = NULL;
    if (do_sync(upd, "PUT", path, body, &err) >= 300 || !upd->status) {
        snprintf(r->error, sizeof(r->error), "%.380s", err.msg);
        goto out;
    }
    json_t *doc = json_loadb(upd->body, upd->len, 0, NULL);
    const char *rv = json_string_value(json_object_get(json_object_get(doc, "metadata"), "resourceVersion"));
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps?watch=1&resourceVersion=%s", ns, rv ? rv : "0");
    json_decref(doc);
    for (int i = 0; i < nw; i++) {
        ws[i] = xfer_new(c);
        wst[i].f = &f;
        ws[i]->ud = &wst[i];
        ws[i]->on_data = watcher_data;
        xfer_start(ws[i], "GET", path, NULL, 0);
    }
    /* Priming update (index k): once every watcher has it, every stream is
     * open and flowing, and the clock can start. */
    send_update(upd, &f, ns, k);
    if (wait_delivered(c, &f, k, now_s() + 20 < deadline ? now_s() + 20 : deadline) != 0) {
        snprintf(r->error, sizeof(r->error), "only %d of %d watchers received the priming event", f.delivered[k],
                 nw);
        goto out;
    }
    while (upd->busy)
        client_pump(c, 50);
    double srv0 = pid_cpu_s(server_pid);
    double t_start = now_s();
    int sent = 0;
    /* One update in flight: the next goes as soon as the previous is
     * acknowledged, whatever the watchers have received by then. */
    while (sent < k && now_s() < deadline) {
        if (!upd->busy) {
            if (upd->status != 200 && sent > 0 && !r->error[0])
                snprintf(r->error, sizeof(r->error), "update %zu: HTTP %ld %.300s", upd->idx, upd->status,
                         upd->body ? upd->body : "");
            send_update(upd, &f, ns, sent++);
        }
        client_pump(c, 50);
    }
    while (upd->busy)
        client_pump(c, 50);
    for (int i = 0; i < sent; i++)
        if (wait_delivered(c, &f, i, deadline + 5) != 0)
            break;
    double srv1 = pid_cpu_s(server_pid);
    double *all = calloc((size_t)k + 1, sizeof(double)), *first = calloc((size_t)k + 1, sizeof(double)),
           *ack = calloc((size_t)k + 1, sizeof(double));
    size_t na = 0, nf = 0;
    double last = t_start;
    for (int i = 0; i < sent; i++) {
        r->delivered += (size_t)f.delivered[i];
        r->missing += (size_t)(nw - f.delivered[i]);
        if (f.delivered[i] == nw) {
            all[na++] = f.t_all[i] - f.t_sent[i];
            if (f.t_all[i] > last)
                last = f.t_all[i];
        }
        if (f.delivered[i] > 0)
            first[nf++] = f.t_first[i] - f.t_sent[i];
        ack[i] = f.t_acked[i] - f.t_sent[i];
    }
    r->truncated = sent < k;
    r->stray = f.stray;
    r->wall = last - t_start;
    r->events_per_s = r->wall > 0 ? (double)r->delivered / r->wall : 0;
    r->p50_all = percentile(all, na, 0.5);
    r->p99_all = percentile(all, na, 0.99);
    r->p50_first = percentile(first, nf, 0.5);
    r->p99_first = percentile(first, nf, 0.99);
    r->p50_update = percentile(ack, (size_t)sent, 0.5);
    r->srv_cpu_us = srv0 >= 0 && r->delivered ? (srv1 - srv0) / (double)r->delivered * 1e6 : -1;
    free(all);
    free(first);
    free(ack);
out:
    for (int i = 0; i < nw; i++) {
        xfer_free(ws[i]);
        free(wst[i].line);
    }
    free(ws);
    free(wst);
    free(f.delivered);
    free(f.t_sent);
    free(f.t_first);
    free(f.t_all);
    free(f.t_acked);
    upd->on_done = NULL;
    upd->ud = NULL;
}

/* ---- replay: writes recorded by paybill-devapi --record, sent again -------------------------- */

/* What the floor of an operator's cold start is: the same writes, without
 * the operator's reads, waiting and thinking, as fast as the server takes
 * them. Each line of the recording is one request (method, path with query,
 * contentType, userAgent, code of the answer, uid of the object it created,
 * body or bodyBase64).
 *
 * Lines whose userAgent starts with --agent are the timed replay; the others
 * (kubectl and curl creating CRDs, the Plan, the Tenants and Subscriptions
 * before the operator started) are replayed first, untimed, so the server
 * holds the same objects. Without --agent every line is timed.
 *
 * Order: requests of one group (one tenant) go one at a time in recorded
 * order; groups run concurrently, C requests in flight; requests of no
 * tenant form group "" (timed: one more group; setup: each one alone, after
 * everything before it and before anything after it, since those are the
 * CRDs and the Plan the rest needs).
 *
 * Rewrites, because the replay server is not the recorded one:
 *   - metadata.resourceVersion in PUT and PATCH bodies becomes the one the
 *     object has in the replay: the last one the replay's own answers for
 *     that object said (its writes are all in one group, one at a time, so
 *     it is current). Dropping it instead would make every status PUT a 422:
 *     custom resources refuse unconditional updates, as in kube-apiserver.
 *     When no answer told it yet, it is dropped (JSON-patch ops on it too);
 *   - uids: a line's recorded "uid" is mapped to the uid its replay gets
 *     when a later body quotes it ("uid":"...": ownerReferences, status PUTs,
 *     Events), and quoted uids are replaced before sending. Without that
 *     the server's GC would delete every object owned by a recorded uid.
 * The replayed requests keep their User-Agent (the field manager) and
 * Content-Type, and all run as the admin of --kubeconfig. */

#define UID_LEN 36

typedef struct rreq {
    char *method, *path, *ctype, *agent;
    char *body; /* NULL: none; may hold NULs (protobuf) */
    size_t body_len;
    size_t *uid_at; /* offsets of quoted uids in body */
    size_t nuid;
    char uid[UID_LEN + 1]; /* the recorded answer's uid, "" if none */
    char *key;             /* the object written: path without query or /status (+ /name for a create) */
    int has_rv;            /* the body had metadata.resourceVersion (taken out of body) */
    int learn;             /* read the answer: a later body quotes uid, or a later write needs key's version */
    long code;             /* recorded answer */
    int timed;
    char *group;
} rreq;

typedef struct rgroup {
    size_t *reqs, n, cap, next;
} rgroup;

typedef struct rstats {
    size_t sent, done;
    size_t codes[600];  /* [0]: no answer (transport error) */
    size_t mismatches;  /* answered otherwise than recorded */
    size_t errors;      /* mismatches that are failures: not 2xx, and not a 409 to a POST or PUT */
    double t0, t1;      /* first request sent, last answer */
    char first_error[400];
} rstats;

typedef struct replay {
    rreq *reqs;
    size_t n;
    json_t *uids; /* recorded uid -> replayed uid */
    json_t *rvs;  /* object key -> its resourceVersion in the replay, from the last answer */
    size_t unmapped; /* quoted uids sent as recorded: no replacement known */
    client *cl;
} replay;

typedef struct rphase rphase;

typedef struct rslot {
    rphase *ph;
    xfer *x;
    struct curl_slist *hdr;
    size_t req, group;
} rslot;

/* One replay_run: its groups and the FIFO of groups ready to send their
 * next request (each group in it at most once: one request in flight per
 * group). */
struct rphase {
    replay *rp;
    rgroup *groups;
    size_t ngroups, *ready, head, tail, in_flight;
    rstats *st;
};

static int starts_with(const char *s, const char *prefix) { return s && !strncmp(s, prefix, strlen(prefix)); }

/* The group of a request: the tenant its path or body names (namespace
 * tenant-<name>; Tenant, Subscription or Namespace <name>; an Event
 * <name>.<suffix>, as clients name Events after their object), else "".
 * And in *obj_key the object it writes (see rreq.key). */
static char *group_key(const char *method, const char *path, const char *body, size_t body_len, char **obj_key)
{
    char *p = strndup(path, strcspn(path, "?"));
    char *seg[16], *save = NULL;
    int n = 0;
    for (char *s = strtok_r(p, "/", &save); s && n < 16; s = strtok_r(NULL, "/", &save))
        seg[n++] = s;
    int base = n > 0 && !strcmp(seg[0], "api") ? 2 : 3; /* api/v1 or apis/GROUP/VERSION */
    const char *ns = NULL, *res = NULL, *name = NULL;
    if (n > base + 2 && !strcmp(seg[base], "namespaces")) {
        ns = seg[base + 1];
        res = seg[base + 2];
        name = n > base + 3 ? seg[base + 3] : NULL;
    } else if (n > base) {
        res = seg[base];
        name = n > base + 1 ? seg[base + 1] : NULL;
    }
    char *key = NULL;
    json_t *doc = NULL;
    if (!name && body && !strcmp(method, "POST")) { /* a create names its object in the body */
        doc = json_loadb(body, body_len, 0, NULL);
        name = json_string_value(json_object_get(json_object_get(doc, "metadata"), "name"));
    }
    size_t plen = strcspn(path, "?");
    if (plen > 7 && !strncmp(path + plen - 7, "/status", 7))
        plen -= 7;
    int collection = n == base + 1 || (ns && n == base + 3); /* a create: the name is the body's */
    if (asprintf(obj_key, "%.*s%s%s", (int)plen, path, collection ? "/" : "", collection && name ? name : "") < 0)
        *obj_key = NULL;
    if (starts_with(ns, "tenant-"))
        key = strdup(ns + 7);
    else if (name && res && (!strcmp(res, "tenants") || !strcmp(res, "subscriptions") || !strcmp(res, "namespaces")))
        key = strdup(starts_with(name, "tenant-") ? name + 7 : name);
    else if (name && res && !strcmp(res, "events"))
        key = strndup(name, strcspn(name, "."));
    json_decref(doc);
    free(p);
    return key ? key : strdup("");
}

/* PUT and PATCH bodies without metadata.resourceVersion (JSON-patch: without
 * ops on it); rslot_send puts the replay's own back. Re-serialised only when
 * something was taken out. */
static void strip_resource_version(rreq *r)
{
    if (!r->body || (strcmp(r->method, "PUT") && strcmp(r->method, "PATCH")))
        return;
    json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
    int changed = 0;
    if (json_is_object(doc)) {
        changed = r->has_rv = json_object_del(json_object_get(doc, "metadata"), "resourceVersion") == 0;
    } else if (json_is_array(doc)) {
        for (size_t i = json_array_size(doc); i-- > 0;) {
            const char *op_path = json_string_value(json_object_get(json_array_get(doc, i), "path"));
            if (op_path && !strcmp(op_path, "/metadata/resourceVersion")) {
                json_array_remove(doc, i);
                changed = 1;
            }
        }
    }
    char *text = changed ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text) {
        free(r->body);
        r->body = text;
        r->body_len = strlen(text);
    }
    json_decref(doc);
}

/* Offsets of the values of "uid" keys in the body, and those values in
 * quoted (a set). */
static void find_uids(rreq *r, json_t *quoted)
{
    size_t at = 0, cap = 0;
    while (r->body && at < r->body_len) {
        const char *m = memmem(r->body + at, r->body_len - at, "\"uid\"", 5);
        if (!m)
            break;
        const char *v = m + 5;
        const char *end = r->body + r->body_len;
        while (v < end && (*v == ' ' || *v == ':'))
            v++;
        at = (size_t)(v - r->body);
        if (end - v < UID_LEN + 2 || *v != '"' || v[UID_LEN + 1] != '"')
            continue;
        if (r->nuid == cap) {
            cap = cap ? 2 * cap : 4;
            r->uid_at = realloc(r->uid_at, cap * sizeof(*r->uid_at));
        }
        r->uid_at[r->nuid++] = at + 1;
        char uid[UID_LEN + 1];
        memcpy(uid, v + 1, UID_LEN);
        uid[UID_LEN] = 0;
        json_object_set_new(quoted, uid, json_true());
    }
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int replay_load(replay *rp, const char *path, const char *agent, pb_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return pb_err_set(err, PB_EIO, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0, alloc = 0, lineno = 0;
    ssize_t len;
    json_t *quoted = json_object();
    int rc = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_error_t je;
        json_t *doc = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &je); /* protobuf bodies */
        const char *method = json_string_value(json_object_get(doc, "method"));
        const char *rpath = json_string_value(json_object_get(doc, "path"));
        if (!method || !rpath) {
            rc = pb_err_set(err, PB_EPARSE, "%s:%zu: not a recorded request (%s)", path, lineno,
                            doc ? "no method or path" : je.text);
            json_decref(doc);
            break;
        }
        if (rp->n == alloc) {
            alloc = alloc ? 2 * alloc : 1024;
            rp->reqs = realloc(rp->reqs, alloc * sizeof(*rp->reqs));
        }
        rreq *r = &rp->reqs[rp->n++];
        memset(r, 0, sizeof(*r));
        r->method = strdup(method);
        r->path = strdup(rpath);
        r->ctype = dup_or_null(json_string_value(json_object_get(doc, "contentType")));
        r->agent = dup_or_null(json_string_value(json_object_get(doc, "userAgent")));
        r->code = (long)json_integer_value(json_object_get(doc, "code"));
        const char *uid = json_string_value(json_object_get(doc, "uid"));
        snprintf(r->uid, sizeof(r->uid), "%s", uid ? uid : "");
        r->timed = !agent || starts_with(r->agent, agent);
        json_t *body = json_object_get(doc, "body");
        const char *b64 = json_string_value(json_object_get(doc, "bodyBase64"));
        if (json_is_string(body) && json_string_length(body) > 0) {
            r->body_len = json_string_length(body);
            r->body = malloc(r->body_len + 1);
            memcpy(r->body, json_string_value(body), r->body_len + 1);
        } else if (b64 && *b64) {
            size_t n = strlen(b64);
            r->body = malloc(n + 1);
            int dec = EVP_DecodeBlock((unsigned char *)r->body, (const unsigned char *)b64, (int)n);
            r->body_len = dec < 0 ? 0 : (size_t)dec - (n > 0 && b64[n - 1] == '=') - (n > 1 && b64[n - 2] == '=');
        }
        r->group = group_key(r->method, r->path, r->body, r->body_len, &r->key);
        strip_resource_version(r);
        find_uids(r, quoted);
        json_decref(doc);
    }
    free(line);
    fclose(f);
    json_t *need_rv = json_object(); /* keys of objects written with a version */
    for (size_t i = 0; i < rp->n; i++)
        if (rp->reqs[i].has_rv && rp->reqs[i].key)
            json_object_set_new(need_rv, rp->reqs[i].key, json_true());
    for (size_t i = 0; i < rp->n; i++) {
        rreq *r = &rp->reqs[i];
        r->learn = (r->uid[0] && json_object_get(quoted, r->uid)) || (r->key && json_object_get(need_rv, r->key));
    }
    json_decref(need_rv);
    json_decref(quoted);
    if (!rc && rp->n == 0)
        rc = pb_err_set(err, PB_EINVAL, "%s: no requests", path);
    return rc;
}

static void rslot_send(rslot *s, size_t i)
{
    replay *rp = s->ph->rp;
    rreq *r = &rp->reqs[i];
    CURL *e = s->x->easy;
    s->req = i;
    /* Quoted uids as the replay server knows them (same length: in place). */
    for (size_t k = 0; k < r->nuid; k++) {
        char old[UID_LEN + 1];
        memcpy(old, r->body + r->uid_at[k], UID_LEN);
        old[UID_LEN] = 0;
        const char *now = json_string_value(json_object_get(rp->uids, old));
        if (now && strlen(now) == UID_LEN)
            memcpy(r->body + r->uid_at[k], now, UID_LEN);
        else if (!now)
            rp->unmapped++;
    }
    char auth[512], ctype[256];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", rp->cl->kc->token);
    curl_slist_free_all(s->hdr);
    s->hdr = curl_slist_append(NULL, auth);
    s->hdr = curl_slist_append(s->hdr, "Accept: application/json");
    s->hdr = curl_slist_append(s->hdr, "Expect:");
    if (r->ctype) {
        snprintf(ctype, sizeof(ctype), "Content-Type: %s", r->ctype);
        s->hdr = curl_slist_append(s->hdr, ctype);
    }
    /* The version the object has now, in a copy of the body. */
    const char *rv = r->has_rv ? json_string_value(json_object_get(rp->rvs, r->key)) : NULL;
    char *versioned = NULL;
    if (rv) {
        json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
        json_object_set_new(json_object_get(doc, "metadata"), "resourceVersion", json_string(rv));
        versioned = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
    }
    char url[4096];
    snprintf(url, sizeof(url), "%s%s", rp->cl->kc->server, r->path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, REQ_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->hdr);
    curl_easy_setopt(e, CURLOPT_USERAGENT, r->agent);
    if (versioned) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(versioned));
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, versioned);
        free(versioned);
    } else if (r->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, r->body);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    s->x->len = 0;
    s->x->busy = 1;
    s->x->t0 = now_s();
    curl_multi_add_handle(rp->cl->multi, e);
}

static void replay_done(xfer *x)
{
    rslot *s = x->ud;
    rphase *ph = s->ph;
    rstats *st = ph->st;
    rreq *r = &ph->rp->reqs[s->req];
    long code = x->res == CURLE_OK ? x->status : 0;
    st->codes[code > 0 && code < 600 ? code : 0]++;
    st->done++;
    st->t1 = x->t1;
    /* A 409 to a create (AlreadyExists) or an update (conflict) is an
     * answer the operator copes with, whatever the recording says. */
    int conflict = code == 409 && (!strcmp(r->method, "POST") || !strcmp(r->method, "PUT"));
    if (code != r->code && (st->mismatches++, code / 100 != 2 && !conflict) && !st->errors++)
        snprintf(st->first_error, sizeof(st->first_error), "%s %s: %ld (recorded %ld): %.200s", r->method,
                 r->path, code, r->code, x->res != CURLE_OK ? curl_easy_strerror(x->res) : x->body ? x->body : "");
    if (r->learn && code / 100 == 2) {
        json_t *doc = json_loadb(x->body, x->len, 0, NULL);
        json_t *md = json_object_get(doc, "metadata");
        json_t *uid = json_object_get(md, "uid"), *rv = json_object_get(md, "resourceVersion");
        if (r->uid[0] && json_is_string(uid))
            json_object_set(ph->rp->uids, r->uid, uid);
        if (r->key && json_is_string(rv))
            json_object_set(ph->rp->rvs, r->key, rv);
        json_decref(doc);
    }
    ph->in_flight--;
    rgroup *g = &ph->groups[s->group];
    if (g->next < g->n) {
        ph->ready[ph->tail] = s->group;
        ph->tail = (ph->tail + 1) % (ph->ngroups + 1);
    }
}

/* Send the requests idx[0..n) (in recorded order) by the rules above, conc
 * in flight, and wait for all of them. */
static void replay_run(replay *rp, rslot *slots, int conc, const size_t *idx, size_t n, rstats *st)
{
    rphase ph = {.rp = rp, .st = st, .groups = calloc(n, sizeof(rgroup))};
    json_t *by_key = json_object(); /* group key -> index in ph.groups */
    for (size_t k = 0; k < n; k++) {
        const char *key = rp->reqs[idx[k]].group;
        json_t *g = json_object_get(by_key, key);
        size_t gi = g ? (size_t)json_integer_value(g) : ph.ngroups++;
        rgroup *grp = &ph.groups[gi];
        if (!g)
            json_object_set_new(by_key, key, json_integer((json_int_t)gi));
        if (grp->n == grp->cap) {
            grp->cap = grp->cap ? 2 * grp->cap : 16;
            grp->reqs = realloc(grp->reqs, grp->cap * sizeof(size_t));
        }
        grp->reqs[grp->n++] = idx[k];
    }
    ph.ready = malloc((ph.ngroups + 1) * sizeof(size_t));
    for (size_t g = 0; g < ph.ngroups; g++) /* in order of first appearance, as the operator got to them */
        ph.ready[ph.tail++] = g;
    for (int i = 0; i < conc; i++) {
        slots[i].ph = &ph;
        slots[i].x->ud = &slots[i];
        slots[i].x->on_done = replay_done;
    }
    while (ph.in_flight || ph.head != ph.tail) {
        for (int i = 0; i < conc && ph.head != ph.tail; i++) {
            if (slots[i].x->busy)
                continue;
            rgroup *g = &ph.groups[ph.ready[ph.head]];
            slots[i].group = ph.ready[ph.head];
            ph.head = (ph.head + 1) % (ph.ngroups + 1);
            if (!st->sent++)
                st->t0 = now_s();
            ph.in_flight++;
            rslot_send(&slots[i], g->reqs[g->next++]);
        }
        client_pump(rp->cl, 100);
    }
    for (size_t g = 0; g < ph.ngroups; g++)
        free(ph.groups[g].reqs);
    free(ph.groups);
    free(ph.ready);
    json_decref(by_key);
}

static void print_codes(const rstats *st)
{
    const char *sep = "";
    printf(" codes=");
    for (int c = 0; c < 600; c++)
        if (st->codes[c]) {
            printf("%s%d:%zu", sep, c, st->codes[c]);
            sep = ",";
        }
    printf(" mismatches=%zu errors=%zu", st->mismatches, st->errors);
}

/* Setup (untimed), then the timed replay; prints SETUP and REPLAY lines.
 * 0, or 1 when a request failed. */
static int run_replay(kcfg *kc, const char *file, const char *agent, int conc, int server_pid)
{
    replay rp = {.uids = json_object(), .rvs = json_object()};
    client cl;
    rslot slots[MAX_CONC];
    memset(slots, 0, sizeof(slots));
    pb_err err;
    pb_err_clear(&err);
    int rc = 1;
    if (replay_load(&rp, file, agent, &err) != 0 || client_init(&cl, kc, 1, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    rp.cl = &cl;
    for (int i = 0; i < conc; i++)
        slots[i].x = xfer_new(&cl);
    size_t *idx = malloc(rp.n * sizeof(size_t)), n = 0;

    /* Setup: runs of tenant requests, concurrently; each request of group
     * "" alone, in its place (CRDs, the Plan). */
    rstats setup = {0};
    for (size_t i = 0; i <= rp.n; i++) {
        int barrier = i < rp.n && !rp.reqs[i].timed && !rp.reqs[i].group[0];
        if ((i == rp.n || barrier) && n) {
            replay_run(&rp, slots, conc, idx, n, &setup);
            n = 0;
        }
        if (i < rp.n && !rp.reqs[i].timed)
            idx[n++] = i;
        if (barrier) {
            replay_run(&rp, slots, conc, idx, n, &setup);
            n = 0;
        }
    }
    if (setup.sent) {
        printf("SETUP requests=%zu seconds=%.3f", setup.done, setup.t1 - setup.t0);
        print_codes(&setup);
        printf("\n");
        if (setup.errors)
            fprintf(stderr, "setup: first error: %s\n", setup.first_error);
    }

    /* Warm up: one request per slot at once, so every connection is open
     * (TLS done) before the clock starts, as the operator's are by then. */
    for (int i = 0; i < conc; i++) {
        slots[i].x->on_done = NULL;
        xfer_start(slots[i].x, "GET", "/version", NULL, REQ_TIMEOUT_MS);
    }
    for (int busy = 1; busy;) {
        client_pump(&cl, 100);
        busy = 0;
        for (int i = 0; i < conc; i++)
            busy |= slots[i].x->busy;
    }
    long ver = 0;
    curl_easy_getinfo(slots[0].x->easy, CURLINFO_HTTP_VERSION, &ver);

    for (size_t i = 0; i < rp.n; i++)
        if (rp.reqs[i].timed)
            idx[n++] = i;
    rstats timed = {0};
    size_t unmapped0 = rp.unmapped;
    double srv0 = pid_cpu_s(server_pid), cli0 = self_cpu_s();
    replay_run(&rp, slots, conc, idx, n, &timed);
    double srv1 = pid_cpu_s(server_pid), cli1 = self_cpu_s(), secs = timed.t1 - timed.t0;
    printf("REPLAY requests=%zu seconds=%.3f rate=%.0f/s", timed.done, secs, secs > 0 ? (double)timed.done / secs : 0);
    print_codes(&timed);
    printf(" unmapped_uids=%zu conc=%d proto=%s client_cpu_s=%.2f", rp.unmapped - unmapped0, conc,
           ver == CURL_HTTP_VERSION_2_0 ? "HTTP/2" : "HTTP/1.1", cli1 - cli0);
    if (srv0 >= 0 && srv1 >= 0)
        printf(" server_cpu_s=%.2f", srv1 - srv0);
    printf("\n");
    if (timed.errors)
        fprintf(stderr, "replay: first error: %s\n", timed.first_error);
    rc = setup.errors || timed.errors || !timed.done;
    free(idx);
out:
    for (int i = 0; i < conc; i++) {
        xfer_free(slots[i].x);
        curl_slist_free_all(slots[i].hdr);
    }
    if (rp.cl)
        client_free(&cl);
    for (size_t i = 0; i < rp.n; i++) {
        rreq *r = &rp.reqs[i];
        free(r->method);
        free(r->path);
        free(r->ctype);
        free(r->agent);
        free(r->body);
        free(r->uid_at);
        free(r->group);
        free(r->key);
    }
    free(rp.reqs);
    json_decref(rp.uids);
    json_decref(rp.rvs);
    return rc;
}

/* ---- main -------------------------------------------------------------------------------------- */

/* "1,4,16" -> ints; returns how many, or -1. */
static int parse_list(const char *s, int *out, int max, int hi)
{
    int n = 0;
    while (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > hi || n == max)
            return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

/* A phase ends after phase_s or at the run's deadline, whichever is first. */
static double phase_end(double run_deadline, int phase_s)
{
    double t = now_s() + phase_s;
    return t < run_deadline ? t : run_deadline;
}

static int create_namespace(xfer *x, const char *ns, pb_err *err)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", ns);
    long st = do_sync(x, "POST", "/api/v1/namespaces", body, err);
    if (st == 201 || st == 409) {
        pb_err_clear(err);
        return 0;
    }
    return pb_err_wrap(err, "creating namespace %s", ns);
}

/* The ceiling is what one core could do at the server's measured CPU cost
 * per request: the rate without the client and the other tenants of this
 * machine competing for the cores. */
static void print_ratio(const char *what, const result *r, double target)
{
    double ceiling = r->srv_cpu_us > 0 ? 1e6 / r->srv_cpu_us : 0;
    printf("%-10s C=%-3d %8.0f/s %9.3f ms  >= %6.0f/s  %5.2f  %-6s %9.0f %9.0f/s\n", what, r->conc, r->rate_median,
           r->p99 * 1e3, target, r->rate_median / target, r->rate_median >= target ? "met" : "MISSED", r->srv_cpu_us,
           ceiling);
}

/* The 1-minute load average: these numbers move with whatever else runs. */
static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

int main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *conc_s = NULL, *watch_s = "1,10,100", *prefix = NULL, *replay_file = NULL,
               *agent = NULL;
    int http2 = 0, n = 10000, updates = 1000, server_pid = 0, max_seconds = 80, phase_seconds = 10, help = 0;
    pb_flag flags[] = {
        {"kubeconfig", PB_FLAG_STRING, &kubeconfig, "PATH", "kubeconfig written by paybill-devapi", 1},
        {"http2", PB_FLAG_BOOL, &http2, NULL, "ask for HTTP/2 (ALPN h2); default HTTP/1.1 keep-alive", 1},
        {"n", PB_FLAG_INT, &n, "N", "objects created and read per concurrency level", 1},
        {"conc", PB_FLAG_STRING, &conc_s, "LIST",
         "concurrency levels (requests in flight; default 1,4,16, --replay: 16)", 1},
        {"watchers", PB_FLAG_STRING, &watch_s, "LIST", "watcher counts for the fan-out test", 1},
        {"updates", PB_FLAG_INT, &updates, "K", "updates per fan-out test", 1},
        {"server-pid", PB_FLAG_INT, &server_pid, "PID", "the server's pid, to report its CPU per request", 1},
        {"max-seconds", PB_FLAG_INT, &max_seconds, "S", "time budget of the whole run", 1},
        {"phase-seconds", PB_FLAG_INT, &phase_seconds, "S", "time budget of each phase (create, get, list, watch)", 1},
        {"ns-prefix", PB_FLAG_STRING, &prefix, "P", "namespace prefix (default h1 or h2)", 1},
        {"replay", PB_FLAG_STRING, &replay_file, "FILE",
         "instead: replay writes recorded by paybill-devapi --record", 1},
        {"agent", PB_FLAG_STRING, &agent, "PREFIX",
         "--replay: time only lines whose userAgent starts with PREFIX; the others are setup (default: all timed)", 1},
        {"help", PB_FLAG_BOOL, &help, NULL, "this help", 1},
    };
    size_t nflags = sizeof(flags) / sizeof(flags[0]);
    pb_err err;
    pb_err_clear(&err);
    int argi = 0;
    if (pb_flags_parse(flags, nflags, NULL, argc, argv, &argi, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    if (!conc_s)
        conc_s = replay_file ? "16" : "1,4,16";
    int concs[8], watchers[8];
    int nconc = parse_list(conc_s, concs, 8, MAX_CONC), nwatch = parse_list(watch_s, watchers, 8, MAX_WATCHERS);
    if (nconc < 1 || nwatch < 0)
        fprintf(stderr, "--conc and --watchers take comma-separated counts (1..%d, 1..%d)\n", MAX_CONC, MAX_WATCHERS);
    if (replay_file && nconc != 1)
        fprintf(stderr, "--replay takes one --conc value\n");
    if (help || !kubeconfig || n < 1 || updates < 1 || max_seconds < 1 || phase_seconds < 1 || nconc < 1 ||
        nwatch < 0 || (replay_file && nconc != 1)) {
        char *h = pb_flags_help(flags, nflags, NULL);
        fprintf(help ? stdout : stderr, "usage: bench_devapi_bench --kubeconfig PATH [flags]\n%s", h ? h : "");
        free(h);
        return help ? 0 : 2;
    }
    if (!prefix)
        prefix = http2 ? "h2" : "h1";

    kcfg kc;
    if (kcfg_load(kubeconfig, &kc, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (replay_file) {
        int replay_rc = run_replay(&kc, replay_file, agent, concs[0], server_pid);
        kcfg_free(&kc);
        curl_global_cleanup();
        return replay_rc;
    }
    client cl;
    xfer *pool[MAX_CONC] = {0};
    int rc = 1;
    if (client_init(&cl, &kc, http2, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    double t0 = now_s(), deadline = t0 + max_seconds, load0 = loadavg();
    for (int i = 0; i < MAX_CONC; i++)
        pool[i] = xfer_new(&cl);
    if (do_sync(pool[0], "GET", "/version", NULL, &err) != 200) {
        fprintf(stderr, "server not answering: %s\n", err.msg);
        goto out;
    }
    long ver = 0;
    curl_easy_getinfo(pool[0]->easy, CURLINFO_HTTP_VERSION, &ver);
    const char *proto = ver == CURL_HTTP_VERSION_2_0 ? "HTTP/2" : ver == CURL_HTTP_VERSION_1_1 ? "HTTP/1.1" : "HTTP/?";
    printf("== paybill-devapi %s, %s%s, N=%d, curl %s ==\n", kc.server, proto,
           ver == CURL_HTTP_VERSION_2_0 ? " (C concurrent streams on one connection)"
                                        : " keep-alive (C connections)",
           n, curl_version_info(CURLVERSION_NOW)->version);
    if (http2 && ver != CURL_HTTP_VERSION_2_0) {
        printf("HTTP/2 was not negotiated (server offered HTTP/1.1 only): skipping the HTTP/2 run\n");
        rc = 0;
        goto out;
    }

    result creates[8], gets[8];
    memset(creates, 0, sizeof(creates));
    memset(gets, 0, sizeof(gets));
    char ns[64];
    print_load_header();
    for (int i = 0; i < nconc; i++) {
        snprintf(ns, sizeof(ns), "%s-c%d", prefix, concs[i]);
        if (create_namespace(pool[0], ns, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            goto out;
        }
        run_load(&cl, pool, concs[i], "create", ns, (size_t)n, 0, 201, phase_end(deadline, phase_seconds), server_pid,
                 &creates[i]);
        print_load(&creates[i]);
        /* N gets even when fewer objects were created in time: a short
         * phase would measure noise. Objects whose create failed 404. */
        if (creates[i].ops > 0)
            run_load(&cl, pool, concs[i], "get", ns, (size_t)n, creates[i].ops, 200,
                     phase_end(deadline, phase_seconds), server_pid, &gets[i]);
        else
            snprintf(gets[i].label, sizeof(gets[i].label), "get");
        print_load(&gets[i]);
    }

    /* List the namespace holding the most objects (all hold N unless the
     * server was too slow to create them in the time budget). */
    list_result lr;
    int lc = 0;
    for (int i = 1; i < nconc; i++)
        if (creates[i].ops - creates[i].errors > creates[lc].ops - creates[lc].errors)
            lc = i;
    snprintf(ns, sizeof(ns), "%s-c%d", prefix, concs[lc]);
    run_list(pool[0], ns, creates[lc].ops - creates[lc].errors, phase_end(deadline, phase_seconds), &lr, &err);
    if (err.code)
        printf("list: FAILED: %s\n", err.msg);
    else
        printf("list    %zu items (%.1f MB): full %.1f ms (median of %d, min %.1f); paged limit=%d: %zu pages, "
               "%.1f ms total (median, min %.1f)%s\n",
               lr.items, (double)lr.bytes / 1e6, lr.full_median * 1e3, LIST_REPEATS, lr.full_min * 1e3, PAGE_LIMIT,
               lr.pages, lr.paged_median * 1e3, lr.paged_min * 1e3, lr.ok ? "" : "  TRUNCATED (time budget)");
    pb_err_clear(&err);

    watch_result wr[8];
    memset(wr, 0, sizeof(wr));
    snprintf(ns, sizeof(ns), "%s-watch", prefix);
    if (nwatch > 0) {
        char body[1024], path[256];
        object_body(body, sizeof(body), ns, 0, "x");
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", ns);
        if (create_namespace(pool[0], ns, &err) != 0 || do_sync(pool[0], "POST", path, body, &err) != 201) {
            fprintf(stderr, "creating the watched object: %s\n", err.msg);
            goto out;
        }
    }
    if (nwatch > 0)
        printf("%-7s %4s %6s %8s %7s %9s %9s %9s %9s %9s %8s %9s %7s\n", "watch", "W", "K", "events", "wall_s",
               "events/s", "all_p50", "all_p99", "1st_p50", "1st_p99", "upd_p50", "srv_us/ev", "missing");
    for (int i = 0; i < nwatch; i++) {
        run_watch(&cl, pool[0], ns, watchers[i], updates, phase_end(deadline, phase_seconds), server_pid, &wr[i]);
        if (wr[i].error[0] && !wr[i].delivered) {
            printf("watch   %4d FAILED: %s\n", watchers[i], wr[i].error);
            continue;
        }
        printf("watch   %4d %6d %8zu %7.2f %9.0f %7.2fms %7.2fms %7.2fms %7.2fms %6.2fms %9.1f %7zu%s\n", wr[i].watchers,
               wr[i].updates, wr[i].delivered, wr[i].wall, wr[i].events_per_s, wr[i].p50_all * 1e3,
               wr[i].p99_all * 1e3, wr[i].p50_first * 1e3, wr[i].p99_first * 1e3, wr[i].p50_update * 1e3,
               wr[i].srv_cpu_us, wr[i].missing, wr[i].truncated ? "  TRUNCATED (time budget)" : "");
        if (wr[i].error[0])
            printf("        error: %s\n", wr[i].error);
        if (wr[i].stray)
            printf("        %zu events without an update number (not ADDED/MODIFIED of ours)\n", wr[i].stray);
        fflush(stdout);
    }

    printf("\n-- %s vs the issue's targets (rate = median of %d windows; p99 client-side) --\n", proto,
           RATE_WINDOWS);
    printf("%-16s %10s %12s %11s %6s %-6s %9s %11s\n", "metric", "median", "p99", "target", "ratio", "", "srv_us/op",
           "1-core cap");
    for (int i = 0; i < nconc; i++)
        print_ratio("creates/s", &creates[i], TARGET_CREATES);
    for (int i = 0; i < nconc; i++)
        print_ratio("gets/s", &gets[i], TARGET_GETS);
    printf("total run time %.1f s, load average %.2f -> %.2f (2 cores)\n", now_s() - t0, load0, loadavg());
    rc = 0;
out:
    for (int i = 0; i < MAX_CONC; i++)
        xfer_free(pool[i]);
    if (cl.multi)
        client_free(&cl);
    kcfg_free(&kc);
    curl_global_cleanup();
    return rc;
}
