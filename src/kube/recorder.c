/*
 * recorder.c - asynchronous Event recorder with repeat aggregation (see
 * recorder.h).
 *
 * recorder_event() builds a pending item and pushes it on a ring buffer;
 * the worker thread pops up to eight items at a time and, for each in
 * order, either patches a cached Event (same object, type, reason and
 * message within the window) or builds a new one; the new ones are created
 * together, so a burst costs a round trip per eight Events. The
 * aggregation cache is a small array scanned linearly and evicted
 * least-recently-used: it holds a few hundred entries at most and is only
 * touched by the worker, so it needs no lock and no hashing.
 */
#include "kube/recorder.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/kmetrics.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/timeutil.h"

#define MESSAGE_MAX 1024
/* Dropped Events are logged at debug each, and at warn at most this often
 * with the count since the last warning: a fleet-wide burst (a cold start
 * of 100,000 tenants drops about a quarter) must be visible without a log
 * line per Event. */
#define DROP_WARN_S 60.0
/* Events taken off the queue at once: new ones among them are created
 * together when the sink can (recorder_sink.create_many). */
#define RECORDER_BATCH_MAX 8

typedef struct pending {
    json_t *involved; /* involvedObject */
    char *type, *reason, *message;
} pending;

typedef struct cached {
    char *key;        /* aggregation key; NULL = free slot */
    char *ns, *name;  /* the Event written */
    long count;
    double last_seen; /* for the window */
    unsigned long used; /* LRU stamp */
} cached;

struct recorder {
    recorder_sink sink;
    char *component, *instance;
    double window_s;
    double (*now)(void *);
    void *now_ud;

    pthread_mutex_t mu;
    pthread_cond_t nonempty, idle;
    pending **ring;
    size_t cap, head, len;
    int busy, stopping, started, joined;
    unsigned long dropped;
    unsigned long dropped_told; /* r->dropped at the last warning */
    double told_at;             /* when that was (r->now) */
    pthread_t thread;

    /* worker-only */
    cached *cache;
    size_t ncache;
    unsigned long tick;
    unsigned long seq;
};

static double wall_now(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timespec to_ts(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)floor(t);
    ts.tv_nsec = (long)((t - floor(t)) * 1e9);
    return ts;
}

static void pending_free(pending *p)
{
    if (!p)
        return;
    json_decref(p->involved);
    free(p->type);
    free(p->reason);
    free(p->message);
    free(p);
}

/* --- worker ---------------------------------------------------------------- */

static const char *field(json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s ? s : "";
}

static char *agg_key(const pending *p)
{
    json_t *io = p->involved;
    const char *kind = field(io, "kind"), *ns = field(io, "namespace");
    const char *name = field(io, "name"), *uid = field(io, "uid");
    size_t n = strlen(kind) + strlen(ns) + strlen(name) + strlen(uid) + strlen(p->type) +
               strlen(p->reason) + strlen(p->message) + 8;
    char *k = malloc(n);
    if (!k)
        return NULL;
    /* \x1f (unit separator) cannot occur in names and keeps fields apart. */
    snprintf(k, n, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", kind, ns, name, uid, p->type, p->reason,
             p->message);
    return k;
}

static cached *cache_find(recorder *r, const char *key)
{
    for (size_t i = 0; i < r->ncache; i++)
        if (r->cache[i].key && strcmp(r->cache[i].key, key) == 0)
            return &r->cache[i];
    return NULL;
}

static cached *cache_slot(recorder *r)
{
    cached *lru = &r->cache[0];
    for (size_t i = 0; i < r->ncache; i++) {
        if (!r->cache[i].key)
            return &r->cache[i];
        if (r->cache[i].used < lru->used)
            lru = &r->cache[i];
    }
    free(lru->key);
    free(lru->ns);
    free(lru->name);
    memset(lru, 0, sizeof *lru);
    return lru;
}

/* An Event to create, built and waiting for the next flush. */
typedef struct create_job {
    char *key;       /* aggregation key (owned), NULL when none */
    const char *ns;  /* points into ev */
    const char *name;
    const char *reason, *obj_name; /* for messages: point into the pending */
    double now;
    json_t *ev;
} create_job;

static int build_event(recorder *r, const pending *p, double now, char *key, create_job *j)
{
    const char *obj_ns = json_string_value(json_object_get(p->involved, "namespace"));
    const char *obj_name = json_string_value(json_object_get(p->involved, "name"));
    const char *ns = obj_ns && *obj_ns ? obj_ns : "default";
    char name[320], ts[PB_TIME_BUF];
    /* client-go: "<name>.<hex UnixNano>"; seq keeps names unique within a tick. */
    unsigned long long nanos = (unsigned long long)(now * 1e9) + r->seq++;
    snprintf(name, sizeof name, "%s.%llx", obj_name ? obj_name : "unknown", nanos);
    pb_time_format_rfc3339(to_ts(now), ts, sizeof ts);
    json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:O, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:i, s:s, s:s}",
                           "apiVersion", "v1", "kind", "Event",
                           "metadata", "name", name, "namespace", ns,
                           "involvedObject", p->involved,
                           "reason", p->reason, "message", p->message, "type", p->type,
                           "source", "component", r->component,
                           "firstTimestamp", ts, "lastTimestamp", ts, "count", 1,
                           "reportingComponent", r->component, "reportingInstance", r->instance);
    if (!ev) {
        free(key);
        return PB_ENOMEM;
    }
    json_t *meta = json_object_get(ev, "metadata");
    *j = (create_job){.key = key, .ns = json_string_value(json_object_get(meta, "namespace")),
                      .name = json_string_value(json_object_get(meta, "name")), .reason = p->reason,
                      .obj_name = obj_name, .now = now, .ev = ev};
    return 0;
}

/* Remember a created Event for aggregation; takes j->key. */
static void remember(recorder *r, create_job *j)
{
    if (!j->key)
        return;
    cached *c = cache_slot(r);
    c->key = j->key;
    j->key = NULL;
    c->ns = strdup(j->ns);
    c->name = strdup(j->name);
    c->count = 1;
    c->last_seen = j->now;
    c->used = ++r->tick;
    if (!c->ns || !c->name) { /* cannot aggregate onto it: forget it */
        free(c->key);
        free(c->ns);
        free(c->name);
        memset(c, 0, sizeof *c);
    }
}

/* Create the n Events built: together when the sink can, then remember
 * those created, in order. */
static void flush_creates(recorder *r, create_job *jobs, size_t n)
{
    if (n == 0)
        return;
    int rc[RECORDER_BATCH_MAX];
    pb_err e[RECORDER_BATCH_MAX];
    for (size_t i = 0; i < n; i++)
        pb_err_clear(&e[i]);
    if (n > 1 && r->sink.create_many) {
        const char *ns[RECORDER_BATCH_MAX] = {0};
        json_t *evs[RECORDER_BATCH_MAX] = {0};
        for (size_t i = 0; i < n; i++) {
            ns[i] = jobs[i].ns;
            evs[i] = jobs[i].ev;
        }
        r->sink.create_many(r->sink.ud, ns, evs, rc, e, n);
    } else {
        for (size_t i = 0; i < n; i++)
            rc[i] = r->sink.create(r->sink.ud, jobs[i].ns, jobs[i].ev, &e[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (rc[i])
            pb_log_warn("event recorder: creating event failed", "reason", jobs[i].reason, "object",
                        jobs[i].obj_name, "error", pb_err_msg(&e[i]), NULL);
        else
            remember(r, &jobs[i]);
        free(jobs[i].key);
        json_decref(jobs[i].ev);
    }
}

/* Aggregate p onto its cached Event when it can: 1 when done. Takes key
 * then; else a cached entry it could not patch is forgotten. */
static int aggregate(recorder *r, const pending *p, double now, char *key)
{
    cached *c = key ? cache_find(r, key) : NULL;
    if (!c || now - c->last_seen > r->window_s)
        return 0;
    char ts[PB_TIME_BUF];
    pb_time_format_rfc3339(to_ts(now), ts, sizeof ts);
    json_t *patch = json_pack("{s:I, s:s}", "count", (json_int_t)(c->count + 1), "lastTimestamp", ts);
    pb_err e;
    pb_err_clear(&e);
    int rc = patch ? r->sink.patch(r->sink.ud, c->ns, c->name, patch, &e) : PB_ENOMEM;
    json_decref(patch);
    if (rc == 0) {
        c->count++;
        c->last_seen = now;
        c->used = ++r->tick;
        free(key);
        return 1;
    }
    if (rc != PB_ENOTFOUND)
        pb_log_warn("event recorder: updating event failed", "event", c->name, "error", pb_err_msg(&e), NULL);
    /* Gone (or unpatchable): start a fresh Event in the same slot. */
    free(c->key);
    free(c->ns);
    free(c->name);
    memset(c, 0, sizeof *c);
    return 0;
}

/* Write the n items popped together, in order, with the outcome they
 * would have one by one: consecutive new Events are created together, and
 * a repeat waits for the creates before it. */
static void process(recorder *r, pending *const *items, size_t n)
{
    create_job jobs[RECORDER_BATCH_MAX];
    size_t nj = 0;
    for (size_t i = 0; i < n; i++) {
        const pending *p = items[i];
        double now = r->now(r->now_ud);
        char *key = agg_key(p);
        /* A repeat (of a cached Event or of one waiting to be created) sees
         * the cache as it would one by one: the waiting creates first, as
         * they may add its Event or evict it. */
        int flush = key && nj > 0 && cache_find(r, key);
        for (size_t j = 0; key && j < nj && !flush; j++)
            flush = jobs[j].key && strcmp(jobs[j].key, key) == 0;
        if (flush) {
            flush_creates(r, jobs, nj);
            nj = 0;
        }
        if (aggregate(r, p, now, key))
            continue;
        if (build_event(r, p, now, key, &jobs[nj]) == 0)
            nj++;
    }
    flush_creates(r, jobs, nj);
}

static void *worker(void *arg)
{
    recorder *r = arg;
    pb_thread_name("events", NULL);
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (r->len == 0 && !r->stopping)
            pthread_cond_wait(&r->nonempty, &r->mu);
        if (r->stopping)
            break;
        pending *items[RECORDER_BATCH_MAX];
        size_t n = 0;
        while (r->len > 0 && n < RECORDER_BATCH_MAX) {
            items[n++] = r->ring[r->head];
            r->head = (r->head + 1) % r->cap;
            r->len--;
        }
        r->busy = 1;
        pthread_mutex_unlock(&r->mu);
        process(r, items, n);
        for (size_t i = 0; i < n; i++)
            pending_free(items[i]);
        pthread_mutex_lock(&r->mu);
        r->busy = 0;
        if (r->len == 0)
            pthread_cond_broadcast(&r->idle);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* --- public ---------------------------------------------------------------- */

int recorder_new(const recorder_sink *sink, const recorder_options *o, recorder **out, pb_err *err)
{
    int rc;
    recorder *r = NULL;
    if (!sink || !sink->create || !sink->patch || !o || !o->component || !*o->component || !out ||
        o->queue_size < 0 || o->cache_size < 0) {
        rc = pb_err_set(err, PB_EINVAL, "event recorder: sink and component are required");
        goto fail;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        rc = pb_err_set(err, PB_ENOMEM, "event recorder: out of memory");
        goto fail;
    }
    r->sink = *sink;
    r->component = strdup(o->component);
    r->instance = strdup(o->instance ? o->instance : o->component);
    r->cap = o->queue_size > 0 ? (size_t)o->queue_size : 1000;
    r->ncache = o->cache_size > 0 ? (size_t)o->cache_size : 256;
    r->window_s = o->window_s > 0 ? o->window_s : 600;
    r->now = o->now ? o->now : wall_now;
    r->now_ud = o->now_ud;
    r->ring = calloc(r->cap, sizeof *r->ring);
    r->cache = calloc(r->ncache, sizeof *r->cache);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->nonempty, NULL);
    pthread_cond_init(&r->idle, NULL);
    if (!r->component || !r->instance || !r->ring || !r->cache) {
        recorder_free(r);
        return pb_err_set(err, PB_ENOMEM, "event recorder: out of memory");
    }
    if (pthread_create(&r->thread, NULL, worker, r) != 0) {
        recorder_free(r);
        return pb_err_set(err, PB_EIO, "event recorder: cannot create thread");
    }
    r->started = 1;
    *out = r;
    return 0;
fail:
    if (sink && sink->free)
        sink->free(sink->ud);
    return rc;
}

static json_t *involved_of(json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    if (!name || !*name)
        return NULL;
    json_t *ref = json_object();
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *uid = json_string_value(json_object_get(md, "uid"));
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    if (av)
        json_object_set_new(ref, "apiVersion", json_string(av));
    if (kind)
        json_object_set_new(ref, "kind", json_string(kind));
    json_object_set_new(ref, "name", json_string(name));
    if (ns && *ns)
        json_object_set_new(ref, "namespace", json_string(ns));
    if (uid)
        json_object_set_new(ref, "uid", json_string(uid));
    if (rv)
        json_object_set_new(ref, "resourceVersion", json_string(rv));
    return ref;
}

int recorder_event(recorder *r, json_t *obj, const char *type, const char *reason, const char *fmt, ...)
{
    if (!r || !type || !reason || !*reason || !fmt ||
        (strcmp(type, RECORDER_NORMAL) != 0 && strcmp(type, RECORDER_WARNING) != 0))
        return PB_EINVAL;
    json_t *involved = involved_of(obj);
    if (!involved)
        return PB_EINVAL;
    pending *p = calloc(1, sizeof *p);
    char *msg = malloc(MESSAGE_MAX + 1);
    if (!p || !msg) {
        free(p);
        free(msg);
        json_decref(involved);
        return PB_ENOMEM;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, MESSAGE_MAX + 1, fmt, ap);
    va_end(ap);
    p->involved = involved;
    p->message = msg;
    p->type = strdup(type);
    p->reason = strdup(reason);
    if (!p->type || !p->reason) {
        pending_free(p);
        return PB_ENOMEM;
    }
    int rc = 0;
    unsigned long tell = 0;
    pthread_mutex_lock(&r->mu);
    if (r->stopping) {
        rc = PB_ECANCELED;
    } else if (r->len == r->cap) {
        r->dropped++;
        rc = PB_ETOOLARGE;
        double now = r->now(r->now_ud);
        if (!(now - r->told_at < DROP_WARN_S)) {
            tell = r->dropped - r->dropped_told;
            r->dropped_told = r->dropped;
            r->told_at = now;
        }
    } else {
        r->ring[(r->head + r->len) % r->cap] = p;
        r->len++;
        pthread_cond_signal(&r->nonempty);
    }
    pthread_mutex_unlock(&r->mu);
    if (rc) {
        if (rc == PB_ETOOLARGE) {
            kmetrics_event_dropped();
            pb_log_debug("event recorder: queue full, dropping event", "reason", reason, NULL);
            if (tell) {
                char n[32], cap[32];
                snprintf(n, sizeof n, "%lu", tell);
                snprintf(cap, sizeof cap, "%zu", r->cap);
                pb_log_warn("event recorder: queue full, Events dropped since the last warning", "dropped", n,
                            "queue", cap, NULL);
            }
        }
        pending_free(p);
    }
    return rc;
}

int recorder_flush(recorder *r, double timeout_s)
{
    if (!r)
        return PB_EINVAL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* the conds use the default clock */
    double until = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + (timeout_s > 0 ? timeout_s : 0);
    ts = to_ts(until);
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    while ((r->len > 0 || r->busy) && !r->stopping) {
        if (pthread_cond_timedwait(&r->idle, &r->mu, &ts) == ETIMEDOUT) {
            rc = r->len > 0 || r->busy ? PB_ETIMEOUT : 0;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int recorder_stop(recorder *r, double timeout_s)
{
    if (!r)
        return PB_EINVAL;
    int rc = timeout_s > 0 ? recorder_flush(r, timeout_s) : 0;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_broadcast(&r->nonempty);
    pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->mu);
    if (r->started && !r->joined) {
        pthread_join(r->thread, NULL);
        r->joined = 1;
    }
    return rc;
}

void recorder_free(recorder *r)
{
    if (!r)
        return;
    recorder_stop(r, 0);
    for (size_t i = 0; r->ring && i < r->len; i++)
        pending_free(r->ring[(r->head + i) % r->cap]);
    free(r->ring);
    for (size_t i = 0; r->cache && i < r->ncache; i++) {
        free(r->cache[i].key);
        free(r->cache[i].ns);
        free(r->cache[i].name);
    }
    free(r->cache);
    if (r->sink.free)
        r->sink.free(r->sink.ud);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->nonempty);
    pthread_cond_destroy(&r->idle);
    free(r->component);
    free(r->instance);
    free(r);
}

unsigned long recorder_dropped(recorder *r)
{
    if (!r)
        return 0;
    pthread_mutex_lock(&r->mu);
    unsigned long d = r->dropped;
    pthread_mutex_unlock(&r->mu);
    return d;
}
