/* Unit tests for util/flags: syntax forms, booleans, env fallback, errors, help. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/flags.h"

typedef struct {
    const char *name;
    int on, n;
    double rate;
    pb_duration wait;
    int help;
} vals;

#define NF 6
static void table(vals *v, pb_flag t[NF])
{
    const pb_flag f[NF] = {
        {"name", PB_FLAG_STRING, &v->name, "NAME", "who", 0},
        {"leader-elect", PB_FLAG_BOOL, &v->on, NULL, "elect", 0},
        {"workers", PB_FLAG_INT, &v->n, "N", "how many", 0},
        {"qps", PB_FLAG_DOUBLE, &v->rate, NULL, "rate", 0},
        {"retry-period", PB_FLAG_DURATION, &v->wait, NULL, "wait", 0},
        {"help", PB_FLAG_BOOL, &v->help, NULL, "help", 1},
    };
    memcpy(t, f, sizeof f);
}

static int run(vals *v, pb_err *e, int *argi, int argc, char **argv)
{
    pb_flag t[NF];
    memset(v, 0, sizeof *v);
    v->name = "default";
    v->n = 2;
    table(v, t);
    pb_err_clear(e);
    return pb_flags_parse(t, NF, "TESTPB_", argc, argv, argi, e);
}

#define ARGS(...) (sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)), ((char *[]){__VA_ARGS__})

static void test_forms(void **state)
{
    vals v;
    pb_err e;
    int argi;
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--name=acme", "--workers", "5", "--leader-elect",
                                             "--qps=2.5", "--retry-period", "1m30s", "pos", "--x")),
                     0);
    assert_string_equal(v.name, "acme");
    assert_int_equal(v.n, 5);
    assert_int_equal(v.on, 1);
    assert_true(v.rate == 2.5);
    assert_true(v.wait == 90 * PB_SECOND);
    assert_int_equal(argi, 8); /* "pos" stops parsing */

    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--leader-elect=false", "--", "--name=x")), 0);
    assert_int_equal(v.on, 0);
    assert_string_equal(v.name, "default");
    assert_int_equal(argi, 3);

    /* a bool does not swallow the next argument; empty value allowed */
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--leader-elect", "false", "--name=")), 0);
    assert_int_equal(v.on, 1);
    assert_int_equal(argi, 2);
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "-h")), 0);
    assert_int_equal(v.help, 1);
    /* last one wins */
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--workers=1", "--workers=3")), 0);
    assert_int_equal(v.n, 3);
}

static void test_errors(void **state)
{
    vals v;
    pb_err e;
    int argi;
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--nmae=x")), PB_EINVAL);
    assert_string_equal(e.msg, "unknown flag --nmae (did you mean --name? see --help)");
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--frobnicate")), PB_EINVAL);
    assert_string_equal(e.msg, "unknown flag --frobnicate (see --help)");
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--workers")), PB_EINVAL);
    assert_string_equal(e.msg, "flag --workers needs a value (see --help)");
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--name", "--workers=1")), PB_EINVAL);
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--workers=abc")), PB_EINVAL);
    assert_string_equal(e.msg, "invalid value \"abc\" for --workers: not an integer");
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--workers=99999999999")), PB_EINVAL);
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--workers=")), PB_EINVAL);
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--qps=fast")), PB_EINVAL);
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--qps=inf")), PB_EINVAL);
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--leader-elect=maybe")), PB_EINVAL);
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--retry-period=5")), PB_EINVAL);
    assert_non_null(strstr(e.msg, "not a duration"));
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "-name=x")), PB_EINVAL);
    assert_non_null(strstr(e.msg, "bad flag syntax"));
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "---name=x")), PB_EINVAL);
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--=x")), PB_EINVAL);
}

static void test_env(void **state)
{
    vals v;
    pb_err e;
    int argi;
    setenv("TESTPB_WORKERS", "7", 1);
    setenv("TESTPB_LEADER_ELECT", "true", 1);
    setenv("TESTPB_NAME", "from-env", 1);
    setenv("TESTPB_HELP", "true", 1); /* no_env: ignored */
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--name=from-flag")), 0);
    assert_int_equal(v.n, 7);
    assert_int_equal(v.on, 1);
    assert_string_equal(v.name, "from-flag");
    assert_int_equal(v.help, 0);
    setenv("TESTPB_WORKERS", "many", 1);
    assert_int_equal(run(&v, &e, &argi, ARGS("prog")), PB_EINVAL);
    assert_string_equal(e.msg, "invalid value \"many\" for --workers (env TESTPB_WORKERS): not an integer");
    /* ...but a flag overriding the bad variable wins without complaint */
    assert_int_equal(run(&v, &e, &argi, ARGS("prog", "--workers", "4")), 0);
    assert_int_equal(v.n, 4);
    unsetenv("TESTPB_WORKERS");
    unsetenv("TESTPB_LEADER_ELECT");
    unsetenv("TESTPB_NAME");
    unsetenv("TESTPB_HELP");
    char buf[64];
    assert_string_equal(pb_flags_env_name("PAYBILL_", "leader-elect-namespace", buf, sizeof buf),
                        "PAYBILL_LEADER_ELECT_NAMESPACE");
}

static void test_help(void **state)
{
    vals v;
    pb_flag t[NF];
    memset(&v, 0, sizeof v);
    v.name = "default";
    v.n = 2;
    v.wait = 2 * PB_SECOND;
    table(&v, t);
    char *h = pb_flags_help(t, NF, "TESTPB_");
    assert_non_null(h);
    assert_non_null(strstr(h, "  --name NAME                    who (default \"default\") [$TESTPB_NAME]\n"));
    assert_non_null(strstr(h, "  --leader-elect                 elect [$TESTPB_LEADER_ELECT]\n"));
    assert_non_null(strstr(h, "--workers N"));
    assert_non_null(strstr(h, "(default 2)"));
    assert_non_null(strstr(h, "--retry-period duration"));
    assert_non_null(strstr(h, "(default 2s)"));
    assert_non_null(strstr(h, "  --help                         help\n"));
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
