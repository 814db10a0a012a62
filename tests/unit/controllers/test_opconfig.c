/* Unit tests for the operator settings file (controllers/opconfig). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "controllers/opconfig.h"

static void test_full(void **state)
{
    opconfig c;
    const char *y = "systemNamespace: paybill-system\n"
                    "snapshotDir: /tmp/snaps\n"
                    "databaseServers:\n"
                    "  - name: shared-1\n"
                    "    host: 127.0.0.1\n"
                    "    port: 6543\n"
                    "    sslmode: disable\n"
                    "    adminSecret: {name: pg-admin, namespace: paybill-system}\n";
    assert_int_equal(opconfig_parse(y, "cfg.yaml", &c, NULL), 0);
    assert_string_equal(c.system_namespace, "paybill-system");
    assert_int_equal(c.nservers, 1);
    assert_string_equal(c.servers[0].role, "shared");
    assert_string_equal(c.servers[0].database, "paybill");
    assert_int_equal(c.servers[0].port, 6543);
    assert_string_equal(c.servers[0].admin_secret_name, "pg-admin");
    assert_null(c.servers[0].tenant_host);
    opconfig_free(&c);
}

/* rotationGracePeriod: a Go duration, 5 minutes by default, for every
 * server unless one says otherwise; zero revokes at once. */
static void test_rotation_grace_period(void **state)
{
    opconfig c;
    const char *srv = "databaseServers:\n  - {name: a, host: h, adminSecret: {name: s}}\n"
                      "  - {name: b, host: h, role: dedicated, rotationGracePeriod: 90s, adminSecret: {name: s}}\n";
    assert_int_equal(opconfig_parse(srv, "cfg.yaml", &c, NULL), 0);
    assert_int_equal(c.rotation_grace_ms, 5 * 60 * 1000);
    assert_int_equal(c.servers[0].rotation_grace_ms, 5 * 60 * 1000);
    assert_int_equal(c.servers[1].rotation_grace_ms, 90 * 1000);
    opconfig_free(&c);
    char y[512];
    snprintf(y, sizeof y, "rotationGracePeriod: 2s\n%s", srv);
    assert_int_equal(opconfig_parse(y, "cfg.yaml", &c, NULL), 0);
    assert_int_equal(c.rotation_grace_ms, 2000);
    assert_int_equal(c.servers[0].rotation_grace_ms, 2000);
    assert_int_equal(c.servers[1].rotation_grace_ms, 90 * 1000);
    opconfig_free(&c);
    const char *zeros[] = {"rotationGracePeriod: 0\n", "rotationGracePeriod: \"0s\"\n", "rotationGracePeriod: 0s\n"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(opconfig_parse(zeros[i], "cfg.yaml", &c, NULL), 0);
        assert_int_equal(c.rotation_grace_ms, 0);
        opconfig_free(&c);
    }
    assert_int_equal(opconfig_parse("rotationGracePeriod: 1h30m\n", "cfg.yaml", &c, NULL), 0);
    assert_int_equal(c.rotation_grace_ms, 90 * 60 * 1000);
    opconfig_free(&c);
    /* Nothing configured at all: still the default. */
    assert_int_equal(opconfig_load(NULL, &c, NULL), 0);
    assert_int_equal(c.rotation_grace_ms, 5 * 60 * 1000);
    assert_int_equal(opconfig_parse("", "cfg.yaml", &c, NULL), 0);
    assert_int_equal(c.rotation_grace_ms, 5 * 60 * 1000);
}

static void expect_error(const char *y, const char *needle)
{
    opconfig c;
    pb_err e;
    pb_err_clear(&e);
    assert_int_not_equal(opconfig_parse(y, "cfg.yaml", &c, &e), 0);
    if (!strstr(e.msg, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, e.msg);
    assert_non_null(strstr(e.msg, "cfg.yaml"));
}

static void test_errors_name_the_field(void **state)
{
    expect_error("systemNamspace: x\n", "systemNamspace: unknown field");
    expect_error("databaseServers:\n  - host: h\n    adminSecret: {name: s}\n", "databaseServers[0].name: required");
    expect_error("databaseServers:\n  - name: a\n    host: h\n", "adminSecret.name: required");
    expect_error("databaseServers:\n  - {name: a, host: h, role: big, adminSecret: {name: s}}\n",
                 "role: unsupported value \"big\"");
    expect_error("databaseServers:\n  - {name: a, host: h, port: 99999, adminSecret: {name: s}}\n",
                 "port: 99999 is not a TCP port");
    expect_error("databaseServers:\n  - {name: a, host: h, port: \"x\", adminSecret: {name: s}}\n", "port");
    expect_error("databaseServers: 3\n", "expected a list");
    expect_error("- a\n- b\n", "expected a mapping");
    expect_error("a: [\n", "cfg.yaml");
    expect_error("rotationGracePeriod: -1m\n", "rotationGracePeriod: must not be negative");
    expect_error("rotationGracePeriod: 5\n", "rotationGracePeriod: expected a duration");
    expect_error("rotationGracePeriod: soon\n", "rotationGracePeriod: expected a duration");
    expect_error("databaseServers:\n  - {name: a, host: h, rotationGracePeriod: 1x, adminSecret: {name: s}}\n",
                 "databaseServers[0].rotationGracePeriod: expected a duration");
}

static void test_empty_and_missing(void **state)
{
    opconfig c;
    assert_int_equal(opconfig_parse("", "cfg.yaml", &c, NULL), 0);
    assert_int_equal(c.nservers, 0);
    opconfig_free(&c);
    assert_int_equal(opconfig_load(NULL, &c, NULL), 0);
    pb_err e;
    assert_int_equal(opconfig_load("/nonexistent/paybill.yaml", &c, &e), PB_EIO);
    assert_non_null(strstr(e.msg, "/nonexistent/paybill.yaml"));
    /* Bounded: a huge (or endless) file is refused, not read into memory. */
    assert_int_equal(opconfig_load("/dev/zero", &c, &e), PB_ETOOLARGE);
    assert_non_null(strstr(e.msg, "larger than 1 MiB"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_rotation_grace_period),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_empty_and_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
