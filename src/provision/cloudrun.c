/*
 * cloudrun.c - root module rendering, plan digests, the subprocess runner,
 * the tier-fair run pool and lock-holder checks (see cloudrun.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "provision/cloudrun.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/secret.h"
#include "util/proc.h"
#include "util/timeutil.h"

/* ---- the root module ------------------------------------------------------ */

static int is_ident(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-'))
            return 0;
    return strlen(s) <= 64;
}

int pb_cr_render_root(const pb_cr_inputs *in, json_t **out, pb_err *err)
{
    *out = NULL;
    if (!in->tenant || !*in->tenant || !in->module_source || in->module_source[0] != '/')
        return pb_err_set(err, PB_EINVAL, "rendering the root module: tenant and an absolute module path are needed");
    json_t *mod = json_pack("{s:s, s:s, s:s, s:s}", "source", in->module_source, "tenant", in->tenant,
                            "tier", in->tier ? in->tier : "", "region", in->region ? in->region : "");
    json_t *labels = json_object();
    if (!mod || !labels) {
        json_decref(mod);
        json_decref(labels);
        return pb_err_oom(err);
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in->labels, k, v) {
        if (!json_is_string(v)) {
            json_decref(mod);
            json_decref(labels);
            return pb_err_set(err, PB_EINVAL, "label \"%s\": not a string", k);
        }
        json_object_set(labels, k, v);
    }
    json_object_set_new(mod, "labels", labels);
    json_object_foreach((json_t *)in->variables, k, v) {
        if (!is_ident(k) || strcmp(k, "source") == 0 || strcmp(k, "version") == 0 ||
            strcmp(k, "count") == 0 || strcmp(k, "for_each") == 0 || strcmp(k, "providers") == 0 ||
            strcmp(k, "depends_on") == 0) {
            json_decref(mod);
            return pb_err_set(err, PB_EINVAL, "spec.cloud.variables.%s: not a usable variable name", k);
        }
        if (json_object_get(mod, k)) {
            json_decref(mod);
            return pb_err_set(err, PB_EINVAL,
                              "spec.cloud.variables.%s: set by the operator (tenant, tier, region, labels)", k);
        }
        json_object_set(mod, k, v);
    }
    json_t *backend;
    if (in->backend.kind && strcmp(in->backend.kind, "pg") == 0) {
        if (!in->backend.schema_name) {
            json_decref(mod);
            return pb_err_set(err, PB_EINVAL, "pg backend: a schema is needed");
        }
        backend = json_pack("{s:{s:s}}", "pg", "schema_name", in->backend.schema_name);
        if (backend && in->backend.conn_str)
            json_object_set_new(json_object_get(backend, "pg"), "conn_str", json_string(in->backend.conn_str));
    } else {
        if (!in->backend.namespace_ || !in->backend.secret_suffix) {
            json_decref(mod);
            return pb_err_set(err, PB_EINVAL, "kubernetes backend: namespace and secret suffix are needed");
        }
        json_t *kb = json_pack("{s:s, s:s, s:{s:s, s:s}}", "namespace", in->backend.namespace_, "secret_suffix",
                               in->backend.secret_suffix, "labels", "app.kubernetes.io/managed-by",
                               "paybill-operator", "paybill.dev/tenant", in->tenant);
        if (kb) {
            if (in->backend.config_path)
                json_object_set_new(kb, "config_path", json_string(in->backend.config_path));
            else
                json_object_set_new(kb, "in_cluster_config", json_true());
        }
        backend = kb ? json_pack("{s:o}", "kubernetes", kb) : NULL;
    }
    json_t *root = json_pack("{s:{s:o}, s:{s:o}, s:{s:{s:s}, s:{s:s, s:b}}}", "terraform", "backend", backend,
                             "module", "tenant", mod, "output", "outputs", "value", "${module.tenant.outputs}",
                             "sensitive_outputs", "value", "${module.tenant.sensitive_outputs}", "sensitive", 1);
    if (!root)
        return pb_err_oom(err);
    *out = root;
    return 0;
}

int pb_cr_json_digest(const json_t *j, char out[65], pb_err *err)
{
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return pb_err_oom(err);
    int rc = pb_secret_sha256_hex(s, strlen(s), out, err);
    free(s);
    return rc;
}

int pb_cr_plan_digest(const json_t *show, char out[65], int *changes, int *deletes, pb_err *err)
{
    if (!json_is_object(show) || !json_is_string(json_object_get(show, "format_version")))
        return pb_err_set(err, PB_EPARSE, "not the output of `tofu show -json PLANFILE`");
    json_t *rc_ = json_object_get(show, "resource_changes");
    int n = 0, d = 0;
    size_t i;
    json_t *c;
    json_array_foreach(rc_, i, c) {
        json_t *acts = json_object_get(json_object_get(c, "change"), "actions");
        int noop = 1, del = 0;
        size_t a;
        json_t *act;
        json_array_foreach(acts, a, act) {
            const char *s = json_string_value(act);
            if (s && strcmp(s, "no-op") != 0 && strcmp(s, "read") != 0)
                noop = 0;
            if (s && strcmp(s, "delete") == 0)
                del = 1;
        }
        n += !noop;
        d += del;
    }
    json_t *sel = json_pack("{s:O*, s:O*, s:O*}", "resource_changes", rc_, "output_changes",
                            json_object_get(show, "output_changes"), "configuration",
                            json_object_get(show, "configuration"));
    if (!sel)
        return pb_err_oom(err);
    int r = pb_cr_json_digest(sel, out, err);
    json_decref(sel);
    if (changes)
        *changes = n;
    if (deletes)
        *deletes = d;
    return r;
}

/* ---- subprocesses --------------------------------------------------------- */

int pb_cr_exec(const pb_cr_exec_opts *o, int *exit_code, pb_err *err)
{
    *exit_code = -1;
    if (!o->argv || !o->argv[0])
        return pb_err_set(err, PB_EINVAL, "no command");
    if (access(o->argv[0], X_OK) != 0)
        return pb_err_set(err, PB_EIO, "%s: %s", o->argv[0], strerror(errno));
    int fd = open(o->log_path ? o->log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return pb_err_set(err, PB_EIO, "%s: %s", o->log_path, strerror(errno));
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fd);
        if (devnull >= 0)
            close(devnull);
        return pb_err_set(err, PB_EIO, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (o->cwd && chdir(o->cwd) != 0)
            _exit(126);
        for (const char *const *e = o->env; e && *e; e++)
            putenv((char *)*e);
        execv(o->argv[0], (char *const *)o->argv);
        _exit(127);
    }
    setpgid(pid, pid); /* both sides: no race with the kill below */
    close(fd);
    if (devnull >= 0)
        close(devnull);
    if (o->started)
        o->started(o->ud, pid);
    double deadline = o->timeout_ms > 0 ? pb_time_mono_s() + o->timeout_ms / 1000.0 : 0;
    int status = 0;
    int rc = pb_proc_wait_child(pid, -pid, deadline, NULL, NULL, 5000, &status, err);
    if (rc == PB_EIO)
        return rc;
    int timed_out = rc == PB_ETIMEOUT;
    /* Whatever the tool left in its group (provider plugins, provisioners)
     * goes with it. */
    kill(-pid, SIGKILL);
    if (WIFEXITED(status))
        *exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        *exit_code = 128 + WTERMSIG(status);
    if (timed_out)
        return pb_err_set(err, PB_ETIMEOUT, "%s timed out after %lld ms (process group killed)", o->argv[0],
                          o->timeout_ms);
    return 0;
}

char *pb_cr_tail(const char *path, size_t max)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)max ? size - (long)max : 0;
    fseek(f, from, SEEK_SET);
    char *buf = calloc(1, max + 1);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    size_t n = fread(buf, 1, max, f);
    fclose(f);
    buf[n] = 0;
    char *start = buf;
    if (from > 0) {
        char *nl = strchr(buf, '\n');
        if (nl && nl[1])
            start = nl + 1;
    }
    char *r = strdup(start);
    free(buf);
    return r;
}

/* ---- the run pool --------------------------------------------------------- */

#define CR_MAX_TIERS 16

typedef struct cr_job {
    struct cr_job *next;
    char tenant[128];
    pb_cr_job_fn fn;
    void *arg;
} cr_job;

typedef struct cr_tier {
    char name[64];
    cr_job *head, *tail;
    cr_job *first_last; /* the last of the jobs queued with `first` (at the head) */
} cr_tier;

struct pb_cr_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cr_tier tiers[CR_MAX_TIERS];
    int ntiers;
    int next_tier; /* round-robin cursor */
    json_t *busy;  /* tenant -> true: queued or running */
    int stopping;
    int nworkers;
    pthread_t *threads;
    void (*on_done)(void *ud, const char *tenant);
    void *on_done_ud;
};

/* Caller holds mu. The tier whose turn it is among those with work, the
 * cursor moved past it; -1 when none has work. */
static int take_tier(pb_cr_pool *p, int advance)
{
    for (int i = 0; i < p->ntiers; i++) {
        int t = (p->next_tier + i) % p->ntiers;
        if (p->tiers[t].head) {
            if (advance)
                p->next_tier = (t + 1) % p->ntiers;
            return t;
        }
    }
    return -1;
}

static void *worker(void *arg)
{
    pb_cr_pool *p = arg;
    pb_thread_name("tofu", NULL);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        int t;
        while (!p->stopping && (t = take_tier(p, 1)) < 0)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stopping)
            break;
        cr_job *j = p->tiers[t].head;
        p->tiers[t].head = j->next;
        if (!p->tiers[t].head)
            p->tiers[t].tail = NULL;
        if (p->tiers[t].first_last == j)
            p->tiers[t].first_last = NULL;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg);
        pthread_mutex_lock(&p->mu);
        json_object_del(p->busy, j->tenant);
        /* After the tenant is free: whoever is told may submit its next run. */
        if (p->on_done) {
            pthread_mutex_unlock(&p->mu);
            p->on_done(p->on_done_ud, j->tenant);
            pthread_mutex_lock(&p->mu);
        }
        free(j);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int pb_cr_pool_new(int workers, pb_cr_pool **out, pb_err *err)
{
    *out = NULL;
    if (workers < 1 || workers > 64)
        return pb_err_set(err, PB_EINVAL, "pool size %d: must be 1..64", workers);
    pb_cr_pool *p = calloc(1, sizeof *p);
    if (!p)
        return pb_err_oom(err);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->busy = json_object();
    p->threads = calloc((size_t)workers, sizeof *p->threads);
    if (!p->busy || !p->threads) {
        json_decref(p->busy);
        free(p->threads);
        free(p);
        return pb_err_oom(err);
    }
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            p->nworkers = i;
            pb_cr_pool_free(p);
            return pb_err_set(err, PB_EIO, "starting run pool worker %d", i);
        }
        p->nworkers = i + 1;
    }
    *out = p;
    return 0;
}

static int pool_submit(pb_cr_pool *p, const char *tenant, const char *tier, int first, pb_cr_job_fn fn,
                       void *arg, pb_err *err)
{
    if (!tenant || strlen(tenant) >= sizeof(((cr_job *)0)->tenant))
        return pb_err_set(err, PB_EINVAL, "run pool: bad tenant name");
    const char *tn = tier && *tier ? tier : "-";
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        return pb_err_set(err, PB_ECANCELED, "run pool: shutting down");
    }
    if (json_object_get(p->busy, tenant)) {
        pthread_mutex_unlock(&p->mu);
        return pb_err_set(err, PB_EEXIST, "tenant %s has a run queued or running", tenant);
    }
    int t = -1;
    for (int i = 0; i < p->ntiers; i++)
        if (strcmp(p->tiers[i].name, tn) == 0)
            t = i;
    if (t < 0) {
        if (p->ntiers == CR_MAX_TIERS) {
            t = CR_MAX_TIERS - 1; /* more tiers than slots: the last slot is shared */
        } else {
            t = p->ntiers++;
            snprintf(p->tiers[t].name, sizeof p->tiers[t].name, "%s", tn);
        }
    }
    cr_job *j = calloc(1, sizeof *j);
    if (!j) {
        pthread_mutex_unlock(&p->mu);
        return pb_err_oom(err);
    }
    snprintf(j->tenant, sizeof j->tenant, "%s", tenant);
    j->fn = fn;
    j->arg = arg;
    cr_tier *tr = &p->tiers[t];
    if (first) { /* after the other `first` jobs, before the rest */
        cr_job **at = tr->first_last ? &tr->first_last->next : &tr->head;
        j->next = *at;
        *at = j;
        if (tr->tail == tr->first_last)
            tr->tail = j;
        tr->first_last = j;
    } else {
        if (tr->tail)
            tr->tail->next = j;
        else
            tr->head = j;
        tr->tail = j;
    }
    json_object_set_new(p->busy, tenant, json_true());
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void pb_cr_pool_on_done(pb_cr_pool *p, void (*fn)(void *ud, const char *tenant), void *ud)
{
    pthread_mutex_lock(&p->mu);
    p->on_done = fn;
    p->on_done_ud = ud;
    pthread_mutex_unlock(&p->mu);
}

int pb_cr_pool_submit(pb_cr_pool *p, const char *tenant, const char *tier, pb_cr_job_fn fn, void *arg,
                      pb_err *err)
{
    return pool_submit(p, tenant, tier, 0, fn, arg, err);
}

int pb_cr_pool_submit_first(pb_cr_pool *p, const char *tenant, const char *tier, pb_cr_job_fn fn, void *arg,
                            pb_err *err)
{
    return pool_submit(p, tenant, tier, 1, fn, arg, err);
}

int pb_cr_pool_busy(pb_cr_pool *p, const char *tenant)
{
    pthread_mutex_lock(&p->mu);
    int b = json_object_get(p->busy, tenant) != NULL;
    pthread_mutex_unlock(&p->mu);
    return b;
}

int pb_cr_pool_stopping(pb_cr_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int s = p->stopping;
    pthread_mutex_unlock(&p->mu);
    return s;
}

json_t *pb_cr_pool_peek_order(pb_cr_pool *p, size_t n)
{
    json_t *order = json_array();
    pthread_mutex_lock(&p->mu);
    cr_job *cur[CR_MAX_TIERS];
    for (int i = 0; i < p->ntiers; i++)
        cur[i] = p->tiers[i].head;
    int next = p->next_tier;
    while (json_array_size(order) < n) {
        int found = -1;
        for (int i = 0; i < p->ntiers; i++) {
            int t = (next + i) % p->ntiers;
            if (cur[t]) {
                found = t;
                break;
            }
        }
        if (found < 0)
            break;
        json_array_append_new(order, json_string(cur[found]->tenant));
        cur[found] = cur[found]->next;
        next = (found + 1) % p->ntiers;
    }
    pthread_mutex_unlock(&p->mu);
    return order;
}

void pb_cr_pool_free(pb_cr_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->threads[i], NULL);
    /* Queued jobs still own their argument: run them so they can see the
     * pool stopping and release it. */
    for (int t = 0; t < p->ntiers; t++) {
        cr_job *j = p->tiers[t].head;
        while (j) {
            cr_job *n = j->next;
            j->fn(j->arg);
            free(j);
            j = n;
        }
    }
    json_decref(p->busy);
    free(p->threads);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ---- lock holders --------------------------------------------------------- */

long long pb_cr_proc_start_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Field 22 (starttime), counted after the ")" that ends comm. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2;
    int field = 3;
    while (*p && field < 22) {
        if (*p == ' ')
            field++;
        p++;
    }
    return field == 22 ? strtoll(p, NULL, 10) : -1;
}

int pb_cr_holder_self(char *out, size_t n, pb_err *err)
{
    char host[128] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        return pb_err_set(err, PB_EIO, "gethostname: %s", strerror(errno));
    long long st = pb_cr_proc_start_ticks(getpid());
    if ((size_t)snprintf(out, n, "%s:%d:%lld", host, (int)getpid(), st) >= n)
        return pb_err_set(err, PB_ETOOLARGE, "holder identity too long");
    return 0;
}

pb_cr_holder_state pb_cr_holder_check(const char *holder, const char *this_host,
                                      long long (*stat_start)(pid_t pid))
{
    if (!holder || !this_host)
        return PB_CR_HOLDER_UNKNOWN;
    const char *c2 = strrchr(holder, ':');
    if (!c2 || c2 == holder)
        return PB_CR_HOLDER_UNKNOWN;
    const char *c1 = c2 - 1;
    while (c1 > holder && *c1 != ':')
        c1--;
    if (*c1 != ':')
        return PB_CR_HOLDER_UNKNOWN;
    size_t hl = (size_t)(c1 - holder);
    if (hl != strlen(this_host) || strncmp(holder, this_host, hl) != 0)
        return PB_CR_HOLDER_UNKNOWN;
    char *end;
    long pid = strtol(c1 + 1, &end, 10);
    if (end != c2 || pid <= 0)
        return PB_CR_HOLDER_UNKNOWN;
    long long want = strtoll(c2 + 1, &end, 10);
    if (*end || c2[1] == 0)
        return PB_CR_HOLDER_UNKNOWN;
    long long got = (stat_start ? stat_start : pb_cr_proc_start_ticks)((pid_t)pid);
    if (got < 0 || got != want)
        return PB_CR_HOLDER_DEAD;
    return PB_CR_HOLDER_ALIVE;
}

pb_cr_holder_state pb_cr_lock_state(const char *who, const char *this_host, const char *prev_holder,
                                    const char *recorded_host, int (*pod_gone)(const char *host, void *ud),
                                    void *ud, long long (*stat_start)(pid_t pid))
{
    const char *at = who ? strrchr(who, '@') : NULL;
    if (!at || !at[1] || !this_host || !*this_host)
        return PB_CR_HOLDER_UNKNOWN;
    const char *host = at + 1;
    if (strcmp(host, this_host) == 0)
        return prev_holder && *prev_holder ? pb_cr_holder_check(prev_holder, this_host, stat_start)
                                           : PB_CR_HOLDER_UNKNOWN;
    if (!pod_gone || !recorded_host || strcmp(recorded_host, host) != 0)
        return PB_CR_HOLDER_UNKNOWN;
    int gone = pod_gone(host, ud);
    return gone == 1 ? PB_CR_HOLDER_DEAD : gone == 0 ? PB_CR_HOLDER_ALIVE : PB_CR_HOLDER_UNKNOWN;
}
