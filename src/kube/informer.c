/*
 * informer.c - reflector (list + watch loop) and shared informer (store +
 * handler fan-out). See informer.h for the contract.
 *
 * Locking: `hmu` serialises "change the store and tell the handlers" with
 * informer_add_handler(), so a late handler sees every object exactly once
 * (from its synthetic adds or from a later event, never both, never
 * neither). `mu` guards the small state other threads read (synced,
 * resourceVersion) and the interruptible sleeps.
 */
#include "kube/informer.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/kmetrics.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/timeutil.h"

struct informer {
    informer_source src;
    char *name;
    double resync_s, backoff_initial, backoff_max, watch_timeout;
    store *cache;

    pthread_mutex_t hmu;
    informer_handler *handlers;
    size_t nhandlers;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int synced;
    int lists;
    char rv[128];
    double next_resync;

    atomic_int stop;
    int started;
    int joined;
    pthread_t thread;
    long events_this_watch;
};

static const char *rv_of(json_t *obj)
{
    const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    return rv ? rv : "";
}

int informer_new(const informer_source *src, const informer_options *o, informer **out, pb_err *err)
{
    informer_options def = {0};
    if (!o)
        o = &def;
    if (!src || !src->list || !src->watch || !out) {
        if (src && src->free)
            src->free(src->ud);
        return pb_err_set(err, PB_EINVAL, "informer_new: source needs list and watch");
    }
    informer *inf = calloc(1, sizeof *inf);
    if (inf) {
        inf->name = strdup(o->name ? o->name : "informer");
        inf->cache = store_new();
    }
    if (!inf || !inf->name || !inf->cache) {
        if (inf) {
            free(inf->name);
            store_free(inf->cache);
        }
        free(inf);
        if (src->free)
            src->free(src->ud);
        return pb_err_set(err, PB_ENOMEM, "informer: out of memory");
    }
    inf->src = *src;
    inf->resync_s = o->resync_s > 0 ? o->resync_s : 0;
    inf->backoff_initial = o->backoff_initial_s > 0 ? o->backoff_initial_s : 0.8;
    inf->backoff_max = o->backoff_max_s > 0 ? o->backoff_max_s : 30;
    inf->watch_timeout = o->watch_timeout_s > 0 ? o->watch_timeout_s : 0;
    pthread_mutex_init(&inf->hmu, NULL);
    pthread_mutex_init(&inf->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&inf->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&inf->stop, 0);
    *out = inf;
    return 0;
}

void informer_free(informer *inf)
{
    if (!inf)
        return;
    informer_stop(inf);
    if (inf->src.free)
        inf->src.free(inf->src.ud);
    store_free(inf->cache);
    free(inf->handlers);
    pthread_mutex_destroy(&inf->hmu);
    pthread_mutex_destroy(&inf->mu);
    pthread_cond_destroy(&inf->cv);
    free(inf->name);
    free(inf);
}

/* --- handler fan-out (callers hold hmu) ----------------------------------- */

static void emit_add(informer *inf, json_t *obj)
{
    for (size_t i = 0; i < inf->nhandlers; i++)
        if (inf->handlers[i].on_add)
            inf->handlers[i].on_add(inf->handlers[i].ud, obj);
}

static void emit_update(informer *inf, json_t *old_obj, json_t *new_obj)
{
    for (size_t i = 0; i < inf->nhandlers; i++)
        if (inf->handlers[i].on_update)
            inf->handlers[i].on_update(inf->handlers[i].ud, old_obj, new_obj);
}

static void emit_delete(informer *inf, json_t *obj)
{
    for (size_t i = 0; i < inf->nhandlers; i++)
        if (inf->handlers[i].on_delete)
            inf->handlers[i].on_delete(inf->handlers[i].ud, obj);
}

/* Store obj and tell the handlers: an add, or an update from what the
 * cache held. A store that refuses it (err says why) tells nobody. */
static void upsert_and_emit(informer *inf, json_t *obj, pb_err *err)
{
    json_t *old = NULL, *nw = NULL;
    if (store_upsert(inf->cache, obj, &old, &nw, err) == 0) {
        if (old)
            emit_update(inf, old, nw);
        else
            emit_add(inf, nw);
    }
    json_decref(old);
    json_decref(nw);
}

int informer_add_handler(informer *inf, const informer_handler *h, pb_err *err)
{
    if (!inf || !h)
        return pb_err_set(err, PB_EINVAL, "informer_add_handler: missing handler");
    pthread_mutex_lock(&inf->hmu);
    informer_handler *grown = realloc(inf->handlers, (inf->nhandlers + 1) * sizeof *grown);
    if (!grown) {
        pthread_mutex_unlock(&inf->hmu);
        return pb_err_set(err, PB_ENOMEM, "informer: out of memory");
    }
    inf->handlers = grown;
    inf->handlers[inf->nhandlers++] = *h;
    if (h->on_add) {
        json_t *all = store_list(inf->cache);
        size_t i;
        json_t *o;
        json_array_foreach(all, i, o)
            h->on_add(h->ud, o);
        json_decref(all);
    }
    pthread_mutex_unlock(&inf->hmu);
    return 0;
}

/* --- reflector ------------------------------------------------------------ */

/* The cache's size for the paybill_informer_cache_* gauges. */
static void report_cache(informer *inf)
{
    kmetrics_informer_cache(inf->name, store_len(inf->cache), store_bytes(inf->cache));
}

static void set_rv(informer *inf, const char *rv)
{
    if (!rv || !*rv)
        return;
    pthread_mutex_lock(&inf->mu);
    snprintf(inf->rv, sizeof inf->rv, "%s", rv);
    pthread_mutex_unlock(&inf->mu);
}

/* Sleep up to s seconds; returns early (non-zero) when stopping. */
static int sleep_or_stop(informer *inf, double s)
{
    double until = pb_time_mono_s() + s;
    struct timespec ts = {.tv_sec = (time_t)until,
                          .tv_nsec = (long)((until - (double)(time_t)until) * 1e9)};
    pthread_mutex_lock(&inf->mu);
    while (!atomic_load(&inf->stop))
        if (pthread_cond_timedwait(&inf->cv, &inf->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&inf->mu);
    return atomic_load(&inf->stop);
}

static void maybe_resync(informer *inf)
{
    if (inf->resync_s <= 0 || pb_time_mono_s() < inf->next_resync)
        return;
    pthread_mutex_lock(&inf->hmu);
    json_t *all = store_list(inf->cache);
    size_t i;
    json_t *o;
    json_array_foreach(all, i, o)
        emit_update(inf, o, o);
    json_decref(all);
    pthread_mutex_unlock(&inf->hmu);
    inf->next_resync = pb_time_mono_s() + inf->resync_s;
}

/* A relist, page by page: pages are stored as they arrive (the whole list
 * never sits in memory), and once the last page is in, whatever the list
 * did not mention has vanished. */
typedef struct relist {
    informer *inf;
    json_t *seen; /* keys in this pass's pages */
    char rv[128]; /* the snapshot's resourceVersion (first page) */
} relist;

static int relist_page(void *ud, json_t *page, int first)
{
    relist *rl = ud;
    informer *inf = rl->inf;
    if (atomic_load(&inf->stop))
        return 1;
    if (first) { /* a new pass: what an earlier one saw proves nothing */
        json_object_clear(rl->seen);
        snprintf(rl->rv, sizeof rl->rv, "%s", rv_of(page));
    }
    char key[512], cur_rv[64];
    size_t i;
    json_t *item;
    pthread_mutex_lock(&inf->hmu);
    json_array_foreach(json_object_get(page, "items"), i, item) {
        if (store_key_of(item, key, sizeof key, NULL) != 0)
            continue;
        json_object_set_new_nocheck(rl->seen, key, json_true());
        if (store_resource_version(inf->cache, key, cur_rv, sizeof cur_rv) == 0 &&
            strcmp(cur_rv, rv_of(item)) == 0)
            continue; /* unchanged while we were away: no event */
        upsert_and_emit(inf, item, NULL);
    }
    pthread_mutex_unlock(&inf->hmu);
    report_cache(inf);
    return 0;
}

/* After the last page: deletes for what the list did not mention, then
 * the informer is synced at the list's resourceVersion. */
static void relist_finish(relist *rl)
{
    informer *inf = rl->inf;
    pthread_mutex_lock(&inf->hmu);
    json_t *keys = store_list_keys(inf->cache);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        const char *ks = json_string_value(k);
        if (json_object_get(rl->seen, ks))
            continue;
        json_t *old = NULL;
        if (store_delete(inf->cache, ks, &old) == 0)
            emit_delete(inf, old); /* vanished while disconnected */
        json_decref(old);
    }
    json_decref(keys);
    pthread_mutex_unlock(&inf->hmu);
    report_cache(inf);

    set_rv(inf, rl->rv);
    pthread_mutex_lock(&inf->mu);
    inf->synced = 1;
    inf->lists++;
    pthread_cond_broadcast(&inf->cv);
    pthread_mutex_unlock(&inf->mu);
}

static int on_watch_event(void *ud, const char *type, json_t *obj)
{
    informer *inf = ud;
    if (atomic_load(&inf->stop))
        return 1;
    inf->events_this_watch++;
    if (strcmp(type, "BOOKMARK") == 0) {
        set_rv(inf, rv_of(obj));
        return 0;
    }
    int deleted = strcmp(type, "DELETED") == 0;
    if (!deleted && strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0) {
        pb_log_debug("informer: ignoring watch event", "informer", inf->name, "type", type, NULL);
        return 0;
    }
    char key[512];
    pb_err e;
    if (store_key_of(obj, key, sizeof key, &e) != 0) {
        pb_log_warn("informer: watch event without a usable name", "informer", inf->name,
                    "error", pb_err_msg(&e), NULL);
        return 0;
    }
    pthread_mutex_lock(&inf->hmu);
    if (deleted) {
        json_t *old = NULL;
        if (store_delete(inf->cache, key, &old) == 0) {
            json_t *last = store_strip(obj); /* the final state the server sent */
            emit_delete(inf, last ? last : old);
            json_decref(last);
        }
        json_decref(old);
    } else {
        upsert_and_emit(inf, obj, &e);
    }
    pthread_mutex_unlock(&inf->hmu);
    report_cache(inf);
    set_rv(inf, rv_of(obj));
    maybe_resync(inf);
    return 0;
}

static void *reflector(void *arg)
{
    informer *inf = arg;
    pb_thread_name("inf:", inf->name);
    double backoff = inf->backoff_initial;
    inf->next_resync = pb_time_mono_s() + inf->resync_s;
    while (!atomic_load(&inf->stop)) {
        pb_err e;
        pb_err_clear(&e);
        relist rl = {.inf = inf, .seen = json_object()};
        int rc = rl.seen ? inf->src.list(inf->src.ud, relist_page, &rl, &e)
                         : pb_err_set(&e, PB_ENOMEM, "informer: out of memory");
        if (rc == 0 && !atomic_load(&inf->stop))
            relist_finish(&rl);
        json_decref(rl.seen);
        if (atomic_load(&inf->stop))
            break;
        if (rc != 0) {
            pb_log_warn("informer: list failed", "informer", inf->name, "error", pb_err_msg(&e), NULL);
            sleep_or_stop(inf, backoff);
            backoff = backoff * 2 < inf->backoff_max ? backoff * 2 : inf->backoff_max;
            continue;
        }
        backoff = inf->backoff_initial;

        while (!atomic_load(&inf->stop)) {
            maybe_resync(inf);
            /* Like client-go, 5 to 10 minutes by default, spread so that
             * many informers do not all reconnect at the same moment. */
            double timeout = inf->watch_timeout > 0 ? inf->watch_timeout
                                                    : 300 + fmod(pb_time_mono_s() * 1000.0, 300.0);
            if (inf->resync_s > 0) {
                double until = inf->next_resync - pb_time_mono_s();
                if (until < timeout)
                    timeout = until > 0.001 ? until : 0.001;
            }
            char rv[128];
            informer_resource_version(inf, rv, sizeof rv);
            inf->events_this_watch = 0;
            double started = pb_time_mono_s();
            pb_err_clear(&e);
            rc = inf->src.watch(inf->src.ud, rv, timeout, on_watch_event, inf, &inf->stop, &e);
            if (atomic_load(&inf->stop))
                break;
            kmetrics_informer_watch_restart(inf->name);
            if (rc == PB_EGONE) {
                pb_log_info("informer: resourceVersion expired, relisting", "informer", inf->name,
                            "resourceVersion", rv, NULL);
                kmetrics_informer_relist(inf->name);
                break;
            }
            if (rc == 0 && (inf->events_this_watch > 0 || pb_time_mono_s() - started >= 1.0 ||
                            pb_time_mono_s() - started >= timeout)) {
                backoff = inf->backoff_initial;
                continue; /* normal end of stream: resume from the last resourceVersion */
            }
            if (rc != 0)
                pb_log_warn("informer: watch failed", "informer", inf->name, "error", pb_err_msg(&e), NULL);
            /* An error, or a stream that closed at once with nothing in it:
             * do not hammer the server. */
            sleep_or_stop(inf, backoff);
            backoff = backoff * 2 < inf->backoff_max ? backoff * 2 : inf->backoff_max;
        }
    }
    return NULL;
}

int informer_start(informer *inf, pb_err *err)
{
    if (!inf || inf->started)
        return pb_err_set(err, PB_EINVAL, "informer_start: already started");
    if (pthread_create(&inf->thread, NULL, reflector, inf) != 0)
        return pb_err_set(err, PB_EIO, "informer %s: cannot create thread", inf->name);
    inf->started = 1;
    return 0;
}

void informer_stop(informer *inf)
{
    if (!inf)
        return;
    pthread_mutex_lock(&inf->mu);
    atomic_store(&inf->stop, 1);
    pthread_cond_broadcast(&inf->cv);
    pthread_mutex_unlock(&inf->mu);
    if (inf->src.wake)
        inf->src.wake(inf->src.ud);
    if (inf->started && !inf->joined) {
        pthread_join(inf->thread, NULL);
        inf->joined = 1;
    }
}

int informer_has_synced(informer *inf)
{
    if (!inf)
        return 0;
    pthread_mutex_lock(&inf->mu);
    int s = inf->synced;
    pthread_mutex_unlock(&inf->mu);
    return s;
}

int informer_wait_for_sync(informer *inf, double timeout_s)
{
    if (!inf)
        return PB_EINVAL;
    double until = pb_time_mono_s() + (timeout_s > 0 ? timeout_s : 0);
    struct timespec ts = {.tv_sec = (time_t)until,
                          .tv_nsec = (long)((until - (double)(time_t)until) * 1e9)};
    int rc = 0;
    pthread_mutex_lock(&inf->mu);
    while (!inf->synced) {
        if (atomic_load(&inf->stop)) {
            rc = PB_ECANCELED;
            break;
        }
        if (pthread_cond_timedwait(&inf->cv, &inf->mu, &ts) == ETIMEDOUT) {
            rc = inf->synced ? 0 : PB_ETIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&inf->mu);
    return rc;
}

store *informer_store(informer *inf)
{
    return inf ? inf->cache : NULL;
}

const char *informer_name(informer *inf)
{
    return inf ? inf->name : "";
}

void informer_resource_version(informer *inf, char *buf, size_t n)
{
    if (!buf || n == 0)
        return;
    buf[0] = '\0';
    if (!inf)
        return;
    pthread_mutex_lock(&inf->mu);
    snprintf(buf, n, "%s", inf->rv);
    pthread_mutex_unlock(&inf->mu);
}

int informer_list_count(informer *inf)
{
    if (!inf)
        return 0;
    pthread_mutex_lock(&inf->mu);
    int n = inf->lists;
    pthread_mutex_unlock(&inf->mu);
    return n;
}
