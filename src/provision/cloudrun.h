/*
 * cloudrun.h - the pieces of a tenant's OpenTofu/Terraform run that need no
 * Kubernetes: the root module rendered as .tf.json, the digest of a saved
 * plan, a subprocess runner with a timeout that kills the whole process
 * group, a bounded run pool that is fair across tiers and runs at most one
 * job per tenant, and the lock-holder identity with the "provably dead"
 * decision. controllers/cloud_controller.c drives them.
 *
 * Prefix pb_cr_. Functions return 0 or a negative PB_E* code and fill a
 * pb_err. Ownership is stated per function.
 */
#ifndef PAYBILL_PROVISION_CLOUDRUN_H
#define PAYBILL_PROVISION_CLOUDRUN_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* ---- the root module ------------------------------------------------------ */

typedef struct pb_cr_backend {
    const char *kind;          /* "kubernetes" | "pg" */
    const char *namespace_;    /* kubernetes: the system namespace */
    const char *secret_suffix; /* kubernetes: "paybill-<tenant>" */
    const char *config_path;   /* kubernetes: kubeconfig path, NULL: in-cluster */
    const char *conn_str;      /* pg: connection string; NULL: the tool reads
                                  PG_CONN_STR from its environment (so a
                                  password stays out of the module's files) */
    const char *schema_name;   /* pg: schema per tenant */
} pb_cr_backend;

typedef struct pb_cr_inputs {
    const char *tenant, *tier, *region;
    const char *module_source; /* absolute path of the Plan's module */
    const json_t *labels;      /* object of strings, or NULL */
    const json_t *variables;   /* the Plan's spec.cloud.variables, or NULL */
    pb_cr_backend backend;
} pb_cr_inputs;

/* The root module: a terraform block with the backend, `module "tenant"`
 * calling module_source with tenant, tier, region, labels and every Plan
 * variable (a Plan variable named like one of the four is refused, as is a
 * name that is not an identifier), and the outputs `outputs` and
 * `sensitive_outputs` (sensitive) re-exported from the module: the
 * interface every module in modules/ has (two maps of strings).
 * *out is a new reference. */
int pb_cr_render_root(const pb_cr_inputs *in, json_t **out, pb_err *err);

/* sha256 hex (65 bytes with NUL) of json dumped with sorted keys, compact. */
int pb_cr_json_digest(const json_t *j, char out[65], pb_err *err);

/* The digest of a saved plan from `tofu show -json PLANFILE`: the
 * resource_changes, output_changes and the configuration (not the
 * timestamp or the tool's version), so the same change planned twice has
 * the same digest. Counts changes other than no-op/read into *changes and
 * deletes (delete, or replace) into *deletes (either may be NULL). */
int pb_cr_plan_digest(const json_t *show, char out[65], int *changes, int *deletes, pb_err *err);

/* ---- subprocesses --------------------------------------------------------- */

typedef struct pb_cr_exec_opts {
    const char *const *argv; /* argv[0] a path; NULL-terminated */
    const char *cwd;
    const char *const *env;  /* extra NAME=value, NULL-terminated, or NULL */
    const char *log_path;    /* stdout and stderr appended here */
    long long timeout_ms;    /* <= 0: none */
    /* Called once with the child's pid (its own process group) right after
     * the fork, e.g. to record it; may be NULL. */
    void (*started)(void *ud, pid_t pid);
    void *ud;
} pb_cr_exec_opts;

/* Run argv in its own process group, wait. 0 with *exit_code (the exit
 * status, or 128+signal); PB_ETIMEOUT after killing the group (SIGTERM,
 * then SIGKILL 5 s later); PB_EIO when it cannot be started. */
int pb_cr_exec(const pb_cr_exec_opts *o, int *exit_code, pb_err *err);

/* The last `max` bytes of a file, starting at a line when it can: a new
 * malloc'd string (the caller frees), "" when the file is missing. */
char *pb_cr_tail(const char *path, size_t max);

/* ---- the run pool --------------------------------------------------------- */

typedef struct pb_cr_pool pb_cr_pool;
typedef void (*pb_cr_job_fn)(void *arg);

/* `workers` threads (1..64). Each job names a tenant and a tier: a tenant
 * has at most one job queued or running; workers take the oldest job of the
 * next tier in round-robin order, so no tier starves another. *out owned
 * by the caller, released with pb_cr_pool_free. */
int pb_cr_pool_new(int workers, pb_cr_pool **out, pb_err *err);

/* Queue fn(arg). PB_EEXIST when the tenant has a job queued or running
 * (the caller keeps arg), PB_ECANCELED after shutdown started. On 0 the
 * pool calls fn exactly once on a worker; fn owns arg. */
int pb_cr_pool_submit(pb_cr_pool *p, const char *tenant, const char *tier, pb_cr_job_fn fn, void *arg,
                      pb_err *err);

/* As pb_cr_pool_submit, ahead of the tier's other queued jobs (after those
 * queued this way before): work that finishes what a tenant started (an
 * approved apply, a destroy) goes before new plans, so a burst of new
 * tenants becomes ready one by one instead of all at the end. */
int pb_cr_pool_submit_first(pb_cr_pool *p, const char *tenant, const char *tier, pb_cr_job_fn fn, void *arg,
                            pb_err *err);

/* fn(ud, tenant) is called on the worker after each job, once the tenant
 * is no longer busy (so fn may lead to its next submit); set it before the
 * first submit. */
void pb_cr_pool_on_done(pb_cr_pool *p, void (*fn)(void *ud, const char *tenant), void *ud);

/* 1 when the tenant has a job queued or running. */
int pb_cr_pool_busy(pb_cr_pool *p, const char *tenant);

/* Stop taking jobs, run none of the queued ones (their fn is called with
 * the pool stopping: see pb_cr_pool_stopping), join the workers, free. */
void pb_cr_pool_free(pb_cr_pool *p);
int pb_cr_pool_stopping(pb_cr_pool *p);

/* For tests: the order in which the next `n` queued jobs would be taken,
 * as tenant names, without taking them (a new array). */
json_t *pb_cr_pool_peek_order(pb_cr_pool *p, size_t n);

/* ---- lock holders --------------------------------------------------------- */

/* This process's holder identity: "<host>:<pid>:<start ticks>" (the start
 * time from /proc/self/stat makes a reused pid a different holder). */
int pb_cr_holder_self(char *out, size_t n, pb_err *err);

typedef enum { PB_CR_HOLDER_ALIVE = 0, PB_CR_HOLDER_DEAD = 1, PB_CR_HOLDER_UNKNOWN = 2 } pb_cr_holder_state;

/* Whether `holder` is provably gone, seen from this host: DEAD when it is
 * on this host and no process has that pid with that start time; ALIVE
 * when one has; UNKNOWN for another host or an unparsable identity (never
 * broken). `stat_start` reads the start ticks of a pid (returns -1 when
 * there is no such process); NULL uses /proc. */
pb_cr_holder_state pb_cr_holder_check(const char *holder, const char *this_host,
                                      long long (*stat_start)(pid_t pid));

long long pb_cr_proc_start_ticks(pid_t pid);

/* Whether a state lock may be broken: the lock says who took it (`who`,
 * the tool's "user@host"); this runner is on this_host.
 *   - Taken on this host: DEAD or ALIVE by pb_cr_holder_check of
 *     prev_holder, our last runner here that could hold it ("" : UNKNOWN).
 *   - Taken on another host: only when the operator runs in a pod
 *     (pod_gone non-NULL) and that host is the last runner the tenant's
 *     status names (recorded_host), pod_gone(host, ud) decides: 1 the Pod
 *     is gone (so is every process it ran: DEAD), 0 it exists (ALIVE),
 *     negative (UNKNOWN).
 * Anything else is UNKNOWN: a lock someone else took is never broken. */
pb_cr_holder_state pb_cr_lock_state(const char *who, const char *this_host, const char *prev_holder,
                                    const char *recorded_host, int (*pod_gone)(const char *host, void *ud),
                                    void *ud, long long (*stat_start)(pid_t pid));

#endif
