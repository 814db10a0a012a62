/*
 * manager.c - wires informers, controllers, the recorder and leader
 * election together and runs them (see manager.h).
 *
 * manager_run() is a loop on the calling thread that wakes every 250 ms
 * (every 50 ms while caches sync, at once when a signal arrives) to check
 * for a stop request, to drive leader election and to hand memory back
 * after a burst of work; everything else runs on the informers',
 * controllers' and recorder's own threads.
 */
#include "kube/manager.h"

#include <malloc.h>
#include <stdbool.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "kube/kmetrics.h"
#include "util/log.h"
#include "util/timeutil.h"

#define POLL_S 0.05
/* Once running, what the loop waits for is a stop request from another
 * thread or a lost lease, both fine to see within a quarter second: 4
 * wake-ups a second instead of 20 in an idle operator. */
#define RUN_POLL_S 0.25
/* Memory is handed back once every queue has been idle this long after
 * work, and at most this often (see trim_after_burst). */
#define TRIM_IDLE_S 5.0
#define TRIM_MIN_INTERVAL_S 60.0

typedef struct named_informer {
    char *key;
    informer *inf;
} named_informer;

typedef enum { PHASE_NEW, PHASE_SYNCING, PHASE_ELECTING, PHASE_RUNNING, PHASE_STOPPING, PHASE_DONE } phase;

struct manager {
    kube_client *client;
    char *name;
    double sync_timeout_s, shutdown_timeout_s, resync_s;
    double release_s; /* what the Lease's release may take (the retry period); 0 without election */

    named_informer *informers;
    size_t ninformers;
    controller **controllers;
    size_t ncontrollers;
    recorder *events;
    leader *election;

    int handle_signals;
    sigset_t signals, old_mask;
    /* Readable once stopping: stop_fd is set when the manager decides to
     * stop, sig_fd (a signalfd) while SIGTERM/SIGINT is pending, before
     * the loop has taken it; wake_fd joins the two (an epoll set) and is
     * the client's wake_fd (kube_client_set_wake_fd). 0 = none. */
    int stop_fd, sig_fd, wake_fd;

    atomic_int stop_requested;
    atomic_int phase;
    atomic_int synced;
    atomic_int failed;   /* run ended in an error: unhealthy */
    atomic_int lost;     /* leadership lost while running */
};

static void on_stopped_leading(void *ud)
{
    manager *m = ud;
    if (atomic_load(&m->phase) == PHASE_RUNNING)
        atomic_store(&m->lost, 1);
}

/* The stop descriptors (see struct manager). Without them the manager
 * works as before, only slower to give up on a server that is down. */
static void setup_stop_fds(manager *m)
{
    m->stop_fd = kube_wake_fd_new();
    if (m->handle_signals)
        m->sig_fd = kube_wake_fd_adopt(signalfd(-1, &m->signals, SFD_CLOEXEC | SFD_NONBLOCK));
    m->wake_fd = m->stop_fd;
    if (!m->sig_fd || !m->stop_fd)
        return;
    int ep = kube_wake_fd_adopt(epoll_create1(EPOLL_CLOEXEC));
    struct epoll_event a = {.events = EPOLLIN, .data.fd = m->stop_fd};
    struct epoll_event b = {.events = EPOLLIN, .data.fd = m->sig_fd};
    if (ep && epoll_ctl(ep, EPOLL_CTL_ADD, m->stop_fd, &a) == 0 && epoll_ctl(ep, EPOLL_CTL_ADD, m->sig_fd, &b) == 0)
        m->wake_fd = ep;
    else if (ep)
        close(ep);
}

static void set_stopping(manager *m)
{
    atomic_store(&m->stop_requested, 1);
    kube_wake_fd_set(m->stop_fd);
}

static int default_identity(char *buf, size_t n)
{
    char host[256] = "paybill";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    unsigned char rnd[6];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return PB_EIO;
    snprintf(buf, n, "%s_%02x%02x%02x%02x%02x%02x", host, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    return 0;
}

static int setup_leader(manager *m, const manager_options *o, pb_err *err)
{
    leader_lease_api api = {0};
    const char *lease_name = o->lease_name ? o->lease_name : m->name;
    if (o->lease_api) {
        api = *o->lease_api;
    } else {
        if (!o->system_namespace || !*o->system_namespace)
            return pb_err_set(err, PB_EINVAL, "leader election needs the system namespace");
        int rc = leader_lease_api_kube(m->client, o->system_namespace, lease_name, &api, err);
        if (rc)
            return rc;
    }
    char id[320];
    if (!o->identity && default_identity(id, sizeof id) != 0) {
        if (api.free)
            api.free(api.ud);
        return pb_err_set(err, PB_EIO, "leader election: cannot generate an identity");
    }
    leader_options lo = {
        .lease_name = lease_name,
        .identity = o->identity ? o->identity : id,
        .lease_duration_s = o->lease_duration_s,
        .renew_deadline_s = o->renew_deadline_s,
        .retry_period_s = o->retry_period_s,
        .on_stopped_leading = on_stopped_leading,
        .cb_ud = m,
    };
    return leader_new(&api, &lo, &m->election, err);
}

/* On failure manager_new disposes of the overrides it was handed (the
 * client stays with the caller, see manager.h). */
static void release_overrides(const manager_options *o)
{
    if (o->lease_api && o->lease_api->free)
        o->lease_api->free(o->lease_api->ud);
    if (o->event_sink && o->event_sink->free)
        o->event_sink->free(o->event_sink->ud);
}

int manager_new(const manager_options *o, manager **out, pb_err *err)
{
    if (!o || !out) {
        if (o)
            release_overrides(o);
        return pb_err_set(err, PB_EINVAL, "manager_new: options are required");
    }
    if (o->leader_elect && !o->lease_api && !o->client) {
        release_overrides(o);
        return pb_err_set(err, PB_EINVAL, "leader election needs a client or a lease API");
    }
    manager *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(o->name ? o->name : "paybill-operator"))) {
        free(m);
        release_overrides(o);
        return pb_err_set(err, PB_ENOMEM, "manager: out of memory");
    }
    m->client = o->client;
    if (m->client)
        kube_client_set_observer(m->client, kmetrics_rest_request, NULL);
    m->sync_timeout_s = o->sync_timeout_s > 0 ? o->sync_timeout_s : 120;
    m->shutdown_timeout_s = o->shutdown_timeout_s > 0 ? o->shutdown_timeout_s : 15;
    if (o->leader_elect)
        m->release_s = o->retry_period_s > 0 ? o->retry_period_s : 2;
    m->resync_s = o->resync_s;
    atomic_init(&m->stop_requested, 0);
    atomic_init(&m->phase, PHASE_NEW);
    atomic_init(&m->synced, 0);
    atomic_init(&m->failed, 0);
    atomic_init(&m->lost, 0);

    /* Before the first thread (the Event recorder's): a thread created
     * with SIGTERM unblocked takes it whenever the loop is not waiting in
     * sigtimedwait (a lease renewal retrying against a server that is
     * down), and the default action kills the process mid-flight. */
    if (o->handle_signals) {
        sigemptyset(&m->signals);
        sigaddset(&m->signals, SIGINT);
        sigaddset(&m->signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &m->signals, &m->old_mask);
        m->handle_signals = 1;
    }
    setup_stop_fds(m);

    /* Take the overrides first: from here on manager_free releases them. */
    int rc = 0;
    recorder_sink sink = {0};
    int have_sink = 0;
    if (o->event_sink) {
        sink = *o->event_sink;
        have_sink = 1;
    } else if (o->client) {
        have_sink = recorder_sink_kube(o->client, &sink, NULL) == 0;
    }
    if (o->leader_elect) {
        rc = setup_leader(m, o, err);
    } else if (o->lease_api && o->lease_api->free) {
        o->lease_api->free(o->lease_api->ud);
    }
    if (rc) {
        if (have_sink && sink.free)
            sink.free(sink.ud);
        m->client = NULL;
        manager_free(m);
        return pb_err_wrap(err, "manager");
    }
    if (have_sink) {
        recorder_options ro = {.component = m->name};
        rc = recorder_new(&sink, &ro, &m->events, err);
        if (rc) {
            m->client = NULL;
            manager_free(m);
            return pb_err_wrap(err, "manager");
        }
    }
    *out = m;
    return 0;
}

static int add_named(manager *m, const char *key, informer *inf, pb_err *err)
{
    named_informer *grown = realloc(m->informers, (m->ninformers + 1) * sizeof *grown);
    char *k = strdup(key);
    if (!grown || !k) {
        if (grown)
            m->informers = grown;
        free(k);
        return pb_err_set(err, PB_ENOMEM, "manager: out of memory");
    }
    m->informers = grown;
    m->informers[m->ninformers].key = k;
    m->informers[m->ninformers].inf = inf;
    m->ninformers++;
    return 0;
}

static informer *find_informer(manager *m, const char *key)
{
    for (size_t i = 0; i < m->ninformers; i++)
        if (strcmp(m->informers[i].key, key) == 0)
            return m->informers[i].inf;
    return NULL;
}

int manager_add_informer(manager *m, const char *key, const informer_source *src, informer **out, pb_err *err)
{
    if (!m || !key || !*key || !src || !out || atomic_load(&m->phase) != PHASE_NEW) {
        if (src && src->free)
            src->free(src->ud);
        return pb_err_set(err, PB_EINVAL, "manager_add_informer: bad arguments or manager already running");
    }
    if (find_informer(m, key)) {
        if (src->free)
            src->free(src->ud);
        return pb_err_set(err, PB_EEXIST, "manager: informer %s already exists", key);
    }
    informer_options io = {.name = key, .resync_s = m->resync_s};
    informer *inf = NULL;
    int rc = informer_new(src, &io, &inf, err);
    if (rc)
        return rc;
    rc = add_named(m, key, inf, err);
    if (rc) {
        informer_free(inf);
        return rc;
    }
    *out = inf;
    return 0;
}

int manager_informer(manager *m, const kube_gvr *gvr, const char *ns, informer **out, pb_err *err)
{
    if (!m || !gvr || !gvr->version || !gvr->resource || !out)
        return pb_err_set(err, PB_EINVAL, "manager_informer: GVR is required");
    char key[512];
    /* "tenants.paybill.dev/v1alpha1", "pods/v1", plus "@ns" when namespaced. */
    snprintf(key, sizeof key, "%s%s%s/%s%s%s", gvr->resource, gvr->group && *gvr->group ? "." : "",
             gvr->group ? gvr->group : "", gvr->version, ns && *ns ? "@" : "", ns ? ns : "");
    informer *inf = find_informer(m, key);
    if (inf) {
        *out = inf;
        return 0;
    }
    if (!m->client)
        return pb_err_set(err, PB_EINVAL, "manager: no client to build informer %s", key);
    informer_source src;
    int rc = informer_source_kube(m->client, gvr, ns, NULL, &src, err);
    if (rc)
        return rc;
    return manager_add_informer(m, key, &src, out, err);
}

int manager_add_controller(manager *m, const controller_options *o, controller **out, pb_err *err)
{
    if (!m || !out || atomic_load(&m->phase) != PHASE_NEW)
        return pb_err_set(err, PB_EINVAL, "manager_add_controller: bad arguments or manager already running");
    for (size_t i = 0; o && o->name && i < m->ncontrollers; i++)
        if (strcmp(controller_name(m->controllers[i]), o->name) == 0)
            return pb_err_set(err, PB_EEXIST, "manager: controller %s already exists", o->name);
    controller **grown = realloc(m->controllers, (m->ncontrollers + 1) * sizeof *grown);
    if (!grown)
        return pb_err_set(err, PB_ENOMEM, "manager: out of memory");
    m->controllers = grown;
    controller *c = NULL;
    int rc = controller_new(o, &c, err);
    if (rc)
        return rc;
    m->controllers[m->ncontrollers++] = c;
    *out = c;
    return 0;
}

recorder *manager_recorder(manager *m)
{
    return m ? m->events : NULL;
}

kube_client *manager_client(manager *m)
{
    return m ? m->client : NULL;
}

void manager_stop(manager *m)
{
    if (m) /* both async-signal-safe: an atomic store and write(2) */
        set_stopping(m);
}

/* Sleep up to s seconds (at most max_s), returning early on a signal.
 * Returns non-zero when the manager should stop. */
static int wait_or_stop(manager *m, double s, double max_s)
{
    if (s > max_s)
        s = max_s;
    if (s < 0)
        s = 0;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    if (m->handle_signals) {
        siginfo_t si;
        int sig = sigtimedwait(&m->signals, &si, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            pb_log_info("manager: received signal, shutting down", "signal",
                        sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
            set_stopping(m);
        }
    } else {
        nanosleep(&ts, NULL);
    }
    return atomic_load(&m->stop_requested) || atomic_load(&m->lost);
}

/* Work queued or being reconciled, over every controller. */
static size_t pending_work(manager *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ncontrollers; i++) {
        workqueue *q = controller_queue(m->controllers[i]);
        n += workqueue_len(q) + workqueue_in_flight(q);
    }
    return n;
}

typedef struct trim_state {
    int worked;       /* work seen since the last trim */
    double idle_from; /* when the queues last became idle; 0 = busy */
    double last;      /* last trim */
} trim_state;

/* After a burst of work (a cold start, a Plan change reaching every tenant)
 * glibc keeps what was freed in its arenas: at 10,000 tenants the operator
 * stayed at 474 MB resident with 85 MB in use; malloc_trim brought it to
 * 204 MB (bench/RESULTS-operator.md). So once every queue has been idle
 * for TRIM_IDLE_S after some work, trim, at most every
 * TRIM_MIN_INTERVAL_S: a quiet operator does not trim at all. */
/* mimalloc's "give back what is free", weak: resolved only in a binary
 * linked with mimalloc (the operator; not the tests). */
extern void mi_collect(bool force) __attribute__((weak));

static void trim_after_burst(manager *m, trim_state *t)
{
    double now = pb_time_mono_s();
    if (pending_work(m) > 0) {
        t->worked = 1;
        t->idle_from = 0;
        return;
    }
    if (!t->worked)
        return;
    if (t->idle_from == 0)
        t->idle_from = now;
    if (now - t->idle_from < TRIM_IDLE_S || (t->last > 0 && now - t->last < TRIM_MIN_INTERVAL_S))
        return;
    malloc_trim(0);
    if (mi_collect) /* the operator's allocator, when linked with mimalloc */
        mi_collect(true);
    char took[32];
    snprintf(took, sizeof took, "%.1f", (pb_time_mono_s() - now) * 1000);
    pb_log_debug("manager: idle after work, returned free memory to the system", "ms", took, NULL);
    t->worked = 0;
    t->last = now;
}

static int all_synced(manager *m)
{
    for (size_t i = 0; i < m->ninformers; i++)
        if (!informer_has_synced(m->informers[i].inf))
            return 0;
    return 1;
}

static void shutdown_all(manager *m, int controllers_started)
{
    atomic_store(&m->phase, PHASE_STOPPING);
    /* From here no request retries: draining reconciles and the lease's
     * release get one try each against a server that is down. */
    kube_wake_fd_set(m->stop_fd);
    double deadline = pb_time_mono_s() + m->shutdown_timeout_s;
    /* The drain leaves room for the release and the last Events. Shortly
     * before it ends the client cuts what is still in flight: a reconcile
     * stuck on a hung API server then returns within the drain, instead
     * of holding the process until its request times out and the kubelet
     * kills it with the Lease unreleased. */
    double reserve = m->release_s + 0.5;
    if (reserve > m->shutdown_timeout_s / 3)
        reserve = m->shutdown_timeout_s / 3;
    double drain_until = deadline - reserve;
    /* libcurl looks at a transfer's progress about once a second when no
     * data comes: cut 1.5 s (or half the drain) before the end. */
    double drain_s = m->shutdown_timeout_s - reserve;
    double wind_down = drain_s / 2 < 1.5 ? drain_s / 2 : 1.5;
    kube_client_set_cutoff(m->client, drain_until - wind_down);
    if (controllers_started) {
        /* Every queue stops handing out work first, then each drains with
         * what is left of the one shared deadline. */
        for (size_t i = 0; i < m->ncontrollers; i++)
            workqueue_shutdown(controller_queue(m->controllers[i]));
        for (size_t i = 0; i < m->ncontrollers; i++) {
            double left = drain_until - pb_time_mono_s();
            if (controller_stop(m->controllers[i], left > 0 ? left : 0) != 0)
                pb_log_warn("manager: shutdown deadline passed with reconciles in flight", "controller",
                            controller_name(m->controllers[i]), NULL);
        }
    }
    for (size_t i = 0; i < m->ninformers; i++)
        informer_stop(m->informers[i].inf);
    kube_client_set_cutoff(m->client, deadline);
    if (m->election && leader_is_leader(m->election)) {
        pb_err e;
        pb_err_clear(&e);
        if (leader_release(m->election, &e) != 0)
            pb_log_warn("manager: releasing the lease failed", "error", pb_err_msg(&e), NULL);
    }
    if (m->events) {
        double left = deadline - pb_time_mono_s();
        recorder_stop(m->events, left > 0.5 ? left : 0.5);
    }
    atomic_store(&m->phase, PHASE_DONE);
}

int manager_run(manager *m, pb_err *err)
{
    if (!m || atomic_load(&m->phase) != PHASE_NEW)
        return pb_err_set(err, PB_EINVAL, "manager_run: already run");
    atomic_store(&m->phase, PHASE_SYNCING);
    kube_client_set_wake_fd(m->client, m->wake_fd);
    int rc = 0, controllers_started = 0;
    for (size_t i = 0; i < m->ninformers && rc == 0; i++)
        rc = informer_start(m->informers[i].inf, err);
    if (rc) {
        atomic_store(&m->failed, 1);
        shutdown_all(m, 0);
        return pb_err_wrap(err, "manager: starting informers");
    }

    double sync_deadline = pb_time_mono_s() + m->sync_timeout_s;
    while (!all_synced(m)) {
        if (wait_or_stop(m, POLL_S, POLL_S))
            goto out;
        if (pb_time_mono_s() > sync_deadline) {
            atomic_store(&m->failed, 1);
            rc = pb_err_set(err, PB_ETIMEOUT, "manager: timed out waiting for caches to sync after %gs",
                            m->sync_timeout_s);
            goto out;
        }
    }
    atomic_store(&m->synced, 1);
    char count[24];
    snprintf(count, sizeof count, "%zu", m->ninformers);
    pb_log_info("manager: caches synced", "informers", count, NULL);

    double next_tick = pb_time_mono_s();
    if (m->election) {
        atomic_store(&m->phase, PHASE_ELECTING);
        pb_log_info("manager: waiting for leadership", NULL);
        while (!leader_is_leader(m->election)) {
            if (pb_time_mono_s() >= next_tick)
                next_tick = pb_time_mono_s() + leader_tick(m->election);
            if (leader_is_leader(m->election))
                break;
            if (wait_or_stop(m, next_tick - pb_time_mono_s(), POLL_S))
                goto out;
        }
    }

    /* RUNNING before the first worker starts, so nobody can observe a
     * reconcile while the manager still claims not to lead. */
    atomic_store(&m->phase, PHASE_RUNNING);
    for (size_t i = 0; i < m->ncontrollers && rc == 0; i++)
        rc = controller_start(m->controllers[i], err);
    controllers_started = 1;
    if (rc) {
        atomic_store(&m->failed, 1);
        goto out;
    }
    trim_state trim = {0};
    while (!wait_or_stop(m, m->election ? next_tick - pb_time_mono_s() : RUN_POLL_S, RUN_POLL_S)) {
        if (m->election && pb_time_mono_s() >= next_tick)
            next_tick = pb_time_mono_s() + leader_tick(m->election);
        trim_after_burst(m, &trim);
    }

out:
    if (atomic_load(&m->lost)) {
        /* Another replica may lead by now: nothing more may leave this one
         * (the reconciles still running fail fast and the drain is short). */
        kube_client_close(m->client, "leader election lost");
        atomic_store(&m->failed, 1);
        rc = pb_err_set(err, PB_EUNAVAILABLE, "leader election lost");
        pb_log_error("manager: leader election lost, stopping", NULL);
    }
    shutdown_all(m, controllers_started);
    pb_log_info("manager: stopped", NULL);
    return rc;
}

int manager_healthz(manager *m, char *why, size_t n)
{
    if (why && n)
        why[0] = '\0';
    if (!m)
        return PB_EINVAL;
    if (atomic_load(&m->failed)) {
        if (why && n)
            snprintf(why, n, "%s", atomic_load(&m->lost) ? "leader election lost" : "manager failed");
        return PB_EUNAVAILABLE;
    }
    return 0;
}

int manager_readyz(manager *m, char *why, size_t n)
{
    if (why && n)
        why[0] = '\0';
    if (!m)
        return PB_EINVAL;
    int ph = atomic_load(&m->phase);
    const char *reason = NULL;
    if (ph == PHASE_STOPPING || ph == PHASE_DONE)
        reason = "shutting down";
    else if (!atomic_load(&m->synced))
        reason = "caches not synced";
    if (reason) {
        if (why && n)
            snprintf(why, n, "%s", reason);
        return PB_EUNAVAILABLE;
    }
    return 0;
}

int manager_is_leader(manager *m)
{
    if (!m)
        return 0;
    if (!m->election)
        return atomic_load(&m->phase) == PHASE_RUNNING;
    return leader_is_leader(m->election);
}

void manager_free(manager *m)
{
    if (!m)
        return;
    /* Informers first: their handlers point into the controllers. */
    for (size_t i = 0; i < m->ninformers; i++)
        informer_stop(m->informers[i].inf);
    for (size_t i = 0; i < m->ncontrollers; i++)
        controller_free(m->controllers[i]);
    free(m->controllers);
    for (size_t i = 0; i < m->ninformers; i++) {
        informer_free(m->informers[i].inf);
        free(m->informers[i].key);
    }
    free(m->informers);
    recorder_free(m->events);
    leader_free(m->election);
    kube_client_free(m->client);
    if (m->wake_fd != m->stop_fd)
        kube_wake_fd_free(m->wake_fd);
    kube_wake_fd_free(m->sig_fd);
    kube_wake_fd_free(m->stop_fd);
    if (m->handle_signals)
        pthread_sigmask(SIG_SETMASK, &m->old_mask, NULL);
    free(m->name);
    free(m);
}
