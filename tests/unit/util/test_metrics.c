/* Unit tests for util/metrics: exact exposition text, registration rules,
 * value formatting, concurrency. */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/metrics.h"

static char *render(pb_metrics_registry *r)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(pb_metrics_render(r, &out, &len, NULL), 0);
    assert_int_equal(strlen(out), len);
    return out;
}

static void test_counter_and_gauge_text(void **state)
{
    pb_metrics_registry *r = pb_metrics_registry_new();
    pb_counter *c;
    pb_gauge *g, *up;
    pb_err e;
    const char *const labels[] = {"controller", "result", NULL};
    assert_int_equal(pb_metrics_counter_register(r, "paybill_reconcile_total",
                                                 "Reconciles by controller\nand \\result.", labels, &c, &e), 0);
    assert_int_equal(pb_metrics_gauge_register(r, "paybill_depth", "Queue depth.", (const char *const[]){"name", NULL}, &g, &e), 0);
    assert_int_equal(pb_metrics_gauge_register(r, "paybill_up", "Always here.", NULL, &up, &e), 0);

    /* a labelled metric with no series is omitted; an unlabelled one shows 0 */
    char *s = render(r);
    assert_string_equal(s, "# HELP paybill_up Always here.\n# TYPE paybill_up gauge\npaybill_up 0\n");
    free(s);

    pb_metrics_counter_add(c, 1, "tenant", "success", NULL);
    pb_metrics_counter_add(c, 2, "tenant", "success", NULL);
    pb_metrics_counter_add(c, 0.5, "plan", "error", NULL);
    pb_metrics_counter_add(c, 1, "we\"ird\\", "new\nline", NULL);
    pb_metrics_gauge_set(g, 7, "tenants", NULL);
    pb_metrics_gauge_add(g, -2, "tenants", NULL);
    pb_metrics_gauge_set(up, 1, NULL);
    s = render(r);
    assert_string_equal(s,
        "# HELP paybill_depth Queue depth.\n"
        "# TYPE paybill_depth gauge\n"
        "paybill_depth{name=\"tenants\"} 5\n"
        "# HELP paybill_reconcile_total Reconciles by controller\\nand \\\\result.\n"
        "# TYPE paybill_reconcile_total counter\n"
        "paybill_reconcile_total{controller=\"plan\",result=\"error\"} 0.5\n"
        "paybill_reconcile_total{controller=\"tenant\",result=\"success\"} 3\n"
        "paybill_reconcile_total{controller=\"we\\\"ird\\\\\",result=\"new\\nline\"} 1\n"
        "# HELP paybill_up Always here.\n"
        "# TYPE paybill_up gauge\n"
        "paybill_up 1\n");
    free(s);
    assert_true(pb_metrics_counter_get(c, "tenant", "success", NULL) == 3);
    assert_true(pb_metrics_counter_get(c, "tenant", "nope", NULL) == 0);
    assert_true(pb_metrics_gauge_get(g, "tenants", NULL) == 5);
    pb_metrics_registry_free(r);
}

static void test_histogram_text(void **state)
{
    pb_metrics_registry *r = pb_metrics_registry_new();
    pb_histogram *h;
    const double b[] = {0.1, 1, 10};
    assert_int_equal(pb_metrics_histogram_register(r, "req_seconds", "Latency.",
                                                   (const char *const[]){"code", NULL}, b, 3, &h, NULL), 0);
    pb_metrics_histogram_observe(h, 0.05, "200", NULL);
    pb_metrics_histogram_observe(h, 0.1, "200", NULL); /* le is inclusive */
    pb_metrics_histogram_observe(h, 5, "200", NULL);
    pb_metrics_histogram_observe(h, 100, "200", NULL);
    char *s = render(r);
    assert_string_equal(s,
        "# HELP req_seconds Latency.\n"
        "# TYPE req_seconds histogram\n"
        "req_seconds_bucket{code=\"200\",le=\"0.1\"} 2\n"
        "req_seconds_bucket{code=\"200\",le=\"1\"} 2\n"
        "req_seconds_bucket{code=\"200\",le=\"10\"} 3\n"
        "req_seconds_bucket{code=\"200\",le=\"+Inf\"} 4\n"
        "req_seconds_sum{code=\"200\"} 105.15\n"
        "req_seconds_count{code=\"200\"} 4\n");
    free(s);
    assert_int_equal(pb_metrics_histogram_count(h, "200", NULL), 4);

    /* default buckets (controller-runtime's), unlabelled */
    pb_histogram *d;
    assert_int_equal(pb_metrics_histogram_register(r, "a_seconds", "D.", NULL, NULL, 0, &d, NULL), 0);
    pb_metrics_histogram_observe(d, 0.3, NULL);
    s = render(r);
    assert_non_null(strstr(s, "a_seconds_bucket{le=\"0.005\"} 0\n"));
    assert_non_null(strstr(s, "a_seconds_bucket{le=\"0.25\"} 0\n"));
    assert_non_null(strstr(s, "a_seconds_bucket{le=\"0.3\"} 1\n"));
    assert_non_null(strstr(s, "a_seconds_bucket{le=\"60\"} 1\na_seconds_bucket{le=\"+Inf\"} 1\n"
                              "a_seconds_sum 0.3\na_seconds_count 1\n"));
    assert_true(strstr(s, "# HELP a_seconds") < strstr(s, "# HELP req_seconds"));
    free(s);
    assert_int_equal(pb_metrics_default_nbuckets, 40);
    pb_metrics_registry_free(r);
}

static void test_registration_rules(void **state)
{
    pb_metrics_registry *r = pb_metrics_registry_new();
    pb_counter *c1, *c2;
    pb_gauge *g;
    pb_histogram *h;
    pb_err e;
    const char *const l[] = {"a", NULL};
    assert_int_equal(pb_metrics_counter_register(r, "x_total", "X.", l, &c1, &e), 0);
    assert_int_equal(pb_metrics_counter_register(r, "x_total", "X again.", l, &c2, &e), 0);
    assert_ptr_equal(c1, c2);
    assert_int_equal(pb_metrics_gauge_register(r, "x_total", "X.", l, &g, &e), PB_EEXIST);
    assert_int_equal(pb_metrics_counter_register(r, "x_total", "X.", NULL, &c2, &e), PB_EEXIST);
    assert_int_equal(pb_metrics_counter_register(r, "9x", "", NULL, &c2, &e), PB_EINVAL);
    assert_int_equal(pb_metrics_counter_register(r, "x-y", "", NULL, &c2, &e), PB_EINVAL);
    assert_int_equal(pb_metrics_counter_register(r, "ns:x_total", "", NULL, &c2, &e), 0);
    assert_int_equal(pb_metrics_counter_register(r, "y", "", (const char *const[]){"a:b", NULL}, &c2, &e), PB_EINVAL);
    assert_int_equal(pb_metrics_counter_register(r, "y", "", (const char *const[]){"__a", NULL}, &c2, &e), PB_EINVAL);
    assert_int_equal(pb_metrics_counter_register(r, "y", "", (const char *const[]){"a", "a", NULL}, &c2, &e), PB_EINVAL);
    assert_int_equal(pb_metrics_histogram_register(r, "h", "", (const char *const[]){"le", NULL}, NULL, 0, &h, &e), PB_EINVAL);
    const double bad[] = {1, 1};
    assert_int_equal(pb_metrics_histogram_register(r, "h", "", NULL, bad, 2, &h, &e), PB_EINVAL);
    const double inf[] = {1, INFINITY};
    assert_int_equal(pb_metrics_histogram_register(r, "h", "", NULL, inf, 2, &h, &e), PB_EINVAL);
    const double b1[] = {1, 2}, b2[] = {1, 3};
    assert_int_equal(pb_metrics_histogram_register(r, "h", "", NULL, b1, 2, &h, &e), 0);
    assert_int_equal(pb_metrics_histogram_register(r, "h", "", NULL, b2, 2, &h, &e), PB_EEXIST);

    /* wrong label count and negative counter adds are dropped (and logged) */
    FILE *logf = tmpfile();
    pb_log_configure(PB_LOG_INFO, PB_LOG_JSON, logf);
    pb_metrics_counter_add(c1, 1, NULL);
    pb_metrics_counter_add(c1, 1, "v", "extra", NULL);
    pb_metrics_counter_add(c1, -1, "v", NULL);
    pb_metrics_counter_add(c1, NAN, "v", NULL);
    pb_log_configure(PB_LOG_INFO, PB_LOG_JSON, NULL);
    char *log = tu_slurp(logf);
    fclose(logf);
    assert_non_null(strstr(log, "wrong number of label values"));
    assert_non_null(strstr(log, "counters only go up"));
    free(log);
    assert_true(pb_metrics_counter_get(c1, "v", NULL) == 0);
    char *s = render(r);
    assert_null(strstr(s, "x_total{"));
    free(s);
    pb_metrics_registry_free(r);
}

static void test_format_value(void **state)
{
    char b[40];
    assert_string_equal(pb_metrics_format_value(0, b, sizeof b), "0");
    assert_string_equal(pb_metrics_format_value(1, b, sizeof b), "1");
    assert_string_equal(pb_metrics_format_value(-2.5, b, sizeof b), "-2.5");
    assert_string_equal(pb_metrics_format_value(0.1, b, sizeof b), "0.1");
    assert_string_equal(pb_metrics_format_value(123456, b, sizeof b), "123456");
    assert_string_equal(pb_metrics_format_value(1e6, b, sizeof b), "1e+06");
    assert_string_equal(pb_metrics_format_value(1234567, b, sizeof b), "1.234567e+06");
    assert_string_equal(pb_metrics_format_value(0.0001, b, sizeof b), "0.0001");
    assert_string_equal(pb_metrics_format_value(0.00001, b, sizeof b), "1e-05");
    assert_string_equal(pb_metrics_format_value(1.0 / 3, b, sizeof b), "0.3333333333333333");
    assert_string_equal(pb_metrics_format_value(INFINITY, b, sizeof b), "+Inf");
    assert_string_equal(pb_metrics_format_value(-INFINITY, b, sizeof b), "-Inf");
    assert_string_equal(pb_metrics_format_value(NAN, b, sizeof b), "NaN");
}

typedef struct {
    pb_counter *c;
    pb_histogram *h;
    int id;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    char label[8];
    snprintf(label, sizeof label, "w%d", a->id % 2);
    for (int i = 0; i < 2000; i++) {
        pb_metrics_counter_add(a->c, 1, label, NULL);
        pb_metrics_histogram_observe(a->h, 0.01, label, NULL);
    }
    return NULL;
}

static void test_concurrency_and_default(void **state)
{
    pb_metrics_registry *r = pb_metrics_default();
    pb_counter *c;
    pb_histogram *h;
    const char *const l[] = {"w", NULL};
    assert_int_equal(pb_metrics_counter_register(r, "test_ops_total", "Ops.", l, &c, NULL), 0);
    assert_int_equal(pb_metrics_histogram_register(r, "test_op_seconds", "Op time.", l, NULL, 0, &h, NULL), 0);
    pthread_t t[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){c, h, i};
        pthread_create(&t[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 2; i++) { /* render while writers run */
        char *s = render(r);
        free(s);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(pb_metrics_counter_get(c, "w0", NULL) == 4000);
    assert_true(pb_metrics_counter_get(c, "w1", NULL) == 4000);
    assert_int_equal(pb_metrics_histogram_count(h, "w1", NULL), 4000);
    char *s = render(r);
    assert_non_null(strstr(s, "test_ops_total{w=\"w0\"} 4000\n"));
    free(s);
    pb_metrics_registry_free(r); /* no-op for the default registry */
    assert_true(pb_metrics_counter_get(c, "w0", NULL) == 4000);
}

static void test_many_series(void **state)
{
    pb_metrics_registry *r = pb_metrics_registry_new();
    pb_gauge *g;
    assert_int_equal(pb_metrics_gauge_register(r, "g", "G.", (const char *const[]){"t", NULL}, &g, NULL), 0);
    char name[16];
    for (int i = 0; i < 500; i++) { /* forces several index resizes */
        snprintf(name, sizeof name, "t%03d", i);
        pb_metrics_gauge_set(g, i, name, NULL);
    }
    for (int i = 0; i < 500; i += 7) {
        snprintf(name, sizeof name, "t%03d", i);
        assert_true(pb_metrics_gauge_get(g, name, NULL) == i);
    }
    char *s = render(r);
    assert_non_null(strstr(s, "g{t=\"t000\"} 0\ng{t=\"t001\"} 1\n"));
    assert_non_null(strstr(s, "g{t=\"t499\"} 499\n"));
    free(s);
    pb_metrics_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge_text),
        cmocka_unit_test(test_histogram_text),
        cmocka_unit_test(test_registration_rules),
        cmocka_unit_test(test_format_value),
        cmocka_unit_test(test_concurrency_and_default),
        cmocka_unit_test(test_many_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
