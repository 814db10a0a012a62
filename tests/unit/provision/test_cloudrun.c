/*
 * test_cloudrun.c - the cloud run pieces without Kubernetes or tofu:
 * root module rendering (typed inputs, refused variable names, both
 * backends), plan digests (stable across timestamps, changed by a change,
 * counts of changes and deletes), the subprocess runner (exit codes, the
 * log, a timeout that kills the whole process group), the pool's fairness
 * across tiers and its one-job-per-tenant rule, and lock-holder decisions.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "provision/cloudrun.h"

static void render_kubernetes(void **state)
{
    (void)state;
    json_t *labels = json_pack("{s:s}", "team", "blue");
    json_t *vars = json_pack("{s:i, s:s}", "size", 3, "engine", "pg15");
    pb_cr_inputs in = {.tenant = "acme", .tier = "enterprise", .region = "eu-1", .module_source = "/m/local",
                       .labels = labels, .variables = vars,
                       .backend = {.kind = "kubernetes", .namespace_ = "paybill-system",
                                   .secret_suffix = "paybill-acme", .config_path = "/k/config"}};
    json_t *root = NULL;
    pb_err err;
    assert_int_equal(pb_cr_render_root(&in, &root, &err), 0);
    json_t *mod = json_object_get(json_object_get(root, "module"), "tenant");
    assert_string_equal(json_string_value(json_object_get(mod, "source")), "/m/local");
    assert_string_equal(json_string_value(json_object_get(mod, "tenant")), "acme");
    assert_string_equal(json_string_value(json_object_get(mod, "tier")), "enterprise");
    assert_string_equal(json_string_value(json_object_get(mod, "region")), "eu-1");
    assert_int_equal(json_integer_value(json_object_get(mod, "size")), 3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(mod, "labels"), "team")), "blue");
    json_t *kb = json_object_get(json_object_get(json_object_get(root, "terraform"), "backend"), "kubernetes");
    assert_string_equal(json_string_value(json_object_get(kb, "namespace")), "paybill-system");
    assert_string_equal(json_string_value(json_object_get(kb, "secret_suffix")), "paybill-acme");
    assert_string_equal(json_string_value(json_object_get(kb, "config_path")), "/k/config");
    assert_null(json_object_get(kb, "in_cluster_config"));
    json_t *so = json_object_get(json_object_get(root, "output"), "sensitive_outputs");
    assert_true(json_is_true(json_object_get(so, "sensitive")));
    assert_string_equal(json_string_value(json_object_get(so, "value")), "${module.tenant.sensitive_outputs}");
    json_decref(root);

    /* In-cluster when no kubeconfig is named. */
    in.backend.config_path = NULL;
    assert_int_equal(pb_cr_render_root(&in, &root, &err), 0);
    kb = json_object_get(json_object_get(json_object_get(root, "terraform"), "backend"), "kubernetes");
    assert_true(json_is_true(json_object_get(kb, "in_cluster_config")));
    json_decref(root);

    /* pg backend. */
    in.backend = (pb_cr_backend){.kind = "pg", .conn_str = "postgres://x", .schema_name = "tf_acme"};
    assert_int_equal(pb_cr_render_root(&in, &root, &err), 0);
    json_t *pg = json_object_get(json_object_get(json_object_get(root, "terraform"), "backend"), "pg");
    assert_string_equal(json_string_value(json_object_get(pg, "schema_name")), "tf_acme");
    assert_string_equal(json_string_value(json_object_get(pg, "conn_str")), "postgres://x");
    json_decref(root);
    /* ... with the connection string left to PG_CONN_STR. */
    in.backend.conn_str = NULL;
    assert_int_equal(pb_cr_render_root(&in, &root, &err), 0);
    pg = json_object_get(json_object_get(json_object_get(root, "terraform"), "backend"), "pg");
    assert_null(json_object_get(pg, "conn_str"));
    json_decref(root);
    json_decref(labels);
    json_decref(vars);
}

static void render_refuses(void **state)
{
    (void)state;
    pb_err err;
    json_t *root = NULL;
    const char *bad[] = {"tenant", "source", "count", "9lives", "a b", "providers"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *vars = json_pack("{s:s}", bad[i], "x");
        pb_cr_inputs in = {.tenant = "acme", .module_source = "/m", .variables = vars,
                           .backend = {.kind = "kubernetes", .namespace_ = "ns", .secret_suffix = "s"}};
        assert_int_equal(pb_cr_render_root(&in, &root, &err), PB_EINVAL);
        assert_null(root);
        assert_non_null(strstr(err.msg, bad[i]));
        json_decref(vars);
    }
    pb_cr_inputs rel = {.tenant = "acme", .module_source = "modules/local",
                        .backend = {.kind = "kubernetes", .namespace_ = "ns", .secret_suffix = "s"}};
    assert_int_equal(pb_cr_render_root(&rel, &root, &err), PB_EINVAL);
    json_t *labels = json_pack("{s:i}", "n", 1);
    pb_cr_inputs lab = {.tenant = "acme", .module_source = "/m", .labels = labels,
                        .backend = {.kind = "kubernetes", .namespace_ = "ns", .secret_suffix = "s"}};
    assert_int_equal(pb_cr_render_root(&lab, &root, &err), PB_EINVAL);
    json_decref(labels);
}

static json_t *show(const char *ts, const char *action, const char *val)
{
    return json_pack("{s:s, s:s, s:s, s:[{s:s, s:{s:[s], s:{s:s}}}], s:{}, s:{}}", "format_version", "1.2",
                     "timestamp", ts, "terraform_version", "1.12.6", "resource_changes", "address", "a.b",
                     "change", "actions", action, "after", "v", val, "output_changes", "configuration");
}

static void plan_digest(void **state)
{
    (void)state;
    char d1[65], d2[65], d3[65];
    int n = -1, del = -1;
    pb_err err;
    json_t *a = show("2026-01-01T00:00:00Z", "create", "x");
    json_t *b = show("2026-02-02T00:00:00Z", "create", "x");
    json_t *c = show("2026-01-01T00:00:00Z", "create", "y");
    assert_int_equal(pb_cr_plan_digest(a, d1, &n, &del, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(del, 0);
    assert_int_equal(pb_cr_plan_digest(b, d2, NULL, NULL, &err), 0);
    assert_string_equal(d1, d2); /* the timestamp is not part of it */
    assert_int_equal(pb_cr_plan_digest(c, d3, NULL, NULL, &err), 0);
    assert_string_not_equal(d1, d3);
    assert_int_equal(strlen(d1), 64);
    json_t *d = show("t", "delete", "x");
    assert_int_equal(pb_cr_plan_digest(d, d3, &n, &del, &err), 0);
    assert_int_equal(del, 1);
    json_t *e = show("t", "no-op", "x");
    assert_int_equal(pb_cr_plan_digest(e, d3, &n, &del, &err), 0);
    assert_int_equal(n, 0);
    json_t *bad = json_pack("{s:i}", "x", 1);
    assert_int_equal(pb_cr_plan_digest(bad, d3, NULL, NULL, &err), PB_EPARSE);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
    json_decref(e);
    json_decref(bad);
}

static void exec_codes_and_log(void **state)
{
    (void)state;
    char log[] = "/tmp/cr-log-XXXXXX";
    int fd = mkstemp(log);
    close(fd);
    const char *argv[] = {"/bin/sh", "-c", "echo out-$X; echo err >&2; exit 3", NULL};
    const char *env[] = {"X=42", NULL};
    pb_cr_exec_opts o = {.argv = argv, .env = env, .log_path = log, .timeout_ms = 10000};
    int code = 0;
    pb_err err;
    assert_int_equal(pb_cr_exec(&o, &code, &err), 0);
    assert_int_equal(code, 3);
    char *t = pb_cr_tail(log, 4096);
    assert_non_null(strstr(t, "out-42"));
    assert_non_null(strstr(t, "err"));
    free(t);
    /* The tail starts at a line. */
    t = pb_cr_tail(log, 5);
    assert_string_equal(t, "err\n");
    free(t);
    const char *missing[] = {"/nonexistent/tofu", NULL};
    o.argv = missing;
    assert_int_equal(pb_cr_exec(&o, &code, &err), PB_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/tofu"));
    unlink(log);
    t = pb_cr_tail(log, 10);
    assert_string_equal(t, "");
    free(t);
}

static void exec_timeout_kills_group(void **state)
{
    (void)state;
    char pidf[] = "/tmp/cr-pid-XXXXXX";
    int fd = mkstemp(pidf);
    close(fd);
    /* A grandchild that ignores SIGTERM: only the group SIGKILL ends it. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh -c 'trap \"\" TERM; echo $$ > %s; exec sleep 60' & wait", pidf);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    pb_cr_exec_opts o = {.argv = argv, .timeout_ms = 300};
    int code = 0;
    pb_err err;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(pb_cr_exec(&o, &code, &err), PB_ETIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 20);
    FILE *f = fopen(pidf, "r");
    assert_non_null(f);
    int gpid = 0;
    assert_int_equal(fscanf(f, "%d", &gpid), 1);
    fclose(f);
    unlink(pidf);
    /* Gone (or a zombie being reaped by init) within a moment. */
    int alive = 1;
    for (int i = 0; i < 100 && alive; i++) {
        char p[64], st[256] = "";
        snprintf(p, sizeof p, "/proc/%d/stat", gpid);
        FILE *s = fopen(p, "r");
        if (!s) {
            alive = 0;
            break;
        }
        size_t n = fread(st, 1, sizeof st - 1, s);
        st[n] = 0;
        fclose(s);
        char *rp = strrchr(st, ')');
        if (rp && rp[2] == 'Z')
            alive = 0;
        else
            usleep(50000);
    }
    assert_false(alive);
}

/* ---- pool ---- */

typedef struct rec {
    pthread_mutex_t mu;
    char order[256][32];
    int n;
    volatile int gate;
} rec;
static rec R;
typedef struct job_arg {
    char name[32];
} job_arg;

static void job_fn(void *a)
{
    job_arg *j = a;
    while (!R.gate)
        usleep(1000);
    pthread_mutex_lock(&R.mu);
    snprintf(R.order[R.n++], 32, "%s", j->name);
    pthread_mutex_unlock(&R.mu);
    free(j);
}

static void submit(pb_cr_pool *p, const char *tenant, const char *tier)
{
    job_arg *j = calloc(1, sizeof *j);
    snprintf(j->name, sizeof j->name, "%s", tenant);
    pb_err err;
    assert_int_equal(pb_cr_pool_submit(p, tenant, tier, job_fn, j, &err), 0);
}

static void pool_fair_across_tiers(void **state)
{
    (void)state;
    memset(&R, 0, sizeof R);
    pthread_mutex_init(&R.mu, NULL);
    pb_cr_pool *p;
    pb_err err;
    assert_int_equal(pb_cr_pool_new(1, &p, &err), 0);
    /* One blocker occupies the single worker while the queue fills. */
    submit(p, "blocker", "free");
    usleep(50000);
    char name[32];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "pooled-%02d", i);
        submit(p, name, "free");
    }
    submit(p, "silo-a", "enterprise");
    submit(p, "silo-b", "enterprise");
    submit(p, "bridge-a", "pro");
    /* A tenant with a queued job cannot queue a second one. */
    job_arg *dup = calloc(1, sizeof *dup);
    assert_int_equal(pb_cr_pool_submit(p, "silo-a", "enterprise", job_fn, dup, &err), PB_EEXIST);
    free(dup);
    assert_true(pb_cr_pool_busy(p, "silo-a"));
    assert_false(pb_cr_pool_busy(p, "nobody"));
    json_t *peek = pb_cr_pool_peek_order(p, 6);
    assert_int_equal(json_array_size(peek), 6);
    json_decref(peek);
    R.gate = 1;
    for (int i = 0; i < 500 && pb_cr_pool_busy(p, "pooled-49"); i++)
        usleep(10000);
    assert_int_equal(R.n, 54);
    /* Round-robin: after the blocker, within the first four runs each tier
     * ran at least once; both silo tenants before the 5th pooled one. */
    int silo_b = -1, bridge = -1;
    for (int i = 0; i < R.n; i++) {
        if (strcmp(R.order[i], "silo-b") == 0)
            silo_b = i;
        if (strcmp(R.order[i], "bridge-a") == 0)
            bridge = i;
    }
    assert_true(bridge >= 1 && bridge <= 4);
    assert_true(silo_b >= 1 && silo_b <= 7);
    /* And the pooled ones keep their order. */
    int last = -1;
    for (int i = 0; i < R.n; i++)
        if (strncmp(R.order[i], "pooled-", 7) == 0) {
            int k = atoi(R.order[i] + 7);
            assert_true(k > last);
            last = k;
        }
    assert_false(pb_cr_pool_busy(p, "silo-a")); /* done: may queue again */
    pb_cr_pool_free(p);
}

/* on_done runs once the tenant is free, so the one told can queue the
 * tenant's next run at once (a reconcile woken from inside the job found it
 * still busy, and the tenant stalled). */
typedef struct done_probe {
    pb_cr_pool *p;
    int calls, busy_seen, resubmit_rc;
} done_probe;

static void noop_job(void *arg)
{
    (void)arg;
}

static void probe_done(void *ud, const char *tenant)
{
    done_probe *d = ud;
    pb_err err;
    d->busy_seen += pb_cr_pool_busy(d->p, tenant);
    if (d->calls++ == 0)
        d->resubmit_rc = pb_cr_pool_submit(d->p, tenant, "t", noop_job, NULL, &err);
}

static void pool_on_done_after_free(void **state)
{
    (void)state;
    done_probe d = {0};
    pb_err err;
    assert_int_equal(pb_cr_pool_new(1, &d.p, &err), 0);
    pb_cr_pool_on_done(d.p, probe_done, &d);
    assert_int_equal(pb_cr_pool_submit(d.p, "a", "t", noop_job, NULL, &err), 0);
    for (int i = 0; i < 500 && (d.calls < 2 || pb_cr_pool_busy(d.p, "a")); i++)
        usleep(2000);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.busy_seen, 0);
    assert_int_equal(d.resubmit_rc, 0);
    pb_cr_pool_free(d.p);
}

/* Who may break a lock: only a provably gone holder of ours. */
static long long fake_start42(pid_t pid)
{
    return pid == 42 ? 1000 : -1; /* pid 42 runs, started at tick 1000 */
}

static int fake_pod_gone(const char *host, void *ud)
{
    (void)ud;
    return strcmp(host, "op-old") == 0 ? 1 : strcmp(host, "op-live") == 0 ? 0 : -1;
}

static void lock_state_decisions(void **state)
{
    (void)state;
    /* Same host: the last runner here decides. */
    assert_int_equal(pb_cr_lock_state("paybill@op-1", "op-1", "op-1:42:1000", "", fake_pod_gone, NULL, fake_start42),
                     PB_CR_HOLDER_ALIVE);
    assert_int_equal(pb_cr_lock_state("paybill@op-1", "op-1", "op-1:42:999", "", fake_pod_gone, NULL, fake_start42),
                     PB_CR_HOLDER_DEAD);
    assert_int_equal(pb_cr_lock_state("paybill@op-1", "op-1", "op-1:43:1000", "", NULL, NULL, fake_start42),
                     PB_CR_HOLDER_DEAD);
    assert_int_equal(pb_cr_lock_state("paybill@op-1", "op-1", "", "", fake_pod_gone, NULL, fake_start42),
                     PB_CR_HOLDER_UNKNOWN);
    /* Another host: the recorded runner's Pod is gone -> dead; it exists ->
     * alive; lookup failed -> unknown. */
    assert_int_equal(pb_cr_lock_state("paybill@op-old", "op-1", "", "op-old", fake_pod_gone, NULL, fake_start42),
                     PB_CR_HOLDER_DEAD);
    assert_int_equal(pb_cr_lock_state("paybill@op-live", "op-1", "", "op-live", fake_pod_gone, NULL, fake_start42),
                     PB_CR_HOLDER_ALIVE);
    assert_int_equal(pb_cr_lock_state("paybill@op-x", "op-1", "", "op-x", fake_pod_gone, NULL, fake_start42),
                     PB_CR_HOLDER_UNKNOWN);
    /* ... but never for a host the status does not name (a person's
     * laptop called like a gone pod), nor outside a pod. */
    assert_int_equal(pb_cr_lock_state("alice@op-old", "op-1", "", "op-2", fake_pod_gone, NULL, fake_start42),
                     PB_CR_HOLDER_UNKNOWN);
    assert_int_equal(pb_cr_lock_state("paybill@op-old", "op-1", "", "op-old", NULL, NULL, fake_start42),
                     PB_CR_HOLDER_UNKNOWN);
    /* Malformed "who". */
    assert_int_equal(pb_cr_lock_state("nobody", "op-1", "op-1:42:1000", "", fake_pod_gone, NULL, fake_start42),
                     PB_CR_HOLDER_UNKNOWN);
    assert_int_equal(pb_cr_lock_state("x@", "op-1", "op-1:42:1000", "", fake_pod_gone, NULL, fake_start42),
                     PB_CR_HOLDER_UNKNOWN);
    assert_int_equal(pb_cr_lock_state(NULL, "op-1", "op-1:42:1000", "", fake_pod_gone, NULL, fake_start42),
                     PB_CR_HOLDER_UNKNOWN);
}

/* `first` jobs go ahead of the queued ones, in their own order. */
static void pool_first_goes_ahead(void **state)
{
    (void)state;
    memset(&R, 0, sizeof R);
    pthread_mutex_init(&R.mu, NULL);
    pb_cr_pool *p;
    pb_err err;
    assert_int_equal(pb_cr_pool_new(1, &p, &err), 0);
    submit(p, "blocker", "t");
    usleep(50000);
    submit(p, "plan-1", "t");
    submit(p, "plan-2", "t");
    const char *firsts[] = {"apply-1", "apply-2"};
    for (int i = 0; i < 2; i++) {
        job_arg *j = calloc(1, sizeof *j);
        snprintf(j->name, sizeof j->name, "%s", firsts[i]);
        assert_int_equal(pb_cr_pool_submit_first(p, firsts[i], "t", job_fn, j, &err), 0);
    }
    submit(p, "plan-3", "t");
    json_t *peek = pb_cr_pool_peek_order(p, 5);
    const char *want[] = {"apply-1", "apply-2", "plan-1", "plan-2", "plan-3"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_array_get(peek, (size_t)i)), want[i]);
    json_decref(peek);
    R.gate = 1;
    for (int i = 0; i < 500 && pb_cr_pool_busy(p, "plan-3"); i++)
        usleep(10000);
    assert_int_equal(R.n, 6);
    for (int i = 0; i < 5; i++)
        assert_string_equal(R.order[i + 1], want[i]);
    pb_cr_pool_free(p);
}

static void pool_silo_flood(void **state)
{
    (void)state;
    /* The reverse: many silo tenants do not starve one pooled tenant. */
    memset(&R, 0, sizeof R);
    pthread_mutex_init(&R.mu, NULL);
    pb_cr_pool *p;
    pb_err err;
    assert_int_equal(pb_cr_pool_new(2, &p, &err), 0);
    char name[32];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "silo-%02d", i);
        submit(p, name, "enterprise");
    }
    submit(p, "pooled", "free");
    R.gate = 1;
    for (int i = 0; i < 500 && pb_cr_pool_busy(p, "silo-39"); i++)
        usleep(10000);
    int pos = -1;
    for (int i = 0; i < R.n; i++)
        if (strcmp(R.order[i], "pooled") == 0)
            pos = i;
    assert_true(pos >= 0 && pos <= 4);
    pb_cr_pool *none = NULL;
    assert_int_equal(pb_cr_pool_new(0, &none, &err), PB_EINVAL);
    assert_null(none);
    pb_cr_pool_free(p);
}

static long long fake_start(pid_t pid)
{
    return pid == 100 ? 5555 : -1;
}

static void holder_decisions(void **state)
{
    (void)state;
    assert_int_equal(pb_cr_holder_check("h1:100:5555", "h1", fake_start), PB_CR_HOLDER_ALIVE);
    assert_int_equal(pb_cr_holder_check("h1:100:5556", "h1", fake_start), PB_CR_HOLDER_DEAD); /* pid reused */
    assert_int_equal(pb_cr_holder_check("h1:101:5555", "h1", fake_start), PB_CR_HOLDER_DEAD);
    assert_int_equal(pb_cr_holder_check("h2:101:5555", "h1", fake_start), PB_CR_HOLDER_UNKNOWN); /* other host */
    assert_int_equal(pb_cr_holder_check("h1:x:5555", "h1", fake_start), PB_CR_HOLDER_UNKNOWN);
    assert_int_equal(pb_cr_holder_check("garbage", "h1", fake_start), PB_CR_HOLDER_UNKNOWN);
    assert_int_equal(pb_cr_holder_check("h1:100:", "h1", fake_start), PB_CR_HOLDER_UNKNOWN);
    assert_int_equal(pb_cr_holder_check(NULL, "h1", fake_start), PB_CR_HOLDER_UNKNOWN);
    /* The real /proc: this process is alive, under its own identity. */
    char self[256], host[128];
    pb_err err;
    assert_int_equal(pb_cr_holder_self(self, sizeof self, &err), 0);
    gethostname(host, sizeof host);
    assert_int_equal(pb_cr_holder_check(self, host, NULL), PB_CR_HOLDER_ALIVE);
    char dead[300];
    snprintf(dead, sizeof dead, "%s:%d:1", host, (int)getpid());
    assert_int_equal(pb_cr_holder_check(dead, host, NULL), PB_CR_HOLDER_DEAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(render_kubernetes),   cmocka_unit_test(render_refuses),
        cmocka_unit_test(plan_digest),         cmocka_unit_test(exec_codes_and_log),
        cmocka_unit_test(exec_timeout_kills_group), cmocka_unit_test(pool_fair_across_tiers),
        cmocka_unit_test(pool_silo_flood),
        cmocka_unit_test(pool_on_done_after_free),
        cmocka_unit_test(pool_first_goes_ahead),
        cmocka_unit_test(lock_state_decisions),     cmocka_unit_test(holder_decisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
