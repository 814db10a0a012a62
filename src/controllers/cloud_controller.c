/*
 * cloud_controller.c - a tenant's cloud layer (see cloud.h): the Tenant
 * reconciler calls cloud_reconcile, which reads status.cloud and the result
 * of the tenant's last run, decides the next step and queues it on the run
 * pool (provision/cloudrun.h). Runs happen on pool workers as tofu
 * subprocesses in <workDir>/<tenant>; when one ends its result is kept in
 * memory and the tenant is enqueued, so a reconcile never waits for a run.
 *
 * status.cloud: phase (Planning | AwaitingApproval | Applying | Ready |
 * Failed | Destroying | Retained), inputsHash (of the rendered root module),
 * plan {hash, inputsHash, changes, deletes, tenantGeneration},
 * appliedInputsHash, run {id, kind, holder, startedAt} (written before an
 * apply or destroy starts), outputs {configMap, secret, keys}, root (the
 * rendered root module: what a destroy needs when the Plan is gone),
 * destroyAttempts.
 *
 * Locks: a run that finds the state locked reads the lock's ID from the
 * tool's message; the runner that may hold it is named in <dir>/run.holder
 * ("host:pid:start"); only when that process is provably gone
 * (pb_cr_holder_check DEAD) is the lock force-unlocked and the run retried
 * once. Otherwise CloudReady=False LockHeld names the holder.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "controllers/cloud.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "controllers/conditions.h"
#include "controllers/opmetrics.h"
#include "controllers/planspec.h"
#include "controllers/tenantspec.h"
#include "provision/cloudrun.h"
#include "util/json.h"
#include "util/log.h"
#include "util/secret.h"
#include "util/timeutil.h"

#define TAIL_BYTES 1500
#define MAX_DESTROY_ATTEMPTS 3

enum { JOB_PLAN, JOB_APPLY, JOB_DESTROY, JOB_DRIFT };
static const char *job_names[] = {"plan", "apply", "destroy", "drift"};

typedef struct run_result {
    int kind;
    int rc;            /* 0 ok, else a PB_E* code */
    int lock_held;     /* the state was locked by a live (or unknown) holder */
    char msg[1024];    /* what failed */
    char *tail;        /* malloc'd */
    char digest[65];
    int changes, deletes;
    int drifted;       /* drift: resources changed outside the tool */
    json_t *outputs;   /* tofu output -json, apply only */
    char *left;        /* a failed destroy: `state list`, malloc'd */
    char run_id[40];
} run_result;

struct cloud {
    operator_ctx *op;
    cloud_config cfg;
    pb_cr_pool *pool;
    char host[128];
    char self[256];
    pthread_mutex_t mu;
    json_t *results; /* tenant -> pointer integer of a run_result */
    int in_pod;      /* POD_NAME (the chart's downward API) is our hostname: a
                        lock taken by a runner in a Pod that is gone is stale */
    /* The tools running now (their process groups), under mu: shutdown
     * interrupts them so they save state and release their locks. */
    pid_t running[64];
    int stopping;
};

typedef struct job {
    cloud *c;
    int kind;
    char tenant[128];
    char dir[700];
    char run_id[40];
    char approved_digest[65]; /* apply: the digest the approval named */
    int locking;              /* the command under way takes the state lock */
    char recorded_host[128];  /* status.cloud.runner before this job: the host
                                 (pod) of the tenant's previous runner */
    char *pg_env;             /* "PG_CONN_STR=..." (pg state backend; wiped) */
    pid_t pid;                /* the tool running now, 0 when none */
    char prev_holder[300];    /* run.holder when the job began: the last runner
                                 of ours that could hold the lock (each locking
                                 command overwrites the file when it starts) */
} job;

static void run_done(void *ud, const char *tenant);
static int pod_gone(const char *host, void *ud);

/* ---- config ------------------------------------------------------------- */

static int cfg_str(const json_t *sec, const char *key, char *out, size_t n, int required, const char *origin,
                   pb_err *err)
{
    json_t *v = json_object_get(sec, key);
    if (!v) {
        if (required)
            return pb_err_set(err, PB_EINVAL, "%s: cloud.%s: required", origin, key);
        out[0] = 0;
        return 0;
    }
    if (!json_is_string(v) || (size_t)snprintf(out, n, "%s", json_string_value(v)) >= n)
        return pb_err_set(err, PB_EINVAL, "%s: cloud.%s: a path (string) shorter than %zu", origin, key, n);
    return 0;
}

int cloud_config_parse(const json_t *sec, const char *origin, cloud_config *out, pb_err *err)
{
    memset(out, 0, sizeof *out);
    out->pool_size = 4;
    out->run_timeout_ms = 30LL * 60 * 1000;
    if (!sec || json_is_null(sec))
        return 0;
    if (!json_is_object(sec))
        return pb_err_set(err, PB_EINVAL, "%s: cloud: must be a mapping", origin);
    static const char *known[] = {"binary", "cliConfig", "modulesDir", "workDir", "poolSize",
                                  "runTimeout", "kubeconfig", "pluginCacheDir", "stateBackend", NULL};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sec, k, v) {
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= strcmp(known[i], k) == 0;
        if (!ok)
            return pb_err_set(err, PB_EINVAL, "%s: cloud.%s: unknown field", origin, k);
    }
    int rc;
    if ((rc = cfg_str(sec, "binary", out->binary, sizeof out->binary, 1, origin, err)) != 0 ||
        (rc = cfg_str(sec, "cliConfig", out->cli_config, sizeof out->cli_config, 0, origin, err)) != 0 ||
        (rc = cfg_str(sec, "modulesDir", out->modules_dir, sizeof out->modules_dir, 1, origin, err)) != 0 ||
        (rc = cfg_str(sec, "workDir", out->work_dir, sizeof out->work_dir, 1, origin, err)) != 0 ||
        (rc = cfg_str(sec, "kubeconfig", out->kubeconfig, sizeof out->kubeconfig, 0, origin, err)) != 0 ||
        (rc = cfg_str(sec, "pluginCacheDir", out->plugin_cache, sizeof out->plugin_cache, 0, origin, err)) != 0)
        return rc;
    if (out->modules_dir[0] != '/' || out->work_dir[0] != '/')
        return pb_err_set(err, PB_EINVAL, "%s: cloud.modulesDir and cloud.workDir: absolute paths", origin);
    json_t *ps = json_object_get(sec, "poolSize");
    if (ps) {
        if (!json_is_integer(ps) || json_integer_value(ps) < 1 || json_integer_value(ps) > 64)
            return pb_err_set(err, PB_EINVAL, "%s: cloud.poolSize: an integer 1..64", origin);
        out->pool_size = (int)json_integer_value(ps);
    }
    json_t *sb = json_object_get(sec, "stateBackend");
    if (sb) {
        const char *kind = json_string_value(sb);
        if (!kind || (strcmp(kind, "kubernetes") != 0 && strcmp(kind, "pg") != 0))
            return pb_err_set(err, PB_EINVAL, "%s: cloud.stateBackend: kubernetes or pg", origin);
        out->pg_state = strcmp(kind, "pg") == 0;
    }
    json_t *rt = json_object_get(sec, "runTimeout");
    if (rt) {
        pb_duration d;
        if (!json_is_string(rt) || pb_time_parse_duration(json_string_value(rt), &d, err) != 0 || d <= 0)
            return pb_err_set(err, PB_EINVAL, "%s: cloud.runTimeout: a positive Go duration", origin);
        out->run_timeout_ms = (long long)(d / PB_MILLISECOND);
    }
    return 0;
}

int cloud_start(operator_ctx *op, const cloud_config *cfg, cloud **out, pb_err *err)
{
    *out = NULL;
    if (!cfg->binary[0])
        return 0;
    cloud *c = calloc(1, sizeof *c);
    if (!c)
        return pb_err_oom(err);
    c->op = op;
    c->cfg = *cfg;
    pthread_mutex_init(&c->mu, NULL);
    c->results = json_object();
    gethostname(c->host, sizeof c->host - 1);
    const char *pod = getenv("POD_NAME");
    c->in_pod = pod && *pod && strcmp(pod, c->host) == 0;
    int rc;
    if (!c->results)
        rc = pb_err_oom(err);
    else if ((rc = pb_cr_holder_self(c->self, sizeof c->self, err)) == 0 &&
             (mkdir(cfg->work_dir, 0700) == 0 || errno == EEXIST)) {
        if ((rc = pb_cr_pool_new(cfg->pool_size, &c->pool, err)) == 0)
            pb_cr_pool_on_done(c->pool, run_done, c);
    } else if (rc == 0)
        rc = pb_err_set(err, PB_EIO, "cloud.workDir %s: %s", cfg->work_dir, strerror(errno));
    if (rc != 0) {
        json_decref(c->results);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return pb_err_wrap(err, "starting cloud runs");
    }
    *out = c;
    return 0;
}

static void result_free(run_result *r)
{
    if (!r)
        return;
    free(r->tail);
    free(r->left);
    json_decref(r->outputs);
    free(r);
}

void cloud_free(cloud *c)
{
    if (!c)
        return;
    /* Interrupt the tools (as Ctrl-C does): tofu finishes the resource
     * operations under way, saves the state and releases its lock; an
     * apply left half-way is planned again by the next leader. */
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    int n = 0;
    for (size_t i = 0; i < sizeof c->running / sizeof c->running[0]; i++)
        if (c->running[i] > 0 && kill(-c->running[i], SIGINT) == 0)
            n++;
    pthread_mutex_unlock(&c->mu);
    if (n) {
        char nb[16];
        snprintf(nb, sizeof nb, "%d", n);
        pb_log_info("interrupting cloud runs for shutdown", "runs", nb, NULL);
    }
    pb_cr_pool_free(c->pool);
    const char *k;
    json_t *v;
    json_object_foreach(c->results, k, v)
        result_free((run_result *)(uintptr_t)json_integer_value(v));
    json_decref(c->results);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- runs (on pool workers) ---------------------------------------------- */

static void job_free(job *j)
{
    if (!j)
        return;
    if (j->pg_env) {
        pb_secret_wipe(j->pg_env, strlen(j->pg_env));
        free(j->pg_env);
    }
    free(j);
}

static void track(cloud *c, pid_t pid, int add)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < sizeof c->running / sizeof c->running[0]; i++)
        if (add ? c->running[i] == 0 : c->running[i] == pid) {
            c->running[i] = add ? pid : 0;
            break;
        }
    /* Started after shutdown began (between its check and the fork). */
    if (add && c->stopping)
        kill(-pid, SIGINT);
    pthread_mutex_unlock(&c->mu);
}

static void record_holder(void *ud, pid_t pid)
{
    job *j = ud;
    j->pid = pid;
    track(j->c, pid, 1);
    if (!j->locking)
        return; /* run.holder names the last runner that could hold the lock */
    char path[760], buf[300];
    snprintf(path, sizeof path, "%s/run.holder", j->dir);
    snprintf(buf, sizeof buf, "%s:%d:%lld\n", j->c->host, (int)pid, pb_cr_proc_start_ticks(pid));
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(buf, f);
        fclose(f);
    }
}

/* Run the tool with args in the job's directory, output appended to
 * <dir>/<log>. */
static int tool(job *j, const char *log, const char *const *args, int *code, pb_err *err)
{
    const char *argv[16];
    size_t n = 0;
    argv[n++] = j->c->cfg.binary;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    char e_cfg[600], e_cache[600], logp[760];
    const char *env[8];
    size_t ne = 0;
    env[ne++] = "TF_IN_AUTOMATION=1";
    env[ne++] = "TF_INPUT=0";
    env[ne++] = "CHECKPOINT_DISABLE=1";
    if (j->c->cfg.cli_config[0]) {
        snprintf(e_cfg, sizeof e_cfg, "TF_CLI_CONFIG_FILE=%s", j->c->cfg.cli_config);
        env[ne++] = e_cfg;
    }
    if (j->c->cfg.plugin_cache[0]) {
        snprintf(e_cache, sizeof e_cache, "TF_PLUGIN_CACHE_DIR=%s", j->c->cfg.plugin_cache);
        env[ne++] = e_cache;
    }
    if (j->pg_env)
        env[ne++] = j->pg_env;
    env[ne] = NULL;
    snprintf(logp, sizeof logp, "%s/%s", j->dir, log);
    pb_cr_exec_opts o = {.argv = argv, .cwd = j->dir, .env = env, .log_path = logp,
                         .timeout_ms = j->c->cfg.run_timeout_ms, .started = record_holder, .ud = j};
    pthread_mutex_lock(&j->c->mu);
    int stopping = j->c->stopping;
    pthread_mutex_unlock(&j->c->mu);
    if (stopping)
        return pb_err_set(err, PB_ECANCELED, "the operator is shutting down");
    j->pid = 0;
    int rc = pb_cr_exec(&o, code, err);
    if (j->pid)
        track(j->c, j->pid, 0);
    return rc;
}

static void set_tail(job *j, run_result *r, const char *log)
{
    char p[760];
    snprintf(p, sizeof p, "%s/%s", j->dir, log);
    free(r->tail);
    r->tail = pb_cr_tail(p, TAIL_BYTES);
}

/* Copy the value after `key` on its line in text into out. */
static void field_after(const char *text, const char *key, char *out, size_t n)
{
    out[0] = 0;
    const char *p = text ? strstr(text, key) : NULL;
    if (!p)
        return;
    p += strlen(key);
    while (*p == ' ')
        p++;
    size_t k = 0;
    while (p[k] && p[k] != '\n' && p[k] != ' ' && k + 1 < n) {
        out[k] = p[k];
        k++;
    }
    out[k] = 0;
}

/* When the last command failed on a locked state: its lock ID, else "";
 * the lock's "Who" (user@host) into who. */
static void locked_id(job *j, const char *log, char *id, size_t n, char *who, size_t wn)
{
    id[0] = 0;
    who[0] = 0;
    char p[760];
    snprintf(p, sizeof p, "%s/%s", j->dir, log);
    char *t = pb_cr_tail(p, 4000);
    const char *m = t ? strstr(t, "Error acquiring the state lock") : NULL;
    const char *idl = m ? strstr(m, "ID:") : NULL;
    if (idl) {
        field_after(idl, "ID:", id, n);
        field_after(m, "Who:", who, wn);
    }
    free(t);
}

/* <dir>/run.holder's line into out ("" when there is none). */
static void read_holder(const char *dir, char *out, size_t n)
{
    char hp[760];
    snprintf(hp, sizeof hp, "%s/run.holder", dir);
    out[0] = 0;
    FILE *f = fopen(hp, "r");
    if (!f)
        return;
    if (!fgets(out, (int)n, f))
        out[0] = 0;
    fclose(f);
    out[strcspn(out, "\n")] = 0;
}

/* The state is locked: break it only when our last runner is provably
 * gone. 1 broken (retry), 0 not broken (r says why). */
static int maybe_break_lock(job *j, run_result *r, const char *log)
{
    char id[128], who[300];
    locked_id(j, log, id, sizeof id, who, sizeof who);
    if (!id[0])
        return 0;
    const char *at = strrchr(who, '@');
    int here = at && strcmp(at + 1, j->c->host) == 0;
    char holder[300];
    snprintf(holder, sizeof holder, "%s", here ? j->prev_holder : who);
    pb_cr_holder_state st = pb_cr_lock_state(who, j->c->host, j->prev_holder, j->recorded_host,
                                             j->c->in_pod ? pod_gone : NULL, j->c, NULL);
    if (st != PB_CR_HOLDER_DEAD) {
        r->lock_held = 1;
        snprintf(r->msg, sizeof r->msg,
                 "the state is locked (lock %.64s) by %.200s, which is %s: not broken (when it is gone for sure: "
                 "tofu force-unlock %.64s in %.400s)",
                 id, holder[0] ? holder : "a holder this operator did not start",
                 st == PB_CR_HOLDER_ALIVE ? "alive" : "not provably gone", id, j->dir);
        return 0;
    }
    const char *args[] = {"force-unlock", "-force", "-no-color", id, NULL};
    int code = 0;
    pb_err e;
    if (tool(j, "unlock.log", args, &code, &e) != 0 || code != 0) {
        snprintf(r->msg, sizeof r->msg, "force-unlock of stale lock %s (holder %s, gone) failed", id, holder);
        set_tail(j, r, "unlock.log");
        return 0;
    }
    pb_log_warn("released a stale state lock", "tenant", j->tenant, "lock", id, "holder", holder, NULL);
    return 1;
}

/* pb_cr_lock_state's question: is the Pod `host` gone from the operator's
 * namespace? 1 gone, 0 there, -1 cannot tell. */
static int pod_gone(const char *host, void *ud)
{
    cloud *c = ud;
    static const kube_gvr pods = {"", "v1", "pods"};
    json_t *p = NULL;
    pb_err e;
    pb_err_clear(&e);
    int rc = kube_get(c->op->client, &pods, c->op->system_ns, host, NULL, &p, &e);
    json_decref(p);
    return rc == PB_ENOTFOUND ? 1 : rc == 0 ? 0 : -1;
}

/* tool() with the lock rule: retried once after a stale lock is broken. */
static int step(job *j, run_result *r, const char *log, const char *const *args)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        char p[760];
        snprintf(p, sizeof p, "%s/%s", j->dir, log);
        unlink(p);
        j->locking = strcmp(args[0], "plan") == 0 || strcmp(args[0], "apply") == 0 ||
                     strcmp(args[0], "destroy") == 0;
        int code = 0;
        pb_err e;
        pb_err_clear(&e);
        int rc = tool(j, log, args, &code, &e);
        if (rc == 0 && code == 0)
            return 0;
        set_tail(j, r, log);
        if (rc != 0) {
            snprintf(r->msg, sizeof r->msg, "%s %s: %.400s", job_names[j->kind], args[0], e.msg);
            return rc;
        }
        if (attempt == 0 && maybe_break_lock(j, r, log))
            continue;
        if (!r->msg[0])
            snprintf(r->msg, sizeof r->msg, "tofu %s exited with %d", args[0], code);
        return PB_EIO;
    }
    return PB_EIO;
}

static json_t *read_json_file(const char *dir, const char *name)
{
    char p[760];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return json_load_file(p, 0, NULL);
}

static void run_job(void *arg)
{
    job *j = arg;
    cloud *c = j->c;
    run_result *r = calloc(1, sizeof *r);
    if (!r) {
        job_free(j);
        return;
    }
    r->kind = j->kind;
    snprintf(r->run_id, sizeof r->run_id, "%s", j->run_id);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (pb_cr_pool_stopping(c->pool)) {
        result_free(r);
        job_free(j);
        return;
    }
    /* The runner before us may still run (an operator killed mid-apply
     * leaves its tofu running, in its own process group): never start a
     * second one in the same directory, nor break a lock it holds. */
    read_holder(j->dir, j->prev_holder, sizeof j->prev_holder);
    int rc = 0;
    if (j->prev_holder[0] && pb_cr_holder_check(j->prev_holder, c->host, NULL) == PB_CR_HOLDER_ALIVE) {
        r->lock_held = 1;
        snprintf(r->msg, sizeof r->msg, "the previous run (holder %s) is still running: waiting for it to end",
                 j->prev_holder);
        rc = PB_EUNAVAILABLE;
    }
    const char *init[] = {"init", "-input=false", "-no-color", "-reconfigure", NULL};
    if (rc == 0)
        rc = step(j, r, "init.log", init);
    if (rc == 0 && j->kind == JOB_PLAN) {
        const char *plan[] = {"plan", "-input=false", "-no-color", "-lock-timeout=0s", "-out=tfplan", NULL};
        rc = step(j, r, "plan.log", plan);
        const char *show[] = {"show", "-json", "-no-color", "tfplan", NULL};
        if (rc == 0)
            rc = step(j, r, "plan.json", show);
        if (rc == 0) {
            json_t *s = read_json_file(j->dir, "plan.json");
            pb_err e;
            if (!s || pb_cr_plan_digest(s, r->digest, &r->changes, &r->deletes, &e) != 0) {
                rc = PB_EPARSE;
                snprintf(r->msg, sizeof r->msg, "the saved plan cannot be read back (tofu show -json)");
            }
            json_decref(s);
        }
    } else if (rc == 0 && j->kind == JOB_APPLY) {
        /* The approval names a digest: apply only the plan that has it. */
        json_t *s = read_json_file(j->dir, "plan.json");
        pb_err e;
        if (!s || pb_cr_plan_digest(s, r->digest, NULL, NULL, &e) != 0 ||
            strcmp(r->digest, j->approved_digest) != 0) {
            rc = PB_ECONFLICT;
            snprintf(r->msg, sizeof r->msg, "the saved plan is not the approved one (%.12s)", j->approved_digest);
        }
        json_decref(s);
        const char *apply[] = {"apply", "-input=false", "-no-color", "-lock-timeout=0s", "tfplan", NULL};
        if (rc == 0)
            rc = step(j, r, "apply.log", apply);
        const char *out[] = {"output", "-json", "-no-color", NULL};
        if (rc == 0 && (rc = step(j, r, "outputs.json", out)) == 0) {
            r->outputs = read_json_file(j->dir, "outputs.json");
            char p[760];
            snprintf(p, sizeof p, "%s/outputs.json", j->dir);
            unlink(p); /* sensitive values: not left on disk */
            if (!r->outputs) {
                rc = PB_EPARSE;
                snprintf(r->msg, sizeof r->msg, "tofu output -json: not JSON");
            }
        }
    } else if (rc == 0 && j->kind == JOB_DRIFT) {
        /* A refresh-only plan: what the real resources look like now
         * against the state; nothing is changed. */
        const char *plan[] = {"plan", "-refresh-only", "-input=false", "-no-color", "-lock-timeout=0s",
                              "-out=drift.tfplan", NULL};
        rc = step(j, r, "drift.log", plan);
        const char *show[] = {"show", "-json", "-no-color", "drift.tfplan", NULL};
        if (rc == 0)
            rc = step(j, r, "drift.json", show);
        if (rc == 0) {
            json_t *sh = read_json_file(j->dir, "drift.json");
            json_t *rd = json_object_get(sh, "resource_drift");
            pb_err e;
            if (!sh) {
                rc = PB_EPARSE;
                snprintf(r->msg, sizeof r->msg, "the refresh-only plan cannot be read back (tofu show -json)");
            } else {
                r->drifted = (int)json_array_size(rd);
                json_t *none = json_array();
                pb_cr_json_digest(rd ? rd : none, r->digest, &e);
                json_decref(none);
            }
            json_decref(sh);
        }
    } else if (rc == 0 && j->kind == JOB_DESTROY) {
        const char *destroy[] = {"destroy", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=0s", NULL};
        rc = step(j, r, "destroy.log", destroy);
        if (rc != 0) {
            const char *list[] = {"state", "list", "-no-color", NULL};
            run_result tmp = {0};
            if (step(j, &tmp, "left.log", list) == 0) {
                char p[760];
                snprintf(p, sizeof p, "%s/left.log", j->dir);
                r->left = pb_cr_tail(p, 600); /* the tail keeps the tool's reason */
            }
            free(tmp.tail);
        }
    }
    r->rc = rc;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    opmetrics_cloud_run(job_names[j->kind], rc == 0 ? "success" : r->lock_held ? "lock_held" : "failed",
                        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    pthread_mutex_lock(&c->mu);
    run_result *prev = (run_result *)(uintptr_t)json_integer_value(json_object_get(c->results, j->tenant));
    result_free(prev);
    json_object_set_new(c->results, j->tenant, json_integer((json_int_t)(uintptr_t)r));
    pthread_mutex_unlock(&c->mu);
    job_free(j); /* the tenant is enqueued by run_done, once the pool has let it go */
}

static void run_done(void *ud, const char *tenant)
{
    cloud *c = ud;
    if (c->op->tenant_ctrl)
        controller_enqueue(c->op->tenant_ctrl, tenant);
}

/* ---- reconcile ---------------------------------------------------------- */

static run_result *take_result(cloud *c, const char *tenant)
{
    pthread_mutex_lock(&c->mu);
    run_result *r = (run_result *)(uintptr_t)json_integer_value(json_object_get(c->results, tenant));
    json_object_del(c->results, tenant);
    pthread_mutex_unlock(&c->mu);
    return r;
}

static const char *tname(const json_t *tenant)
{
    return json_string_value(json_object_get(json_object_get(tenant, "metadata"), "name"));
}

static json_t *cstatus(json_t *status)
{
    json_t *cs = json_object_get(status, "cloud");
    if (!json_is_object(cs)) {
        cs = json_object();
        json_object_set_new(status, "cloud", cs);
    }
    return cs;
}

static const char *cs_str(json_t *cs, const char *k)
{
    return json_string_value(json_object_get(cs, k));
}

static int write_root(cloud *c, const char *tenant, const json_t *root, char *dir, size_t n, pb_err *err)
{
    if ((size_t)snprintf(dir, n, "%s/%s", c->cfg.work_dir, tenant) >= n)
        return pb_err_set(err, PB_ETOOLARGE, "work directory path too long");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return pb_err_set(err, PB_EIO, "%s: %s", dir, strerror(errno));
    char p[760], tmp[780];
    snprintf(p, sizeof p, "%s/main.tf.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    if (json_dump_file(root, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 || rename(tmp, p) != 0)
        return pb_err_set(err, PB_EIO, "writing %s", p);
    return 0;
}

static int submit(cloud *c, json_t *cs, const char *tenant, const char *tier, int kind, const json_t *root,
                  const char *approved, char *run_id_out, pb_err *err)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return pb_err_oom(err);
    j->c = c;
    j->kind = kind;
    snprintf(j->recorded_host, sizeof j->recorded_host, "%s", cs_str(cs, "runner") ? cs_str(cs, "runner") : "");
    snprintf(j->tenant, sizeof j->tenant, "%s", tenant);
    int rc = write_root(c, tenant, root, j->dir, sizeof j->dir, err);
    char *id = NULL;
    if (rc == 0 && kind == JOB_APPLY && run_id_out && run_id_out[0])
        snprintf(j->run_id, sizeof j->run_id, "%s", run_id_out);
    else if (rc == 0 && (rc = pb_secret_token_hex(8, &id, err)) == 0) {
        snprintf(j->run_id, sizeof j->run_id, "%s-%s", job_names[kind], id);
        free(id);
    }
    if (approved)
        snprintf(j->approved_digest, sizeof j->approved_digest, "%s", approved);
    char *ci = NULL;
    if (rc == 0 && c->cfg.pg_state && (rc = operator_db_admin_conninfo(c->op, OP_DB_SHARED, &ci, err)) == 0) {
        size_t n = strlen(ci) + sizeof "PG_CONN_STR=";
        if ((j->pg_env = malloc(n)) != NULL)
            snprintf(j->pg_env, n, "PG_CONN_STR=%s", ci);
        else
            rc = pb_err_oom(err);
        pb_secret_wipe(ci, strlen(ci));
        free(ci);
    }
    char run_id[sizeof j->run_id];
    snprintf(run_id, sizeof run_id, "%s", j->run_id);
    /* Once submitted, j belongs to the worker, which may be done with it
     * (and have freed it) before this returns. */
    int first = kind == JOB_APPLY || kind == JOB_DESTROY;
    if (rc == 0 && (rc = (first ? pb_cr_pool_submit_first : pb_cr_pool_submit)(c->pool, tenant, tier, run_job, j,
                                                                               err)) == 0) {
        /* The status names this host as the tenant's runner from now on (a
         * later runner elsewhere may find a lock it left). */
        json_object_set_new(cs, "runner", json_string(c->host));
        if (run_id_out)
            snprintf(run_id_out, 40, "%s", run_id);
        return 0;
    }
    job_free(j);
    return rc;
}

static void cond(json_t *status, const char *st, const char *reason, const char *msg, long long gen, const char *now)
{
    cond_set(status, "CloudReady", st, reason, msg, gen, now);
}

/* Failure: the condition with the reason, the tool's tail in an Event. */
/* Failure: the condition with the reason, the tool's tail in an Event, and
 * the next try after a backoff (15 s doubling to 10 min; 10 s while a live
 * holder keeps the lock) unless the inputs change first. The backoff lives
 * in status, so the reconcile our own status write causes does not retry
 * at once. Returns the backoff in seconds. */
static double failed(operator_ctx *op, const json_t *tenant, json_t *status, const char *reason, run_result *r,
                     const char *inputs_hash, long long gen, const char *now)
{
    json_t *cs = cstatus(status);
    char msg[1100];
    snprintf(msg, sizeof msg, "%s", r->msg[0] ? r->msg : "the run failed");
    long long n = json_integer_value(json_object_get(cs, "failures")) + 1;
    double backoff = r->lock_held ? 10 : 15;
    for (long long i = 1; i < n && backoff < 600 && !r->lock_held; i++)
        backoff *= 2;
    if (backoff > 600)
        backoff = 600;
    char ts[PB_TIME_BUF];
    pb_time_format_rfc3339((struct timespec){.tv_sec = operator_now(op) + (time_t)backoff}, ts, sizeof ts);
    json_object_set_new(cs, "failures", json_integer(n));
    json_object_set_new(cs, "retryAt", json_string(ts));
    json_object_set_new(cs, "failedInputsHash", json_string(inputs_hash));
    json_object_set_new(cs, "phase", json_string("Failed"));
    snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " (attempt %lld; next at %s)", n, ts);
    cond(status, "False", reason, msg, gen, now);
    operator_event(op, tenant, "Warning", reason, "%s; output (tail):\n%s", msg, r->tail ? r->tail : "");
    return backoff;
}

static void succeeded(json_t *cs)
{
    json_object_del(cs, "failures");
    json_object_del(cs, "retryAt");
    json_object_del(cs, "failedInputsHash");
}

static int write_outputs(operator_ctx *op, const char *ns, const json_t *outputs, json_t *cs, pb_err *err)
{
    json_t *plain = json_object_get(json_object_get(outputs, "outputs"), "value");
    json_t *sens = json_object_get(json_object_get(outputs, "sensitive_outputs"), "value");
    json_t *cm_data = json_object(), *sec_data = json_object(), *keys = json_array(), *skeys = json_array();
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(plain, k, v) {
        char *s = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        json_object_set_new(cm_data, k, json_string(s ? s : ""));
        json_array_append_new(keys, json_string(k));
        free(s);
    }
    json_object_foreach(sens, k, v) {
        char *s = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        char *b = NULL;
        if (s && pb_secret_b64_encode(s, strlen(s), &b, err) == 0)
            json_object_set_new(sec_data, k, json_string(b));
        else
            rc = PB_ENOMEM;
        json_array_append_new(skeys, json_string(k));
        if (s) {
            pb_secret_wipe(s, strlen(s));
            free(s);
        }
        free(b);
    }
    json_t *labels = json_pack("{s:s}", "app.kubernetes.io/managed-by", "paybill-operator");
    json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:s, s:O}, s:o}", "apiVersion", "v1", "kind", "ConfigMap",
                           "metadata", "name", CLOUD_OUTPUTS_NAME, "namespace", ns, "labels", labels, "data",
                           cm_data);
    json_t *sec = json_pack("{s:s, s:s, s:{s:s, s:s, s:O}, s:s, s:o}", "apiVersion", "v1", "kind", "Secret",
                            "metadata", "name", CLOUD_OUTPUTS_NAME, "namespace", ns, "labels", labels, "type",
                            "Opaque", "data", sec_data);
    json_decref(labels);
    if (rc == 0)
        rc = operator_apply(op, operator_child_gvr(OP_CHILD_CONFIGMAPS), ns, cm, NULL, err);
    if (rc == 0)
        rc = operator_apply(op, operator_child_gvr(OP_CHILD_SECRETS), ns, sec, NULL, err);
    json_decref(cm);
    json_decref(sec);
    if (rc == 0)
        json_object_set_new(cs, "outputs", json_pack("{s:s, s:s, s:o, s:o}", "configMap", CLOUD_OUTPUTS_NAME,
                                                     "secret", CLOUD_OUTPUTS_NAME, "keys", keys,
                                                     "sensitiveKeys", skeys));
    else {
        json_decref(keys);
        json_decref(skeys);
    }
    return rc;
}

/* ---- drift ----------------------------------------------------------------- */

/* The Plan's drift settings: interval in seconds (0: off) and Auto. */
static void drift_settings(const json_t *plan, double *interval_s, int *autofix)
{
    const char *iv = "30m", *rem = "Alert";
    pb_json_opt_string(plan, "spec.cloud.drift.interval", "30m", &iv, NULL);
    pb_json_opt_string(plan, "spec.cloud.drift.remediate", "Alert", &rem, NULL);
    pb_duration d = 0;
    pb_err e;
    if (pb_time_parse_duration(iv, &d, &e) != 0 || d < 0)
        d = 30 * PB_MINUTE; /* the schema's pattern refuses these; the default if one got past it */
    *interval_s = d > 0 && d < PB_SECOND ? 1.0 : (double)d / (double)PB_SECOND;
    *autofix = strcmp(rem, "Auto") == 0;
}

/* interval * [0.9, 1.1): tenants applied together do not all check at once. */
static double jittered(const char *tenant, time_t now, double interval_s)
{
    unsigned h = 2166136261u;
    for (const char *p = tenant; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ (unsigned)now) * 16777619u;
    return interval_s * (0.9 + 0.2 * (double)(h % 1000) / 1000.0);
}

/* An applied tenant: start a refresh-only plan when its time has come,
 * else say when to look again. */
static int drift_schedule(cloud *c, const json_t *tenant, const json_t *plan, json_t *cs, const char *tier,
                          const json_t *root, double *requeue_s, pb_err *err)
{
    double interval;
    int autofix;
    drift_settings(plan, &interval, &autofix);
    if (interval <= 0) {
        json_object_del(cs, "nextDriftCheck");
        return 0;
    }
    const char *name = tname(tenant);
    time_t now = operator_now(c->op);
    const char *next = cs_str(cs, "nextDriftCheck");
    struct timespec at;
    char ts[PB_TIME_BUF];
    if (!next || pb_time_parse_rfc3339(next, &at, NULL) != 0 || at.tv_sec > now + (time_t)(interval * 1.2)) {
        /* First look (or the interval got shorter): schedule from now. */
        double in = jittered(name, now, interval);
        pb_time_format_rfc3339((struct timespec){.tv_sec = now + (time_t)(in + 0.5)}, ts, sizeof ts);
        json_object_set_new(cs, "nextDriftCheck", json_string(ts));
        *requeue_s = in;
        return 0;
    }
    if (at.tv_sec > now) {
        *requeue_s = (double)(at.tv_sec - now);
        return 0;
    }
    char id[40];
    int rc = submit(c, cs, name, tier, JOB_DRIFT, root, NULL, id, err);
    if (rc != 0)
        return rc == PB_EEXIST ? 0 : rc;
    double in = jittered(name, now, interval);
    pb_time_format_rfc3339((struct timespec){.tv_sec = now + (time_t)(in + 0.5)}, ts, sizeof ts);
    json_object_set_new(cs, "nextDriftCheck", json_string(ts));
    return 0;
}

/* A drift check's result: condition Drifted, an Event when what drifted
 * changes, and with remediate: Auto a normal plan (approvals as usual). */
static void drift_result(operator_ctx *op, const json_t *tenant, const json_t *plan, json_t *status, run_result *r,
                         long long gen, const char *now)
{
    json_t *cs = cstatus(status);
    char msg[1200];
    if (r->rc != 0) {
        snprintf(msg, sizeof msg, "the drift check failed: %s", r->msg[0] ? r->msg : "?");
        cond_set(status, "Drifted", "Unknown", r->lock_held ? "LockHeld" : "CheckFailed", msg, gen, now);
        operator_event(op, tenant, "Warning", "DriftCheckFailed", "%s; output (tail):\n%s", msg,
                       r->tail ? r->tail : "");
        return;
    }
    double interval;
    int autofix;
    drift_settings(plan, &interval, &autofix);
    json_t *prev = json_object_get(cs, "drift");
    const char *prev_digest = cs_str(prev, "digest");
    int changed = !prev_digest || strcmp(prev_digest, r->digest) != 0;
    json_object_set_new(cs, "drift", json_pack("{s:i, s:s, s:s}", "resources", r->drifted, "digest", r->digest,
                                               "checkedAt", now));
    if (r->drifted == 0) {
        cond_set(status, "Drifted", "False", "NoDrift", "the resources match the state", gen, now);
        return;
    }
    snprintf(msg, sizeof msg, "%d resource(s) changed outside OpenTofu (drift digest %.12s)%s", r->drifted,
             r->digest, autofix ? "; remediating" : "; remediate: Alert leaves them");
    cond_set(status, "Drifted", "True", "Drifted", msg, gen, now);
    if (changed || autofix)
        operator_event(op, tenant, "Warning", "Drifted", "%s", msg);
    if (autofix) {
        json_object_set_new(cs, "remediate", json_true());
        json_object_del(cs, "plan"); /* plan again: the new plan puts them back */
    }
}

/* ---- approvals ---------------------------------------------------------- */

/* What an Approval names: the saved plan's digest bound to this Tenant
 * object and its generation, so the same change planned for a re-created
 * Tenant, or after the Tenant's spec changed, needs a new Approval. */
static void plan_binding(const json_t *tenant, const char *digest, long long gen, char out[PB_SHA256_HEX_LEN])
{
    const char *uid = NULL;
    pb_json_opt_string(tenant, "metadata.uid", "", &uid, NULL);
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s/%s/%lld", digest, uid, gen);
    pb_err e;
    if (pb_secret_sha256_hex(buf, (size_t)n, out, &e) != 0)
        out[0] = 0; /* never matches an Approval's pattern: nothing is approved */
}

/* The Approval (operator namespace, admitted by approval_admission.c) for
 * this tenant's plan `hash`: 1 approved, -1 rejected, 0 none. The
 * Approval's uid and approver are copied out; why says what did not fit.
 * Checked again here, not only at admission: an Approval may have expired,
 * been used, or been written while the webhooks were down. */
static int find_plan_approval(operator_ctx *op, const json_t *tenant, const char *hash, char uid_out[80],
                              char approver_out[300], char why[600])
{
    if (!op->approvals || !hash || !hash[0])
        return 0;
    const char *tname_ = NULL, *tuid = NULL;
    pb_json_opt_string(tenant, "metadata.name", "", &tname_, NULL);
    pb_json_opt_string(tenant, "metadata.uid", "", &tuid, NULL);
    json_t *items = store_by_index(op->approvals, STORE_INDEX_NAMESPACE, op->system_ns, NULL);
    time_t now = operator_now(op);
    int found = 0;
    size_t k;
    json_t *a;
    json_array_foreach(items, k, a) {
        const json_t *spec = json_object_get(a, "spec");
        const char *n = NULL, *u = NULL, *h = NULL, *exp = NULL, *decision = NULL, *phase = NULL, *who = NULL,
                   *aname = NULL, *auid = NULL;
        pb_json_opt_string(spec, "tenantRef.name", NULL, &n, NULL);
        pb_json_opt_string(spec, "tenantRef.uid", NULL, &u, NULL);
        pb_json_opt_string(spec, "planHash", NULL, &h, NULL);
        pb_json_opt_string(spec, "expiresAt", NULL, &exp, NULL);
        pb_json_opt_string(spec, "decision", "Approve", &decision, NULL);
        pb_json_opt_string(spec, "approver.username", NULL, &who, NULL);
        pb_json_opt_string(a, "status.phase", NULL, &phase, NULL);
        pb_json_opt_string(a, "metadata.name", "?", &aname, NULL);
        pb_json_opt_string(a, "metadata.uid", NULL, &auid, NULL);
        if (!n || strcmp(n, tname_) != 0 || !auid)
            continue;
        if (!u || strcmp(u, tuid) != 0 || !h || strcmp(h, hash) != 0) {
            snprintf(why, 600, "Approval %s names another plan or Tenant object", aname);
            continue;
        }
        if (phase && strcmp(phase, "Used") == 0) {
            snprintf(why, 600, "Approval %s was used already", aname);
            continue;
        }
        struct timespec until;
        if (!exp || pb_time_parse_rfc3339(exp, &until, NULL) != 0 || until.tv_sec <= now) {
            snprintf(why, 600, "Approval %s has expired", aname);
            continue;
        }
        if (!who || !*who) {
            snprintf(why, 600, "Approval %s has no approver (was it admitted by the operator's webhook?)", aname);
            continue;
        }
        snprintf(uid_out, 80, "%s", auid);
        snprintf(approver_out, 300, "%s", who);
        found = strcmp(decision, "Reject") == 0 ? -1 : 1;
        break;
    }
    json_decref(items);
    return found;
}


/* The pg backend's schema for a tenant: tfstate_<name> with '-' as '_';
 * a name too long for an identifier keeps 40 characters and gets 12 hex
 * digits of its sha256 (tenant names are unique, so schemas are). */
static void state_schema(const char *tenant, char out[64])
{
    size_t n = strlen(tenant);
    if (n <= 50) {
        snprintf(out, 64, "tfstate_%s", tenant);
    } else {
        char h[PB_SHA256_HEX_LEN];
        pb_err e;
        if (pb_secret_sha256_hex(tenant, n, h, &e) != 0)
            snprintf(h, sizeof h, "%s", "000000000000");
        snprintf(out, 64, "tfstate_%.40s_%.12s", tenant, h);
    }
    for (char *p = out; *p; p++)
        if (*p == '-' || *p == '.')
            *p = '_';
}

/* The root module for this tenant now; *root new. A Plan problem is a
 * condition (returns 1), not an error. */
static int render(cloud *c, const json_t *tenant, const json_t *plan, json_t *status, long long gen,
                  const char *now, json_t **root)
{
    *root = NULL;
    const char *module = NULL, *tier = NULL, *region = NULL;
    pb_json_opt_string(plan, "spec.cloud.module", NULL, &module, NULL);
    pb_json_opt_string(plan, "spec.tier", "", &tier, NULL);
    pb_json_opt_string(tenant, "spec.region", "", &region, NULL);
    char msg[900], src[1200];
    struct stat st;
    int bad = !module || !*module || strchr(module, '/') || strcmp(module, ".") == 0 || strcmp(module, "..") == 0;
    snprintf(src, sizeof src, "%s/%s", c->cfg.modules_dir, bad ? "-" : module);
    if (bad || stat(src, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(msg, sizeof msg, "module \"%s\" is not in the operator's catalogue (%s)", module ? module : "",
                 c->cfg.modules_dir);
        cond(status, "False", "ModuleNotFound", msg, gen, now);
        return 1;
    }
    if (access(c->cfg.binary, X_OK) != 0) {
        snprintf(msg, sizeof msg, "the tool %s cannot be run: %s", c->cfg.binary, strerror(errno));
        cond(status, "False", "BinaryNotFound", msg, gen, now);
        return 1;
    }
    char suffix[200];
    snprintf(suffix, sizeof suffix, "paybill-%s", tname(tenant));
    json_t *labels = json_pack("{s:s, s:s}", "paybill.dev/tenant", tname(tenant), "paybill.dev/tier", tier);
    json_t *pvars = NULL;
    pb_json_get(plan, "spec.cloud.variables", &pvars, NULL);
    /* The `server` data layout: the module starts the tenant's own
     * PostgreSQL server (its outputs db_host, db_port, db_admin_user and
     * db_admin_password are what tenant_database.c provisions on). */
    planspec_isolation iso;
    json_t *vars = json_is_object(pvars) ? json_deep_copy(pvars) : json_object();
    if (planspec_isolation_of(plan, &iso, NULL) == 0 && strcmp(iso.data, "server") == 0 && vars)
        json_object_set_new(vars, "server", json_true());
    char schema[64];
    state_schema(tname(tenant), schema);
    pb_cr_inputs in = {.tenant = tname(tenant), .tier = tier, .region = region, .module_source = src,
                       .labels = labels, .variables = vars,
                       .backend = {.kind = "kubernetes", .namespace_ = c->op->system_ns, .secret_suffix = suffix,
                                   .config_path = c->cfg.kubeconfig[0] ? c->cfg.kubeconfig : NULL}};
    if (c->cfg.pg_state)
        in.backend = (pb_cr_backend){.kind = "pg", .schema_name = schema};
    pb_err e;
    pb_err_clear(&e);
    int rc = pb_cr_render_root(&in, root, &e);
    json_decref(labels);
    json_decref(vars);
    if (rc != 0) {
        cond(status, "False", "InvalidVariables", e.msg, gen, now);
        return 1;
    }
    return 0;
}

int cloud_reconcile(operator_ctx *op, const json_t *tenant, const json_t *plan, json_t *status, long long gen,
                    const char *now, double *requeue_s, pb_err *err)
{
    *requeue_s = 0;
    cloud *c = op->cloud;
    json_t *cs = cstatus(status);
    if (!c) {
        cond(status, "False", "NotConfigured", "the operator has no cloud: section (--config): no tool to run",
             gen, now);
        return 0;
    }
    const char *name = tname(tenant);
    const char *tier = NULL;
    pb_json_opt_string(plan, "spec.tier", "", &tier, NULL);
    json_t *root = NULL;
    if (render(c, tenant, plan, status, gen, now, &root) != 0)
        return 0;
    char ih[65];
    pb_cr_json_digest(root, ih, NULL);
    json_object_set_new(cs, "inputsHash", json_string(ih));
    json_object_set(cs, "root", root);
    const char *approval = "Auto";
    pb_json_opt_string(plan, "spec.cloud.approval", "Auto", &approval, NULL);
    char msg[1200];
    int rc = 0;

    const char *applied0 = cs_str(cs, "appliedInputsHash");
    int settled = strcmp(cs_str(cs, "phase") ? cs_str(cs, "phase") : "", "Ready") == 0 && applied0 &&
                  strcmp(applied0, ih) == 0 && !json_is_true(json_object_get(cs, "remediate"));
    /* A run of ours is queued or running: its end enqueues the tenant. A
     * drift check under way leaves an applied tenant ready. */
    if (pb_cr_pool_busy(c->pool, name)) {
        json_decref(root);
        return settled;
    }
    run_result *r = take_result(c, name);
    json_t *cplan = json_object_get(cs, "plan");
    if (r) {
        if (r->kind == JOB_PLAN) {
            if (r->rc != 0) {
                *requeue_s = failed(op, tenant, status, r->lock_held ? "LockHeld" : "PlanFailed", r, ih, gen, now);
            } else {
                succeeded(cs);
                char bound[PB_SHA256_HEX_LEN];
                plan_binding(tenant, r->digest, gen, bound);
                json_object_set_new(cs, "plan", json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:s}", "hash", bound,
                                                          "digest", r->digest, "inputsHash", ih, "changes",
                                                          r->changes, "deletes", r->deletes, "tenantGeneration",
                                                          (json_int_t)gen, "plannedAt", now));
                cplan = json_object_get(cs, "plan");
            }
        } else if (r->kind == JOB_APPLY) {
            json_object_del(cs, "run");
            if (r->rc != 0) {
                *requeue_s = failed(op, tenant, status, r->lock_held ? "LockHeld" : "ApplyFailed", r, ih, gen, now);
                json_object_del(cs, "plan"); /* re-plan from what the state says now */
                cplan = NULL;
            } else {
                char ns[128];
                tenantspec_namespace(name, ns, sizeof ns);
                if ((rc = write_outputs(op, ns, r->outputs, cs, err)) == 0) {
                    succeeded(cs);
                    json_object_set_new(cs, "appliedInputsHash", json_string(ih));
                    json_object_set(cs, "appliedPlanHash", json_object_get(cplan, "hash"));
                    json_object_set_new(cs, "phase", json_string("Ready"));
                    json_object_del(cs, "plan");
                    if (json_object_del(cs, "remediate") == 0) { /* a remediation's apply */
                        cond_set(status, "Drifted", "False", "Remediated",
                                 "the drifted resources were put back by the apply", gen, now);
                        operator_event(op, tenant, "Normal", "DriftRemediated", "drift remediated by plan %.12s",
                                       r->digest);
                    }
                    snprintf(msg, sizeof msg, "applied plan %.12s; outputs in ConfigMap and Secret %s",
                             r->digest, CLOUD_OUTPUTS_NAME);
                    cond(status, "True", "Applied", msg, gen, now);
                    operator_event(op, tenant, "Normal", "CloudApplied", "%s", msg);
                }
            }
        } else if (r->kind == JOB_DRIFT)
            drift_result(op, tenant, plan, status, r, gen, now);
        result_free(r);
        if (rc != 0) {
            json_decref(root);
            return rc;
        }
    }
    cplan = json_object_get(cs, "plan"); /* the result may have replaced or removed it */
    /* Failed: wait out the backoff, unless the inputs changed since. */
    const char *retry_at = cs_str(cs, "retryAt"), *failed_ih = cs_str(cs, "failedInputsHash");
    struct timespec ra;
    if (strcmp(cs_str(cs, "phase") ? cs_str(cs, "phase") : "", "Failed") == 0 && !cplan && retry_at &&
        failed_ih && strcmp(failed_ih, ih) == 0 && pb_time_parse_rfc3339(retry_at, &ra, NULL) == 0 &&
        ra.tv_sec > operator_now(op)) {
        *requeue_s = (double)(ra.tv_sec - operator_now(op)) + 0.5;
        json_decref(root);
        return 0;
    }
    const char *phase = cs_str(cs, "phase") ? cs_str(cs, "phase") : "";
    const char *applied = cs_str(cs, "appliedInputsHash");
    if (strcmp(phase, "Ready") == 0 && applied && strcmp(applied, ih) == 0 &&
        !json_is_true(json_object_get(cs, "remediate"))) {
        if (!cond_is_true(status, "CloudReady"))
            cond(status, "True", "Applied", "cloud resources are applied", gen, now);
        rc = drift_schedule(c, tenant, plan, cs, tier, root, requeue_s, err);
        json_decref(root);
        return rc < 0 ? rc : 1;
    }
    /* An apply recorded in status but not running here: the operator (or
     * its run) died mid-apply. Re-plan: the plan compares the real
     * resources (refreshed) with the configuration; a stale lock is
     * released by the run when its holder is provably gone. */
    json_t *run = json_object_get(cs, "run");
    if (strcmp(phase, "Applying") == 0 && run && strcmp(cs_str(run, "holder") ? cs_str(run, "holder") : "", c->self) == 0 &&
        !json_is_true(json_object_get(run, "submitted")) && cplan &&
        strcmp(cs_str(cplan, "hash") ? cs_str(cplan, "hash") : "", cs_str(run, "planHash") ? cs_str(run, "planHash") : "") == 0) {
        /* The apply is recorded (status written): now start it. */
        const char *digest = cs_str(cplan, "digest") ? cs_str(cplan, "digest") : "";
        char id[40];
        snprintf(id, sizeof id, "%s", cs_str(run, "id") ? cs_str(run, "id") : "apply");
        if ((rc = submit(c, cs, name, tier, JOB_APPLY, root, digest, id, err)) != 0) {
            json_decref(root);
            return rc == PB_EEXIST ? 0 : rc;
        }
        json_object_set_new(run, "submitted", json_true());
        json_decref(root);
        return 0;
    }
    if (strcmp(phase, "Applying") == 0) {
        operator_event(op, tenant, "Warning", "ApplyInterrupted",
                       "apply %s (holder %s, started %s) did not finish here; planning again against the state",
                       json_string_value(json_object_get(run, "id")),
                       json_string_value(json_object_get(run, "holder")),
                       json_string_value(json_object_get(run, "startedAt")));
        json_object_del(cs, "run");
        json_object_del(cs, "plan");
        cplan = NULL;
    }
    const char *pin = cs_str(cplan, "inputsHash");
    long long pgen = json_integer_value(json_object_get(cplan, "tenantGeneration"));
    if (!cplan || !pin || strcmp(pin, ih) != 0 || pgen != gen) {
        char id[40];
        if ((rc = submit(c, cs, name, tier, JOB_PLAN, root, NULL, id, err)) != 0) {
            json_decref(root);
            return rc == PB_EEXIST ? 0 : rc;
        }
        json_object_set_new(cs, "phase", json_string("Planning"));
        json_object_del(cs, "plan");
        snprintf(msg, sizeof msg, "planning (run %s)", id);
        cond(status, "False", "Planning", msg, gen, now);
        json_decref(root);
        return 0;
    }
    /* A plan for these inputs and this generation: approved? */
    const char *hash = cs_str(cplan, "hash");
    long long deletes = json_integer_value(json_object_get(cplan, "deletes"));
    int manual = strcmp(approval, "Manual") == 0 || deletes > 0;
    char approval_uid[80] = "", approver[300] = "", why[600] = "";
    int decided = manual ? find_plan_approval(op, tenant, hash, approval_uid, approver, why) : 0;
    if (decided < 0) {
        json_object_set_new(cs, "phase", json_string("Rejected"));
        snprintf(msg, sizeof msg, "plan %.16s was rejected by %s; change the Plan or the Tenant to plan again",
                 hash, approver);
        cond(status, "False", "Rejected", msg, gen, now);
        json_decref(root);
        return 0;
    }
    if (manual && decided == 0) {
        json_object_set_new(cs, "phase", json_string("AwaitingApproval"));
        snprintf(msg, sizeof msg,
                 "plan %s (%lld change(s), %lld delete(s)) awaits approval: kubectl paybill approve tenant %s "
                 "--plan %s (an Approval in namespace %s)%s%s",
                 hash, json_integer_value(json_object_get(cplan, "changes")), deletes, name, hash, op->system_ns,
                 why[0] ? "; " : "", why);
        cond(status, "False", "AwaitingApproval", msg, gen, now);
        json_decref(root);
        return 0;
    }
    /* Record the apply in status first (crash safety): the reconcile that
     * sees this record written starts it (above). */
    char id[40], *rnd = NULL;
    if ((rc = pb_secret_token_hex(8, &rnd, err)) != 0) {
        json_decref(root);
        return rc;
    }
    snprintf(id, sizeof id, "apply-%s", rnd);
    free(rnd);
    *requeue_s = 0.2;
    json_object_set_new(cs, "phase", json_string("Applying"));
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "kind", "apply", "holder", c->self, "planHash",
                            hash, "startedAt", now);
    if (approval_uid[0]) {
        json_object_set_new(rec, "approvedBy", json_string(approver));
        json_object_set_new(rec, "approval", json_string(approval_uid));
        char by[300];
        snprintf(by, sizeof by, "tenant %s cloud run %s", name, id);
        operator_mark_approval_used(op, op->system_ns, approval_uid, by, now); /* also in status.cloud.run */
    }
    json_object_set_new(cs, "run", rec);
    snprintf(msg, sizeof msg, "applying plan %.12s (run %s)%s%s", hash, id, manual ? ", approved by " : "",
             manual ? approver : "");
    cond(status, "False", "Applying", msg, gen, now);
    json_decref(root);
    return 0;
}

int cloud_delete(operator_ctx *op, const json_t *tenant, json_t *status, const char *policy, const char *now,
                 double *requeue_s, pb_err *err)
{
    *requeue_s = 0;
    json_t *cs = json_object_get(status, "cloud");
    json_t *root = json_object_get(cs, "root");
    long long gen = json_integer_value(json_object_get(json_object_get(tenant, "metadata"), "generation"));
    const char *phase = cs_str(cs, "phase") ? cs_str(cs, "phase") : "";
    if (!root || strcmp(phase, "Destroyed") == 0 || strcmp(phase, "Retained") == 0)
        return 1; /* nothing was ever planned here, or it is settled */
    const char *name = tname(tenant);
    char msg[1200];
    if (strcmp(policy, "Retain") == 0) {
        char schema[64];
        state_schema(name, schema);
        if (op->cloud && op->cloud->cfg.pg_state)
            snprintf(msg, sizeof msg,
                     "cloud resources retained; their state is in schema %s of database postgres on the shared "
                     "database server, their inputs in the root module kept with it",
                     schema);
        else
            snprintf(msg, sizeof msg,
                     "cloud resources retained; their state is in Secret tfstate-default-paybill-%s (namespace "
                     "%s), their inputs in the root module kept with it",
                     name, op->system_ns);
        json_object_set_new(cs, "phase", json_string("Retained"));
        cond(status, "False", "Retained", msg, gen, now);
        operator_event(op, tenant, "Normal", "CloudRetained", "%s", msg);
        return 1;
    }
    cloud *c = op->cloud;
    if (!c) {
        cond(status, "False", "NotConfigured", "cannot destroy: the operator has no cloud: section", gen, now);
        *requeue_s = 60;
        return 0;
    }
    if (pb_cr_pool_busy(c->pool, name))
        return 0;
    run_result *r = take_result(c, name);
    long long attempts = json_integer_value(json_object_get(cs, "destroyAttempts"));
    /* After the last attempt a person fixes the cause and asks for more
     * with a new value of the retry annotation. */
    const char *done_retry = cs_str(cs, "destroyRetry");
    const char *retry = json_string_value(json_object_get(
        json_object_get(json_object_get(tenant, "metadata"), "annotations"), CLOUD_RETRY_DESTROY_ANNOTATION));
    if (!r && retry && *retry && (!done_retry || strcmp(retry, done_retry) != 0)) {
        json_object_set_new(cs, "destroyRetry", json_string(retry));
        attempts = 0;
        operator_event(op, tenant, "Normal", "CloudDestroyRetried", "destroying again (%s=%s)",
                       CLOUD_RETRY_DESTROY_ANNOTATION, retry);
    }
    if (r && r->kind == JOB_DESTROY) {
        int ok = r->rc == 0;
        if (!ok) {
            snprintf(msg, sizeof msg, "destroy attempt %lld of %d failed: %.400s; left in the state: %.500s%s%.63s%s",
                     attempts,
                     MAX_DESTROY_ATTEMPTS, r->msg, r->left ? r->left : "(the state could not be listed)",
                     attempts >= MAX_DESTROY_ATTEMPTS ? "; fix the cause, then: kubectl annotate tenant " : "",
                     attempts >= MAX_DESTROY_ATTEMPTS ? name : "",
                     attempts >= MAX_DESTROY_ATTEMPTS ? " " CLOUD_RETRY_DESTROY_ANNOTATION "=<a new value> --overwrite"
                                                      : "");
            cond(status, "False", attempts >= MAX_DESTROY_ATTEMPTS ? "DestroyFailed" : "Destroying", msg, gen, now);
            operator_event(op, tenant, "Warning", "CloudDestroyFailed", "%s; output (tail):\n%s", msg,
                           r->tail ? r->tail : "");
        }
        result_free(r);
        json_object_del(cs, "run");
        if (ok) {
            json_object_set_new(cs, "phase", json_string("Destroyed"));
            json_object_del(cs, "appliedInputsHash");
            cond(status, "False", "Destroyed", "cloud resources destroyed", gen, now);
            operator_event(op, tenant, "Normal", "CloudDestroyed", "cloud resources destroyed (%s)", policy);
            return 1;
        }
        if (attempts >= MAX_DESTROY_ATTEMPTS) {
            *requeue_s = 3600; /* a person must look; the finalizer stays */
            return 0;
        }
    } else {
        result_free(r);
    }
    if (attempts >= MAX_DESTROY_ATTEMPTS) {
        *requeue_s = 3600;
        return 0;
    }
    const char *tier = json_string_value(json_object_get(status, "tier"));
    char id[40];
    int rc = submit(c, cs, name, tier ? tier : "", JOB_DESTROY, root, NULL, id, err);
    if (rc != 0)
        return rc == PB_EEXIST ? 0 : rc;
    json_object_set_new(cs, "destroyAttempts", json_integer(attempts + 1));
    json_object_set_new(cs, "phase", json_string("Destroying"));
    json_object_set_new(cs, "run", json_pack("{s:s, s:s, s:s, s:s}", "id", id, "kind", "destroy", "holder",
                                             c->self, "startedAt", now));
    snprintf(msg, sizeof msg, "destroying (run %s, attempt %lld of %d)", id, attempts + 1, MAX_DESTROY_ATTEMPTS);
    cond(status, "False", "Destroying", msg, gen, now);
    return 0;
}

json_t *cloud_map_approval_to_tenant(json_t *obj, void *ud)
{
    operator_ctx *op = ud;
    const char *ns = NULL, *tenant = NULL;
    pb_json_opt_string(obj, "metadata.namespace", NULL, &ns, NULL);
    pb_json_opt_string(obj, "spec.tenantRef.name", NULL, &tenant, NULL);
    json_t *keys = json_array();
    if (ns && tenant && strcmp(ns, op->system_ns) == 0)
        json_array_append_new(keys, json_string(tenant));
    return operator_nonempty_keys(keys);
}
