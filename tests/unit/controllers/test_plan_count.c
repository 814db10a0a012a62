/* Unit tests for plan_count_write_delay: a plan status whose only change is
 * its tenant count is written at most once a second; any other change, and
 * a first status, at once. */
#include "testutil.h"

#include <jansson.h>
#include <pthread.h>

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
    json_object_set_new(op->plan_written, plan, json_real((double)pb_time_mono_ns() / 1e9 - ago));
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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_count_changes_coalesce)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
