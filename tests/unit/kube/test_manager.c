/* Unit tests for kube/manager with in-test informer sources, lease API and
 * event sink: controllers start only after sync (and leadership), readiness,
 * clean stop releasing the lease, losing the lease, SIGTERM, cache sync
 * timeout, shutdown deadline, bad input. */
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakeapi.h"
#include "fakeclient.h"
#include "kube/config.h"
#include "kube/manager.h"

static const kube_gvr TENANTS_GVR = {"paybill.dev", "v1alpha1", "tenants"};

/* --- fakes ----------------------------------------------------------------- */

static int src_list(void *ud, informer_page_fn fn, void *fn_ud, pb_err *err)
{
    const char *json = ud;
    if (!json)
        return pb_err_set(err, PB_EFORBIDDEN, "tenants is forbidden");
    json_error_t je;
    json_t *list = json_loads(json, 0, &je);
    int stop = fn(fn_ud, list, 1);
    json_decref(list);
    return stop ? PB_ECANCELED : 0;
}

static int src_watch(void *ud, const char *rv, double timeout_s, informer_watch_fn fn, void *fn_ud,
                     const atomic_int *stop, pb_err *err)
{
    double until = tu_now() + timeout_s;
    while (!atomic_load(stop) && tu_now() < until)
        usleep(2000);
    return 0;
}

static informer_source source(const char *list_json)
{
    informer_source s = {.list = src_list, .watch = src_watch, .ud = (void *)list_json};
    return s;
}

#define TENANTS "{\"metadata\":{\"resourceVersion\":\"3\"},\"items\":[" \
    "{\"apiVersion\":\"paybill.dev/v1alpha1\",\"kind\":\"Tenant\",\"metadata\":{\"name\":\"acme\",\"uid\":\"u1\",\"resourceVersion\":\"2\"}}," \
    "{\"apiVersion\":\"paybill.dev/v1alpha1\",\"kind\":\"Tenant\",\"metadata\":{\"name\":\"globex\",\"uid\":\"u2\",\"resourceVersion\":\"3\"}}]}"

typedef struct fake_lease {
    pthread_mutex_t mu;
    int exists;
    leader_record rec;
    int rv;
} fake_lease;

static int fl_get(void *ud, double timeout_s, leader_record *out, pb_err *err)
{
    (void)timeout_s;
    fake_lease *f = ud;
    pthread_mutex_lock(&f->mu);
    int exists = f->exists;
    if (exists)
        *out = f->rec;
    pthread_mutex_unlock(&f->mu);
    return exists ? 0 : pb_err_set(err, PB_ENOTFOUND, "not found");
}

static int fl_write(fake_lease *f, leader_record *rec, int create, pb_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    if (create && f->exists)
        rc = pb_err_set(err, PB_EEXIST, "exists");
    else if (!create && strcmp(rec->resource_version, f->rec.resource_version) != 0)
        rc = pb_err_set(err, PB_ECONFLICT, "conflict");
    if (!rc) {
        snprintf(rec->resource_version, sizeof rec->resource_version, "%d", ++f->rv);
        f->rec = *rec;
        f->exists = 1;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int fl_create(void *ud, double timeout_s, leader_record *rec, pb_err *err)
{
    (void)timeout_s;
    return fl_write(ud, rec, 1, err);
}

static int fl_update(void *ud, double timeout_s, leader_record *rec, pb_err *err)
{
    (void)timeout_s;
    return fl_write(ud, rec, 0, err);
}

static void lease_snapshot(fake_lease *f, leader_record *out)
{
    pthread_mutex_lock(&f->mu);
    *out = f->rec;
    pthread_mutex_unlock(&f->mu);
}

typedef struct fake_sink {
    atomic_int created;
} fake_sink;

static int sink_create(void *ud, const char *ns, json_t *ev, pb_err *err)
{
    atomic_fetch_add(&((fake_sink *)ud)->created, 1);
    return 0;
}

static int sink_patch(void *ud, const char *ns, const char *name, json_t *p, pb_err *err)
{
    return 0;
}

/* --- reconciler ------------------------------------------------------------ */

typedef struct app {
    manager *m;
    atomic_int reconciles;
    useconds_t hold;     /* sleep this long, ignoring stop */
    kube_client *client; /* handed to the manager (which frees it), or NULL */
    int call_api;        /* reconcile GETs its Tenant through the manager's client */
    atomic_int cut;      /* such GETs that ended PB_ETIMEOUT */
} app;

static controller_result reconcile(controller_ctx *ctx, const char *key, pb_err *err)
{
    app *a = ctx->user;
    if (a->hold)
        usleep(a->hold);
    if (a->call_api) {
        json_t *obj = NULL;
        pb_err e;
        if (kube_get(manager_client(a->m), &TENANTS_GVR, NULL, key, NULL, &obj, &e) == PB_ETIMEOUT)
            atomic_fetch_add(&a->cut, 1);
        json_decref(obj);
    }
    json_t *ref = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "paybill.dev/v1alpha1", "kind", "Tenant",
                            "metadata", "name", key);
    recorder_event(manager_recorder(a->m), ref, RECORDER_NORMAL, "Reconciled", "tenant %s reconciled", key);
    json_decref(ref);
    atomic_fetch_add(&a->reconciles, 1);
    return controller_ok();
}

static manager *build(app *a, fake_lease *lease, fake_sink *sink, int leader_elect, const char *list_json,
                      int handle_signals)
{
    leader_lease_api api = {fl_get, fl_create, fl_update, NULL, lease};
    recorder_sink rs = {.create = sink_create, .patch = sink_patch, .ud = sink};
    manager_options o = {
        .name = "paybill-test",
        .leader_elect = leader_elect,
        .identity = "me",
        .lease_duration_s = 1.0,
        .renew_deadline_s = 0.5,
        .retry_period_s = 0.1,
        .sync_timeout_s = 0.3,
        .shutdown_timeout_s = 2,
        .handle_signals = handle_signals,
        .lease_api = lease ? &api : NULL,
        .event_sink = &rs,
        .client = a->client,
    };
    manager *m = NULL;
    pb_err e;
    assert_int_equal(manager_new(&o, &m, &e), 0);
    a->m = m;
    informer_source src = source(list_json);
    informer *inf = NULL;
    assert_int_equal(manager_add_informer(m, "tenants.paybill.dev/v1alpha1", &src, &inf, &e), 0);
    controller_options co = {.name = "tenant", .workers = 2, .reconcile = reconcile, .user = a};
    controller *c = NULL;
    assert_int_equal(manager_add_controller(m, &co, &c, &e), 0);
    assert_int_equal(controller_for(c, inf, "paybill.dev/v1alpha1", "Tenant", 0, &e), 0);
    return m;
}

typedef struct runner {
    manager *m;
    pthread_t t;
    int rc;
    pb_err err;
} runner;

static void *run_thread(void *arg)
{
    runner *r = arg;
    r->rc = manager_run(r->m, &r->err);
    return NULL;
}

static void start_run(runner *r, manager *m)
{
    r->m = m;
    pthread_create(&r->t, NULL, run_thread, r);
}

static int wait_reconciles(app *a, int n, double timeout)
{
    double until = tu_now() + timeout;
    while (atomic_load(&a->reconciles) < n && tu_now() < until)
        usleep(2000);
    return atomic_load(&a->reconciles);
}

/* --- tests ----------------------------------------------------------------- */

static void test_run_and_clean_stop(void **state)
{
    app a = {0};
    fake_sink sink = {0};
    manager *m = build(&a, NULL, &sink, 0, TENANTS, 0);
    char why[64];
    assert_int_equal(manager_healthz(m, why, sizeof why), 0);
    assert_int_equal(manager_readyz(m, why, sizeof why), PB_EUNAVAILABLE);
    assert_string_equal(why, "caches not synced");
    runner r;
    start_run(&r, m);
    assert_true(wait_reconciles(&a, 2, 5) >= 2);
    assert_int_equal(manager_readyz(m, why, sizeof why), 0);
    assert_true(manager_is_leader(m)); /* no election: always "leading" */
    pb_err e;
    controller_options co = {.name = "late", .reconcile = reconcile};
    controller *c;
    assert_int_equal(manager_add_controller(m, &co, &c, &e), PB_EINVAL);
    manager_stop(m);
    pthread_join(r.t, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(manager_readyz(m, why, sizeof why), PB_EUNAVAILABLE);
    assert_string_equal(why, "shutting down");
    assert_int_equal(manager_healthz(m, why, sizeof why), 0);
    /* Events recorded by reconciles were flushed on the way out. */
    assert_int_equal(atomic_load(&sink.created), 2);
    assert_int_equal(manager_run(m, &e), PB_EINVAL); /* one run per manager */
    manager_free(m);
}

static void test_leader_election_gates_controllers(void **state)
{
    app a = {0};
    fake_sink sink = {0};
    fake_lease lease = {.exists = 1, .rv = 1};
    pthread_mutex_init(&lease.mu, NULL);
    snprintf(lease.rec.holder, sizeof lease.rec.holder, "other");
    lease.rec.lease_duration_s = 1;
    snprintf(lease.rec.resource_version, sizeof lease.rec.resource_version, "1");
    manager *m = build(&a, &lease, &sink, 1, TENANTS, 0);
    runner r;
    double t0 = tu_now();
    start_run(&r, m);
    usleep(400000);
    char why[64];
    /* Caches run and are ready while we wait for the lease ... */
    assert_int_equal(manager_readyz(m, why, sizeof why), 0);
    assert_false(manager_is_leader(m));
    assert_int_equal(atomic_load(&a.reconciles), 0);
    /* ... which "other" stops renewing: taken over after its 1 s. */
    assert_true(wait_reconciles(&a, 2, 5) >= 2);
    assert_true(tu_now() - t0 >= 0.9);
    assert_true(manager_is_leader(m));
    leader_record rec;
    lease_snapshot(&lease, &rec);
    assert_string_equal(rec.holder, "me");
    assert_int_equal(rec.transitions, 1);
    manager_stop(m);
    pthread_join(r.t, NULL);
    assert_int_equal(r.rc, 0);
    /* Released for a fast hand-over. */
    lease_snapshot(&lease, &rec);
    assert_string_equal(rec.holder, "");
    assert_int_equal(rec.lease_duration_s, 1);
    assert_false(manager_is_leader(m));
    manager_free(m);
    pthread_mutex_destroy(&lease.mu);
}

static void test_losing_the_lease_stops_everything(void **state)
{
    app a = {0};
    fake_sink sink = {0};
    fake_lease lease = {0};
    pthread_mutex_init(&lease.mu, NULL);
    fa_server *srv = fa_start(NULL);
    char *dir;
    a.client = fa_client(srv, &dir);
    manager *m = build(&a, &lease, &sink, 1, TENANTS, 0);
    runner r;
    start_run(&r, m);
    assert_true(wait_reconciles(&a, 2, 5) >= 2);
    /* Someone else grabs the lease (e.g. after a network partition). */
    pthread_mutex_lock(&lease.mu);
    snprintf(lease.rec.holder, sizeof lease.rec.holder, "thief");
    snprintf(lease.rec.resource_version, sizeof lease.rec.resource_version, "%d", ++lease.rv);
    pthread_mutex_unlock(&lease.mu);
    pthread_join(r.t, NULL);
    assert_int_equal(r.rc, PB_EUNAVAILABLE);
    assert_non_null(strstr(r.err.msg, "leader election lost"));
    char why[64];
    assert_int_equal(manager_healthz(m, why, sizeof why), PB_EUNAVAILABLE);
    assert_string_equal(why, "leader election lost");
    leader_record rec;
    lease_snapshot(&lease, &rec);
    assert_string_equal(rec.holder, "thief"); /* not released: it is not ours */
    /* Fenced: nothing more leaves this replica. */
    json_t *out = NULL;
    pb_err e;
    assert_int_equal(kube_get(manager_client(m), &TENANTS_GVR, NULL, "t1", NULL, &out, &e), PB_ECANCELED);
    assert_non_null(strstr(e.msg, "leader election lost"));
    assert_int_equal(fa_nreqs(srv), 0);
    manager_free(m);
    fa_stop(srv);
    tu_rmtree(dir);
    free(dir);
    pthread_mutex_destroy(&lease.mu);
}

typedef struct sig_target {
    app *a;
    pthread_t main_thread;
} sig_target;

static void *send_sigterm(void *arg)
{
    sig_target *st = arg;
    wait_reconciles(st->a, 2, 5);
    /* Aimed at the manager's thread: a process-directed kill() could land
     * in a sanitizer's helper thread that does not block it. */
    pthread_kill(st->main_thread, SIGTERM);
    return NULL;
}

static void test_sigterm(void **state)
{
    app a = {0};
    fake_sink sink = {0};
    manager *m = build(&a, NULL, &sink, 0, TENANTS, 1);
    pthread_t t;
    sig_target st = {&a, pthread_self()};
    pthread_create(&t, NULL, send_sigterm, &st); /* inherits the blocked mask */
    pb_err e;
    assert_int_equal(manager_run(m, &e), 0);
    pthread_join(t, NULL);
    assert_true(atomic_load(&a.reconciles) >= 2);
    manager_free(m); /* restores the signal mask */
    sigset_t cur;
    pthread_sigmask(SIG_SETMASK, NULL, &cur);
    assert_false(sigismember(&cur, SIGTERM));
}

/* The ids of this process's threads (up to max). */
static int task_ids(long *ids, int max)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max)
        if (de->d_name[0] != '.')
            ids[n++] = atol(de->d_name);
    closedir(d);
    return n;
}

static int task_blocks(long tid, int sig)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    unsigned long long mask = 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "SigBlk: %llx", &mask) == 1;
    fclose(f);
    assert_true(found);
    return (int)((mask >> (sig - 1)) & 1);
}

/* Every thread the manager starts (the Event recorder's at once) blocks
 * SIGTERM: one that did not would take the signal whenever the run loop is
 * not in sigtimedwait, and its default action would kill the process. */
static void test_threads_block_sigterm(void **state)
{
    (void)state;
    long before[128], after[128];
    int nb = task_ids(before, 128);
    app a = {0};
    fake_sink sink = {0};
    manager *m = build(&a, NULL, &sink, 0, TENANTS, 1);
    int na = task_ids(after, 128), fresh = 0;
    for (int i = 0; i < na; i++) {
        int old = 0;
        for (int j = 0; j < nb; j++)
            old |= after[i] == before[j];
        if (old)
            continue;
        fresh++;
        if (!task_blocks(after[i], SIGTERM) || !task_blocks(after[i], SIGINT))
            fail_msg("thread %ld does not block SIGTERM and SIGINT", after[i]);
    }
    assert_true(fresh >= 1);
    manager_free(m);
}

static void test_cache_sync_timeout(void **state)
{
    app a = {0};
    fake_sink sink = {0};
    manager *m = build(&a, NULL, &sink, 0, NULL, 0);
    pb_err e;
    double t0 = tu_now();
    assert_int_equal(manager_run(m, &e), PB_ETIMEOUT);
    assert_true(tu_now() - t0 < 3);
    assert_non_null(strstr(e.msg, "caches to sync"));
    assert_int_equal(atomic_load(&a.reconciles), 0);
    char why[64];
    assert_int_equal(manager_healthz(m, why, sizeof why), PB_EUNAVAILABLE);
    manager_free(m);
}

static void test_shutdown_deadline(void **state)
{
    app a = {.hold = 1200000};
    fake_sink sink = {0};
    manager *m = build(&a, NULL, &sink, 0, TENANTS, 0);
    runner r;
    start_run(&r, m);
    usleep(100000); /* both keys are now stuck in reconcile */
    double t0 = tu_now();
    manager_stop(m);
    /* Shutdown deadline is 2 s; reconciles finish at ~1.2 s: waited for. */
    pthread_join(r.t, NULL);
    double took = tu_now() - t0;
    assert_int_equal(r.rc, 0);
    assert_true(took >= 0.9);
    assert_true(took < 2.5);
    assert_int_equal(atomic_load(&a.reconciles), 2);
    manager_free(m);
}

/* Reconciles stuck on an API server that stopped answering: their
 * requests are cut at the drain deadline (the client's own timeout is
 * 30 s), so the shutdown ends within its deadline and the workers join. */
static void test_shutdown_cuts_hung_requests(void **state)
{
    app a = {.call_api = 1};
    fake_sink sink = {0};
    fa_server *srv = fa_start(NULL);
    char *dir;
    a.client = fa_client(srv, &dir);
    fa_push_hang(srv);
    fa_push_hang(srv);
    manager *m = build(&a, NULL, &sink, 0, TENANTS, 0);
    runner r;
    start_run(&r, m);
    while (fa_nreqs(srv) < 2) /* both workers wait on their GET */
        usleep(1000);
    double t0 = tu_now();
    manager_stop(m);
    pthread_join(r.t, NULL);
    double took = tu_now() - t0;
    /* Deadline 2 s, the drain 1.5 s of it (0.5 s kept for the Events),
     * requests cut from 0.75 s (libcurl notices within a second) so that
     * their reconciles end in the drain. */
    assert_int_equal(atomic_load(&a.cut), 2);
    assert_true(took >= 0.7 && took < 1.9);
    assert_int_equal(r.rc, 0);
    manager_free(m);
    fa_stop(srv);
    tu_rmtree(dir);
    free(dir);
}

static void test_bad_input(void **state)
{
    pb_err e;
    manager *m = NULL;
    manager_options o = {.leader_elect = 1};
    assert_int_equal(manager_new(&o, &m, &e), PB_EINVAL);
    assert_int_equal(manager_new(NULL, &m, &e), PB_EINVAL);
    manager_options plain = {0};
    assert_int_equal(manager_new(&plain, &m, &e), 0);
    assert_null(manager_recorder(m)); /* neither client nor sink */
    informer *inf;
    assert_int_equal(manager_informer(m, &TENANTS_GVR, NULL, &inf, &e), PB_EINVAL); /* no client */
    informer_source s = source(TENANTS);
    assert_int_equal(manager_add_informer(m, "k", &s, &inf, &e), 0);
    assert_int_equal(manager_add_informer(m, "k", &s, &inf, &e), PB_EEXIST);
    controller_options co = {.name = "c", .reconcile = reconcile};
    controller *c;
    assert_int_equal(manager_add_controller(m, &co, &c, &e), 0);
    assert_int_equal(manager_add_controller(m, &co, &c, &e), PB_EEXIST);
    co.reconcile = NULL;
    co.name = "d";
    assert_int_equal(manager_add_controller(m, &co, &c, &e), PB_EINVAL);
    manager_free(m); /* never run */
    assert_int_equal(manager_healthz(NULL, NULL, 0), PB_EINVAL);
    manager_stop(NULL);
    manager_free(NULL);
}

static void test_shared_informers_on_a_client(void **state)
{
    fa_server *srv = fa_start(NULL);
    char url[128], yaml[1024];
    char *dir = tu_tmpdir();
    snprintf(yaml, sizeof yaml,
             "current-context: t\n"
             "contexts:\n- name: t\n  context: {cluster: k, user: u}\n"
             "clusters:\n- name: k\n  cluster:\n    server: %s\n"
             "users:\n- name: u\n  user:\n    token: abc\n",
             fa_url(srv, url, sizeof url));
    char *path = tu_write_file(dir, "kubeconfig", yaml);
    kube_config_options co = {.kubeconfig = path};
    kube_config *cfg = NULL;
    pb_err e;
    assert_int_equal(kube_config_load(&co, &cfg, &e), 0);
    kube_client *c = NULL;
    assert_int_equal(kube_client_new(cfg, NULL, &c, &e), 0);
    kube_config_free(cfg);

    manager_options o = {.client = c, .leader_elect = 1, .system_namespace = "paybill-system"};
    manager *m = NULL;
    assert_int_equal(manager_new(&o, &m, &e), 0); /* Lease API and event sink on the client */
    assert_ptr_equal(manager_client(m), c);
    assert_non_null(manager_recorder(m));
    kube_gvr pods = {"", "v1", "pods"};
    informer *a = NULL, *b = NULL, *p = NULL, *pns = NULL;
    assert_int_equal(manager_informer(m, &TENANTS_GVR, NULL, &a, &e), 0);
    assert_int_equal(manager_informer(m, &TENANTS_GVR, NULL, &b, &e), 0);
    assert_ptr_equal(a, b); /* one informer per GVR, shared */
    assert_string_equal(informer_name(a), "tenants.paybill.dev/v1alpha1");
    assert_int_equal(manager_informer(m, &pods, NULL, &p, &e), 0);
    assert_int_equal(manager_informer(m, &pods, "ns1", &pns, &e), 0);
    assert_ptr_not_equal(p, pns);
    assert_string_equal(informer_name(pns), "pods/v1@ns1");
    manager_free(m); /* frees the client too */

    /* Leader election on a client needs the namespace; on failure the
     * client stays ours. */
    cfg = NULL;
    assert_int_equal(kube_config_load(&co, &cfg, &e), 0);
    assert_int_equal(kube_client_new(cfg, NULL, &c, &e), 0);
    kube_config_free(cfg);
    manager_options bad = {.client = c, .leader_elect = 1};
    assert_int_equal(manager_new(&bad, &m, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "namespace"));
    kube_client_free(c);
    free(path);
    fa_stop(srv);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_and_clean_stop),
        cmocka_unit_test(test_leader_election_gates_controllers),
        cmocka_unit_test(test_losing_the_lease_stops_everything),
        cmocka_unit_test(test_sigterm),
        cmocka_unit_test(test_threads_block_sigterm),
        cmocka_unit_test(test_cache_sync_timeout),
        cmocka_unit_test(test_shutdown_deadline),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_shared_informers_on_a_client),
        cmocka_unit_test(test_shutdown_cuts_hung_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
