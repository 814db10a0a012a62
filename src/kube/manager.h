/*
 * manager.h - runs the operator's controllers (controller-runtime's
 * Manager): owns the client, the shared informers (one per GVR), the
 * controllers, the Event recorder and leader election.
 *
 *     manager_new(&opts, &m, &err);
 *     manager_informer(m, &tenants_gvr, NULL, &tenants, &err);
 *     manager_add_controller(m, &copts, &ctl, &err);
 *     controller_for(ctl, tenants, "paybill.dev/v1alpha1", "Tenant", 0, &err);
 *     rc = manager_run(m, &err);      (blocks until SIGTERM / manager_stop)
 *     manager_free(m);
 *
 * manager_run():
 *   1. starts every informer and waits until all have synced (cache sync
 *      timeout: 120 s by default -> error);  readyz turns ready here;
 *   2. with leader election on, campaigns for the Lease; caches keep
 *      running meanwhile so a standby takes over warm;
 *   3. starts the controllers' workers;
 *   4. on SIGTERM/SIGINT (handle_signals) or manager_stop(): every queue
 *      stops taking work, in-flight reconciles get until the shutdown
 *      deadline (15 s by default, less the release's share) to finish,
 *      after which their requests are cut (kube_client_set_cutoff),
 *      informers stop, the Lease is released (so a successor takes over at
 *      once), pending Events are flushed; returns 0.
 *   Once stopping (or while a stop signal is pending) no request of the
 *   client retries (kube_client_set_wake_fd): a renewal or a reconcile
 *   against a server that is down gives up at once, and the release gets
 *   one try, so SIGTERM is not held up by backoff.
 *   Losing the Lease stops the controllers the same way and returns
 *   PB_EUNAVAILABLE ("leader election lost"): exit non-zero and let the
 *   Deployment restart us, as controller-runtime does.
 *
 * Signals: with handle_signals set, manager_new() blocks SIGINT and SIGTERM
 * in the calling thread, so every thread started afterwards inherits the
 * mask, and manager_run() takes them with sigtimedwait() - no handler, no
 * global flag. Create the manager before starting any other thread (or
 * block the signals yourself first). manager_free() restores the mask.
 * Without it, call manager_stop() (async-signal-safe) from your handler.
 *
 * Probes: manager_healthz() / manager_readyz() return 0 when healthy /
 * ready, else PB_EUNAVAILABLE with the reason in `why`; serve them from
 * /healthz and /readyz (src/server). Both are thread-safe.
 *
 * Ownership: once manager_new() succeeds the manager owns the client
 * passed in the options (freed by manager_free); when it fails the client
 * is still the caller's. The lease API / event sink overrides are taken
 * over in every case (released at once on failure). The manager also owns
 * every informer, controller and recorder it hands out (borrowed pointers,
 * valid until manager_free).
 */
#ifndef PAYBILL_KUBE_MANAGER_H
#define PAYBILL_KUBE_MANAGER_H

#include <stddef.h>

#include "kube/client.h"
#include "kube/controller.h"
#include "kube/informer.h"
#include "kube/leader.h"
#include "kube/recorder.h"
#include "util/err.h"

typedef struct manager manager;

typedef struct manager_options {
    kube_client *client;          /* taken over on success; may be NULL when every informer,
                                     the lease API and the event sink are given */
    const char *name;             /* component name: Event source, logs; NULL = "paybill-operator" */
    const char *system_namespace; /* where the Lease lives */
    int leader_elect;
    const char *lease_name;       /* NULL = name */
    const char *identity;         /* NULL = "<hostname>_<random hex>" */
    double lease_duration_s;      /* 0 = 15 */
    double renew_deadline_s;      /* 0 = 10 */
    double retry_period_s;        /* 0 = 2 */
    double sync_timeout_s;        /* cache sync; 0 = 120 */
    double shutdown_timeout_s;    /* graceful shutdown; 0 = 15: with a
                                     renewal in flight (up to the renew
                                     deadline, 10 s) it fits the chart's
                                     30 s terminationGracePeriodSeconds */
    double resync_s;              /* informer resync period; 0 = off */
    int handle_signals;           /* see above */
    const leader_lease_api *lease_api; /* override (tests); taken over */
    const recorder_sink *event_sink;   /* override (tests); taken over */
} manager_options;

int manager_new(const manager_options *o, manager **out, pb_err *err);

/* The shared informer for gvr in namespace ns (NULL = all), created on
 * first use on the client; later calls return the same one. Must be called
 * before manager_run. */
int manager_informer(manager *m, const kube_gvr *gvr, const char *ns, informer **out, pb_err *err);

/* Register an informer on any source under `key` (tests, special sources).
 * Takes ownership of src->ud. PB_EEXIST if the key is taken. */
int manager_add_informer(manager *m, const char *key, const informer_source *src,
                         informer **out, pb_err *err);

/* Create a controller the manager starts and stops. */
int manager_add_controller(manager *m, const controller_options *o, controller **out, pb_err *err);

/* The Event recorder (NULL when there is neither client nor sink). */
recorder *manager_recorder(manager *m);
kube_client *manager_client(manager *m);

/* Run until stopped; see above. 0 on a clean stop. */
int manager_run(manager *m, pb_err *err);

/* Ask manager_run to shut down. Async-signal-safe; callable any time. */
void manager_stop(manager *m);

int manager_healthz(manager *m, char *why, size_t n);
int manager_readyz(manager *m, char *why, size_t n);
int manager_is_leader(manager *m);

void manager_free(manager *m);

#endif
