/*
 * ratelimit.h - client-side token bucket (qps sustained, burst peak).
 *
 * What keeps one operator from flooding the API server: every request of a
 * kube_client takes one token first. The bucket starts full (burst tokens)
 * and refills at qps tokens per second. Waiting is done by reservation, like
 * Go's rate.Limiter: a caller takes the next token even if it lies in the
 * future and sleeps outside the lock until then, so waiters are served in
 * arrival order and the lock is never held while sleeping.
 *
 * Thread-safe. The limiter is owned by whoever called kube_ratelimit_new().
 */
#ifndef PAYBILL_KUBE_RATELIMIT_H
#define PAYBILL_KUBE_RATELIMIT_H

typedef struct kube_ratelimit kube_ratelimit;

/* qps <= 0 means unlimited; burst < 1 is taken as 1. NULL when out of memory. */
kube_ratelimit *kube_ratelimit_new(double qps, int burst);
void kube_ratelimit_free(kube_ratelimit *rl);

/* Take one token, sleeping until it is available. Returns the seconds
 * waited (0 when a token was there). */
double kube_ratelimit_wait(kube_ratelimit *rl);

/* Take one token only if available now: 1 when taken, 0 otherwise. */
int kube_ratelimit_try(kube_ratelimit *rl);

#endif
