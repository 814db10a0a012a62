/*
 * workqueue.c - de-duplicating, delaying, rate-limited work queue (see
 * workqueue.h for the contract).
 *
 * State, all under one mutex:
 *   queue       FIFO of keys ready to be handed out (linked list);
 *   dirty       keys that must be processed (queued, or added again while
 *               in flight); the value is when the key was added, for the
 *               queue-latency metric;
 *   processing  keys handed out and not yet done(); value = start time;
 *   delayed     keys waiting for add_after(): a binary min-heap on due
 *               time, so adding and popping cost O(log n) however many
 *               keys back off at once (a sorted array cost a memmove of
 *               the whole array per add: 75 us each at 100,000 keys);
 *   waiting     key -> due time, the truth about which key waits until
 *               when: an add_after() that moves a key earlier leaves its
 *               old heap entry behind, and an entry whose due time is not
 *               waiting[key] is dropped when it reaches the top;
 *   failures    key -> failure count for the exponential backoff.
 * The key sets are jansson objects: a ready-made string hash map.
 */
#include "kube/workqueue.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/kmetrics.h"
#include "util/timeutil.h"

typedef struct wq_node {
    char *key;
    double added;
    struct wq_node *next;
} wq_node;

typedef struct wq_delayed {
    char *key;
    double due;
} wq_delayed;

struct workqueue {
    pthread_mutex_t mu;
    pthread_cond_t cond;    /* a key became ready, a delay changed, or shutdown */
    pthread_cond_t idle;    /* processing became empty (for drain) */
    char *name;

    wq_node *head, *tail;
    size_t len;
    json_t *dirty;
    json_t *processing;
    json_t *waiting;
    wq_delayed *delayed;
    size_t ndelayed, cap_delayed;
    json_t *failures;

    double base_delay, max_delay;
    double qps;
    int burst;
    double tokens, tokens_at;

    int shutting_down;
};

static struct timespec abs_deadline(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int workqueue_new(const workqueue_options *o, workqueue **out, pb_err *err)
{
    workqueue_options def = {0};
    if (!o)
        o = &def;
    if (!out)
        return pb_err_set(err, PB_EINVAL, "workqueue_new: out is NULL");
    if (o->base_delay_s < 0 || o->max_delay_s < 0 || o->burst < 0)
        return pb_err_set(err, PB_EINVAL, "workqueue: negative delay or burst");
    workqueue *q = calloc(1, sizeof *q);
    if (!q)
        return pb_err_set(err, PB_ENOMEM, "workqueue: out of memory");
    q->base_delay = o->base_delay_s > 0 ? o->base_delay_s : 0.005;
    q->max_delay = o->max_delay_s > 0 ? o->max_delay_s : 1000.0;
    q->qps = o->qps != 0 ? o->qps : 10.0;
    q->burst = o->burst > 0 ? o->burst : 100;
    q->tokens = q->burst;
    q->tokens_at = pb_time_mono_s();
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cond, &ca);
    pthread_cond_init(&q->idle, &ca);
    pthread_condattr_destroy(&ca);
    q->name = o->name ? strdup(o->name) : NULL;
    q->dirty = json_object();
    q->processing = json_object();
    q->waiting = json_object();
    q->failures = json_object();
    if ((o->name && !q->name) || !q->dirty || !q->processing || !q->waiting || !q->failures) {
        workqueue_free(q);
        return pb_err_set(err, PB_ENOMEM, "workqueue: out of memory");
    }
    *out = q;
    return 0;
}

void workqueue_free(workqueue *q)
{
    if (!q)
        return;
    wq_node *n = q->head;
    while (n) {
        wq_node *next = n->next;
        free(n->key);
        free(n);
        n = next;
    }
    for (size_t i = 0; i < q->ndelayed; i++)
        free(q->delayed[i].key);
    free(q->delayed);
    json_decref(q->dirty);
    json_decref(q->processing);
    json_decref(q->waiting);
    json_decref(q->failures);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cond);
    pthread_cond_destroy(&q->idle);
    free(q->name);
    free(q);
}

static void update_unfinished_locked(workqueue *q, double now)
{
    if (!q->name)
        return;
    double total = 0, longest = 0;
    const char *k;
    json_t *v;
    json_object_foreach(q->processing, k, v) {
        double d = now - json_real_value(v);
        total += d;
        if (d > longest)
            longest = d;
    }
    kmetrics_workqueue_unfinished(q->name, total, longest);
}

/* Append key to the FIFO. */
static void push_locked(workqueue *q, const char *key, double added)
{
    wq_node *n = malloc(sizeof *n);
    char *k = strdup(key);
    if (!n || !k) { /* out of memory: losing a key beats crashing; resync recovers it */
        free(n);
        free(k);
        return;
    }
    n->key = k;
    n->added = added;
    n->next = NULL;
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    q->len++;
    kmetrics_workqueue_depth(q->name, (long)q->len);
    pthread_cond_signal(&q->cond);
}

static void add_locked(workqueue *q, const char *key, double now)
{
    if (q->shutting_down || json_object_get(q->dirty, key))
        return;
    kmetrics_workqueue_add(q->name);
    json_object_set_new_nocheck(q->dirty, key, json_real(now));
    if (json_object_get(q->processing, key))
        return; /* done() re-queues it */
    push_locked(q, key, now);
}

void workqueue_add(workqueue *q, const char *key)
{
    if (!q || !key)
        return;
    pthread_mutex_lock(&q->mu);
    add_locked(q, key, pb_time_mono_s());
    pthread_mutex_unlock(&q->mu);
}

/* ---- the delayed heap: delayed[0] is due first ---- */

static void heap_swap(wq_delayed *h, size_t a, size_t b)
{
    wq_delayed t = h[a];
    h[a] = h[b];
    h[b] = t;
}

static void heap_up(wq_delayed *h, size_t i)
{
    while (i > 0 && h[(i - 1) / 2].due > h[i].due) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(wq_delayed *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].due < h[m].due)
            m = l;
        if (r < n && h[r].due < h[m].due)
            m = r;
        if (m == i)
            return;
        heap_swap(h, i, m);
        i = m;
    }
}

/* Remove and return the entry due first (ndelayed > 0). */
static wq_delayed heap_pop(workqueue *q)
{
    wq_delayed top = q->delayed[0];
    q->delayed[0] = q->delayed[--q->ndelayed];
    heap_down(q->delayed, q->ndelayed, 0);
    return top;
}

/* 1 when the entry is the one waiting[key] refers to, not one left behind
 * by a later add_after() that moved the key earlier. */
static int entry_live(workqueue *q, const wq_delayed *d)
{
    json_t *w = json_object_get(q->waiting, d->key);
    return w && json_real_value(w) == d->due;
}

/* Drop left-behind entries once they outnumber the live ones: a key moved
 * earlier again and again must not grow the heap without bound. */
static void heap_compact(workqueue *q)
{
    size_t live = json_object_size(q->waiting);
    if (q->ndelayed < 64 || q->ndelayed <= 2 * live)
        return;
    size_t n = 0;
    for (size_t i = 0; i < q->ndelayed; i++) {
        if (entry_live(q, &q->delayed[i]))
            q->delayed[n++] = q->delayed[i];
        else
            free(q->delayed[i].key);
    }
    q->ndelayed = n;
    for (size_t i = n / 2; i-- > 0;)
        heap_down(q->delayed, n, i);
}

void workqueue_add_after(workqueue *q, const char *key, double delay_s)
{
    if (!q || !key)
        return;
    if (!(delay_s > 0)) {
        workqueue_add(q, key);
        return;
    }
    pthread_mutex_lock(&q->mu);
    double due = pb_time_mono_s() + delay_s;
    json_t *prev = json_object_get(q->waiting, key);
    if (q->shutting_down || (prev && json_real_value(prev) <= due)) {
        pthread_mutex_unlock(&q->mu);
        return;
    }
    if (prev)
        heap_compact(q); /* the old entry stays behind (see the top) */
    if (q->ndelayed == q->cap_delayed) {
        size_t cap = q->cap_delayed ? q->cap_delayed * 2 : 16;
        wq_delayed *d = realloc(q->delayed, cap * sizeof *d);
        if (!d) {
            pthread_mutex_unlock(&q->mu);
            return;
        }
        q->delayed = d;
        q->cap_delayed = cap;
    }
    char *k = strdup(key);
    if (!k) {
        pthread_mutex_unlock(&q->mu);
        return;
    }
    if (json_object_set_new_nocheck(q->waiting, key, json_real(due)) != 0) {
        free(k); /* out of memory: as if never delayed; resync recovers it */
        pthread_mutex_unlock(&q->mu);
        return;
    }
    q->delayed[q->ndelayed].key = k;
    q->delayed[q->ndelayed].due = due;
    heap_up(q->delayed, q->ndelayed++);
    /* Workers sleep until the first due time: wake them only when that
     * moved earlier (a wakeup per add was a futex storm at 100,000 keys). */
    if (q->delayed[0].key == k)
        pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
}

double workqueue_when(workqueue *q, const char *key)
{
    if (!q || !key)
        return 0;
    pthread_mutex_lock(&q->mu);
    json_int_t n = json_integer_value(json_object_get(q->failures, key));
    json_object_set_new_nocheck(q->failures, key, json_integer(n + 1));
    double backoff = q->base_delay * pow(2.0, (double)n);
    if (!(backoff < q->max_delay)) /* also catches inf */
        backoff = q->max_delay;

    double bucket = 0;
    if (q->qps > 0) {
        /* Token bucket that may go negative: each reservation takes a token
         * now and waits until the refill has paid it back (golang.org/x/time/rate). */
        double now = pb_time_mono_s();
        q->tokens += (now - q->tokens_at) * q->qps;
        if (q->tokens > q->burst)
            q->tokens = q->burst;
        q->tokens_at = now;
        q->tokens -= 1;
        if (q->tokens < 0)
            bucket = -q->tokens / q->qps;
    }
    pthread_mutex_unlock(&q->mu);
    return backoff > bucket ? backoff : bucket;
}

void workqueue_forget(workqueue *q, const char *key)
{
    if (!q || !key)
        return;
    pthread_mutex_lock(&q->mu);
    json_object_del(q->failures, key);
    pthread_mutex_unlock(&q->mu);
}

int workqueue_num_requeues(workqueue *q, const char *key)
{
    if (!q || !key)
        return 0;
    pthread_mutex_lock(&q->mu);
    int n = (int)json_integer_value(json_object_get(q->failures, key));
    pthread_mutex_unlock(&q->mu);
    return n;
}

void workqueue_add_rate_limited(workqueue *q, const char *key)
{
    if (!q || !key)
        return;
    kmetrics_workqueue_retry(q->name);
    workqueue_add_after(q, key, workqueue_when(q, key));
}

/* Move delayed keys that are due into the FIFO. */
static void promote_due_locked(workqueue *q, double now)
{
    while (q->ndelayed > 0 && q->delayed[0].due <= now) {
        wq_delayed d = heap_pop(q);
        if (entry_live(q, &d)) {
            json_object_del(q->waiting, d.key);
            add_locked(q, d.key, now);
        }
        free(d.key);
    }
}

int workqueue_get(workqueue *q, char **key)
{
    if (!q || !key)
        return PB_EINVAL;
    *key = NULL;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->shutting_down) {
            pthread_mutex_unlock(&q->mu);
            return PB_ECANCELED;
        }
        promote_due_locked(q, pb_time_mono_s());
        if (q->head)
            break;
        if (q->ndelayed > 0) {
            struct timespec ts = abs_deadline(q->delayed[0].due);
            pthread_cond_timedwait(&q->cond, &q->mu, &ts);
        } else {
            pthread_cond_wait(&q->cond, &q->mu);
        }
    }
    wq_node *n = q->head;
    q->head = n->next;
    if (!q->head)
        q->tail = NULL;
    q->len--;
    double now = pb_time_mono_s();
    json_object_set_new_nocheck(q->processing, n->key, json_real(now));
    json_object_del(q->dirty, n->key);
    kmetrics_workqueue_depth(q->name, (long)q->len);
    kmetrics_workqueue_queue_duration(q->name, now - n->added);
    update_unfinished_locked(q, now);
    pthread_mutex_unlock(&q->mu);
    *key = n->key; /* ownership passes to the caller */
    free(n);
    return 0;
}

void workqueue_done(workqueue *q, const char *key)
{
    if (!q || !key)
        return;
    pthread_mutex_lock(&q->mu);
    json_t *started = json_object_get(q->processing, key);
    if (started) {
        double now = pb_time_mono_s();
        kmetrics_workqueue_work_duration(q->name, now - json_real_value(started));
        json_object_del(q->processing, key);
        json_t *again = json_object_get(q->dirty, key);
        if (again && !q->shutting_down)
            push_locked(q, key, json_real_value(again));
        update_unfinished_locked(q, now);
        if (json_object_size(q->processing) == 0)
            pthread_cond_broadcast(&q->idle);
    }
    pthread_mutex_unlock(&q->mu);
}

size_t workqueue_len(workqueue *q)
{
    if (!q)
        return 0;
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

size_t workqueue_in_flight(workqueue *q)
{
    if (!q)
        return 0;
    pthread_mutex_lock(&q->mu);
    size_t n = json_object_size(q->processing);
    pthread_mutex_unlock(&q->mu);
    return n;
}

void workqueue_shutdown(workqueue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->shutting_down = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
}

int workqueue_shutdown_drain(workqueue *q, double timeout_s)
{
    if (!q)
        return PB_EINVAL;
    workqueue_shutdown(q);
    struct timespec ts = abs_deadline(pb_time_mono_s() + (timeout_s > 0 ? timeout_s : 0));
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    while (json_object_size(q->processing) > 0) {
        if (pthread_cond_timedwait(&q->idle, &q->mu, &ts) == ETIMEDOUT) {
            rc = json_object_size(q->processing) > 0 ? PB_ETIMEOUT : 0;
            break;
        }
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int workqueue_shutting_down(workqueue *q)
{
    if (!q)
        return 1;
    pthread_mutex_lock(&q->mu);
    int s = q->shutting_down;
    pthread_mutex_unlock(&q->mu);
    return s;
}
