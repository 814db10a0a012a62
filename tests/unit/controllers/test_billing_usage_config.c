/*
 * test_billing_usage_config.c - the usage-out and fetch-back half of the
 * billing settings (billing_config_parse: usage, api, meters, fetchBack),
 * and the pure fetch-back rules (which events are confirmed with the
 * provider, the subject id of a thin event, replacing an event's object).
 */
#include "testutil.h"

#include <string.h>

#include "controllers/billing.h"

static int parse(const char *yaml_json, billing_config *c, pb_err *e)
{
    json_error_t je;
    json_t *j = json_loads(yaml_json, 0, &je);
    if (!j)
        fail_msg("bad test JSON: %s", je.text);
    int rc = billing_config_parse(j, "test.yaml", c, e);
    json_decref(j);
    return rc;
}

static void expect_refused(const char *doc, const char *fragment)
{
    billing_config c;
    pb_err e;
    pb_err_clear(&e);
    assert_int_equal(parse(doc, &c, &e), PB_EINVAL);
    if (!strstr(e.msg, fragment))
        fail_msg("error \"%s\" does not contain \"%s\"", e.msg, fragment);
}

static void test_usage_config(void **state)
{
    (void)state;
    billing_config c;
    pb_err e;
    assert_int_equal(
        parse("{\"usage\": {\"period\": \"1h\", \"retryBase\": \"2s\", \"retryMax\": \"1m\"},"
              " \"providers\": [{\"name\": \"stripe\", \"scheme\": \"stripe\", \"secretRef\": \"s\","
              "  \"api\": {\"baseURL\": \"https://api.stripe.com\", \"secretRef\": {\"name\": \"k\", \"key\": \"apiKey\"}},"
              "  \"meters\": {\"tenant_active\": \"paybill_tenant_days\", \"agent_tokens\": \"tok\"}},"
              " {\"name\": \"inhouse\", \"scheme\": \"hmac-sha256\", \"secretRef\": \"h\","
              "  \"api\": {\"usageURL\": \"http://127.0.0.1:9/usage\", \"secretRef\": {\"name\": \"x\", \"key\": \"y\"}},"
              "  \"meters\": {\"storage_bytes\": \"storage\"}}]}",
              &c, &e),
        0);
    assert_int_equal(c.usage_period_s, 3600);
    assert_int_equal(c.usage_retry_base_s, 2);
    assert_int_equal(c.usage_retry_max_s, 60);
    assert_int_equal(c.nproviders, 2);
    assert_string_equal(c.providers[0].api_base, "https://api.stripe.com");
    assert_string_equal(c.providers[0].api_secret, "k");
    assert_string_equal(c.providers[0].api_secret_key, "apiKey");
    assert_int_equal(c.providers[0].fetch_back, BILLING_FETCH_THIN); /* default with an API */
    assert_int_equal(c.providers[0].nmeters, 2);
    assert_string_equal(c.providers[0].meters[0].meter, "tenant_active");
    assert_string_equal(c.providers[0].meters[0].event_name, "paybill_tenant_days");
    assert_int_equal(c.providers[1].fetch_back, BILLING_FETCH_NEVER);
    assert_string_equal(c.providers[1].usage_url, "http://127.0.0.1:9/usage");
    billing_config_free(&c);
    /* Defaults: a day, 10 s doubling to 10 min. */
    assert_int_equal(parse("{\"providers\": []}", &c, &e), 0);
    assert_int_equal(c.usage_period_s, 86400);
    assert_int_equal(c.usage_retry_base_s, 10);
    assert_int_equal(c.usage_retry_max_s, 600);
    billing_config_free(&c);
}

static void test_usage_config_refused(void **state)
{
    (void)state;
#define P(extra) "{\"providers\": [{\"name\": \"p\", \"scheme\": \"stripe\", \"secretRef\": \"s\"" extra "}]}"
#define API ", \"api\": {\"baseURL\": \"https://a.example\", \"secretRef\": {\"name\": \"k\", \"key\": \"v\"}}"
    expect_refused(P(", \"meters\": {\"tenant_active\": \"x\"}"), "needs api");
    expect_refused(P(", \"api\": {\"baseURL\": \"http://api.stripe.com\", \"secretRef\": {\"name\": \"k\", \"key\": \"v\"}}"),
                   "loopback");
    expect_refused(P(", \"api\": {\"baseURL\": \"ftp://x\", \"secretRef\": {\"name\": \"k\", \"key\": \"v\"}}"), "https");
    expect_refused(P(", \"api\": {\"baseURL\": \"https://a.example\"}"), "secretRef");
    expect_refused(P(", \"api\": {\"usageURL\": \"https://a.example\", \"secretRef\": {\"name\": \"k\", \"key\": \"v\"}}"),
                   "baseURL");
    expect_refused(P(API ", \"meters\": {\"Bad-Name\": \"x\"}"), "meters.Bad-Name");
    expect_refused(P(API ", \"meters\": {}"), "meters");
    expect_refused(P(API ", \"fetchBack\": \"sometimes\""), "fetchBack");
    expect_refused(P(", \"fetchBack\": \"thin\""), "fetchBack");
    expect_refused(P(API ", \"api2\": 1"), "api2");
    expect_refused("{\"usage\": {\"period\": \"0s\"}}", "billing.usage.period");
    expect_refused("{\"usage\": {\"retryBase\": \"1m\", \"retryMax\": \"1s\"}}", "retryMax");
    expect_refused("{\"usage\": {\"every\": \"1m\"}}", "billing.usage.every");
    expect_refused("{\"providers\": [{\"name\": \"h\", \"scheme\": \"hmac-sha256\", \"secretRef\": \"s\", \"fetchBack\": "
                   "\"always\", \"api\": {\"usageURL\": \"https://a.example\", \"secretRef\": {\"name\": \"k\", "
                   "\"key\": \"v\"}}}]}",
                   "fetchBack");
#undef P
#undef API
}

static void ev_parse(const char *body, billing_event *ev)
{
    pb_err e;
    if (billing_event_parse(body, strlen(body), ev, &e) != 0)
        fail_msg("%s", e.msg);
}

static void test_fetch_rules(void **state)
{
    (void)state;
    billing_event full, thin, unpaid, nostatus;
    ev_parse("{\"id\":\"e1\",\"type\":\"customer.subscription.updated\",\"created\":10,"
             "\"data\":{\"object\":{\"object\":\"subscription\",\"id\":\"sub_1\",\"status\":\"active\"}}}",
             &full);
    ev_parse("{\"id\":\"e2\",\"type\":\"customer.subscription.updated\",\"created\":11,"
             "\"related_object\":{\"id\":\"sub_2\",\"type\":\"subscription\"}}",
             &thin);
    ev_parse("{\"id\":\"e3\",\"type\":\"customer.subscription.updated\",\"created\":12,"
             "\"data\":{\"object\":{\"object\":\"subscription\",\"id\":\"sub_3\",\"status\":\"unpaid\"}}}",
             &unpaid);
    ev_parse("{\"id\":\"e4\",\"type\":\"x\",\"created\":12,\"data\":{\"object\":{\"object\":\"subscription\","
             "\"id\":\"sub_4\"}}}",
             &nostatus);
    assert_false(billing_event_needs_fetch(BILLING_FETCH_NEVER, &thin));
    assert_true(billing_event_needs_fetch(BILLING_FETCH_THIN, &thin));
    assert_true(billing_event_needs_fetch(BILLING_FETCH_THIN, &nostatus));
    assert_false(billing_event_needs_fetch(BILLING_FETCH_THIN, &full));
    assert_false(billing_event_needs_fetch(BILLING_FETCH_THIN, &unpaid));
    assert_true(billing_event_needs_fetch(BILLING_FETCH_SUSPENDING, &unpaid));
    assert_false(billing_event_needs_fetch(BILLING_FETCH_SUSPENDING, &full));
    assert_true(billing_event_needs_fetch(BILLING_FETCH_ALWAYS, &full));
    assert_string_equal(billing_event_subject_id(&full), "sub_1");
    assert_string_equal(billing_event_subject_id(&thin), "sub_2");
    assert_string_equal(billing_event_subject_id(&nostatus), "sub_4");
    /* Replacing the object: status and customer from the provider; the
     * event's id and time kept (ordering follows the event). */
    pb_err e;
    json_t *cur = json_pack("{s:s, s:s, s:s, s:s, s:I}", "object", "subscription", "id", "sub_2", "customer",
                            "cus_9", "status", "past_due", "current_period_end", (json_int_t)99);
    assert_int_equal(billing_event_set_object(&thin, cur, &e), 0);
    assert_string_equal(thin.status, "past_due");
    assert_string_equal(thin.customer, "cus_9");
    assert_string_equal(thin.object_kind, "subscription");
    assert_string_equal(thin.object_id, "sub_2");
    assert_int_equal(thin.period_end, 99);
    assert_string_equal(thin.id, "e2");
    assert_int_equal(thin.created, 11);
    assert_false(billing_event_needs_fetch(BILLING_FETCH_THIN, &thin));
    assert_int_equal(billing_event_set_object(&full, json_string("x"), &e), PB_EINVAL);
    assert_string_equal(full.status, "active");
    /* A non-subscription related object: no id to fetch. */
    billing_event inv;
    ev_parse("{\"id\":\"e5\",\"type\":\"invoice.paid\",\"created\":1,\"related_object\":{\"id\":\"in_1\",\"type\":"
             "\"invoice\"}}",
             &inv);
    assert_string_equal(billing_event_subject_id(&inv), "");
    billing_event_clear(&inv);
    billing_event_clear(&full);
    billing_event_clear(&thin);
    billing_event_clear(&unpaid);
    billing_event_clear(&nostatus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_config),
        cmocka_unit_test(test_usage_config_refused),
        cmocka_unit_test(test_fetch_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
