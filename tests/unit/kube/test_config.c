/* Unit tests for kube/config: kubeconfig parsing and merging, error lines,
 * in-cluster config, token file rotation, exec credential plugins. */
#include "testutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/config.h"

/* "hello" */
#define B64_HELLO "aGVsbG8="

static char *g_dir;

static int setup(void **state)
{
    g_dir = tu_tmpdir();
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    unsetenv("PAYBILL_SA_DIR");
    setenv("HOME", g_dir, 1);
    return g_dir ? 0 : -1;
}

static int teardown(void **state)
{
    tu_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static kube_config *load_ok(const char *path, const char *context)
{
    kube_config_options o = {.kubeconfig = path, .context = context};
    kube_config *cfg = NULL;
    pb_err e = {0};
    int rc = kube_config_load(&o, &cfg, &e);
    if (rc)
        fprintf(stderr, "unexpected error: %s\n", e.msg);
    assert_int_equal(rc, 0);
    return cfg;
}

/* Load expecting failure; returns the message (static). */
static const char *load_err(const char *path, const char *context, int want)
{
    static pb_err e;
    kube_config_options o = {.kubeconfig = path, .context = context};
    kube_config *cfg = NULL;
    pb_err_clear(&e);
    int rc = kube_config_load(&o, &cfg, &e);
    if (rc != want)
        fprintf(stderr, "rc %d (%s), message: %s\n", rc, pb_err_name(rc), e.msg);
    assert_int_equal(rc, want);
    assert_null(cfg);
    assert_null(strchr(e.msg, '\n'));
    return e.msg;
}

static const char *BASIC =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: dev\n"
    "clusters:\n"
    "- name: c1\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority-data: " B64_HELLO "\n"
    "    tls-server-name: kubernetes.default\n"
    "- name: c2\n"
    "  cluster: {server: 'http://127.0.0.1:8080', insecure-skip-tls-verify: true}\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: c1, user: u1, namespace: team-a}\n"
    "- name: other\n"
    "  context: {cluster: c2, user: u2}\n"
    "users:\n"
    "- name: u1\n"
    "  user: {token: abc123}\n"
    "- name: u2\n"
    "  user: {username: admin, password: s3cret}\n";

static void test_basic_kubeconfig(void **state)
{
    char *path = tu_write_file(g_dir, "config", BASIC);
    kube_config *cfg = load_ok(path, NULL);
    assert_string_equal(kube_config_server(cfg), "https://10.0.0.1:6443");
    assert_string_equal(kube_config_namespace(cfg), "team-a");
    assert_string_equal(kube_config_context(cfg), "dev");
    assert_string_equal(kube_config_source(cfg), path);
    assert_string_equal(kube_config_tls_server_name(cfg), "kubernetes.default");
    assert_false(kube_config_insecure(cfg));
    size_t n = 0;
    const char *ca = kube_config_ca_pem(cfg, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(ca, "hello", 5);

    kube_auth *a = NULL;
    assert_int_equal(kube_auth_new(cfg, &a, NULL), 0);
    kube_config_free(cfg); /* the auth keeps its own copy */
    kube_credentials cr;
    assert_int_equal(kube_auth_get(a, &cr, NULL), 0);
    assert_string_equal(cr.token, "abc123");
    assert_null(cr.username);
    assert_null(cr.cert_pem);
    kube_credentials_clear(&cr);
    assert_int_equal(kube_auth_invalidate(a), 0); /* a static token: nothing to refresh */
    kube_auth_free(a);
    free(path);
}

static void test_context_override(void **state)
{
    char *path = tu_write_file(g_dir, "config", BASIC);
    kube_config *cfg = load_ok(path, "other");
    assert_string_equal(kube_config_server(cfg), "http://127.0.0.1:8080");
    assert_string_equal(kube_config_namespace(cfg), "default");
    assert_true(kube_config_insecure(cfg));
    assert_null(kube_config_ca_pem(cfg, NULL));
    kube_auth *a = NULL;
    assert_int_equal(kube_auth_new(cfg, &a, NULL), 0);
    kube_credentials cr;
    assert_int_equal(kube_auth_get(a, &cr, NULL), 0);
    assert_null(cr.token);
    assert_string_equal(cr.username, "admin");
    assert_string_equal(cr.password, "s3cret");
    kube_credentials_clear(&cr);
    kube_auth_free(a);
    kube_config_free(cfg);

    const char *msg = load_err(path, "nope", PB_ENOTFOUND);
    assert_non_null(strstr(msg, path));
    assert_non_null(strstr(msg, "context \"nope\" not found"));
    free(path);
}

static void test_kubeconfig_env_merge(void **state)
{
    /* a: defines cluster x and user u (token from a), no current-context.
     * b: redefines x (ignored: first wins), defines context and current-context. */
    char *a = tu_write_file(g_dir, "a.yaml",
                            "clusters:\n- name: x\n  cluster: {server: 'https://a.example:6443'}\n"
                            "users:\n- name: u\n  user: {token: from-a}\n");
    char *b = tu_write_file(g_dir, "b.yaml",
                            "current-context: ctx\n"
                            "clusters:\n- name: x\n  cluster: {server: 'https://b.example:6443'}\n"
                            "- name: y\n  cluster: {server: 'https://y.example'}\n"
                            "users:\n- name: u\n  user: {token: from-b}\n"
                            "contexts:\n- name: ctx\n  context: {cluster: x, user: u, namespace: ns-b}\n");
    char env[4096];
    /* Empty entries and a missing file are skipped, as kubectl does. */
    snprintf(env, sizeof env, "%s::%s/missing.yaml:%s", a, g_dir, b);
    setenv("KUBECONFIG", env, 1);
    kube_config *cfg = NULL;
    pb_err e = {0};
    assert_int_equal(kube_config_load(NULL, &cfg, &e), 0);
    assert_string_equal(kube_config_server(cfg), "https://a.example:6443");
    assert_string_equal(kube_config_namespace(cfg), "ns-b");
    kube_auth *au = NULL;
    assert_int_equal(kube_auth_new(cfg, &au, NULL), 0);
    kube_credentials cr;
    assert_int_equal(kube_auth_get(au, &cr, NULL), 0);
    assert_string_equal(cr.token, "from-a");
    kube_credentials_clear(&cr);
    kube_auth_free(au);
    kube_config_free(cfg);

    /* An explicit path beats KUBECONFIG. */
    kube_config_options o = {.kubeconfig = b};
    assert_int_equal(kube_config_load(&o, &cfg, &e), 0);
    assert_string_equal(kube_config_server(cfg), "https://b.example:6443");
    kube_config_free(cfg);

    /* Nothing in the list exists: an error, not a silent default. */
    snprintf(env, sizeof env, "%s/nope1:%s/nope2", g_dir, g_dir);
    setenv("KUBECONFIG", env, 1);
    assert_int_equal(kube_config_load(NULL, &cfg, &e), PB_ENOTFOUND);
    assert_non_null(strstr(e.msg, "KUBECONFIG"));
    unsetenv("KUBECONFIG");
    free(a);
    free(b);
}

static void test_home_default(void **state)
{
    char kdir[4096];
    snprintf(kdir, sizeof kdir, "%s/.kube", g_dir);
    mkdir(kdir, 0700);
    char *p = tu_write_file(kdir, "config", BASIC);
    kube_config *cfg = NULL;
    assert_int_equal(kube_config_load(NULL, &cfg, NULL), 0);
    assert_string_equal(kube_config_source(cfg), p);
    kube_config_free(cfg);
    free(p);
}

static void test_errors_name_file_and_field(void **state)
{
    struct {
        const char *yaml;
        int code;
        const char *want;
    } cases[] = {
        {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
         "clusters:\n- name: k\n  cluster: {certificate-authority-data: " B64_HELLO "}\n",
         PB_EINVAL, "clusters[\"k\"].cluster.server: missing"},
        {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
         "clusters:\n- name: k\n  cluster: {server: 'ftp://x'}\n",
         PB_EINVAL, "server: \"ftp://x\" is not an http(s) URL"},
        {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
         "clusters:\n- name: k\n  cluster: {server: 'https://x', certificate-authority-data: '!!notbase64'}\n",
         PB_EINVAL, "certificate-authority-data: invalid base64"},
        {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
         "clusters:\n- name: k\n  cluster: {server: 'https://x'}\n"
         "users:\n- name: u\n  user: {client-certificate-data: " B64_HELLO "}\n",
         PB_EINVAL, "users[\"u\"].user.client-key: missing"},
        {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
         "clusters:\n- name: k\n  cluster: {server: 'https://x', certificate-authority: ca-missing.crt}\n",
         PB_ENOTFOUND, "certificate-authority: "},
        {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
         "clusters:\n- name: k\n  cluster: {server: 'https://x'}\n",
         PB_ENOTFOUND, "user \"u\" not found"},
        {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: zz}\n",
         PB_ENOTFOUND, "cluster \"zz\" not found"},
        {"clusters:\n- name: k\n  cluster: {server: 'https://x'}\n", PB_EINVAL, "current-context: not set"},
        {"clusters: [\n  {name: k, cluster: {server: x}\n", PB_EPARSE, "line "},
        {"clusters:\n- cluster: {server: 'https://x'}\n", PB_EINVAL, "clusters[0].name: missing"},
        {"clusters: {a: b}\n", PB_EINVAL, "clusters: expected a list"},
        {"- just\n- a list\n", PB_EPARSE, "top level is not a mapping"},
        {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
         "clusters:\n- name: k\n  cluster: {server: 'https://x'}\n"
         "users:\n- name: u\n  user: {exec: {args: [a]}}\n",
         PB_EINVAL, "users[\"u\"].user.exec.command: missing"},
        {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
         "clusters:\n- name: k\n  cluster: {server: 'https://x'}\n"
         "users:\n- name: u\n  user: {tokenFile: /nonexistent/token}\n",
         PB_ENOTFOUND, "tokenFile: /nonexistent/token"},
        {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
         "clusters:\n- name: k\n  cluster: {server: 'https://x', insecure-skip-tls-verify: 'yes please'}\n",
         PB_EINVAL, "insecure-skip-tls-verify: expected true or false"},
        {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
         "clusters:\n- name: k\n  cluster: {server: 'https://x'}\n"
         "users:\n- name: u\n  user: {token: [1, 2]}\n",
         PB_EINVAL, "users[\"u\"].user.token: expected a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = tu_write_file(g_dir, "bad.yaml", cases[i].yaml);
        const char *msg = load_err(p, NULL, cases[i].code);
        if (!strstr(msg, cases[i].want) || !strstr(msg, p))
            fail_msg("case %zu: message \"%s\" lacks \"%s\" or the file name", i, msg, cases[i].want);
        free(p);
    }
    /* A missing explicit file names itself. */
    const char *msg = load_err("/nonexistent/kubeconfig", NULL, PB_ENOTFOUND);
    assert_non_null(strstr(msg, "/nonexistent/kubeconfig"));
}

static void test_relative_paths_and_files(void **state)
{
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/sub", g_dir);
    mkdir(sub, 0700);
    free(tu_write_file(sub, "ca.crt", "CA-PEM"));
    free(tu_write_file(sub, "client.crt", "CERT-PEM"));
    free(tu_write_file(sub, "client.key", "KEY-PEM"));
    free(tu_write_file(sub, "token", "  file-token\n"));
    char *p = tu_write_file(sub, "config",
                            "current-context: c\n"
                            "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                            "clusters:\n- name: k\n  cluster: {server: 'https://x', certificate-authority: ca.crt}\n"
                            "users:\n- name: u\n  user: {client-certificate: client.crt, client-key: client.key,\n"
                            "    tokenFile: token, token: static}\n");
    kube_config *cfg = load_ok(p, NULL);
    size_t n;
    assert_string_equal(kube_config_ca_pem(cfg, &n), "CA-PEM");
    kube_auth *a = NULL;
    assert_int_equal(kube_auth_new(cfg, &a, NULL), 0);
    kube_credentials cr;
    assert_int_equal(kube_auth_get(a, &cr, NULL), 0);
    assert_string_equal(cr.token, "file-token"); /* the file beats the static token, trimmed */
    assert_string_equal(cr.cert_pem, "CERT-PEM");
    assert_int_equal(cr.cert_len, 8);
    assert_string_equal(cr.key_pem, "KEY-PEM");
    kube_credentials_clear(&cr);
    kube_auth_free(a);
    kube_config_free(cfg);
    free(p);
}

static void test_in_cluster_and_token_rotation(void **state)
{
    char sa[4096];
    snprintf(sa, sizeof sa, "%s/sa", g_dir);
    mkdir(sa, 0700);
    char *tok = tu_write_file(sa, "token", "token-one");
    free(tu_write_file(sa, "ca.crt", "SA-CA"));
    free(tu_write_file(sa, "namespace", "paybill-system\n"));
    setenv("PAYBILL_SA_DIR", sa, 1);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);

    kube_config *cfg = NULL;
    pb_err e = {0};
    assert_int_equal(kube_config_load(NULL, &cfg, &e), 0);
    assert_string_equal(kube_config_server(cfg), "https://10.96.0.1:443");
    assert_string_equal(kube_config_namespace(cfg), "paybill-system");
    assert_string_equal(kube_config_source(cfg), "in-cluster");
    assert_string_equal(kube_config_ca_pem(cfg, NULL), "SA-CA");
    kube_auth *a = NULL;
    assert_int_equal(kube_auth_new(cfg, &a, NULL), 0);
    kube_config_free(cfg);

    kube_credentials cr;
    assert_int_equal(kube_auth_get(a, &cr, NULL), 0);
    assert_string_equal(cr.token, "token-one");
    kube_credentials_clear(&cr);

    /* kubelet rotates the token: a new size is noticed on the next call. */
    free(tu_write_file(sa, "token", "token-two-longer\n"));
    assert_int_equal(kube_auth_get(a, &cr, NULL), 0);
    assert_string_equal(cr.token, "token-two-longer");
    kube_credentials_clear(&cr);

    /* Same size, new mtime. */
    struct timespec ts[2] = {{0, UTIME_OMIT}, {1000, 0}};
    free(tu_write_file(sa, "token", "token-3-longer-x\n"));
    utimensat(AT_FDCWD, tok, ts, 0);
    assert_int_equal(kube_auth_get(a, &cr, NULL), 0);
    assert_string_equal(cr.token, "token-3-longer-x");
    kube_credentials_clear(&cr);

    /* The file vanishing mid-rotation keeps the last good token. */
    unlink(tok);
    assert_int_equal(kube_auth_get(a, &cr, NULL), 0);
    assert_string_equal(cr.token, "token-3-longer-x");
    kube_credentials_clear(&cr);
    assert_int_equal(kube_auth_invalidate(a), 1);
    kube_auth_free(a);

    /* Missing token file at load: a clear error naming it. */
    assert_int_equal(kube_config_load(NULL, &cfg, &e), PB_ENOTFOUND);
    assert_non_null(strstr(e.msg, "service account token"));
    assert_non_null(strstr(e.msg, tok));

    /* in_cluster_only without the environment. */
    unsetenv("KUBERNETES_SERVICE_HOST");
    kube_config_options o = {.in_cluster_only = 1};
    assert_int_equal(kube_config_load(&o, &cfg, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "KUBERNETES_SERVICE_HOST"));
    unsetenv("KUBERNETES_SERVICE_PORT");
    unsetenv("PAYBILL_SA_DIR");
    free(tok);
}

/* An exec plugin that counts its runs in a file and prints a credential
 * built from its argument and an env entry. */
static char *write_plugin(const char *expiry)
{
    char script[2048];
    snprintf(script, sizeof script,
             "#!/bin/sh\n"
             "n=$(cat \"$(dirname \"$0\")/runs\" 2>/dev/null || echo 0)\n"
             "n=$((n+1)); echo $n > \"$(dirname \"$0\")/runs\"\n"
             "case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) echo 'no exec info' >&2; exit 3;; esac\n"
             "if [ \"$1\" = fail ]; then echo 'login required: run sso' >&2; exit 2; fi\n"
             "if [ \"$1\" = junk ]; then echo 'not json'; exit 0; fi\n"
             "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
             "\"status\":{\"token\":\"%%s-%%s-%%s\",\"expirationTimestamp\":\"%s\"}}' \"$1\" \"$PLUGIN_ENV\" \"$n\"\n",
             expiry);
    char *p = tu_write_file(g_dir, "plugin.sh", script);
    chmod(p, 0755);
    char runs[4096];
    snprintf(runs, sizeof runs, "%s/runs", g_dir);
    unlink(runs);
    return p;
}

static kube_auth *exec_auth(const char *arg)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "current-context: c\n"
             "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
             "clusters:\n- name: k\n  cluster: {server: 'https://x'}\n"
             "users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
             "      command: ./plugin.sh\n      args: [%s]\n"
             "      env: [{name: PLUGIN_ENV, value: envval}]\n"
             "      installHint: install plugin.sh\n",
             arg);
    char *p = tu_write_file(g_dir, "config", yaml);
    kube_config *cfg = load_ok(p, NULL);
    kube_auth *a = NULL;
    assert_int_equal(kube_auth_new(cfg, &a, NULL), 0);
    kube_config_free(cfg);
    free(p);
    return a;
}

static void test_exec_plugin_cached(void **state)
{
    char *plugin = write_plugin("2999-01-01T00:00:00Z");
    kube_auth *a = exec_auth("tok");
    kube_credentials cr;
    pb_err e = {0};
    assert_int_equal(kube_auth_get(a, &cr, &e), 0);
    assert_string_equal(cr.token, "tok-envval-1");
    kube_credentials_clear(&cr);
    /* Not expired: cached, the plugin does not run again. */
    assert_int_equal(kube_auth_get(a, &cr, &e), 0);
    assert_string_equal(cr.token, "tok-envval-1");
    kube_credentials_clear(&cr);
    /* After a 401 the credential is fetched anew. */
    assert_int_equal(kube_auth_invalidate(a), 1);
    assert_int_equal(kube_auth_get(a, &cr, &e), 0);
    assert_string_equal(cr.token, "tok-envval-2");
    kube_credentials_clear(&cr);
    kube_auth_free(a);
    free(plugin);
}

static void test_exec_plugin_expired(void **state)
{
    char *plugin = write_plugin("2001-01-01T00:00:00+00:00");
    kube_auth *a = exec_auth("tok");
    kube_credentials cr;
    assert_int_equal(kube_auth_get(a, &cr, NULL), 0);
    assert_string_equal(cr.token, "tok-envval-1");
    kube_credentials_clear(&cr);
    assert_int_equal(kube_auth_get(a, &cr, NULL), 0);
    assert_string_equal(cr.token, "tok-envval-2"); /* expired: ran again */
    kube_credentials_clear(&cr);
    kube_auth_free(a);
    free(plugin);
}

static void test_exec_plugin_failures(void **state)
{
    char *plugin = write_plugin("2999-01-01T00:00:00Z");
    pb_err e = {0};
    kube_credentials cr;
    kube_auth *a = exec_auth("fail");
    assert_int_equal(kube_auth_get(a, &cr, &e), PB_EUNAUTHORIZED);
    assert_non_null(strstr(e.msg, "login required: run sso"));
    assert_non_null(strstr(e.msg, "exit status 2"));
    assert_null(cr.token);
    kube_auth_free(a);

    a = exec_auth("junk");
    assert_int_equal(kube_auth_get(a, &cr, &e), PB_EPARSE);
    assert_non_null(strstr(e.msg, "not an ExecCredential"));
    kube_auth_free(a);
    free(plugin);

    /* A bad expirationTimestamp. */
    plugin = write_plugin("next tuesday");
    a = exec_auth("tok");
    assert_int_equal(kube_auth_get(a, &cr, &e), PB_EPARSE);
    assert_non_null(strstr(e.msg, "expirationTimestamp"));
    kube_auth_free(a);
    unlink(plugin);
    free(plugin);

    /* The command does not exist: the install hint is shown. */
    a = exec_auth("tok");
    assert_int_equal(kube_auth_get(a, &cr, &e), PB_EIO);
    assert_non_null(strstr(e.msg, "install plugin.sh"));
    kube_auth_free(a);
}

static void test_exec_plugin_client_certificate(void **state)
{
    char *p = tu_write_file(g_dir, "certplugin.sh",
                            "#!/bin/sh\n"
                            "cat <<'EOF'\n"
                            "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\n"
                            "\"status\":{\"clientCertificateData\":\"-----BEGIN CERTIFICATE-----\\nX\\n\",\n"
                            "\"clientKeyData\":\"-----BEGIN PRIVATE KEY-----\\nY\\n\"}}\n"
                            "EOF\n");
    chmod(p, 0755);
    char *cfgp = tu_write_file(g_dir, "config",
                               "current-context: c\n"
                               "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                               "clusters:\n- name: k\n  cluster: {server: 'https://x'}\n"
                               "users:\n- name: u\n  user:\n    token: static\n"
                               "    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./certplugin.sh}\n");
    kube_config *cfg = load_ok(cfgp, NULL);
    kube_auth *a = NULL;
    assert_int_equal(kube_auth_new(cfg, &a, NULL), 0);
    kube_config_free(cfg);
    kube_credentials cr;
    pb_err e = {0};
    assert_int_equal(kube_auth_get(a, &cr, &e), 0);
    assert_string_equal(cr.cert_pem, "-----BEGIN CERTIFICATE-----\nX\n");
    assert_int_equal(cr.cert_len, strlen(cr.cert_pem));
    assert_string_equal(cr.key_pem, "-----BEGIN PRIVATE KEY-----\nY\n");
    assert_string_equal(cr.token, "static"); /* the plugin gave no token */
    kube_credentials_clear(&cr);
    kube_auth_free(a);
    free(p);
    free(cfgp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_kubeconfig, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_override, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_env_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_file_and_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_paths_and_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster_and_token_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_plugin_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_plugin_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_plugin_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_plugin_client_certificate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
