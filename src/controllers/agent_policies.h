/*
 * agent_policies.h - the AgentPolicies of each tenant namespace, compiled
 * against the tenant's DataModel and its Plan's agent limits, for the two
 * readers that decide with them: the admission webhooks (every replica,
 * leader or not) and the AgentPolicy controller (status, database grants).
 *
 * A namespace's view is rebuilt only when something it depends on changed:
 * the policies in it (uid, generation), the tenant (its plan and
 * DataModel), the Plan (generation) or the DataModel's applied model
 * (content). Checking that costs a few cache reads and a hash; compiling
 * happens once per change, not once per request. Views are immutable and
 * reference-counted, so a webhook keeps deciding on the view it took while
 * a newer one replaces it.
 *
 * Namespace -> tenant: the namespace the Tenant reconciler made for it
 * ("tenant-<name>", tenantspec.h) and recorded in its status.namespace;
 * anything else is not a tenant namespace and its view has no tenant (so
 * every decision there denies). The DataModel is the one the tenant's
 * database was provisioned from (status.database.dataModel), at the version
 * the DataModel controller last applied (status.appliedModel); without it
 * every policy of the namespace is broken ("NoDataModel"), which denies.
 *
 * Ownership: agentpol_get returns a new reference released with
 * agentpol_put; everything reached through a view is owned by it. The
 * cache borrows the stores (they outlive it).
 */
#ifndef PAYBILL_CONTROLLERS_AGENT_POLICIES_H
#define PAYBILL_CONTROLLERS_AGENT_POLICIES_H

#include <jansson.h>
#include <stddef.h>

#include "agent/decide.h"
#include "agent/policy.h"
#include "agent/polset.h"
#include "kube/store.h"
#include "provision/datamodel.h"
#include "util/err.h"

typedef struct agentpol_cache agentpol_cache;
typedef struct agentpol_view agentpol_view;

typedef struct agentpol_sources {
    store *policies; /* AgentPolicies, all namespaces */
    store *tenants, *plans, *datamodels;
} agentpol_sources;

int agentpol_cache_new(const agentpol_sources *src, agentpol_cache **out, pb_err *e);
void agentpol_cache_free(agentpol_cache *c);

/* The current view of namespace ns (compiled now if anything changed).
 * PB_ENOMEM is the only failure: a broken policy or a missing tenant is
 * a view that denies, not an error. */
int agentpol_get(agentpol_cache *c, const char *ns, agentpol_view **out, pb_err *e);
void agentpol_put(agentpol_view *v); /* NULL is fine */

const char *agentpol_view_namespace(const agentpol_view *v);
/* The tenant's name, or NULL when ns is no tenant's namespace. */
const char *agentpol_view_tenant(const agentpol_view *v);
/* The model the policies were compiled against, or NULL; then
 * agentpol_view_problem says why ("tenant acme has no database yet"...). */
const pb_dm_model *agentpol_view_model(const agentpol_view *v);
const char *agentpol_view_problem(const agentpol_view *v); /* "" when none */
/* The Plan's agent limits (PB_POL_LIMITS_UNSET fields when none). */
const pb_pol_limits *agentpol_view_plan_limits(const agentpol_view *v);
/* The Plan's spec.features (an array, possibly empty; borrowed). */
const json_t *agentpol_view_plan_features(const agentpol_view *v);
int agentpol_view_has_feature(const agentpol_view *v, const char *feature); /* 1 / 0 */

/* Every AgentPolicy of the namespace, compiled (broken ones included),
 * sorted by name, and the set decisions use. */
size_t agentpol_view_count(const agentpol_view *v);
const pb_pol *agentpol_view_at(const agentpol_view *v, size_t i);
const pb_pol *agentpol_view_find(const agentpol_view *v, const char *name); /* NULL: none */
const pb_polset *agentpol_view_set(const agentpol_view *v);

/* Decide every step of w for submitter u (out: one decision per step),
 * the way admission and the executor both must:
 *   - policy_ref NULL or an enforcing policy: every enforcing policy of the
 *     namespace whose subjects match decides (pb_decide_workflow: deny
 *     overrides, default deny);
 *   - policy_ref naming an Audit policy (which must apply to u): that policy
 *     alone decides and *audit_only is set: the workflow may be admitted
 *     and run as a dry run, evaluated and recorded, never enforced (how a
 *     stricter policy is tried beside the enforcing one).
 * Returns the index of the first denied step or -1; *audit_only may be
 * NULL. A policy_ref that does not exist is the caller's to refuse. */
int agentpol_decide(const agentpol_view *v, const pb_subj_user *u, const pb_steps *w, const char *policy_ref,
                    pb_decision *out, int *audit_only);

/* Compile one AgentPolicy object (e.g. from an AdmissionReview) the way
 * the view compiles its own: against the view's model and plan limits.
 * Same contract as pb_pol_compile. */
int agentpol_compile(const agentpol_view *v, const json_t *obj, pb_pol **out, pb_err *e);

#endif
