/* Unit tests for the Subscription state machine (controllers/substate). */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "controllers/substate.h"

#define DAY 86400
/* 2026-01-31T00:00:00Z: month-end arithmetic gets exercised. */
static const time_t T0 = 1769817600;

static json_t *plan(int trial_days, const char *interval, const char *grace)
{
    return json_pack("{s:{s:s}, s:{s:{s:s}, s:{s:i, s:s, s:s}}}", "metadata", "name", "pro", "spec",
                     "isolation", "model", "bridge", "billing", "trialDays", trial_days,
                     "interval", interval, "gracePeriod", grace);
}

static json_t *sub(const char *provider)
{
    return json_pack("{s:{s:s, s:s}, s:{s:{s:s}, s:{s:s}, s:{s:s}}}", "metadata", "name",
                     "acme-pro", "creationTimestamp", "2026-01-31T00:00:00Z", "spec", "tenantRef",
                     "name", "acme", "planRef", "name", "pro", "billing", "provider", provider);
}

static void test_add_months_clamps(void **state)
{
    /* Jan 31 + 1 month = Feb 28 (2026 is not a leap year). */
    assert_int_equal(substate_add_months(T0, 1), T0 + 28 * DAY);
    assert_int_equal(substate_add_months(T0, 12), T0 + 365 * DAY);
}

static void test_trial_then_manual_active(void **state)
{
    json_t *p = plan(14, "month", "72h"), *s = sub("manual");
    substate_result r;
    assert_int_equal(substate_compute(s, p, T0 + DAY, &r, NULL), 0);
    assert_string_equal(r.state, "trialing");
    assert_true(r.entitled);
    assert_int_equal(r.trial_end, T0 + 14 * DAY);
    assert_int_equal(r.next_transition, T0 + 14 * DAY);
    assert_int_equal(substate_compute(s, p, T0 + 15 * DAY, &r, NULL), 0);
    assert_string_equal(r.state, "active");
    assert_int_equal(r.period_start, T0 + 14 * DAY);
    json_decref(p);
    json_decref(s);
}

static void test_stripe_past_due_then_unpaid(void **state)
{
    json_t *p = plan(0, "month", "72h"), *s = sub("stripe");
    substate_result r;
    assert_int_equal(substate_compute(s, p, T0 + 3600, &r, NULL), 0);
    assert_string_equal(r.state, "past_due");
    assert_true(r.entitled);
    assert_int_equal(r.grace_ends, T0 + 3 * DAY);
    assert_int_equal(r.next_transition, T0 + 3 * DAY);
    assert_int_equal(substate_compute(s, p, T0 + 3 * DAY, &r, NULL), 0);
    assert_string_equal(r.state, "unpaid");
    assert_false(r.entitled);
    assert_string_equal(r.reason, "Unpaid");
    /* A payment recorded by the billing webhook makes it active again. */
    json_object_set_new(s, "status", json_pack("{s:s}", "paidThrough", "2026-03-31T00:00:00Z"));
    assert_int_equal(substate_compute(s, p, T0 + 4 * DAY, &r, NULL), 0);
    assert_string_equal(r.state, "active");
    json_decref(p);
    json_decref(s);
}

static void test_paused_and_canceled(void **state)
{
    json_t *p = plan(0, "year", "72h"), *s = sub("manual");
    substate_result r;
    json_object_set_new(json_object_get(s, "spec"), "paused", json_true());
    assert_int_equal(substate_compute(s, p, T0 + DAY, &r, NULL), 0);
    assert_string_equal(r.state, "paused");
    assert_false(r.entitled);
    json_object_set_new(json_object_get(s, "spec"), "cancelAt", json_string("2026-02-10T00:00:00Z"));
    assert_int_equal(substate_compute(s, p, T0 + DAY, &r, NULL), 0);
    assert_string_equal(r.state, "paused");
    assert_int_equal(r.next_transition, T0 + 10 * DAY);
    assert_int_equal(substate_compute(s, p, T0 + 10 * DAY, &r, NULL), 0);
    assert_string_equal(r.state, "canceled");
    assert_int_equal(r.canceled_at, T0 + 10 * DAY);
    assert_int_equal(r.next_transition, 0);
    json_decref(p);
    json_decref(s);
}

static void test_bad_time_is_reported(void **state)
{
    json_t *p = plan(0, "month", "72h"), *s = sub("manual");
    json_object_set_new(json_object_get(s, "spec"), "cancelAt", json_string("next tuesday"));
    substate_result r;
    pb_err e;
    pb_err_clear(&e);
    assert_int_equal(substate_compute(s, p, T0, &r, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "spec.cancelAt"));
    json_decref(p);
    json_decref(s);
}

static void test_yearly_period_rolls(void **state)
{
    json_t *p = plan(0, "year", "72h"), *s = sub("manual");
    substate_result r;
    assert_int_equal(substate_compute(s, p, T0 + 400 * DAY, &r, NULL), 0);
    assert_string_equal(r.state, "active");
    assert_int_equal(r.period_start, T0 + 365 * DAY);
    assert_int_equal(r.period_end, T0 + 730 * DAY);
    json_decref(p);
    json_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_months_clamps),
        cmocka_unit_test(test_trial_then_manual_active),
        cmocka_unit_test(test_stripe_past_due_then_unpaid),
        cmocka_unit_test(test_paused_and_canceled),
        cmocka_unit_test(test_bad_time_is_reported),
        cmocka_unit_test(test_yearly_period_rolls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
