/*
 * ratelimit.c - token bucket with reservation (see ratelimit.h).
 *
 * State is "tokens available at time `last`"; tokens may go negative, which
 * is how a reservation in the future is recorded: -k tokens means k callers
 * are already waiting, and the next one waits (k + 1) / qps seconds.
 */
#include "kube/ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "util/timeutil.h"

struct kube_ratelimit {
    pthread_mutex_t mu;
    double qps;
    double burst;
    double tokens;
    double last; /* monotonic seconds of the last update */
};

kube_ratelimit *kube_ratelimit_new(double qps, int burst)
{
    kube_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    pthread_mutex_init(&rl->mu, NULL);
    rl->qps = qps;
    rl->burst = burst < 1 ? 1 : burst;
    rl->tokens = rl->burst;
    rl->last = pb_time_mono_s();
    return rl;
}

void kube_ratelimit_free(kube_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

/* Bring the bucket up to `now`; caller holds the lock. */
static void refill(kube_ratelimit *rl, double now)
{
    if (now > rl->last) {
        rl->tokens += (now - rl->last) * rl->qps;
        if (rl->tokens > rl->burst)
            rl->tokens = rl->burst;
        rl->last = now;
    }
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

double kube_ratelimit_wait(kube_ratelimit *rl)
{
    if (!rl || rl->qps <= 0)
        return 0;
    pthread_mutex_lock(&rl->mu);
    double now = pb_time_mono_s();
    refill(rl, now);
    rl->tokens -= 1;
    double wait = rl->tokens >= 0 ? 0 : -rl->tokens / rl->qps;
    pthread_mutex_unlock(&rl->mu);
    if (wait > 0)
        sleep_s(wait);
    return wait;
}

int kube_ratelimit_try(kube_ratelimit *rl)
{
    if (!rl || rl->qps <= 0)
        return 1;
    pthread_mutex_lock(&rl->mu);
    refill(rl, pb_time_mono_s());
    int ok = rl->tokens >= 1;
    if (ok)
        rl->tokens -= 1;
    pthread_mutex_unlock(&rl->mu);
    return ok;
}
