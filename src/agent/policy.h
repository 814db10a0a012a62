/*
 * policy.h - AgentPolicy compilation: a policy's spec checked against the
 * tenant's DataModel once per generation, into a form decide.h evaluates in
 * microseconds.
 *
 * Spec (the AgentPolicy's `spec`; unknown keys are refused everywhere, so a
 * typo such as "readableColums" breaks the policy instead of silently
 * meaning "every column"):
 *
 *   {"dataModel": "crm",                 optional: must be the model's name
 *    "enforcement": "Enforce",           or "Audit": evaluated, recorded,
 *                                        never changes an outcome
 *    "subjects": [subject...],           subject.h; default the
 *                                        ServiceAccount paybill-agent of the
 *                                        policy's namespace
 *    "rules": [{                         allow rules, 1..opts.max_rules
 *       "name": "invoices-rw",           optional, for messages
 *       "table": "invoices",
 *       "operations": ["select", "update"],
 *       "columns": [...],                readable AND writable (v1 field)
 *       "readableColumns": [...],        what selects return and where,
 *                                        orderBy may use (overrides columns)
 *       "writableColumns": [...],        what insert/update may set
 *                                        (overrides columns); no list at
 *                                        all: every column of the table
 *       "rowConstraints": [pred...],     pred.h; ANDed into every statement
 *                                        on the table under this rule, and
 *                                        every inserted or updated value
 *                                        must satisfy them
 *       "maxRows": 50,                   rows one step may touch
 *       "requireWhere": true,            default true: update/delete need a
 *                                        where
 *       "approval": {"operations": ["delete"], "rowsAbove": 10}}],
 *                                        a human must approve (operations
 *                                        default: the rule's; rowsAbove
 *                                        default 0: every step)
 *    "deny": [{"name": "...", "table": "customers" | "*",
 *              "operations": [...],      default: all four
 *              "columns": [...]}],       a step touching any of them (read
 *                                        or written; delete touches every
 *                                        column) is denied; none: the whole
 *                                        operation. Deny overrides any allow.
 *    "limits": {"workflowsPerHour", "stepsPerWorkflow", "rowsPerStep",
 *               "rowsPerHour", "stepTimeout": "30s", "workflowTimeout"},
 *    "approvers": [subject...]}
 *
 * Fail closed. pb_pol_compile never fails silently: when anything is wrong
 * (no DataModel, an unknown table or column, a value that does not fit its
 * column, a malformed field, the dataModel name differs) the policy is still
 * returned but broken, with the reason naming the field and what would fix
 * it, and every decision under it is deny with that reason. Only running
 * out of memory returns no policy (*out NULL), and decide.h treats a NULL
 * policy as deny too.
 *
 * Warnings (the policy still works): rules that can never match (every
 * operation denied by a deny rule, nothing readable for a select, nothing
 * writable for insert/update, contradictory row constraints), allow columns
 * shadowed by a deny, rules listing no columns, subjects that match every
 * authenticated user, the database enforcement being coarser than the check
 * (see sqlgen.h).
 *
 * Ownership: the policy is the caller's (pb_pol_free); it does not keep the
 * spec or the model (names are copied), so both may be freed after
 * compiling. Strings from accessors are owned by the policy.
 * pb_pol_status_json returns a new reference.
 */
#ifndef PAYBILL_AGENT_POLICY_H
#define PAYBILL_AGENT_POLICY_H

#include <jansson.h>
#include <stddef.h>

#include "agent/subject.h"
#include "provision/datamodel.h"
#include "util/err.h"

#define PB_POL_MAX_RULES 256
#define PB_POL_MAX_DENY 256
#define PB_POL_MAX_CONSTRAINTS 32
/* The cap on rows per step when neither policy nor plan set one. */
#define PB_POL_HARD_MAX_ROWS 1000000LL
#define PB_POL_DEFAULT_SUBJECT "paybill-agent"

typedef struct pb_pol pb_pol;

/* Agent limits; -1 means not set (0 is a real limit: no workflows). */
typedef struct pb_pol_limits {
    long long workflows_per_hour;
    long long steps_per_workflow;
    long long rows_per_step;
    long long rows_per_hour;
    long long step_timeout_ms;
    long long workflow_timeout_ms;
} pb_pol_limits;

#define PB_POL_LIMITS_UNSET {-1, -1, -1, -1, -1, -1}

/* Parse a limits object (an AgentPolicy's or a Plan's spec.limits; keys as
 * in the spec above, unknown keys refused) into *l, whose fields not given
 * are left as they were. `path` prefixes messages ("spec.limits"). */
int pb_pol_limits_parse(const json_t *o, const char *path, pb_pol_limits *l, pb_err *e);

typedef struct pb_pol_opts {
    const char *ns;            /* the policy's namespace (default subject, messages) */
    const char *name;          /* metadata.name, for messages */
    long long generation;      /* metadata.generation, reported back */
    const pb_pol_limits *plan; /* the Plan's limits, or NULL: the lower applies */
    size_t max_rules;          /* 0: PB_POL_MAX_RULES */
} pb_pol_opts;

/* Compile. Returns 0 when the policy is usable; PB_EINVAL when it is broken
 * (err has the reason, *out is the broken policy: still free it, and still
 * use it, it denies everything); PB_ENOMEM with *out NULL. NULL spec or
 * model is a broken policy, not a crash. */
int pb_pol_compile(const json_t *spec, const pb_dm_model *m, const pb_pol_opts *opts, pb_pol **out,
                   pb_err *e);
void pb_pol_free(pb_pol *p);

int pb_pol_broken(const pb_pol *p);           /* 1 for NULL too */
const char *pb_pol_reason(const pb_pol *p);   /* why broken, or "" */
int pb_pol_audit(const pb_pol *p);            /* enforcement: Audit */
const char *pb_pol_namespace(const pb_pol *p);
const char *pb_pol_name(const pb_pol *p);
long long pb_pol_generation(const pb_pol *p);
/* The DataModel it was checked against ("" and -1 when there was none). */
const char *pb_pol_model_name(const pb_pol *p);
long long pb_pol_model_version(const pb_pol *p);
size_t pb_pol_rule_count(const pb_pol *p);    /* allow rules compiled (0 when broken) */
size_t pb_pol_deny_count(const pb_pol *p);
const char *pb_pol_rule_name(const pb_pol *p, size_t i); /* "" unnamed, NULL out of range */
size_t pb_pol_warning_count(const pb_pol *p);
const char *pb_pol_warning(const pb_pol *p, size_t i);
/* Effective limits (the lower of policy and plan). Never NULL. */
const pb_pol_limits *pb_pol_get_limits(const pb_pol *p);

/* 1 when u is one of the policy's subjects (0 when broken: a broken policy
 * still applies to its subjects in decide.h, which is what makes it deny;
 * use pb_pol_subjects_match for that). */
int pb_pol_subjects_match(const pb_pol *p, const pb_subj_user *u);
const pb_subj_list *pb_pol_subjects(const pb_pol *p);

/* May `approver` approve a step submitted by `submitter` under this policy?
 * 0, or PB_EFORBIDDEN with the reason: broken policy, anonymous approver,
 * same principal as the submitter, not among the approvers (no approvers:
 * nobody may approve). */
int pb_pol_may_approve(const pb_pol *p, const pb_subj_user *approver, const pb_subj_user *submitter,
                       pb_err *e);

/* The AgentPolicy status fields this compilation determines:
 *   {"phase": "Ready"|"Invalid", "reason": "Compiled"|"Invalid"|"NoDataModel",
 *    "message": "...", "dataModel": "crm", "dataModelVersion": 3,
 *    "rules": 2, "denyRules": 1, "enforcement": "Enforce",
 *    "warnings": ["..."]}
 * New reference, or NULL when out of memory. */
json_t *pb_pol_status_json(const pb_pol *p);

#endif
