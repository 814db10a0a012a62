/*
 * test_billing_api.c - provision/billing_api without a network: which base
 * URLs are allowed (https, or http to loopback only), Stripe form encoding
 * (brackets and reserved characters escaped), argument checks before any
 * request, and a refused connection reported as PB_EUNAVAILABLE.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "provision/billing_api.h"

static void test_url_check(void **state)
{
    (void)state;
    pb_err e;
    assert_int_equal(pb_bapi_url_check("https://api.stripe.com", &e), 0);
    assert_int_equal(pb_bapi_url_check("http://127.0.0.1:8080/x", &e), 0);
    assert_int_equal(pb_bapi_url_check("http://127.9.9.9", &e), 0);
    assert_int_equal(pb_bapi_url_check("http://localhost:1", &e), 0);
    assert_int_equal(pb_bapi_url_check("http://[::1]:1/", &e), 0);
    assert_int_equal(pb_bapi_url_check("http://api.stripe.com", &e), PB_EINVAL);
    assert_int_equal(pb_bapi_url_check("http://10.0.0.1", &e), PB_EINVAL);
    assert_int_equal(pb_bapi_url_check("http://128.0.0.1", &e), PB_EINVAL);
    assert_int_equal(pb_bapi_url_check("http://127.0.0.1.evil.example", &e), PB_EINVAL);
    assert_int_equal(pb_bapi_url_check("file:///etc/passwd", &e), PB_EINVAL);
    assert_int_equal(pb_bapi_url_check("gopher://127.0.0.1", &e), PB_EINVAL);
    assert_int_equal(pb_bapi_url_check("", &e), PB_EINVAL);
    assert_int_equal(pb_bapi_url_check(NULL, &e), PB_EINVAL);
}

static void test_form(void **state)
{
    (void)state;
    pb_err e;
    char *f = NULL;
    assert_int_equal(pb_bapi_form_add(&f, "event_name", "paybill_steps", &e), 0);
    assert_int_equal(pb_bapi_form_add(&f, "payload[stripe_customer_id]", "cus_1&x=y", &e), 0);
    assert_int_equal(pb_bapi_form_add(&f, "payload[value]", "42", &e), 0);
    assert_string_equal(f, "event_name=paybill_steps&payload%5Bstripe_customer_id%5D=cus_1%26x%3Dy&payload%5Bvalue%5D=42");
    free(f);
}

static void test_args_and_unreachable(void **state)
{
    (void)state;
    pb_err e;
    long status = -1;
    char *body = NULL;
    json_t *obj = NULL;
    pb_bapi_opts o = {.base_url = "http://127.0.0.1:1", .timeout_ms = 2000};
    pb_bapi_meter_event ev = {.event_name = "m", .customer = "cus_1", .identifier = "id1", .value = 1, .timestamp = 1};
    assert_int_equal(pb_bapi_stripe_meter_event(&o, "", &ev, &status, &body, &e), PB_EINVAL);
    pb_bapi_meter_event nocust = ev;
    nocust.customer = "";
    assert_int_equal(pb_bapi_stripe_meter_event(&o, "sk", &nocust, &status, &body, &e), PB_EINVAL);
    assert_int_equal(pb_bapi_stripe_get_subscription(&o, "sk", "../admin", &status, &obj, &e), PB_EINVAL);
    assert_int_equal(pb_bapi_stripe_get_subscription(&o, "sk", "sub_1?x=1", &status, &obj, &e), PB_EINVAL);
    /* Port 1 on loopback: nothing listens; the provider is unreachable. */
    assert_int_equal(pb_bapi_stripe_meter_event(&o, "sk", &ev, &status, &body, &e), PB_EUNAVAILABLE);
    assert_null(body);
    assert_int_equal(pb_bapi_stripe_get_subscription(&o, "sk", "sub_1", &status, &obj, &e), PB_EUNAVAILABLE);
    assert_null(obj);
    pb_bapi_opts bad = {.base_url = "http://example.com"};
    assert_int_equal(pb_bapi_stripe_meter_event(&bad, "sk", &ev, &status, &body, &e), PB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_check),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_args_and_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
