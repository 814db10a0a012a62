/*
 * workflow_admission.h - the agent framework's admission webhooks: who
 * submitted a Workflow (or approved one of its steps) is taken from the API
 * server's AdmissionReview (the authenticated request.userInfo), never from
 * the client, and nothing reaches etcd that the policy engine would deny.
 *
 *   POST /mutate/workflows      CREATE: refuse any client-supplied
 *                               submitter (spec.submitter, or the
 *                               annotations paybill.dev/submitted-by or
 *                               paybill.dev/spec-hash), then stamp
 *                               spec.submitter {username, uid, groups} from
 *                               userInfo and the annotation
 *                               paybill.dev/spec-hash (sha256 of the
 *                               resulting spec, what Approvals bind to).
 *   POST /validate/workflows    CREATE: spec.submitter must equal userInfo
 *                               and the spec-hash annotation the spec; then
 *                               the static checks, against the tenant's
 *                               DataModel and every AgentPolicy of the
 *                               namespace (agent_policies.h): the Plan
 *                               has the "agents" feature; each step
 *                               typed (step.h; at most the Plan's
 *                               stepsPerWorkflow), policyRef (when given)
 *                               an existing policy that applies to the
 *                               submitter, and every step allowed or
 *                               needing approval (decide.h; a denial names
 *                               the policy, rule and field and what would
 *                               make it pass; steps needing approval are
 *                               admitted with a warning).
 *                               UPDATE: spec is immutable for everyone
 *                               (deny naming the first differing field);
 *                               metadata and status changes pass, except
 *                               the two annotations above.
 *   POST /mutate/approvals      approval_admission.c
 *   POST /validate/approvals    approval_admission.c
 *   POST /validate/agentpolicies policy_admission.c
 *
 * All fail closed: a body that is not a v1 AdmissionReview is a 400 (the
 * API server then applies failurePolicy: Fail), a request for another kind
 * is denied, and so is a Workflow whose namespace has no tenant, DataModel
 * or policy to check it against. Decisions are pure functions of the
 * request and the caches, so they are unit-testable without a server.
 *
 * Ownership: *out reviews are new references owned by the caller; the
 * context is borrowed.
 */
#ifndef PAYBILL_CONTROLLERS_WORKFLOW_ADMISSION_H
#define PAYBILL_CONTROLLERS_WORKFLOW_ADMISSION_H

#include <jansson.h>
#include <time.h>

#include "controllers/agent_policies.h"
#include "kube/client.h"
#include "kube/store.h"
#include "server/admission.h"
#include "server/http.h"
#include "util/err.h"

#define WF_ADM_MUTATE_PATH "/mutate/workflows"
#define WF_ADM_VALIDATE_PATH "/validate/workflows"
#define WF_ADM_APPROVAL_MUTATE_PATH "/mutate/approvals"
#define WF_ADM_APPROVAL_VALIDATE_PATH "/validate/approvals"
#define WF_ADM_POLICY_VALIDATE_PATH "/validate/agentpolicies"
#define WF_ADM_SUBMITTED_BY_ANNOTATION "paybill.dev/submitted-by"
#define WF_ADM_SPEC_HASH_ANNOTATION "paybill.dev/spec-hash"
/* The Plan feature (spec.features) agent workflows need: a licence gate. */
#define WF_ADM_AGENTS_FEATURE "agents"
/* AdmissionReviews carry the whole object (twice on UPDATE); a Workflow is
 * bounded by its CRD (1000 steps), this leaves room for that. */
#define WF_ADM_MAX_BODY (3u * 1024 * 1024)
/* Approvals: default and longest validity. */
#define WF_ADM_APPROVAL_DEFAULT_TTL_S 3600
#define WF_ADM_APPROVAL_MAX_TTL_S (7 * 86400)

typedef struct wf_adm_ctx {
    agentpol_cache *policies; /* required: without it every Workflow is denied */
    store *workflows;         /* Approvals look their Workflow up here first */
    kube_client *client;      /* ... then GET it (NULL: cache only) */
    store *tenants;           /* cloud-plan Approvals: the Tenant, from here first */
    const char *system_ns;    /* where cloud-plan Approvals must be (NULL: refused) */
    time_t (*now)(void);      /* NULL: time() */
} wf_adm_ctx;

/* The decisions: a full AdmissionReview response for rq in *out. */
int wf_adm_mutate(const wf_adm_ctx *ctx, const pb_adm_request *rq, json_t **out, pb_err *err);
int wf_adm_validate(const wf_adm_ctx *ctx, const pb_adm_request *rq, json_t **out, pb_err *err);
int wf_adm_approval_mutate(const wf_adm_ctx *ctx, const pb_adm_request *rq, json_t **out, pb_err *err);
int wf_adm_approval_validate(const wf_adm_ctx *ctx, const pb_adm_request *rq, json_t **out,
                             pb_err *err);
int wf_adm_policy_validate(const wf_adm_ctx *ctx, const pb_adm_request *rq, json_t **out,
                           pb_err *err);

/* Register every route above on srv (before pb_http_server_start); ud is
 * the wf_adm_ctx. */
int wf_adm_register(pb_http_server *srv, void *ud, pb_err *err);

/* Shared by the three files (internal). */
/* sha256 hex of spec, keys sorted, compact: what approvals bind to. */
int wf_adm_spec_hash(const json_t *spec, char out[65], pb_err *err);
/* {username, uid?, groups} from the authenticated user; new reference. */
json_t *wf_adm_user_json(const pb_adm_user *u);
/* Path of the first difference between a and b appended to path. */
void wf_adm_first_diff(const json_t *a, const json_t *b, char *path, size_t n);
int wf_adm_reply(const pb_adm_request *rq, int allowed, const char *msg, const json_t *patch,
                 const char *const *warnings, json_t **out, pb_err *err);
int wf_adm_is_kind(const pb_adm_request *rq, const char *kind);
time_t wf_adm_now(const wf_adm_ctx *ctx);

#endif
