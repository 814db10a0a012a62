/* Unit tests for util/timeutil: Go durations and RFC 3339 timestamps. */
#include "testutil.h"

#include <string.h>

#include "util/timeutil.h"

static pb_duration dur(const char *s)
{
    pb_duration d = -12345;
    pb_err e;
    if (pb_time_parse_duration(s, &d, &e))
        fail_msg("'%s': %s", s, e.msg);
    return d;
}

static void test_parse_duration(void **state)
{
    assert_true(dur("30s") == 30 * PB_SECOND);
    assert_true(dur("15m") == 15 * PB_MINUTE);
    assert_true(dur("1h30m") == 90 * PB_MINUTE);
    assert_true(dur("500ms") == 500 * PB_MILLISECOND);
    assert_true(dur("2h45m30.5s") == 2 * PB_HOUR + 45 * PB_MINUTE + 30 * PB_SECOND + 500 * PB_MILLISECOND);
    assert_true(dur("1.5h") == 90 * PB_MINUTE);
    assert_true(dur(".5s") == 500 * PB_MILLISECOND);
    assert_true(dur("1us") == PB_MICROSECOND);
    assert_true(dur("1\xc2\xb5s") == PB_MICROSECOND);
    assert_true(dur("1\xce\xbcs") == PB_MICROSECOND);
    assert_true(dur("7ns") == 7);
    assert_true(dur("0") == 0);
    assert_true(dur("-0") == 0);
    assert_true(dur("-1m") == -PB_MINUTE);
    assert_true(dur("+2s") == 2 * PB_SECOND);
    assert_true(dur("1m1m") == 2 * PB_MINUTE);
    assert_true(dur("2562047h47m16.854775807s") == INT64_MAX);
    assert_true(dur("-2562047h47m16.854775808s") == INT64_MIN);
}

static void test_parse_duration_errors(void **state)
{
    const char *bad[] = {"", "-", "1", "s", "1x", "1h-1m", "1.", ".s", "--1s", "1 s", " 1s",
                         "2562048h", "9999999999999999999999h", "1e3s", "1sec"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pb_duration d = 42;
        pb_err e;
        int rc = pb_time_parse_duration(bad[i], &d, &e);
        if (rc != PB_EINVAL)
            fail_msg("'%s' parsed (%d)", bad[i], rc);
        assert_int_equal(d, 42);
        assert_non_null(strstr(e.msg, "invalid duration"));
    }
    pb_err e;
    pb_duration d;
    pb_time_parse_duration("10y", &d, &e);
    assert_string_equal(e.msg, "invalid duration \"10y\": unknown unit \"y\"");
}

static void check_fmt(pb_duration d, const char *want)
{
    char buf[PB_TIME_BUF];
    assert_string_equal(pb_time_format_duration(d, buf, sizeof buf), want);
    /* every formatted duration parses back to itself */
    assert_true(dur(buf) == d);
}

static void test_format_duration(void **state)
{
    check_fmt(0, "0s");
    check_fmt(1, "1ns");
    check_fmt(1500, "1.5\xc2\xb5s");
    check_fmt(500 * PB_MILLISECOND, "500ms");
    check_fmt(1500 * PB_MICROSECOND, "1.5ms");
    check_fmt(30 * PB_SECOND, "30s");
    check_fmt(90 * PB_MINUTE, "1h30m0s");
    check_fmt(PB_HOUR, "1h0m0s");
    check_fmt(PB_MINUTE + PB_SECOND, "1m1s");
    check_fmt(2 * PB_HOUR + 45 * PB_MINUTE + 30 * PB_SECOND + 500 * PB_MILLISECOND, "2h45m30.5s");
    check_fmt(-PB_MINUTE, "-1m0s");
    check_fmt(INT64_MAX, "2562047h47m16.854775807s");
    check_fmt(INT64_MIN, "-2562047h47m16.854775808s");
}

static struct timespec ts(const char *s)
{
    struct timespec t = {0, 0};
    pb_err e;
    if (pb_time_parse_rfc3339(s, &t, &e))
        fail_msg("'%s': %s", s, e.msg);
    return t;
}

static void test_rfc3339_parse(void **state)
{
    struct timespec t = ts("1970-01-01T00:00:00Z");
    assert_int_equal(t.tv_sec, 0);
    t = ts("2026-11-25T10:00:00Z");
    assert_int_equal(t.tv_sec, 1795600800);
    t = ts("2026-11-25T11:30:00+01:30");
    assert_int_equal(t.tv_sec, 1795600800);
    t = ts("2026-11-25t05:00:00.5-05:00");
    assert_int_equal(t.tv_sec, 1795600800);
    assert_int_equal(t.tv_nsec, 500000000);
    t = ts("2024-02-29T23:59:59.123456789z");
    assert_int_equal(t.tv_nsec, 123456789);
    t = ts("1969-12-31T23:59:59Z");
    assert_int_equal(t.tv_sec, -1);

    const char *bad[] = {"", "2026-11-25", "2026-11-25 10:00:00Z", "2026-11-25T10:00:00",
                         "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2026-11-25T24:00:00Z",
                         "2026-11-25T10:00:60Z", "2026-11-25T10:00:00.Z",
                         "2026-11-25T10:00:00.1234567891Z", "2026-11-25T10:00:00+0100",
                         "2026-11-25T10:00:00Zjunk", "26-11-25T10:00:00Z", "2026-1-25T10:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pb_err e;
        int rc = pb_time_parse_rfc3339(bad[i], &t, &e);
        if (rc != PB_EINVAL)
            fail_msg("'%s' parsed", bad[i]);
        assert_non_null(strstr(e.msg, "invalid RFC 3339 time"));
    }
}

static void test_rfc3339_format(void **state)
{
    char buf[PB_TIME_BUF];
    struct timespec t = {1795600800, 123456789};
    assert_string_equal(pb_time_format_rfc3339(t, buf, sizeof buf), "2026-11-25T10:00:00Z");
    assert_string_equal(pb_time_format_rfc3339_micro(t, buf, sizeof buf), "2026-11-25T10:00:00.123456Z");
    assert_string_equal(pb_time_format_rfc3339_nano(t, buf, sizeof buf), "2026-11-25T10:00:00.123456789Z");
    t.tv_nsec = 500000000;
    assert_string_equal(pb_time_format_rfc3339_nano(t, buf, sizeof buf), "2026-11-25T10:00:00.5Z");
    t.tv_nsec = 0;
    assert_string_equal(pb_time_format_rfc3339_nano(t, buf, sizeof buf), "2026-11-25T10:00:00Z");
    assert_string_equal(pb_time_format_rfc3339_micro(t, buf, sizeof buf), "2026-11-25T10:00:00.000000Z");
    struct timespec leap = {951782400, 0}; /* 2000-02-29 */
    assert_string_equal(pb_time_format_rfc3339(leap, buf, sizeof buf), "2000-02-29T00:00:00Z");
    struct timespec neg = {-1, 0};
    assert_string_equal(pb_time_format_rfc3339(neg, buf, sizeof buf), "1969-12-31T23:59:59Z");
    struct timespec far = {253402300800LL, 0}; /* year 10000 */
    assert_string_equal(pb_time_format_rfc3339(far, buf, sizeof buf), "");
    /* round trip of now */
    struct timespec now = pb_time_now(), back;
    pb_time_format_rfc3339_nano(now, buf, sizeof buf);
    assert_int_equal(pb_time_parse_rfc3339(buf, &back, NULL), 0);
    assert_int_equal(back.tv_sec, now.tv_sec);
    assert_int_equal(back.tv_nsec, now.tv_nsec);
    int64_t a = pb_time_mono_ns(), b = pb_time_mono_ns();
    assert_true(b >= a);
    /* The seconds are the same clock: between two readings of the ns one. */
    double s = pb_time_mono_s();
    int64_t c = pb_time_mono_ns();
    assert_true(s >= (double)b / 1e9 - 1e-6 && s <= (double)c / 1e9 + 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_duration), cmocka_unit_test(test_parse_duration_errors),
        cmocka_unit_test(test_format_duration), cmocka_unit_test(test_rfc3339_parse),
        cmocka_unit_test(test_rfc3339_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
