/*
 * test_billing_event.c - the pure half of billing (controllers/billing_event.c
 * and the provider mapping of substate.c): settings, event parsing, the
 * ordering rule (stale, duplicate, same-second created), statusSince kept
 * across repeated statuses (a redelivered past_due never restarts the grace
 * period), and the provider status -> state mapping with its grace.
 */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "controllers/billing.h"
#include "controllers/substate.h"

static const char *ev_json(char *buf, size_t n, const char *id, const char *type, long long created,
                           const char *status)
{
    snprintf(buf, n,
             "{\"id\":\"%s\",\"type\":\"%s\",\"created\":%lld,\"data\":{\"object\":{\"object\":\"subscription\","
             "\"id\":\"sub_1\",\"customer\":\"cus_1\",\"status\":\"%s\",\"items\":{\"data\":[{\"current_period_end\":"
             "%lld}]},\"metadata\":{\"paybill.dev/subscription\":\"acme\"}}}}",
             id, type, created, status, created + 86400);
    return buf;
}

static void parse(billing_event *ev, const char *id, const char *type, long long created, const char *status)
{
    char buf[1024];
    pb_err err;
    ev_json(buf, sizeof buf, id, type, created, status);
    if (billing_event_parse(buf, strlen(buf), ev, &err) != 0)
        fail_msg("%s", err.msg);
}

static void test_parse(void **st)
{
    (void)st;
    billing_event ev;
    parse(&ev, "evt_1", "customer.subscription.updated", 1000, "past_due");
    assert_string_equal(ev.object_kind, "subscription");
    assert_string_equal(ev.object_id, "sub_1");
    assert_string_equal(ev.customer, "cus_1");
    assert_string_equal(ev.meta_subscription, "acme");
    assert_int_equal(ev.period_end, 1000 + 86400); /* from items (newer API versions) */
    billing_event_clear(&ev);
    pb_err err;
    const char *bad[] = {"{", "[]", "{\"type\":\"x\",\"created\":1}", "{\"id\":\"e\",\"created\":1}",
                         "{\"id\":\"e\",\"type\":\"x\",\"created\":\"1\"}", "{\"id\":\"e\",\"id\":\"f\",\"type\":\"x\",\"created\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (billing_event_parse(bad[i], strlen(bad[i]), &ev, &err) == 0)
            fail_msg("accepted %s", bad[i]);
    assert_true(billing_status_known("incomplete_expired"));
    assert_false(billing_status_known("bogus"));
}

static void test_ordering(void **st)
{
    (void)st;
    billing_event a, b, old, created_tie, dup;
    parse(&a, "evt_a", "customer.subscription.updated", 1000, "active");
    json_t *cur = NULL;
    assert_string_equal(billing_decide(NULL, &a, "stripe", &cur), "applied");
    assert_non_null(cur);
    parse(&dup, "evt_a", "customer.subscription.updated", 1000, "active");
    json_t *next = NULL;
    assert_string_equal(billing_decide(cur, &dup, "stripe", &next), "duplicate");
    assert_null(next);
    parse(&old, "evt_old", "customer.subscription.updated", 999, "canceled");
    assert_string_equal(billing_decide(cur, &old, "stripe", &next), "stale");
    assert_null(next);
    parse(&created_tie, "evt_c", "customer.subscription.created", 1000, "incomplete");
    assert_string_equal(billing_decide(cur, &created_tie, "stripe", &next), "stale");
    /* Same second, another update: applied (the later arrival). */
    parse(&b, "evt_b", "customer.subscription.updated", 1000, "past_due");
    assert_string_equal(billing_decide(cur, &b, "stripe", &next), "applied");
    assert_string_equal(json_string_value(json_object_get(next, "status")), "past_due");
    assert_int_equal(json_integer_value(json_object_get(next, "eventTime")), 1000);
    json_decref(cur);
    cur = next;
    /* A later past_due (invoice retry) keeps statusSince: grace not restarted. */
    billing_event again;
    parse(&again, "evt_b2", "customer.subscription.updated", 5000, "past_due");
    assert_string_equal(billing_decide(cur, &again, "stripe", &next), "applied");
    assert_string_equal(json_string_value(json_object_get(next, "statusSince")),
                        json_string_value(json_object_get(cur, "statusSince")));
    json_decref(next);
    json_decref(cur);
    billing_event_clear(&a);
    billing_event_clear(&b);
    billing_event_clear(&old);
    billing_event_clear(&created_tie);
    billing_event_clear(&dup);
    billing_event_clear(&again);
}

static json_t *sub_with(const char *status, const char *since)
{
    return json_pack("{s:{s:s, s:s}, s:{s:{s:s}}, s:{s:{s:s, s:s}}}", "metadata", "name", "acme",
                     "creationTimestamp", "2026-01-01T00:00:00Z", "spec", "billing", "provider", "stripe",
                     "status", "billing", "status", status, "statusSince", since);
}

static void test_provider_states(void **st)
{
    (void)st;
    json_t *plan = json_pack("{s:{s:{s:s}}}", "spec", "billing", "gracePeriod", "72h");
    time_t since = 1767225600; /* 2026-01-01T00:00:00Z */
    struct { const char *status; time_t at; const char *state; int entitled; const char *reason; } cases[] = {
        {"trialing", since, "trialing", 1, "Trialing"},
        {"active", since, "active", 1, "Active"},
        {"past_due", since + 3600, "past_due", 1, "PastDue"},
        {"past_due", since + 73 * 3600, "unpaid", 0, "GracePeriodEnded"},
        {"unpaid", since, "unpaid", 0, "Unpaid"},
        {"paused", since, "paused", 0, "PausedByProvider"},
        {"canceled", since, "canceled", 0, "Canceled"},
        {"incomplete_expired", since, "canceled", 0, "IncompleteExpired"},
        {"incomplete", since, "pending", 0, "PaymentIncomplete"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *s = sub_with(cases[i].status, "2026-01-01T00:00:00Z");
        substate_result r;
        assert_int_equal(substate_compute(s, plan, cases[i].at, &r, NULL), 0);
        if (strcmp(r.state, cases[i].state) != 0 || r.entitled != cases[i].entitled ||
            strcmp(r.reason, cases[i].reason) != 0)
            fail_msg("%s at +%lds: %s/%d/%s", cases[i].status, (long)(cases[i].at - since), r.state, r.entitled,
                     r.reason);
        json_decref(s);
    }
    /* spec.paused (a human decision) wins over the provider. */
    json_t *s = sub_with("active", "2026-01-01T00:00:00Z");
    json_object_set_new(json_object_get(s, "spec"), "paused", json_true());
    substate_result r;
    assert_int_equal(substate_compute(s, plan, since, &r, NULL), 0);
    assert_string_equal(r.state, "paused");
    json_decref(s);
    /* manual ignores any status.billing. */
    s = sub_with("canceled", "2026-01-01T00:00:00Z");
    json_object_set_new(json_object_get(json_object_get(s, "spec"), "billing"), "provider", json_string("manual"));
    assert_int_equal(substate_compute(s, plan, since, &r, NULL), 0);
    assert_string_equal(r.state, "active");
    json_decref(s);
    json_decref(plan);
}

static void test_config(void **st)
{
    (void)st;
    billing_config c;
    pb_err err;
    assert_int_equal(billing_config_parse(NULL, "t", &c, &err), 0);
    assert_false(c.enabled);
    json_t *j = json_loads("{\"retention\":\"72h\",\"providers\":[{\"name\":\"stripe\",\"scheme\":\"stripe\","
                           "\"secretRef\":\"s\",\"tolerance\":\"10m\"}]}", 0, NULL);
    assert_int_equal(billing_config_parse(j, "t", &c, &err), 0);
    assert_true(c.enabled);
    assert_int_equal(c.retention_s, 72 * 3600);
    assert_int_equal(c.providers[0].tolerance_s, 600);
    billing_config_free(&c);
    json_decref(j);
    const char *bad[] = {
        "{\"bogus\":1}",
        "{\"providers\":[{\"name\":\"x\",\"scheme\":\"lago\",\"secretRef\":\"s\"}]}",
        "{\"providers\":[{\"name\":\"X/Y\",\"scheme\":\"stripe\",\"secretRef\":\"s\"}]}",
        "{\"providers\":[{\"name\":\"x\",\"scheme\":\"stripe\"}]}",
        "{\"providers\":[{\"name\":\"x\",\"scheme\":\"stripe\",\"secretRef\":\"s\"},"
        "{\"name\":\"x\",\"scheme\":\"hmac-sha256\",\"secretRef\":\"t\"}]}",
        "{\"maxBodyBytes\":10}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = json_loads(bad[i], 0, NULL);
        if (billing_config_parse(j, "t", &c, &err) == 0)
            fail_msg("accepted %s", bad[i]);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_provider_states),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
