/* Unit tests for util/options: defaults, flags, env, validation, usage. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/options.h"

#define ARGS(...) (int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)), ((char *[]){__VA_ARGS__})

static void test_defaults(void **state)
{
    pb_options o;
    pb_err e;
    assert_int_equal(pb_options_parse(ARGS("paybill-operator"), &o, &e), 0);
    assert_null(o.kubeconfig);
    assert_null(o.context);
    assert_null(o.config);
    assert_string_equal(o.namespace_name, "paybill-system");
    assert_string_equal(o.leader_elect_namespace, "paybill-system");
    assert_string_equal(o.metrics_addr, "127.0.0.1:8080");
    assert_string_equal(o.health_addr, "127.0.0.1:8081");
    assert_string_equal(o.webhook_addr, "127.0.0.1:9443");
    assert_int_equal(o.log_level, PB_LOG_INFO);
    assert_int_equal(o.log_format, PB_LOG_JSON);
    assert_int_equal(o.leader_elect, 0);
    assert_true(o.lease_duration == 15 * PB_SECOND);
    assert_true(o.renew_deadline == 10 * PB_SECOND);
    assert_true(o.retry_period == 2 * PB_SECOND);
    assert_int_equal(o.workers, 2);
    assert_true(o.qps == 20);
    assert_int_equal(o.burst, 30);
    assert_int_equal(o.http2, 0); /* HTTP/1.1 unless asked */
    assert_int_equal(o.help, 0);
    assert_int_equal(o.version, 0);
    pb_options_free(&o);
    assert_int_equal(pb_options_defaults(&o, &e), 0);
    assert_string_equal(o.namespace_name, "paybill-system");
    pb_options_free(&o);
}

static void test_all_flags(void **state)
{
    pb_options o;
    pb_err e;
    assert_int_equal(pb_options_parse(ARGS("op", "--kubeconfig", "/tmp/kc", "--context=dev",
                                           "--namespace=ops", "--log-level=debug", "--log-format", "text",
                                           "--metrics-addr=:9090", "--health-addr=[::1]:0", "--leader-elect",
                                           "--leader-elect-namespace=kube-system", "--lease-duration=30s",
                                           "--renew-deadline=20s", "--retry-period=5s", "--workers=4",
                                           "--qps=50.5", "--burst=100", "--http2", "--config=/etc/paybill.yaml"),
                                      &o, &e),
                     0);
    assert_string_equal(o.kubeconfig, "/tmp/kc");
    assert_string_equal(o.context, "dev");
    assert_string_equal(o.namespace_name, "ops");
    assert_int_equal(o.log_level, PB_LOG_DEBUG);
    assert_int_equal(o.log_format, PB_LOG_TEXT);
    assert_string_equal(o.metrics_addr, ":9090");
    assert_string_equal(o.health_addr, "[::1]:0");
    assert_int_equal(o.leader_elect, 1);
    assert_string_equal(o.leader_elect_namespace, "kube-system");
    assert_true(o.lease_duration == 30 * PB_SECOND);
    assert_true(o.renew_deadline == 20 * PB_SECOND);
    assert_true(o.retry_period == 5 * PB_SECOND);
    assert_int_equal(o.workers, 4);
    assert_true(o.qps == 50.5);
    assert_int_equal(o.burst, 100);
    assert_int_equal(o.http2, 1);
    assert_string_equal(o.config, "/etc/paybill.yaml");
    pb_options_free(&o);
    /* the lease namespace follows --namespace unless given */
    assert_int_equal(pb_options_parse(ARGS("op", "--namespace=ops"), &o, &e), 0);
    assert_string_equal(o.leader_elect_namespace, "ops");
    pb_options_free(&o);
}

static void test_env_and_precedence(void **state)
{
    pb_options o;
    pb_err e;
    setenv("PAYBILL_NAMESPACE", "env-ns", 1);
    setenv("PAYBILL_LEADER_ELECT", "true", 1);
    setenv("PAYBILL_WORKERS", "8", 1);
    setenv("PAYBILL_LOG_LEVEL", "warn", 1);
    assert_int_equal(pb_options_parse(ARGS("op", "--workers=3"), &o, &e), 0);
    assert_string_equal(o.namespace_name, "env-ns");
    assert_int_equal(o.leader_elect, 1);
    assert_int_equal(o.workers, 3);
    assert_int_equal(o.log_level, PB_LOG_WARN);
    pb_options_free(&o);
    setenv("PAYBILL_WORKERS", "zero", 1);
    assert_int_equal(pb_options_parse(ARGS("op"), &o, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "PAYBILL_WORKERS"));
    pb_options_free(&o);
    unsetenv("PAYBILL_NAMESPACE");
    unsetenv("PAYBILL_LEADER_ELECT");
    unsetenv("PAYBILL_WORKERS");
    unsetenv("PAYBILL_LOG_LEVEL");
}

static void expect_error(pb_err *e, int argc, char **argv, const char *needle)
{
    pb_options o;
    int rc = pb_options_parse(argc, argv, &o, e);
    if (rc != PB_EINVAL)
        fail_msg("expected EINVAL containing '%s', got %d", needle, rc);
    if (!strstr(e->msg, needle))
        fail_msg("message '%s' lacks '%s'", e->msg, needle);
    pb_options_free(&o);
}

static void test_validation(void **state)
{
    pb_err e;
    expect_error(&e, ARGS("op", "--bogus"), "unknown flag --bogus");
    expect_error(&e, ARGS("op", "--namespace"), "needs a value");
    expect_error(&e, ARGS("op", "extra"), "unexpected argument \"extra\"");
    expect_error(&e, ARGS("op", "--log-level=loud"), "--log-level");
    expect_error(&e, ARGS("op", "--log-format=xml"), "--log-format");
    expect_error(&e, ARGS("op", "--metrics-addr=localhost"), "--metrics-addr");
    expect_error(&e, ARGS("op", "--health-addr=h:99999"), "port out of range");
    expect_error(&e, ARGS("op", "--health-addr=::1:80"), "brackets");
    expect_error(&e, ARGS("op", "--webhook-addr=::1:9443"), "brackets");
    expect_error(&e, ARGS("op", "--workers=0"), "--workers must be at least 1");
    expect_error(&e, ARGS("op", "--qps=0"), "--qps");
    expect_error(&e, ARGS("op", "--burst=-1"), "--burst");
    expect_error(&e, ARGS("op", "--lease-duration=10s"), "--lease-duration must be greater");
    expect_error(&e, ARGS("op", "--retry-period=9s"), "1.2 x --retry-period");
    expect_error(&e, ARGS("op", "--namespace="), "--namespace must not be empty");
    /* "0" disables an endpoint */
    pb_options o;
    assert_int_equal(pb_options_parse(ARGS("op", "--metrics-addr=0", "--webhook-addr=0"), &o, &e), 0);
    assert_string_equal(o.metrics_addr, "0");
    assert_string_equal(o.webhook_addr, "0");
    pb_options_free(&o);
    assert_int_equal(pb_options_parse(ARGS("op", "--webhook-addr=[::1]:8443"), &o, &e), 0);
    assert_string_equal(o.webhook_addr, "[::1]:8443");
    pb_options_free(&o);
}

static void test_help_and_version(void **state)
{
    pb_options o;
    pb_err e;
    /* --help wins over otherwise invalid input */
    assert_int_equal(pb_options_parse(ARGS("op", "--workers=0", "--help"), &o, &e), 0);
    assert_int_equal(o.help, 1);
    pb_options_free(&o);
    assert_int_equal(pb_options_parse(ARGS("op", "--version"), &o, &e), 0);
    assert_int_equal(o.version, 1);
    pb_options_free(&o);
    char *u = pb_options_usage("paybill-operator");
    assert_non_null(u);
    assert_non_null(strstr(u, "Usage: paybill-operator [flags]"));
    assert_non_null(strstr(u, "--metrics-addr ADDR"));
    assert_non_null(strstr(u, "(default \"127.0.0.1:8080\") [$PAYBILL_METRICS_ADDR]"));
    assert_non_null(strstr(u, "--lease-duration duration"));
    assert_non_null(strstr(u, "(default 15s)"));
    assert_non_null(strstr(u, "[$PAYBILL_LEADER_ELECT]"));
    assert_null(strstr(u, "PAYBILL_HELP"));
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_all_flags),
        cmocka_unit_test(test_env_and_precedence), cmocka_unit_test(test_validation),
        cmocka_unit_test(test_help_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
