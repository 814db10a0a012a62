/*
 * leader.h - leader election on a coordination.k8s.io/v1 Lease, the way
 * client-go's leaderelection package does it, so a Paybill operator and
 * kubectl / other tools read the same lease the same way.
 *
 * The lease records holderIdentity, leaseDurationSeconds, acquireTime,
 * renewTime and leaseTransitions. Every write is an update carrying the
 * resourceVersion we read (optimistic concurrency): when two candidates race,
 * the API server accepts one and answers 409 Conflict to the other.
 *
 * Rules (client-go's tryAcquireOrRenew):
 *   - no lease: create it holding it;
 *   - held by someone else: it is only taken over when it has not changed
 *     for leaseDuration as measured on OUR clock since we first saw that
 *     version (clocks of different machines are never compared);
 *   - held by us: renew (renewTime = now);
 *   - a leader that has not renewed for renewDeadline, or that sees another
 *     holder, stops leading at once; the manager then stops its controllers.
 *   - leader_release() (clean shutdown, client-go's ReleaseOnCancel) writes
 *     an empty holderIdentity and leaseDurationSeconds=1 so a successor
 *     takes over immediately instead of waiting out the lease.
 *
 * No thread of its own: the owner calls leader_tick() every time it returns
 * (the retry period) - the manager does this from its main loop. Callbacks
 * run inside leader_tick()/leader_release().
 *
 * The lease is read and written through a leader_lease_api (function
 * pointers), leader_lease_api_kube() being the real one; the clock is
 * injectable. Both make the decision logic testable without a server.
 */
#ifndef PAYBILL_KUBE_LEADER_H
#define PAYBILL_KUBE_LEADER_H

#include "kube/client.h"
#include "util/err.h"

typedef struct leader leader;

typedef struct leader_record {
    char holder[256];          /* spec.holderIdentity; "" = nobody */
    int lease_duration_s;      /* spec.leaseDurationSeconds */
    double acquire_time;       /* spec.acquireTime, seconds since the epoch; 0 = unset */
    double renew_time;         /* spec.renewTime */
    int transitions;           /* spec.leaseTransitions */
    char resource_version[64]; /* metadata.resourceVersion */
} leader_record;

typedef struct leader_lease_api {
    /* Each call must return within timeout_s seconds (> 0): the election
     * gives a renewal no more than what is left of the renew deadline, so
     * a hung API server cannot keep a leader believing it leads after the
     * lease may have passed to another (client-go bounds its renewals by
     * RenewDeadline the same way). */
    /* Read the lease: 0, PB_ENOTFOUND, or another error. */
    int (*get)(void *ud, double timeout_s, leader_record *out, pb_err *err);
    /* Create it from rec; on 0, rec->resource_version is the new one;
     * PB_EEXIST when another candidate created it first. */
    int (*create)(void *ud, double timeout_s, leader_record *rec, pb_err *err);
    /* Replace it, conditional on rec->resource_version; on 0 the field is
     * refreshed; PB_ECONFLICT when the lease changed since it was read. */
    int (*update)(void *ud, double timeout_s, leader_record *rec, pb_err *err);
    void (*free)(void *ud); /* may be NULL */
    void *ud;
} leader_lease_api;

typedef struct leader_options {
    const char *lease_name;    /* for logs and metrics; copied */
    const char *identity;      /* required, unique per candidate (pod name + random); copied */
    double lease_duration_s;   /* 0 = 15 */
    double renew_deadline_s;   /* 0 = 10 */
    double retry_period_s;     /* 0 = 2 */
    double (*now)(void *ud);   /* wall clock in seconds; NULL = the real one */
    void *now_ud;
    void (*on_started_leading)(void *ud);
    void (*on_stopped_leading)(void *ud); /* lost or released */
    void (*on_new_leader)(void *ud, const char *identity); /* optional */
    void *cb_ud;
} leader_options;

/* Takes ownership of api->ud (freed by leader_free, or at once on error).
 * Needs lease > renew deadline > 1.2 x retry period, like client-go. */
int leader_new(const leader_lease_api *api, const leader_options *o, leader **out, pb_err *err);
void leader_free(leader *le);

/* One election step; returns the seconds to wait before the next one. */
double leader_tick(leader *le);

int leader_is_leader(leader *le);

/* Copy the holder last observed ("" if none or unknown). */
void leader_holder(leader *le, char *buf, size_t n);

/* If leading: write the released record and stop leading (calls
 * on_stopped_leading). 0 also when not leading. */
int leader_release(leader *le, pb_err *err);

/* The Lease API on the REST client (leader_kube.c): the Lease ns/name in
 * coordination.k8s.io/v1. c is borrowed and must outlive the leader. */
int leader_lease_api_kube(kube_client *c, const char *ns, const char *name,
                          leader_lease_api *out, pb_err *err);

#endif
