/*
 * test_quantity.c - pb_quantity_*: parse, compare and print Kubernetes
 * quantities as apimachinery's resource.Quantity does. The expected texts
 * are what the real API server returns for each input (its ParseQuantity
 * followed by String(), vectors from apimachinery's own tests and from
 * tracing its code), quirks included.
 */
#include <string.h>

#include "testutil.h"

#include "util/quantity.h"

static void expect_canonical(const char *in, const char *want)
{
    char out[PB_QUANTITY_BUF];
    pb_err err;
    pb_err_clear(&err);
    int rc = pb_quantity_canonical(in, out, sizeof out, &err);
    if (rc != 0)
        fail_msg("\"%s\": unexpected error %s: %s", in, pb_err_name(rc), pb_err_msg(&err));
    if (strcmp(out, want) != 0)
        fail_msg("\"%s\": expected \"%s\", got \"%s\"", in, want, out);
    /* What the server returns reads back as itself. */
    char again[PB_QUANTITY_BUF];
    if (pb_quantity_canonical(out, again, sizeof again, &err) != 0 || strcmp(again, out) != 0)
        fail_msg("\"%s\": \"%s\" is not stable: \"%s\"", in, out, again);
    assert_true(pb_quantity_valid(in));
    assert_true(pb_quantity_equal(in, out));
}

static void expect_invalid(const char *in, int code, const char *msg)
{
    char out[PB_QUANTITY_BUF];
    pb_err err;
    pb_err_clear(&err);
    int rc = pb_quantity_canonical(in, out, sizeof out, &err);
    if (rc != code)
        fail_msg("\"%s\": expected %s, got %s", in, pb_err_name(code), pb_err_name(rc));
    if (msg && strcmp(pb_err_msg(&err), msg) != 0)
        fail_msg("\"%s\": expected message \"%s\", got \"%s\"", in, msg, pb_err_msg(&err));
    assert_false(pb_quantity_valid(in));
}

static void test_canonical_decimal(void **state)
{
    (void)state;
    expect_canonical("100m", "100m");
    expect_canonical("0.1", "100m");
    expect_canonical("0.5", "500m");
    expect_canonical("1.5", "1500m");
    expect_canonical("1000m", "1");
    expect_canonical("+1000m", "1");
    expect_canonical("1500m", "1500m");
    expect_canonical("1000M", "1G");
    expect_canonical("1000000k", "1G");
    expect_canonical("1000000000", "1G");
    expect_canonical("1000", "1k");
    expect_canonical("1024", "1024");
    expect_canonical("50k", "50k");
    expect_canonical("100.035k", "100.035k"); /* scale 0, digits canonical: kept */
    expect_canonical("100.0350k", "100035");
    expect_canonical("1.01E", "1010P");
    expect_canonical("12E", "12E");
    expect_canonical("1000E", "1e21"); /* no suffix past E: exponent notation keeps the value */
    expect_canonical("-1", "-1");
    expect_canonical("-1.5", "-1500m");
    expect_canonical("0", "0");
    expect_canonical("-0", "0");
    expect_canonical("0m", "0");
    expect_canonical("000", "0");
    expect_canonical("8", "8");
    expect_canonical("10", "10");
    expect_canonical("0.001", "1m");
    expect_canonical(".001", "1m");
    expect_canonical("1080m", "1080m");
    expect_canonical("1.08", "1080m");
}

static void test_canonical_rounding(void **state)
{
    (void)state;
    expect_canonical("1n", "1n");
    expect_canonical("0.0000000001", "1n");
    expect_canonical("0.0000000005", "1n");
    expect_canonical("0.9n", "1n");
    expect_canonical("3.001n", "4n");
    expect_canonical("0.00000012345", "124n");
    expect_canonical("-0.0000000001", "-1n"); /* rounded up in magnitude */
    expect_canonical("1.1E-9", "2e-9");
    expect_canonical("0.5e-9", "1e-9");
    expect_canonical("0.0000000000000000000000000000000000000000000000001", "1n");
}

static void test_canonical_binary(void **state)
{
    (void)state;
    expect_canonical("1Ki", "1Ki");
    expect_canonical("8Ki", "8Ki");
    expect_canonical("1Mi", "1Mi");
    expect_canonical("1Gi", "1Gi");
    expect_canonical("1024Mi", "1Gi");
    expect_canonical("2048Mi", "2Gi");
    expect_canonical("1536Mi", "1536Mi");
    expect_canonical("1.5Gi", "1536Mi");
    expect_canonical("-1.5Gi", "-1536Mi");
    expect_canonical("0.5Gi", "512Mi");
    expect_canonical("300Mi", "300Mi");
    expect_canonical("307200Ki", "300Mi");
    expect_canonical("1.5Ki", "1536");   /* not a whole number of Ki */
    expect_canonical("0.5Ki", "512");    /* below 1024: decimal */
    expect_canonical("1.1Ki", "1126400m");
    expect_canonical(".001Ki", "1024m");
    expect_canonical(".000001Ki", "1024u");
    expect_canonical(".000000001Ki", "1024n");
    expect_canonical(".000000000001Ki", "2n");
    expect_canonical("0Mi", "0");
    expect_canonical("1024Ei", "9223372036854775807"); /* capped at 2^63-1 */
    expect_canonical("9Ei", "9223372036854775807");
    expect_canonical("7Ei", "7Ei");
    expect_canonical("9223372036854775807Ki", "9223372036854775807");
}

static void test_canonical_exponent(void **state)
{
    (void)state;
    expect_canonical("1e3", "1e3");
    expect_canonical("1E3", "1E3"); /* already canonical digits: kept as written */
    expect_canonical("12e6", "12e6");
    expect_canonical("1e2", "100");
    expect_canonical("10e2", "1e3");
    expect_canonical("1.5e3", "1500");
    expect_canonical("1.2e3", "1200");
    expect_canonical("1.3E+6", "1300e3");
    expect_canonical("1.7E18", "1700e15");
    expect_canonical("1e-3", "1e-3");
    expect_canonical("10e-4", "1e-3");
    expect_canonical("0.5e0", "500e-3");
    expect_canonical("1e0", "1e0");
    expect_canonical("10e0", "10e0");
    expect_canonical("100e-1", "10");
    expect_canonical("1e2147483647", "10e2147483646");
    expect_canonical("1e2147483646", "1e2147483646");
}

/* Inputs the real parser keeps verbatim because its digits are already canonical. */
static void test_canonical_kept_as_written(void **state)
{
    (void)state;
    expect_canonical("+1", "+1");
    expect_canonical("+1Ki", "+1Ki");
    expect_canonical("01", "01");
    expect_canonical("1.", "1.");
    expect_canonical("1.G", "1.G");
    /* and the ones it re-emits */
    expect_canonical("+8Ki", "8Ki");
    expect_canonical("+0.5", "500m");
    /* "." and a bare suffix are zero for the real parser too */
    expect_canonical(".", "0");
    expect_canonical("-.", "0");
    expect_canonical("+", "0");
    expect_canonical("Mi", "0");
    expect_canonical("k", "0");
}

static void test_invalid(void **state)
{
    (void)state;
    expect_invalid("", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("1.2.3", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("1Qi", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("1 Gi", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid(" 1", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("1 ", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("1.1.M", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("1+1.0M", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("0.1am", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("aoeu", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("cpu", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("1cpu", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("--1", PB_EINVAL, PB_QUANTITY_ERR_SUFFIX); /* "-1" is read as the suffix */
    expect_invalid("0.1mi", PB_EINVAL, PB_QUANTITY_ERR_SUFFIX);
    expect_invalid(".5i", PB_EINVAL, PB_QUANTITY_ERR_SUFFIX);
    expect_invalid("1i", PB_EINVAL, PB_QUANTITY_ERR_SUFFIX);
    expect_invalid("-3.01e-", PB_EINVAL, PB_QUANTITY_ERR_SUFFIX);
    expect_invalid("1e", PB_EINVAL, PB_QUANTITY_ERR_SUFFIX);
    expect_invalid("1KiB", PB_EINVAL, PB_QUANTITY_ERR_FORMAT);
    expect_invalid("1mM", PB_EINVAL, PB_QUANTITY_ERR_SUFFIX);
    expect_invalid("1e4294967297", PB_EINVAL, PB_QUANTITY_ERR_SUFFIX); /* int32 exponent */
    expect_invalid("1e2147483648", PB_EINVAL, PB_QUANTITY_ERR_SUFFIX);
    /* Limits of this implementation. */
    expect_invalid("123456789012345678901234567890123456789", PB_ETOOLARGE, NULL);
    char longer[PB_QUANTITY_MAX_LEN + 2];
    memset(longer, '1', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    expect_invalid(longer, PB_ETOOLARGE, NULL);
    expect_invalid("12345678901234567890123Ei", PB_ETOOLARGE, NULL);
    /* 38 significant digits still work, and zeros past them are not digits. */
    expect_canonical("12345678901234567890123456789012345678", "12345678901234567890123456789012345678");
    expect_canonical("1.000000000000000000000000000000000000000000000", "1");
    expect_canonical("1000000000000000000000000000000000000000000000", "1e45");
    expect_canonical("1230000000000000000000000000000000000000000000k", "1230e45");

    char small[4];
    pb_err err;
    assert_int_equal(pb_quantity_canonical("1536Mi", small, sizeof small, &err), PB_ETOOLARGE);
    assert_int_equal(pb_quantity_canonical("1Gi", small, sizeof small, NULL), 0);
    assert_string_equal(small, "1Gi");
}

static void test_compare(void **state)
{
    (void)state;
    assert_true(pb_quantity_equal("1000m", "1"));
    assert_true(pb_quantity_equal("1Gi", "1024Mi"));
    assert_true(pb_quantity_equal("2048Mi", "2Gi"));
    assert_true(pb_quantity_equal("1.5Gi", "1536Mi"));
    assert_true(pb_quantity_equal("1Ki", "1024"));
    assert_true(pb_quantity_equal("1e3", "1k"));
    assert_true(pb_quantity_equal("0.1", "100m"));
    assert_true(pb_quantity_equal("0", "-0"));
    assert_true(pb_quantity_equal("0Mi", "0"));
    assert_true(pb_quantity_equal("1n", "0.0000000001"));
    assert_true(pb_quantity_equal("9Ei", "10Ei")); /* both capped */
    assert_true(pb_quantity_equal("+1", "1"));
    assert_false(pb_quantity_equal("1", "2"));
    assert_false(pb_quantity_equal("1E", "1Ei"));
    assert_false(pb_quantity_equal("1", "-1"));
    assert_false(pb_quantity_equal("1m", "1Mi"));
    assert_false(pb_quantity_equal("abc", "abc")); /* not quantities */
    assert_false(pb_quantity_equal("1", "1Qi"));

    assert_true(pb_quantity_is_integer("2"));
    assert_true(pb_quantity_is_integer("1k"));
    assert_true(pb_quantity_is_integer("1000m"));
    assert_true(pb_quantity_is_integer("1Gi"));
    assert_true(pb_quantity_is_integer("0"));
    assert_true(pb_quantity_is_integer("-3"));
    assert_false(pb_quantity_is_integer("1500m"));
    assert_false(pb_quantity_is_integer("1n"));
    assert_true(pb_quantity_is_integer("0.5Ki")); /* 512 */
    assert_false(pb_quantity_is_integer("1.1Ki"));
    assert_false(pb_quantity_is_integer("1Qi"));

    int c = 9;
    pb_err err;
    assert_int_equal(pb_quantity_cmp("100m", "1", &c, &err), 0);
    assert_int_equal(c, -1);
    assert_int_equal(pb_quantity_cmp("1", "100m", &c, &err), 0);
    assert_int_equal(c, 1);
    assert_int_equal(pb_quantity_cmp("-1", "0", &c, &err), 0);
    assert_int_equal(c, -1);
    assert_int_equal(pb_quantity_cmp("-2", "-1", &c, &err), 0);
    assert_int_equal(c, -1);
    assert_int_equal(pb_quantity_cmp("1E", "1Ei", &c, &err), 0);
    assert_int_equal(c, -1);
    assert_int_equal(pb_quantity_cmp("10000T", "100Gi", &c, &err), 0);
    assert_int_equal(c, 1);
    assert_int_equal(pb_quantity_cmp("1e2147483647", "9Ei", &c, &err), 0);
    assert_int_equal(c, 1);
    assert_int_equal(pb_quantity_cmp("1n", "1e-2147483647", &c, &err), 0);
    assert_int_equal(c, 0); /* rounded up to the nano */
    assert_int_equal(pb_quantity_cmp("1", "1 Gi", &c, &err), PB_EINVAL);
    assert_non_null(strstr(pb_err_msg(&err), "\"1 Gi\""));
    assert_non_null(strstr(pb_err_msg(&err), "regular expression"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_decimal),   cmocka_unit_test(test_canonical_rounding),
        cmocka_unit_test(test_canonical_binary),    cmocka_unit_test(test_canonical_exponent),
        cmocka_unit_test(test_canonical_kept_as_written), cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
