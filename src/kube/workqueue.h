/*
 * workqueue.h - the rate-limited, de-duplicating work queue controllers pull
 * reconcile requests from (client-go's workqueue.RateLimitingInterface).
 *
 * Items are string keys ("namespace/name"). The queue guarantees:
 *   - a key is queued at most once however often it is added (dirty set);
 *   - a key is never handed to two workers at once: a key added while it is
 *     being processed is remembered and queued again once, after done();
 *   - add_after() delays an add (requeue-after), keeping the earliest time
 *     when the same key is delayed twice;
 *   - add_rate_limited() delays by the rate limiter, which is the maximum of
 *     a per-key exponential backoff (base 5 ms doubling up to 1000 s, reset
 *     by forget(): ItemExponentialFailureRateLimiter) and an overall token
 *     bucket (10 qps, burst 100: BucketRateLimiter), exactly
 *     controller-runtime's default controller rate limiter.
 *
 * Shutdown: after workqueue_shutdown() adds are ignored and workqueue_get()
 * returns PB_ECANCELED at once, even if keys are still queued (unlike
 * client-go, which hands out the backlog: we want "stop taking work" to be
 * immediate; the next leader reconciles everything anyway).
 * workqueue_shutdown_drain() additionally waits for keys being processed to
 * be done(), up to a deadline.
 *
 * Delayed adds need no timer thread: workers blocked in get() sleep only
 * until the earliest delayed key is due.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef PAYBILL_KUBE_WORKQUEUE_H
#define PAYBILL_KUBE_WORKQUEUE_H

#include <stddef.h>

#include "util/err.h"

typedef struct workqueue workqueue;

typedef struct workqueue_options {
    const char *name;       /* label for workqueue_* metrics; NULL = no metrics */
    double base_delay_s;    /* per-key backoff start; 0 = 0.005 */
    double max_delay_s;     /* per-key backoff cap; 0 = 1000 */
    double qps;             /* overall bucket refill; 0 = 10, < 0 = no bucket */
    int burst;              /* overall bucket size; 0 = 100 */
} workqueue_options;

/* o may be NULL for all defaults. The name is copied. */
int workqueue_new(const workqueue_options *o, workqueue **out, pb_err *err);

/* Frees the queue. No thread may be using it any more. */
void workqueue_free(workqueue *q);

void workqueue_add(workqueue *q, const char *key);
void workqueue_add_after(workqueue *q, const char *key, double delay_s);
/* add_after(key, when(key)) and count a retry. */
void workqueue_add_rate_limited(workqueue *q, const char *key);

/* The rate limiter's delay for the key's next retry; records one more
 * failure for the key (so two calls give 5 ms then 10 ms). */
double workqueue_when(workqueue *q, const char *key);
/* Stop tracking failures of key: its next backoff starts at the base. */
void workqueue_forget(workqueue *q, const char *key);
/* Failures recorded for key since the last forget(). */
int workqueue_num_requeues(workqueue *q, const char *key);

/* Block until a key is ready; *key receives a malloc'd copy the caller frees
 * (after workqueue_done). Returns 0, or PB_ECANCELED once shut down. */
int workqueue_get(workqueue *q, char **key);

/* The caller has finished processing key (whatever the outcome). */
void workqueue_done(workqueue *q, const char *key);

/* Keys queued and ready (not counting delayed ones or those in flight). */
size_t workqueue_len(workqueue *q);
/* Keys currently being processed (between get and done). */
size_t workqueue_in_flight(workqueue *q);

void workqueue_shutdown(workqueue *q);
/* Shut down and wait until no key is being processed, at most timeout_s
 * seconds. 0, or PB_ETIMEOUT if work was still in flight at the deadline. */
int workqueue_shutdown_drain(workqueue *q, double timeout_s);
int workqueue_shutting_down(workqueue *q);

#endif
