/* Unit tests for util/log: JSON and text output, levels, redaction. */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static char *capture(pb_log_format fmt, pb_log_level lvl, void (*emit)(void))
{
    FILE *f = tmpfile();
    pb_log_configure(lvl, fmt, f);
    emit();
    pb_log_configure(PB_LOG_INFO, PB_LOG_JSON, NULL);
    char *s = tu_slurp(f);
    fclose(f);
    return s;
}

static void emit_one(void)
{
    pb_log_info("tenant ready", "tenant", "acme", "password", "hunter2", "note", NULL, NULL);
}

static void test_json_line(void **state)
{
    char *s = capture(PB_LOG_JSON, PB_LOG_DEBUG, emit_one);
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "tenant ready");
    assert_string_equal(json_string_value(json_object_get(o, "tenant")), "acme");
    assert_string_equal(json_string_value(json_object_get(o, "password")), "[REDACTED]");
    assert_true(json_is_null(json_object_get(o, "note")));
    assert_null(strstr(s, "hunter2"));
    assert_int_equal(s[strlen(s) - 1], '\n');
    json_decref(o);
    free(s);
}

static void test_text_line(void **state)
{
    char *s = capture(PB_LOG_TEXT, PB_LOG_DEBUG, emit_one);
    assert_non_null(strstr(s, "INFO  tenant ready tenant=acme password=[REDACTED] note=<nil>"));
    assert_null(strstr(s, "hunter2"));
    free(s);
}

static void emit_debug(void)
{
    pb_log_debug("hidden", NULL);
    pb_log_warn("shown", NULL);
}

static void test_level_filter(void **state)
{
    char *s = capture(PB_LOG_JSON, PB_LOG_INFO, emit_debug);
    assert_null(strstr(s, "hidden"));
    assert_non_null(strstr(s, "\"warn\""));
    free(s);
}

static void emit_invalid_utf8(void)
{
    pb_log_info("bad bytes", "name", "\xff\xfe", NULL);
}

static void test_invalid_utf8_does_not_drop_event(void **state)
{
    char *s = capture(PB_LOG_JSON, PB_LOG_DEBUG, emit_invalid_utf8);
    assert_non_null(strstr(s, "<invalid utf-8>"));
    free(s);
}

static void test_secret_keys(void **state)
{
    assert_true(pb_log_key_is_secret("password"));
    assert_true(pb_log_key_is_secret("adminPassword"));
    assert_true(pb_log_key_is_secret("Authorization"));
    assert_true(pb_log_key_is_secret("client-key"));
    assert_true(pb_log_key_is_secret("bearerToken"));
    assert_false(pb_log_key_is_secret("tenant"));
    assert_false(pb_log_key_is_secret("keyspace"));
    assert_false(pb_log_key_is_secret("key")); /* workqueue keys are logged as "key" */
    assert_false(pb_log_key_is_secret(NULL));
}

static void test_redact_free_text(void **state)
{
    char out[256];
    assert_string_equal(pb_log_redact("postgresql://t_acme:s3cr3t@127.0.0.1:5432/app", out, sizeof out),
                        "postgresql://t_acme:[REDACTED]@127.0.0.1:5432/app");
    assert_string_equal(pb_log_redact("Authorization: Bearer abc.def", out, sizeof out),
                        "Authorization: Bearer [REDACTED]");
    assert_string_equal(pb_log_redact("host=x password=pw user=u", out, sizeof out),
                        "host=x password=[REDACTED] user=u");
    assert_string_equal(pb_log_redact("http://host/path", out, sizeof out), "http://host/path");
    /* Every keyword in either case, anywhere in a line, and right after text
     * the scan copies in one go. */
    assert_string_equal(pb_log_redact("xPASSWD=a xToken=b;Secret=c,basic d BEARER e pass", out, sizeof out),
                        "xPASSWD=[REDACTED] xToken=[REDACTED];Secret=[REDACTED],basic [REDACTED] BEARER "
                        "[REDACTED] pass");
    assert_string_equal(pb_log_redact("s3://u:k@b x", out, sizeof out), "s3://u:[REDACTED]@b x");
    char tiny[8];
    pb_log_redact("password=abcdef", tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 7);
}

static void test_parse(void **state)
{
    pb_log_level l;
    pb_log_format f;
    assert_int_equal(pb_log_parse_level("WARNING", &l), 0);
    assert_int_equal(l, PB_LOG_WARN);
    assert_int_equal(pb_log_parse_level("loud", &l), -1);
    assert_int_equal(pb_log_parse_format("text", &f), 0);
    assert_int_equal(f, PB_LOG_TEXT);
    assert_int_equal(pb_log_parse_format("xml", &f), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_text_line),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_invalid_utf8_does_not_drop_event),
        cmocka_unit_test(test_secret_keys),
        cmocka_unit_test(test_redact_free_text),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
