/*
 * leader.c - Lease-based leader election state machine (see leader.h).
 *
 * All state is touched only from the thread calling leader_tick() /
 * leader_release(), except `leading` and `observed.holder`, which other
 * threads read (health checks), hence the mutex.
 */
#include "kube/leader.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/kmetrics.h"
#include "util/log.h"

typedef enum { TRY_OK, TRY_HELD, TRY_FAILED } try_result;

struct leader {
    leader_lease_api api;
    char *name;
    char *identity;
    double lease_s, renew_deadline_s, retry_s;
    double (*now)(void *);
    void *now_ud;
    void (*on_started)(void *);
    void (*on_stopped)(void *);
    void (*on_new_leader)(void *, const char *);
    void *cb_ud;

    pthread_mutex_t mu;
    int leading;
    leader_record observed;
    double observed_time; /* our clock when `observed` last changed */
    double last_renew;    /* our clock at the last successful renew */
    char reported_holder[256];
};

static double wall_now(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int leader_new(const leader_lease_api *api, const leader_options *o, leader **out, pb_err *err)
{
    int rc = 0;
    leader *le = NULL;
    if (!api || !api->get || !api->create || !api->update || !o || !o->identity || !*o->identity || !out) {
        rc = pb_err_set(err, PB_EINVAL, "leader election: lease API and identity are required");
        goto fail;
    }
    if (strlen(o->identity) >= sizeof le->observed.holder) {
        rc = pb_err_set(err, PB_EINVAL, "leader election: identity too long");
        goto fail;
    }
    double lease = o->lease_duration_s > 0 ? o->lease_duration_s : 15;
    double renew = o->renew_deadline_s > 0 ? o->renew_deadline_s : 10;
    double retry = o->retry_period_s > 0 ? o->retry_period_s : 2;
    if (!(lease > renew) || !(renew > 1.2 * retry)) {
        rc = pb_err_set(err, PB_EINVAL,
                        "leader election: need leaseDuration (%gs) > renewDeadline (%gs) > 1.2 x retryPeriod (%gs)",
                        lease, renew, retry);
        goto fail;
    }
    le = calloc(1, sizeof *le);
    if (!le || !(le->identity = strdup(o->identity)) ||
        !(le->name = strdup(o->lease_name ? o->lease_name : "lease"))) {
        rc = pb_err_set(err, PB_ENOMEM, "leader election: out of memory");
        goto fail;
    }
    le->api = *api;
    le->lease_s = lease;
    le->renew_deadline_s = renew;
    le->retry_s = retry;
    le->now = o->now ? o->now : wall_now;
    le->now_ud = o->now_ud;
    le->on_started = o->on_started_leading;
    le->on_stopped = o->on_stopped_leading;
    le->on_new_leader = o->on_new_leader;
    le->cb_ud = o->cb_ud;
    pthread_mutex_init(&le->mu, NULL);
    *out = le;
    return 0;
fail:
    if (le) {
        free(le->identity);
        free(le->name);
        free(le);
    }
    if (api && api->free)
        api->free(api->ud);
    return rc;
}

void leader_free(leader *le)
{
    if (!le)
        return;
    if (le->api.free)
        le->api.free(le->api.ud);
    pthread_mutex_destroy(&le->mu);
    free(le->identity);
    free(le->name);
    free(le);
}

static int same_record(const leader_record *a, const leader_record *b)
{
    return strcmp(a->resource_version, b->resource_version) == 0 && strcmp(a->holder, b->holder) == 0 &&
           a->renew_time == b->renew_time && a->lease_duration_s == b->lease_duration_s &&
           a->transitions == b->transitions;
}

static void observe(leader *le, const leader_record *r, double now)
{
    pthread_mutex_lock(&le->mu);
    le->observed = *r;
    pthread_mutex_unlock(&le->mu);
    le->observed_time = now;
    if (strcmp(le->reported_holder, r->holder) != 0) {
        snprintf(le->reported_holder, sizeof le->reported_holder, "%s", r->holder);
        if (r->holder[0]) {
            pb_log_info("new leader elected", "lease", le->name, "leader", r->holder, NULL);
            if (le->on_new_leader)
                le->on_new_leader(le->cb_ud, r->holder);
        }
    }
}

/* The shortest time a lease call is given: one that cannot even be tried
 * in time fails at once instead of with a zero timeout's ambiguity. */
#define MIN_CALL_S 0.05

/* What is left until deadline (on the election's clock) for one call. */
static double left_until(leader *le, double deadline)
{
    double left = deadline - le->now(le->now_ud);
    return left > MIN_CALL_S ? left : MIN_CALL_S;
}

/* One attempt; every call in it ends by `deadline`. */
static try_result try_acquire_or_renew(leader *le, double now, double deadline)
{
    leader_record desired = {0};
    snprintf(desired.holder, sizeof desired.holder, "%s", le->identity);
    desired.lease_duration_s = (int)ceil(le->lease_s);
    desired.acquire_time = now;
    desired.renew_time = now;

    pb_err e;
    pb_err_clear(&e);
    leader_record old = {0};
    int rc = le->api.get(le->api.ud, left_until(le, deadline), &old, &e);
    if (rc == PB_ENOTFOUND) {
        rc = le->api.create(le->api.ud, left_until(le, deadline), &desired, &e);
        if (rc) {
            if (rc != PB_EEXIST) /* EEXIST: another candidate was faster, just lost the race */
                pb_log_warn("leader election: creating lease failed", "lease", le->name,
                            "error", pb_err_msg(&e), NULL);
            return TRY_FAILED;
        }
        observe(le, &desired, now);
        return TRY_OK;
    }
    if (rc) {
        pb_log_warn("leader election: reading lease failed", "lease", le->name, "error", pb_err_msg(&e), NULL);
        return TRY_FAILED;
    }
    if (!same_record(&old, &le->observed))
        observe(le, &old, now);
    int ours = strcmp(old.holder, le->identity) == 0;
    if (old.holder[0] && !ours && le->observed_time + old.lease_duration_s > now)
        return TRY_HELD;

    if (ours) {
        desired.acquire_time = old.acquire_time;
        desired.transitions = old.transitions;
    } else {
        desired.transitions = old.transitions + 1;
    }
    snprintf(desired.resource_version, sizeof desired.resource_version, "%s", old.resource_version);
    rc = le->api.update(le->api.ud, left_until(le, deadline), &desired, &e);
    if (rc == PB_ECONFLICT) {
        /* Someone wrote the lease between our read and write: find out who. */
        leader_record now_rec = {0};
        if (le->api.get(le->api.ud, left_until(le, deadline), &now_rec, NULL) == 0) {
            observe(le, &now_rec, now);
            if (now_rec.holder[0] && strcmp(now_rec.holder, le->identity) != 0)
                return TRY_HELD;
        }
        return TRY_FAILED;
    }
    if (rc) {
        pb_log_warn("leader election: updating lease failed", "lease", le->name, "error", pb_err_msg(&e), NULL);
        return TRY_FAILED;
    }
    observe(le, &desired, now);
    return TRY_OK;
}

static void set_leading(leader *le, int leading)
{
    pthread_mutex_lock(&le->mu);
    le->leading = leading;
    pthread_mutex_unlock(&le->mu);
    kmetrics_leader(le->name, leading);
}

static void stop_leading(leader *le, const char *why, int expected)
{
    set_leading(le, 0);
    pb_log(expected ? PB_LOG_INFO : PB_LOG_WARN, "leader election: stopped leading", "lease", le->name,
           "identity", le->identity, "reason", why, NULL);
    if (le->on_stopped)
        le->on_stopped(le->cb_ud);
}

double leader_tick(leader *le)
{
    if (!le)
        return 1;
    double now = le->now(le->now_ud);
    int leading = leader_is_leader(le);
    if (leading && now - le->last_renew >= le->renew_deadline_s) {
        /* Late for our own deadline (a stalled loop): the lease may be
         * another's by now, so no more leading on it. */
        stop_leading(le, "failed to renew within the renew deadline", 0);
        return le->retry_s;
    }
    /* A leader's attempt must end by its renew deadline, a candidate's
     * within one renew deadline. */
    double deadline = leading ? le->last_renew + le->renew_deadline_s : now + le->renew_deadline_s;
    try_result r = try_acquire_or_renew(le, now, deadline);
    if (!leading) {
        if (r == TRY_OK) {
            le->last_renew = now;
            set_leading(le, 1);
            pb_log_info("leader election: acquired lease", "lease", le->name, "identity", le->identity, NULL);
            if (le->on_started)
                le->on_started(le->cb_ud);
        }
    } else if (r == TRY_OK) {
        le->last_renew = now;
    } else if (r == TRY_HELD) {
        stop_leading(le, "lease taken by another candidate", 0);
    } else if (le->now(le->now_ud) - le->last_renew >= le->renew_deadline_s) {
        /* Measured after the attempt: a request that hung for long must
         * not let us believe we still lead. */
        stop_leading(le, "failed to renew within the renew deadline", 0);
    }
    return le->retry_s;
}

int leader_is_leader(leader *le)
{
    if (!le)
        return 0;
    pthread_mutex_lock(&le->mu);
    int l = le->leading;
    pthread_mutex_unlock(&le->mu);
    return l;
}

void leader_holder(leader *le, char *buf, size_t n)
{
    if (!buf || n == 0)
        return;
    buf[0] = '\0';
    if (!le)
        return;
    pthread_mutex_lock(&le->mu);
    snprintf(buf, n, "%s", le->observed.holder);
    pthread_mutex_unlock(&le->mu);
}

int leader_release(leader *le, pb_err *err)
{
    if (!le || !leader_is_leader(le))
        return 0;
    double now = le->now(le->now_ud);
    leader_record rec = {0};
    rec.lease_duration_s = 1;
    rec.acquire_time = now;
    rec.renew_time = now;
    pthread_mutex_lock(&le->mu);
    rec.transitions = le->observed.transitions;
    snprintf(rec.resource_version, sizeof rec.resource_version, "%s", le->observed.resource_version);
    pthread_mutex_unlock(&le->mu);
    /* Bounded by the retry period: a successor that never hears of it
     * still takes over once the lease expires. */
    int rc = le->api.update(le->api.ud, le->retry_s, &rec, err);
    if (rc == 0)
        observe(le, &rec, now);
    else
        pb_err_wrap(err, "releasing lease %s", le->name);
    stop_leading(le, rc == 0 ? "released" : "release failed", rc == 0);
    return rc;
}
