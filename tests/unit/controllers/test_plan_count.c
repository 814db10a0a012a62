/* Unit tests for plan_count_write_delay: a plan status whose only change is
 * its tenant count is written at most once a second; any other change, and
 * a first status, at once. And for plan_map_tenant: while a count write is
 * put off, tenant changes do not re-queue the Plan (the reconcile already
 * queued will count them); before and after, they do. */
#include "testutil.h"

#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "controllers/operator.h"
#include "util/timeutil.h"

static json_t *status(const char *phase, int tenants)
{
    return json_pack("{s:s, s:i, s:i}", "phase", phase, "tenants", tenants, "observedGeneration", 1);
}

static void written_ago(operator_ctx *op, const char *plan, double ago)
{
    if (!op->plan_written)
        op->plan_written = json_object();
    json_object_set_new(op->plan_written, plan, json_real(pb_time_mono_s() - ago));
}

static void test_count_changes_coalesce(void **state)
{
    operator_ctx op = {0};
    pthread_mutex_init(&op.plan_mu, NULL);
    json_t *s1 = status("Ready", 1), *s2 = status("Ready", 2), *other = status("Degraded", 2);

    assert_true(plan_count_write_delay(&op, "gold", NULL, s1) == 0); /* first status */
    assert_true(plan_count_write_delay(&op, "gold", s1, s1) == 0);   /* nothing to write */
    assert_true(plan_count_write_delay(&op, "gold", s1, s2) == 0);   /* never written: now */

    written_ago(&op, "gold", 0.1);
    double d = plan_count_write_delay(&op, "gold", s1, s2);
    assert_true(d > 0.8 && d <= 0.9 + 1e-6); /* the rest of the second */
    assert_true(plan_count_write_delay(&op, "gold", s1, other) == 0); /* not only the count */
    assert_true(plan_count_write_delay(&op, "silver", s1, s2) == 0); /* per plan */

    written_ago(&op, "gold", 2.0);
    assert_true(plan_count_write_delay(&op, "gold", s1, s2) == 0); /* a second has passed */

    json_decref(s1);
    json_decref(s2);
    json_decref(other);
    json_decref(op.plan_written);
    pthread_mutex_destroy(&op.plan_mu);
}

/* 1 when the map re-queues `plan` for tenant t. */
static int requeues(operator_ctx *op, json_t *t, const char *plan)
{
    json_t *keys = plan_map_tenant(t, op);
    int yes = keys && json_array_size(keys) == 1 && strcmp(json_string_value(json_array_get(keys, 0)), plan) == 0;
    assert_true(yes || !keys);
    json_decref(keys);
    return yes;
}

static void test_map_waits_for_the_put_off_write(void **state)
{
    (void)state;
    operator_ctx op = {0};
    pthread_mutex_init(&op.plan_mu, NULL);
    json_t *t = json_pack("{s:{s:s}, s:{s:s}}", "metadata", "name", "t1", "status", "plan", "gold");
    json_t *none = json_pack("{s:{s:s}}", "metadata", "name", "t2");

    assert_true(requeues(&op, t, "gold")); /* nothing put off */
    assert_null(plan_map_tenant(none, &op)); /* no plan yet */

    plan_count_defer(&op, "gold", 5.0);
    assert_false(requeues(&op, t, "gold")); /* the queued reconcile counts it */
    plan_count_defer(&op, "silver", 5.0);
    plan_count_clear(&op, "gold"); /* the reconcile started: count again */
    assert_true(requeues(&op, t, "gold"));

    plan_count_defer(&op, "gold", 0.02);
    assert_false(requeues(&op, t, "gold"));
    nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    assert_true(requeues(&op, t, "gold")); /* due: re-queue, never lose one */

    json_decref(t);
    json_decref(none);
    json_decref(op.plan_count_due);
    pthread_mutex_destroy(&op.plan_mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_count_changes_coalesce),
                                       cmocka_unit_test(test_map_waits_for_the_put_off_write)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
