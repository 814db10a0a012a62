/* Unit tests for kube/leader: the election decisions against an in-memory
 * lease store with optimistic concurrency and a fake clock - acquire,
 * renew, a contender waiting, takeover after expiry, losing on conflict,
 * on another holder and on the renew deadline, release on stop; and the
 * Lease API on the REST client against the fake API server. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "fakeclient.h"
#include "kube/config.h"
#include "kube/leader.h"

/* --- fake lease store ------------------------------------------------------ */

typedef struct fake_lease {
    double *clock;         /* advanced by slow_get seconds on every get, if set */
    double slow_get;
    int exists;
    leader_record rec;
    int rv;
    int fail_get;          /* PB_E* returned by get while non-zero */
    int steal_on_update;   /* next update: someone else writes first, we conflict */
    int bump_on_update;    /* next update: the lease changes (same holder), we conflict */
    int hide_once;         /* next get: not found even if it exists (create race) */
    int writes;
    double last_get_timeout, last_write_timeout; /* what the election allowed */
} fake_lease;

static int fl_get(void *ud, double timeout_s, leader_record *out, pb_err *err)
{
    fake_lease *f = ud;
    f->last_get_timeout = timeout_s;
    if (f->clock)
        *f->clock += f->slow_get;
    if (f->fail_get)
        return pb_err_set(err, f->fail_get, "apiserver down");
    if (f->hide_once) {
        f->hide_once = 0;
        return pb_err_set(err, PB_ENOTFOUND, "leases \"x\" not found");
    }
    if (!f->exists)
        return pb_err_set(err, PB_ENOTFOUND, "leases \"x\" not found");
    *out = f->rec;
    return 0;
}

static int fl_create(void *ud, double timeout_s, leader_record *rec, pb_err *err)
{
    fake_lease *f = ud;
    f->last_write_timeout = timeout_s;
    if (f->exists)
        return pb_err_set(err, PB_EEXIST, "already exists");
    snprintf(rec->resource_version, sizeof rec->resource_version, "%d", ++f->rv);
    f->rec = *rec;
    f->exists = 1;
    f->writes++;
    return 0;
}

static int fl_update(void *ud, double timeout_s, leader_record *rec, pb_err *err)
{
    fake_lease *f = ud;
    f->last_write_timeout = timeout_s;
    if (f->steal_on_update) {
        f->steal_on_update = 0;
        snprintf(f->rec.holder, sizeof f->rec.holder, "thief");
        snprintf(f->rec.resource_version, sizeof f->rec.resource_version, "%d", ++f->rv);
    }
    if (f->bump_on_update) {
        f->bump_on_update = 0;
        snprintf(f->rec.resource_version, sizeof f->rec.resource_version, "%d", ++f->rv);
    }
    if (strcmp(rec->resource_version, f->rec.resource_version) != 0)
        return pb_err_set(err, PB_ECONFLICT, "the object has been modified");
    snprintf(rec->resource_version, sizeof rec->resource_version, "%d", ++f->rv);
    f->rec = *rec;
    f->writes++;
    return 0;
}

static leader_lease_api api_of(fake_lease *f)
{
    leader_lease_api a = {fl_get, fl_create, fl_update, NULL, f};
    return a;
}

/* --- candidates ------------------------------------------------------------ */

typedef struct cand {
    leader *le;
    int started, stopped;
    char last_new_leader[64];
} cand;

static double clock_now(void *ud)
{
    return *(double *)ud;
}

static void started(void *ud)
{
    ((cand *)ud)->started++;
}

static void stopped(void *ud)
{
    ((cand *)ud)->stopped++;
}

static void new_leader(void *ud, const char *id)
{
    snprintf(((cand *)ud)->last_new_leader, 64, "%s", id);
}

static void make(cand *c, const char *id, fake_lease *f, double *clock)
{
    memset(c, 0, sizeof *c);
    leader_lease_api a = api_of(f);
    leader_options o = {.lease_name = "paybill-operator", .identity = id, .now = clock_now, .now_ud = clock,
                        .on_started_leading = started, .on_stopped_leading = stopped,
                        .on_new_leader = new_leader, .cb_ud = c};
    pb_err e;
    assert_int_equal(leader_new(&a, &o, &c->le, &e), 0);
}

/* Candidate "a" on f's lease, leading after its first tick at *t. */
static void make_leader(cand *a, fake_lease *f, double *t)
{
    make(a, "a", f, t);
    leader_tick(a->le);
    assert_true(leader_is_leader(a->le));
}

static void test_acquire_and_renew(void **state)
{
    fake_lease f = {0};
    double t = 1000;
    cand a;
    make(&a, "a", &f, &t);
    assert_false(leader_is_leader(a.le));
    assert_float_equal(leader_tick(a.le), 2.0, 1e-9); /* retry period */
    assert_true(leader_is_leader(a.le));
    assert_int_equal(a.started, 1);
    assert_string_equal(f.rec.holder, "a");
    assert_int_equal(f.rec.lease_duration_s, 15);
    assert_int_equal(f.rec.transitions, 0);
    assert_float_equal(f.rec.acquire_time, 1000, 1e-9);
    assert_string_equal(a.last_new_leader, "a");

    t += 2;
    leader_tick(a.le);
    assert_true(leader_is_leader(a.le));
    assert_int_equal(a.started, 1); /* renewing is not starting again */
    assert_float_equal(f.rec.renew_time, 1002, 1e-9);
    assert_float_equal(f.rec.acquire_time, 1000, 1e-9);
    assert_int_equal(f.writes, 2);
    char h[64];
    leader_holder(a.le, h, sizeof h);
    assert_string_equal(h, "a");
    leader_free(a.le);
}

static void test_contender_waits_then_takes_over_after_expiry(void **state)
{
    fake_lease f = {0};
    double t = 1000;
    cand a, b;
    make(&a, "a", &f, &t);
    make(&b, "b", &f, &t);
    leader_tick(a.le);
    leader_tick(b.le);
    assert_false(leader_is_leader(b.le));
    assert_string_equal(b.last_new_leader, "a");
    /* While a renews, b never gets it, however long it waits. */
    for (int i = 0; i < 20; i++) {
        t += 2;
        leader_tick(a.le);
        leader_tick(b.le);
        assert_false(leader_is_leader(b.le));
    }
    /* a dies. b last saw a change at t; the lease is 15 s. */
    double died = t;
    t += 14;
    leader_tick(b.le);
    assert_false(leader_is_leader(b.le));
    t = died + 15.5;
    leader_tick(b.le);
    assert_true(leader_is_leader(b.le));
    assert_int_equal(b.started, 1);
    assert_string_equal(f.rec.holder, "b");
    assert_int_equal(f.rec.transitions, 1);
    assert_float_equal(f.rec.acquire_time, t, 1e-9);

    /* a comes back: it sees b holding the lease and steps down at once. */
    assert_true(leader_is_leader(a.le));
    leader_tick(a.le);
    assert_false(leader_is_leader(a.le));
    assert_int_equal(a.stopped, 1);
    assert_string_equal(f.rec.holder, "b"); /* a did not overwrite it */
    leader_free(a.le);
    leader_free(b.le);
}

static void test_expiry_is_measured_on_our_clock(void **state)
{
    /* The holder's renewTime is far in the past (skewed clock), but the
     * record keeps changing: it is alive and must not be taken. */
    fake_lease f = {0};
    double t = 5000;
    cand a, b;
    make(&a, "a", &f, &t);
    make(&b, "b", &f, &t);
    double skew = -3600;
    leader_tick(a.le);
    for (int i = 0; i < 10; i++) {
        f.rec.renew_time += skew; /* what a skewed holder would write */
        t += 2;
        leader_tick(b.le);
        assert_false(leader_is_leader(b.le));
        leader_tick(a.le);
    }
    leader_free(a.le);
    leader_free(b.le);
}

static void test_lose_on_conflict_with_new_holder(void **state)
{
    fake_lease f = {0};
    double t = 1000;
    cand a;
    make_leader(&a, &f, &t);
    f.steal_on_update = 1;
    t += 2;
    leader_tick(a.le);
    assert_false(leader_is_leader(a.le));
    assert_int_equal(a.stopped, 1);
    assert_string_equal(f.rec.holder, "thief");
    leader_free(a.le);
}

static void test_transient_conflict_keeps_leadership(void **state)
{
    fake_lease f = {0};
    double t = 1000;
    cand a;
    make_leader(&a, &f, &t);
    /* Someone touches the lease between our read and write without taking
     * it (e.g. a label edit): the renew fails, we stay leader and retry. */
    f.bump_on_update = 1;
    t += 2;
    int writes = f.writes;
    leader_tick(a.le);
    assert_true(leader_is_leader(a.le));
    assert_int_equal(f.writes, writes);
    t += 2;
    leader_tick(a.le);
    assert_true(leader_is_leader(a.le));
    assert_int_equal(f.writes, writes + 1);
    assert_float_equal(f.rec.renew_time, t, 1e-9);
    assert_int_equal(a.stopped, 0);
    leader_free(a.le);
}

static void test_lose_after_renew_deadline(void **state)
{
    fake_lease f = {0};
    double t = 1000;
    cand a;
    make_leader(&a, &f, &t);
    f.fail_get = PB_EUNAVAILABLE;
    for (int i = 0; i < 4; i++) { /* 2, 4, 6, 8 s without renewing: still leader */
        t += 2;
        leader_tick(a.le);
        assert_true(leader_is_leader(a.le));
    }
    t += 2; /* 10 s = renew deadline */
    leader_tick(a.le);
    assert_false(leader_is_leader(a.le));
    assert_int_equal(a.stopped, 1);
    /* The API comes back: a is re-elected (it still holds the lease). */
    f.fail_get = 0;
    t += 2;
    leader_tick(a.le);
    assert_true(leader_is_leader(a.le));
    assert_int_equal(a.started, 2);
    assert_int_equal(f.rec.transitions, 0); /* same holder: not a transition */
    leader_free(a.le);
}

static void test_hung_request_counts_against_the_deadline(void **state)
{
    fake_lease f = {0};
    double t = 1000;
    cand a;
    make_leader(&a, &f, &t);
    /* One renew attempt that hangs 12 s and fails: past the 10 s deadline
     * when it returns, so a must stop leading right then. */
    f.clock = &t;
    f.slow_get = 12;
    f.fail_get = PB_ETIMEOUT;
    t += 2;
    leader_tick(a.le);
    assert_false(leader_is_leader(a.le));
    assert_int_equal(a.stopped, 1);
    leader_free(a.le);
}

/* Every call is bounded: a candidate's by one renew deadline, a leader's
 * by what is left of its own (the get's time comes out of the update's),
 * the release by the retry period; a tick that comes after the deadline
 * stops leading without asking the server anything. */
static void test_calls_bounded_by_renew_deadline(void **state)
{
    fake_lease f = {0};
    double t = 1000;
    cand a;
    make_leader(&a, &f, &t);
    assert_float_equal(f.last_get_timeout, 10, 1e-9);
    assert_float_equal(f.last_write_timeout, 10, 1e-9);

    t += 9; /* 1 s of the deadline left; the get takes 0.6 of it */
    f.clock = &t;
    f.slow_get = 0.6;
    leader_tick(a.le);
    assert_true(leader_is_leader(a.le));
    assert_float_equal(f.last_get_timeout, 1.0, 1e-9);
    assert_float_equal(f.last_write_timeout, 0.4, 1e-9);

    /* The loop stalled past the deadline (renewed at 1009, now 1019.6+). */
    f.slow_get = 0;
    f.last_get_timeout = -1;
    int writes = f.writes;
    t += 10;
    leader_tick(a.le);
    assert_false(leader_is_leader(a.le));
    assert_int_equal(a.stopped, 1);
    assert_float_equal(f.last_get_timeout, -1, 1e-9);
    assert_int_equal(f.writes, writes);

    leader_tick(a.le); /* still ours: taken again */
    assert_true(leader_is_leader(a.le));
    pb_err e;
    assert_int_equal(leader_release(a.le, &e), 0);
    assert_float_equal(f.last_write_timeout, 2.0, 1e-9);
    leader_free(a.le);
}

static void test_release_lets_successor_in_at_once(void **state)
{
    fake_lease f = {0};
    double t = 1000;
    cand a, b;
    make(&a, "a", &f, &t);
    make(&b, "b", &f, &t);
    leader_tick(a.le);
    leader_tick(b.le);
    assert_false(leader_is_leader(b.le));
    t += 1;
    pb_err e;
    assert_int_equal(leader_release(a.le, &e), 0);
    assert_false(leader_is_leader(a.le));
    assert_int_equal(a.stopped, 1);
    assert_string_equal(f.rec.holder, "");
    assert_int_equal(f.rec.lease_duration_s, 1);
    assert_int_equal(leader_release(a.le, &e), 0); /* not leading: no-op */
    assert_int_equal(a.stopped, 1);
    leader_tick(b.le); /* no waiting out the 15 s */
    assert_true(leader_is_leader(b.le));
    assert_int_equal(f.rec.transitions, 1);
    leader_free(a.le);
    leader_free(b.le);
}

static void test_create_race(void **state)
{
    fake_lease f = {0};
    double t = 1000;
    cand a, b;
    make(&a, "a", &f, &t);
    make(&b, "b", &f, &t);
    /* b creates the lease between a's get (not found) and a's create. */
    leader_tick(b.le);
    f.hide_once = 1;
    leader_tick(a.le);
    assert_false(leader_is_leader(a.le));
    assert_true(leader_is_leader(b.le));
    t += 2;
    leader_tick(a.le);
    assert_false(leader_is_leader(a.le));
    char h[64];
    leader_holder(a.le, h, sizeof h);
    assert_string_equal(h, "b");
    leader_free(a.le);
    leader_free(b.le);
}

static int api_freed;
static void count_free(void *ud)
{
    (void)ud;
    api_freed++;
}

static void test_bad_options(void **state)
{
    fake_lease f = {0};
    leader_lease_api a = api_of(&f);
    a.free = count_free;
    leader *le = NULL;
    pb_err e;
    leader_options o = {.identity = "x", .lease_duration_s = 10, .renew_deadline_s = 10};
    assert_int_equal(leader_new(&a, &o, &le, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "renewDeadline"));
    o.renew_deadline_s = 2;
    o.retry_period_s = 2;
    assert_int_equal(leader_new(&a, &o, &le, &e), PB_EINVAL);
    leader_options noid = {0};
    assert_int_equal(leader_new(&a, &noid, &le, &e), PB_EINVAL);
    char longid[300];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    leader_options lo = {.identity = longid};
    assert_int_equal(leader_new(&a, &lo, &le, &e), PB_EINVAL);
    assert_int_equal(api_freed, 4); /* released on every failure */
    assert_int_equal(leader_new(NULL, &o, &le, &e), PB_EINVAL);
    assert_false(leader_is_leader(NULL));
    assert_int_equal(leader_release(NULL, &e), 0);
    leader_free(NULL);
}

/* --- the Lease through the REST client ---------------------------------------- */

static void test_kube_lease_api(void **state)
{
    fa_server *srv = fa_start(NULL);
    char *dir;
    kube_client *c = fa_client(srv, &dir);
    leader_lease_api api;
    pb_err e;
    assert_int_equal(leader_lease_api_kube(c, "sys", "paybill", &api, &e), 0);

    fa_push_json(srv, 200, "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":"
                           "{\"name\":\"paybill\",\"namespace\":\"sys\",\"resourceVersion\":\"42\"},"
                           "\"spec\":{\"holderIdentity\":\"other\",\"leaseDurationSeconds\":15,"
                           "\"acquireTime\":\"2026-11-25T10:00:00.000000Z\","
                           "\"renewTime\":\"2026-11-25T10:00:05.500000Z\",\"leaseTransitions\":3}}");
    leader_record rec;
    assert_int_equal(api.get(api.ud, 5, &rec, &e), 0);
    assert_string_equal(rec.holder, "other");
    assert_int_equal(rec.lease_duration_s, 15);
    assert_int_equal(rec.transitions, 3);
    assert_float_equal(rec.acquire_time, 1795600800.0, 1e-6);
    assert_float_equal(rec.renew_time, 1795600805.5, 1e-6);
    assert_string_equal(rec.resource_version, "42");

    /* Take it over: a PUT carrying the version we read. */
    snprintf(rec.holder, sizeof rec.holder, "me");
    rec.transitions = 4;
    rec.renew_time = 1795600820.25;
    fa_push_json(srv, 200, "{\"metadata\":{\"name\":\"paybill\",\"namespace\":\"sys\",\"resourceVersion\":\"43\"}}");
    assert_int_equal(api.update(api.ud, 5, &rec, &e), 0);
    assert_string_equal(rec.resource_version, "43");
    const fa_req *q = fa_req_at(srv, 1);
    assert_string_equal(q->method, "PUT");
    assert_true(strncmp(q->target, "/apis/coordination.k8s.io/v1/namespaces/sys/leases/paybill",
                        strlen("/apis/coordination.k8s.io/v1/namespaces/sys/leases/paybill")) == 0);
    json_error_t je;
    json_t *body = json_loads(q->body, 0, &je);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "kind")), "Lease");
    json_t *md = json_object_get(body, "metadata");
    assert_string_equal(json_string_value(json_object_get(md, "resourceVersion")), "42");
    json_t *spec = json_object_get(body, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "holderIdentity")), "me");
    assert_int_equal(json_integer_value(json_object_get(spec, "leaseTransitions")), 4);
    assert_int_equal(json_integer_value(json_object_get(spec, "leaseDurationSeconds")), 15);
    assert_string_equal(json_string_value(json_object_get(spec, "renewTime")), "2026-11-25T10:00:20.250000Z");
    assert_string_equal(json_string_value(json_object_get(spec, "acquireTime")), "2026-11-25T10:00:00.000000Z");
    json_decref(body);

    fa_push_json(srv, 409, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
                           "\"Operation cannot be fulfilled on leases.coordination.k8s.io \\\"paybill\\\": the object "
                           "has been modified\",\"reason\":\"Conflict\",\"code\":409}");
    assert_int_equal(api.update(api.ud, 5, &rec, &e), PB_ECONFLICT);
    fa_push_json(srv, 404, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
                           "\"leases.coordination.k8s.io \\\"paybill\\\" not found\",\"reason\":\"NotFound\",\"code\":404}");
    assert_int_equal(api.get(api.ud, 5, &rec, &e), PB_ENOTFOUND);
    fa_push_json(srv, 201, "{\"metadata\":{\"name\":\"paybill\",\"namespace\":\"sys\",\"resourceVersion\":\"50\"}}");
    leader_record fresh = {.lease_duration_s = 15};
    snprintf(fresh.holder, sizeof fresh.holder, "me");
    assert_int_equal(api.create(api.ud, 5, &fresh, &e), 0);
    assert_string_equal(fresh.resource_version, "50");
    q = fa_req_at(srv, 4);
    assert_string_equal(q->method, "POST");
    assert_true(strncmp(q->target, "/apis/coordination.k8s.io/v1/namespaces/sys/leases?", 51) == 0 ||
                strcmp(q->target, "/apis/coordination.k8s.io/v1/namespaces/sys/leases") == 0);
    assert_non_null(strstr(q->body, "\"acquireTime\":null"));

    /* A server that stops answering: the call ends with its budget (the
     * client's own timeout is 30 s). */
    fa_push_hang(srv);
    double t0 = tu_now();
    assert_int_equal(api.get(api.ud, 0.3, &rec, &e), PB_ETIMEOUT);
    double dt = tu_now() - t0;
    assert_true(dt >= 0.25 && dt < 2.0);
    api.free(api.ud);

    assert_int_equal(leader_lease_api_kube(c, "", "paybill", &api, &e), PB_EINVAL);
    assert_int_equal(leader_lease_api_kube(NULL, "sys", "paybill", &api, &e), PB_EINVAL);
    kube_client_free(c);
    fa_stop(srv);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acquire_and_renew),
        cmocka_unit_test(test_contender_waits_then_takes_over_after_expiry),
        cmocka_unit_test(test_expiry_is_measured_on_our_clock),
        cmocka_unit_test(test_lose_on_conflict_with_new_holder),
        cmocka_unit_test(test_transient_conflict_keeps_leadership),
        cmocka_unit_test(test_lose_after_renew_deadline),
        cmocka_unit_test(test_hung_request_counts_against_the_deadline),
        cmocka_unit_test(test_calls_bounded_by_renew_deadline),
        cmocka_unit_test(test_release_lets_successor_in_at_once),
        cmocka_unit_test(test_create_race),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_kube_lease_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
