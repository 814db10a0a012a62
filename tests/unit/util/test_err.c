/* Unit tests for util/err: codes, messages, wrapping and truncation. */
#include "testutil.h"

#include <string.h>

#include "util/err.h"

static int fails_with_context(pb_err *e)
{
    pb_err_set(e, PB_ENOTFOUND, "tenant %s not found", "acme");
    return pb_err_wrap(e, "reconciling %s", "acme");
}

static void test_set_and_wrap(void **state)
{
    pb_err e;
    pb_err_clear(&e);
    assert_string_equal(pb_err_msg(&e), "");
    assert_int_equal(fails_with_context(&e), PB_ENOTFOUND);
    assert_string_equal(e.msg, "reconciling acme: tenant acme not found");
    assert_string_equal(pb_err_name(e.code), "ENOTFOUND");
}

static void test_null_is_allowed(void **state)
{
    assert_int_equal(pb_err_set(NULL, PB_EINVAL, "x"), PB_EINVAL);
    assert_int_equal(pb_err_wrap(NULL, "x"), 0);
    assert_string_equal(pb_err_msg(NULL), "");
}

static void test_wrap_clear_is_noop(void **state)
{
    pb_err e;
    pb_err_clear(&e);
    assert_int_equal(pb_err_wrap(&e, "ctx"), 0);
    assert_string_equal(e.msg, "");
}

static void test_truncation_keeps_context(void **state)
{
    pb_err e;
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    pb_err_set(&e, PB_EIO, "%s", big);
    assert_int_equal(strlen(e.msg), PB_ERR_MSG_MAX - 1);
    pb_err_wrap(&e, "outer");
    assert_true(strncmp(e.msg, "outer: xxx", 10) == 0);
    assert_int_equal(strlen(e.msg), PB_ERR_MSG_MAX - 1);
}

static void test_names(void **state)
{
    assert_string_equal(pb_err_name(0), "OK");
    assert_string_equal(pb_err_name(PB_EINTERNAL), "EINTERNAL");
    assert_string_equal(pb_err_name(-999), "EUNKNOWN");
    assert_string_equal(pb_err_name(5), "EUNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_wrap),
        cmocka_unit_test(test_null_is_allowed),
        cmocka_unit_test(test_wrap_clear_is_noop),
        cmocka_unit_test(test_truncation_keeps_context),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
