/* Unit tests for the cloud: section of the operator's settings
 * (controllers/cloud.h, cloud_config_parse): defaults, every field, and
 * errors that name the field. */
#include "testutil.h"

#include <string.h>

#include "controllers/cloud.h"
#include "controllers/opconfig.h"

static json_t *section(const char *yaml)
{
    opconfig c;
    pb_err e;
    if (opconfig_parse(yaml, "cfg.yaml", &c, &e) != 0)
        fail_msg("opconfig_parse: %s", e.msg);
    json_t *s = json_incref(c.cloud);
    opconfig_free(&c);
    return s;
}

static void test_off_without_section(void **state)
{
    (void)state;
    cloud_config cc;
    assert_int_equal(cloud_config_parse(NULL, "cfg.yaml", &cc, NULL), 0);
    assert_string_equal(cc.binary, "");
    assert_int_equal(cc.pool_size, 4);
    cloud *c = (cloud *)1;
    assert_int_equal(cloud_start(NULL, &cc, &c, NULL), 0);
    assert_null(c); /* off: no pool, no threads */
}

static void test_full(void **state)
{
    (void)state;
    json_t *s = section("cloud:\n  binary: /usr/bin/tofu\n  cliConfig: /etc/tofu.tfrc\n  modulesDir: /opt/m\n"
                        "  workDir: /var/lib/c\n  poolSize: 8\n  runTimeout: 90s\n  kubeconfig: /k\n"
                        "  pluginCacheDir: /p\n  stateBackend: pg\n");
    cloud_config cc;
    assert_int_equal(cloud_config_parse(s, "cfg.yaml", &cc, NULL), 0);
    assert_string_equal(cc.binary, "/usr/bin/tofu");
    assert_string_equal(cc.cli_config, "/etc/tofu.tfrc");
    assert_string_equal(cc.modules_dir, "/opt/m");
    assert_string_equal(cc.work_dir, "/var/lib/c");
    assert_string_equal(cc.kubeconfig, "/k");
    assert_string_equal(cc.plugin_cache, "/p");
    assert_int_equal(cc.pool_size, 8);
    assert_int_equal(cc.run_timeout_ms, 90000);
    assert_int_equal(cc.pg_state, 1);
    json_decref(s);
    s = section("cloud: {binary: /t, modulesDir: /m, workDir: /w}\n");
    assert_int_equal(cloud_config_parse(s, "cfg.yaml", &cc, NULL), 0);
    assert_int_equal(cc.pool_size, 4);
    assert_int_equal(cc.run_timeout_ms, 30LL * 60 * 1000);
    assert_int_equal(cc.pg_state, 0);
    json_decref(s);
}

static void expect_error(const char *yaml, const char *want)
{
    json_t *s = section(yaml);
    cloud_config cc;
    pb_err e;
    pb_err_clear(&e);
    assert_int_equal(cloud_config_parse(s, "cfg.yaml", &cc, &e), PB_EINVAL);
    if (!strstr(e.msg, want))
        fail_msg("error \"%s\" does not contain \"%s\"", e.msg, want);
    json_decref(s);
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    expect_error("cloud: {modulesDir: /m, workDir: /w}\n", "cloud.binary: required");
    expect_error("cloud: {binary: /t, workDir: /w}\n", "cloud.modulesDir: required");
    expect_error("cloud: {binary: /t, modulesDir: m, workDir: /w}\n", "absolute paths");
    expect_error("cloud: {binary: /t, modulesDir: /m, workDir: /w, poolSize: 0}\n", "cloud.poolSize: an integer 1..64");
    expect_error("cloud: {binary: /t, modulesDir: /m, workDir: /w, poolSize: 65}\n", "cloud.poolSize");
    expect_error("cloud: {binary: /t, modulesDir: /m, workDir: /w, runTimeout: soon}\n", "cloud.runTimeout");
    expect_error("cloud: {binary: /t, modulesDir: /m, workDir: /w, runTimeout: 0s}\n", "cloud.runTimeout");
    expect_error("cloud: {binary: /t, modulesDir: /m, workDir: /w, stateBackend: s3}\n",
                 "cloud.stateBackend: kubernetes or pg");
    expect_error("cloud: {binary: /t, modulesDir: /m, workDir: /w, pools: 3}\n", "cloud.pools: unknown field");
    expect_error("cloud: [1]\n", "cloud: must be a mapping");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_without_section),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
