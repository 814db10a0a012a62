/*
 * operator.h - what every Paybill reconciler shares: the API client, the
 * informer caches it reads from, the event recorder, the operator's
 * settings and a clock. One operator_ctx is built by the manager wiring
 * (operator.c) and passed to each controller as its `user` pointer.
 *
 * Reconcilers read from the caches (never list the API server) and write
 * through the client: children with server-side apply (idempotent, and
 * drift is put back by re-applying), status through the status subresource
 * and only when it changed.
 *
 * Ownership: everything here is owned by operator.c; reconcilers borrow.
 */
#ifndef PAYBILL_CONTROLLERS_OPERATOR_H
#define PAYBILL_CONTROLLERS_OPERATOR_H

#include <jansson.h>
#include <pthread.h>
#include <time.h>

#include "kube/client.h"
#include "kube/controller.h"
#include "kube/store.h"
#include "util/err.h"

#define OPERATOR_FIELD_MANAGER "paybill-operator"
#define OPERATOR_TENANT_FINALIZER "paybill.dev/tenant-cleanup"
/* A new value asks for the tenant's audit chain to be verified (audit_controller.c). */
#define OPERATOR_VERIFY_AUDIT_ANNOTATION "paybill.dev/verify-audit"
#define OPERATOR_GROUP "paybill.dev"
#define OPERATOR_VERSION "v1alpha1"
#define OPERATOR_API_VERSION "paybill.dev/v1alpha1"

/* The children kinds a Tenant has, in the order the caches are kept. Each
 * has a store in operator_ctx.children, filled by an informer of the
 * objects labelled app.kubernetes.io/managed-by=paybill-operator (all
 * namespaces; configmaps: the system namespace only), except
 * OP_CHILD_SECRETS: the operator may not list or watch Secrets, so that
 * store holds what the Tenant reconciler last read with a GET. */
enum {
    OP_CHILD_NAMESPACES,
    OP_CHILD_RESOURCEQUOTAS,
    OP_CHILD_LIMITRANGES,
    OP_CHILD_NETWORKPOLICIES,
    OP_CHILD_SERVICEACCOUNTS,
    OP_CHILD_ROLEBINDINGS,
    OP_CHILD_CONFIGMAPS,
    OP_CHILD_SECRETS,
    OP_CHILD_COUNT
};

typedef struct operator_ctx operator_ctx;
struct agentpol_cache;
struct wf_adm_ctx;

enum { OP_DB_SHARED = 0, OP_DB_DEDICATED = 1, OP_DB_COUNT };
typedef struct operator_db {
    const struct opconfig_db_server *server; /* NULL: none of this role configured */
    struct pb_tdb *tdb;                      /* NULL until connected */
} operator_db;

typedef void (*operator_event_fn)(void *ud, const json_t *obj, const char *type,
                                  const char *reason, const char *message);

/* What a child watch's predicates are given: the operator and which child
 * kind the watch is for (operator_child_added, operator_child_updated). */
typedef struct operator_child_watch {
    operator_ctx *op;
    int kind;
} operator_child_watch;

struct operator_ctx {
    kube_client *client;
    const char *system_ns;          /* where pool ConfigMaps live */
    store *plans, *tenants, *subscriptions;
    store *children[OP_CHILD_COUNT];
    controller *plan_ctrl, *sub_ctrl, *tenant_ctrl, *dm_ctrl;
    operator_event_fn event;        /* may be NULL */
    void *event_ud;
    time_t (*now)(void);            /* injectable clock; NULL = time() */
    store *datamodels;
    /* PostgreSQL servers from --config, by role: OP_DB_SHARED hosts rls
     * and schema tenants (and database tenants when no dedicated server is
     * configured), OP_DB_DEDICATED hosts silo (database) tenants. Each is
     * connected lazily by operator_db_connect(), so a server that is down
     * holds tenants at DatabaseReady=False (with backoff) instead of
     * stopping the operator, and recovery needs no manual step. */
    operator_db dbs[OP_DB_COUNT];
    const char *snapshot_dir;
    pthread_mutex_t db_mu;          /* serialises connecting and provisioning calls */
    struct billing *billing;        /* billing webhooks + applier (billing.h); NULL: off */
    /* The agent framework: AgentPolicies and Workflows (all namespaces),
     * the compiled per-namespace policies the webhooks and the AgentPolicy
     * reconciler share, and the admission webhooks' context. */
    store *agentpolicies, *workflows, *approvals;
    controller *policy_ctrl, *workflow_ctrl, *audit_ctrl;
    struct agentpol_cache *agent_policies;
    struct wf_adm_ctx *admission;
    /* Namespace -> digest of the agent grants this process applied
     * (agentpolicy_database.c); guarded by agent_db_mu. */
    pthread_mutex_t agent_db_mu;
    json_t *agent_db_applied;
    json_t *agent_inflight; /* tenant -> workflow steps running now (agent_db_mu) */
    /* "resource/key" -> resourceVersions this operator wrote over and its
     * cache has not moved past yet (operator_cache_behind). */
    pthread_mutex_t echo_mu;
    json_t *echo;
    /* The versions the tenant controller's child writes returned, to know
     * their echoes (write_echo.h); the child watches' predicate context. */
    struct wecho *child_echoes;
    operator_child_watch child_watch[OP_CHILD_COUNT];
    /* Plan name -> when its status was last written, and when a count
     * write put off is due (plan_controller.c). */
    pthread_mutex_t plan_mu;
    json_t *plan_written;
    json_t *plan_count_due;
    /* Signed licences (licence_controller.h). */
    controller *licence_ctrl;
    struct licence_state *licence;
    /* Cloud runs through OpenTofu (cloud.h); NULL: no cloud: section. */
    struct cloud *cloud;
    /* The `server` layout's per-tenant servers (tenant_servers.h). */
    struct tsrv_registry *tenant_servers;
};

/* Best effort: the Approval with uid approval_uid in namespace ns says it
 * was used (phase Used, usedAt now, usedBy by); a failed write is logged.
 * What makes an Approval single-use is the caller's own record. */
void operator_mark_approval_used(operator_ctx *op, const char *ns, const char *approval_uid, const char *by,
                                 const char *now);

/* Connect op->dbs[which] if configured and not yet connected (caller
 * holds db_mu): reads the admin Secret and opens the pool. 0, PB_EINVAL
 * when that role is not configured, or another negative code with err
 * naming the server. */
int operator_db_connect(operator_ctx *op, int which, pb_err *err);

/* The admin conninfo (libpq key='value', password included: wipe and
 * free it) of the configured server of role `which`, read from its Secret.
 * PB_EINVAL when that role is not configured. */
int operator_db_admin_conninfo(operator_ctx *op, int which, char **out, pb_err *err);
/* pb_pg_opts.cutoff for every database pool of the operator (ud: the
 * operator_ctx): the API client's cutoff, so that a reconcile waiting on a
 * hung PostgreSQL ends with the shutdown's drain as one waiting on a hung
 * API server does. */
double operator_db_cutoff(void *ud);

/* The GVR of child kind k (static storage). */
const kube_gvr *operator_child_gvr(int k);
extern const kube_gvr OPERATOR_GVR_PLANS, OPERATOR_GVR_TENANTS, OPERATOR_GVR_SUBSCRIPTIONS,
    OPERATOR_GVR_DATAMODELS, OPERATOR_GVR_AGENTPOLICIES, OPERATOR_GVR_WORKFLOWS, OPERATOR_GVR_APPROVALS;

time_t operator_now(const operator_ctx *op);
/* RFC 3339 "now" into buf (PB_TIME_BUF bytes). */
const char *operator_now_str(const operator_ctx *op, char *buf, size_t n);

/* One object under reconcile: a private copy of the cached object whose
 * status the reconciler edits, and the cached status to compare with so
 * that an unchanged status is never written. */
typedef struct operator_obj {
    json_t *obj;        /* deep copy, owned */
    json_t *status;     /* borrowed from obj; always an object */
    json_t *old_status; /* copy of the cached status or NULL, owned */
    long long gen;      /* metadata.generation */
    char now[48];       /* RFC 3339, for conditions */
} operator_obj;

/* 0 with *o filled, or PB_ENOTFOUND when `key` is not in the cache (the
 * object is gone: nothing to do). */
int operator_obj_begin(operator_ctx *op, store *st, const char *key, operator_obj *o);

/* Release o without writing anything. */
void operator_obj_release(operator_obj *o);

/* Write o's status if it changed (setting observedGeneration) and release
 * o. A conflict or a vanished object requeues (the cache will catch up);
 * another failure is an error with err saying "<what> <key>: writing
 * status: ..."; otherwise `then`. For the object's own reconciler: the
 * write's echo re-queues neither a Tenant nor a Subscription
 * (OP_ECHO_TENANT_STATUS). */
controller_result operator_obj_finish(operator_ctx *op, operator_obj *o, const kube_gvr *gvr,
                                      const char *what, const char *key, controller_result then,
                                      pb_err *err);

/* Record an Event about obj (type "Normal" | "Warning"), printf-style. */
void operator_event(operator_ctx *op, const json_t *obj, const char *type, const char *reason,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Waiting for our own writes to come back. A write comes back through
 * the watch; other events often re-queue the object sooner, while the
 * cache still holds the version that write replaced. Working from it
 * repeats the work and loses the write to a 409 (a quarter of the tenants
 * in a cold start: two controllers write a Tenant's status). Status writes
 * (operator_write_status, operator_obj_finish) note the version they
 * replaced; operator_cache_behind says whether the cache still shows such
 * a version for key (and forgets the notes once it does not). The caller
 * then waits: for the echo, or a moment (operator_requeue_conflict) when
 * its watch predicate might filter the echo out. */
void operator_resource_version(const json_t *obj, char *buf, size_t n); /* "" when none */
void operator_note_written_over(operator_ctx *op, const kube_gvr *gvr, const char *key, const char *rv);
int operator_cache_behind(operator_ctx *op, store *st, const kube_gvr *gvr, const char *key);

/* After a write lost to a newer version (PB_ECONFLICT): try again in
 * OPERATOR_CONFLICT_RETRY_S, not through the queue's rate limiter. The
 * newer version's watch event usually re-queues the object anyway; the
 * limiter's overall bucket (10 a second, as client-go's) made the 5,000
 * conflicts of a 10,000-tenant cold start drain for nine minutes after
 * every tenant was Active (bench/RESULTS-operator.md). */
#define OPERATOR_CONFLICT_RETRY_S 1.0
controller_result operator_requeue_conflict(void);

/* Write obj's status through the status subresource if it differs from
 * `old_status` (compared as JSON). obj carries metadata.resourceVersion:
 * a stale one gives PB_ECONFLICT (the caller requeues). On success obj's
 * metadata.resourceVersion is updated to the server's. The write's echo
 * re-queues a Subscription (the billing applier writes what its reconciler
 * reads), not a Tenant (OP_ECHO_TENANT_STATUS). */
int operator_write_status(operator_ctx *op, const kube_gvr *gvr, json_t *obj,
                          const json_t *old_status, pb_err *err);

/* The child watches' predicates (pred_ud: the kind's operator_child_watch).
 * The echo of a child write of ours (operator_apply_child, or a create
 * between operator_child_write_begin and _end) re-queues nothing; any other add
 * passes, and any other update when it changes more than status
 * (operator_pred_beyond_status). */
int operator_child_added(json_t *obj, void *ud);
int operator_child_updated(json_t *old_obj, json_t *new_obj, void *ud);

/* The write-echo kinds of status writes whose echo does not re-queue the
 * object: every Tenant status write of ours, and the subscription
 * reconciler's own (operator_obj_finish) Subscription status writes, not
 * the billing applier's (operator_write_status). The object is re-queued
 * when an event held back during the write was someone else's. */
#define OP_ECHO_TENANT_STATUS OP_CHILD_COUNT
#define OP_ECHO_SUBSCRIPTION_STATUS (OP_CHILD_COUNT + 1)

/* The tenant and subscription controllers' predicates on their own kind's
 * updates (pred_ud: the operator_ctx): every change passes but the echo of
 * a status write of ours, so a status edited by anyone else is put back at
 * once. */
int operator_tenant_updated(json_t *old_obj, json_t *new_obj, void *ud);
int operator_subscription_updated(json_t *old_obj, json_t *new_obj, void *ud);

/* Around a write of obj, a tenant's child of kind k (its metadata gives
 * the key its watch events carry; its labels name the tenant, re-queued
 * when an event held back during the write was not the write's own:
 * write_echo.h). rv is what the write returned, NULL when it failed. */
void operator_child_write_begin(operator_ctx *op, int k, const json_t *obj);
void operator_child_write_end(operator_ctx *op, int k, json_t *obj, const char *rv);

/* operator_apply of a tenant's child of kind k, its echo noted. */
int operator_apply_child(operator_ctx *op, int k, const char *ns, json_t *obj, pb_err *err);

/* operator_apply_child for n children sent together (kube_write_many): for
 * children that do not depend on one another. Each item gets its own rc and
 * err; returns the first non-zero rc in items order, or 0. */
typedef struct operator_child_apply {
    int k;            /* in: the child's kind */
    const char *ns;   /* in */
    json_t *obj;      /* in: borrowed */
    int rc;           /* out */
    pb_err err;       /* out */
} operator_child_apply;
int operator_apply_children(operator_ctx *op, operator_child_apply *items, size_t n);

/* Server-side apply of obj (force: the operator owns these fields). */
int operator_apply(operator_ctx *op, const kube_gvr *gvr, const char *ns, json_t *obj,
                   const char *field_manager, pb_err *err);

/* Reconcilers, registered by operator.c. ctx->user is the operator_ctx. */
controller_result plan_reconcile(controller_ctx *ctx, const char *key, pb_err *err);
/* Seconds plan_reconcile waits before writing status over old_status (0:
 * at once): a change of the tenant count alone is written at most once a
 * second per plan (op->plan_written), anything else at once. */
double plan_count_write_delay(operator_ctx *op, const char *plan, const json_t *old_status,
                              const json_t *status);
/* A count write put off by wait_s: until then the reconcile that will make
 * it is already queued, and plan_map_tenant leaves tenant changes to it.
 * plan_reconcile clears it first thing (plan_count_clear), before it
 * counts, so no change can fall between a count and the next one. */
void plan_count_defer(operator_ctx *op, const char *plan, double wait_s);
void plan_count_clear(operator_ctx *op, const char *plan);
/* The tenant -> Plan map of the Plan controller: operator_map_tenant_to_plan,
 * except while that plan's count write is put off (see above). */
json_t *plan_map_tenant(json_t *tenant, void *ud);
controller_result subscription_reconcile(controller_ctx *ctx, const char *key, pb_err *err);
controller_result tenant_reconcile(controller_ctx *ctx, const char *key, pb_err *err);
controller_result datamodel_reconcile(controller_ctx *ctx, const char *key, pb_err *err);
controller_result agentpolicy_reconcile(controller_ctx *ctx, const char *key, pb_err *err);
controller_result workflow_reconcile(controller_ctx *ctx, const char *key, pb_err *err);
controller_result audit_reconcile(controller_ctx *ctx, const char *key, pb_err *err);
/* Update predicate of the audit controller: the verify-audit annotation
 * changed (every other Tenant write is none of its business). */
int audit_requested(json_t *old_obj, json_t *new_obj, void *ud);
/* Add predicate of the audit controller: a verification was asked and not
 * answered yet (a start runs nothing for the other tenants). */
int audit_pending(json_t *tenant, void *ud);

/* Map functions for watches (new JSON array of keys, or NULL). ud is the
 * operator_ctx. */
json_t *operator_map_plan_to_tenants(json_t *plan, void *ud);
json_t *operator_map_subscription_to_tenant(json_t *sub, void *ud);
json_t *operator_map_plan_to_subscriptions(json_t *plan, void *ud);
json_t *operator_map_tenant_to_plan(json_t *tenant, void *ud);
json_t *operator_map_child_to_tenant(json_t *child, void *ud);
json_t *operator_map_tenant_to_datamodel(json_t *tenant, void *ud);
json_t *operator_map_tenant_to_agentpolicies(json_t *tenant, void *ud);
json_t *operator_map_agentpolicy_to_namespace(json_t *policy, void *ud);
json_t *operator_map_plan_to_agentpolicies(json_t *plan, void *ud);
json_t *operator_map_datamodel_to_agentpolicies(json_t *dm, void *ud);
/* An Approval -> its Workflow; a Tenant -> the Workflows of its namespace. */
json_t *operator_map_to_workflows(json_t *obj, void *ud);

/* keys itself when it has any, else NULL (and keys released): what a
 * controller_map_fn returns. */
json_t *operator_nonempty_keys(json_t *keys);

/* Cache indexes (by dotted path) the watch maps and lookups use. */
#define OPERATOR_INDEX_SUB_TENANT "spec.tenantRef.name"
#define OPERATOR_INDEX_SUB_PLAN "spec.planRef.name"
#define OPERATOR_INDEX_TENANT_PLAN "status.plan"
#define OPERATOR_INDEX_TENANT_DATAMODEL "status.database.dataModel"

/* Register an index named `path` holding the string at that dotted path
 * (path must be a string literal: it is kept). */
int operator_add_path_index(store *st, const char *path, pb_err *err);

/* Append to `keys` (no duplicates) the string at key_path of every object
 * in st whose string at match_path equals value: an index lookup when
 * match_path is a registered index, a scan otherwise. */
void operator_keys_where(store *st, const char *match_path, const char *value,
                         const char *key_path, json_t *keys);

/* Update predicates (see controller_watches_filtered): the value at the
 * dotted path `ud` differs between old and new; never (adds and deletes
 * only). */
int operator_pred_path_changed(json_t *old_obj, json_t *new_obj, void *ud);
int operator_pred_never(json_t *old_obj, json_t *new_obj, void *ud);
/* Something besides status and the server's bookkeeping
 * (metadata.resourceVersion, metadata.managedFields) changed: what the
 * Tenant reconciler compares in its children. A quota's status, rewritten
 * by kube-controller-manager on every pod created or deleted in the tenant's
 * namespace, does not re-run the tenant. Relists and deletes always pass. */
int operator_pred_beyond_status(json_t *old_obj, json_t *new_obj, void *ud);

/* The live Subscriptions of a tenant (not canceled, or not yet computed),
 * from the cache: a new array. */
json_t *operator_tenant_subscriptions(operator_ctx *op, const char *tenant, int live_only);

#endif
