/*
 * decide.h - deciding one typed Workflow step under AgentPolicies.
 *
 * One policy (pb_decide_step), in this order:
 *   1. no policy, a broken policy, or one checked against another DataModel
 *      (name, version or content) than the step: deny, with that reason;
 *   2. a deny rule for the step's table (or "*") and operation whose columns
 *      the step touches (or that has no columns): deny, naming it;
 *   3. the first allow rule for the table and operation (spec order) that
 *      the step satisfies: the step's read columns are readable, its written
 *      columns writable, update/delete have a where when required, the
 *      step's limit or insert row count is within maxRows and the limits'
 *      rowsPerStep, and every inserted or updated value of a constrained
 *      column satisfies the rule's row constraints. When that rule asks for
 *      approval for the operation and the rows (the caller's count, else
 *      the most the step may touch) are above rowsAbove: needs-approval,
 *      else allow;
 *   4. otherwise deny (default deny), explained by the rule that came
 *      closest (the most checks passed; the first of equals), or "no rule
 *      allows <op> on <table>".
 * A set of policies (pb_decide_set): the policies of the Workflow's
 * namespace whose subjects match the submitter apply. Audit policies are
 * decided too and reported in `audit`, and never change the outcome. Among
 * the enforcing ones: any broken one, or any deny rule hit, denies
 * (deny overrides allow; a policy that cannot be evaluated is never
 * skipped, unlike Cedar's); else the first allow wins, else the first
 * needs-approval; else deny, explained by the first applicable policy. No
 * enforcing policy at all: deny. Steps per workflow above the deciding
 * policy's stepsPerWorkflow: deny.
 *
 * An allow or needs-approval decision carries what the executor must add:
 * the rule's row constraints (to AND into the statement; sqlgen.h renders
 * them) and max_rows, the effective cap (the lowest of the rule's maxRows,
 * the limits' rowsPerStep, the step's limit and PB_POL_HARD_MAX_ROWS).
 *
 * Every decision names the policy and rule that decided, the field of the
 * step concerned (e.g. "spec.steps[1].columns[2]") and, for a denial, what
 * would make it pass. Deciding allocates nothing and writes nothing but
 * the decision: any number of threads may decide concurrently on the same
 * policies, set and steps. Pointers in a decision borrow from the policy
 * and the steps (keep both alive while using it).
 */
#ifndef PAYBILL_AGENT_DECIDE_H
#define PAYBILL_AGENT_DECIDE_H

#include <stddef.h>

#include "agent/policy.h"
#include "agent/polset.h"
#include "agent/pred.h"
#include "agent/step.h"
#include "agent/subject.h"

typedef enum { PB_DECIDE_DENY = 0, PB_DECIDE_ALLOW = 1, PB_DECIDE_APPROVAL = 2 } pb_decide_outcome;

typedef enum {
    PB_DECIDE_R_ALLOWED,          /* allowed by rule */
    PB_DECIDE_R_NEEDS_APPROVAL,   /* allowed by rule once approved */
    PB_DECIDE_R_BAD_INPUT,        /* NULL arguments, step index out of range */
    PB_DECIDE_R_NO_POLICY,        /* no enforcing policy applies */
    PB_DECIDE_R_ANONYMOUS,        /* unauthenticated submitter */
    PB_DECIDE_R_TOO_MANY_POLICIES,
    PB_DECIDE_R_BROKEN,           /* the policy did not compile */
    PB_DECIDE_R_MODEL_MISMATCH,   /* policy and step checked against different DataModels */
    PB_DECIDE_R_DENY_RULE,
    PB_DECIDE_R_NO_RULE,          /* no rule for the table and operation */
    PB_DECIDE_R_NOT_READABLE,
    PB_DECIDE_R_NOT_WRITABLE,
    PB_DECIDE_R_WHERE_REQUIRED,
    PB_DECIDE_R_TOO_MANY_ROWS,
    PB_DECIDE_R_CONSTRAINT,       /* a written value outside the row constraints */
    PB_DECIDE_R_TOO_MANY_STEPS
} pb_decide_reason;

#define PB_DECIDE_MSG_MAX 1024
#define PB_DECIDE_FIELD_MAX 160
/* More matching policies than this for one submitter: deny (fail closed). */
#define PB_DECIDE_MAX_APPLICABLE 256

typedef struct pb_decision {
    pb_decide_outcome outcome;
    pb_decide_reason reason;
    const pb_pol *policy;   /* the deciding policy, NULL when none */
    int rule;               /* index in spec.rules (allow) or spec.deny (is_deny), -1 */
    int is_deny;
    const char *rule_name;  /* owned by the policy; "" when unnamed or none */
    const pb_pred *constraints; /* the rule's row constraints: pb_decide_constraint() */
    size_t n_constraints;
    long long max_rows;     /* effective cap (allow / needs-approval) */
    long long rows;         /* rows the approval check used */
    char field[PB_DECIDE_FIELD_MAX]; /* the step's field concerned, or "" */
    char message[PB_DECIDE_MSG_MAX];
} pb_decision;

/* Decide step i of w under one policy (enforcing or not: the enforcement
 * mode matters only in sets). rows: rows the step will touch when known
 * (a dry run's count), else -1. Returns 0, or PB_EINVAL for bad arguments
 * (out, when not NULL, then says deny). */
int pb_decide_step(const pb_pol *p, const pb_steps *w, size_t i, long long rows, pb_decision *out);

/* Decide step i under every policy of `set` that applies to `u` in `ns`.
 * `audit` (may be NULL with audit_cap 0) receives the decisions of the
 * Audit policies that apply, up to audit_cap; *n_audit (may be NULL) the
 * number there were. Returns 0, or PB_EINVAL for bad arguments (deny). */
int pb_decide_set(const pb_polset *set, const char *ns, const pb_subj_user *u, const pb_steps *w,
                  size_t i, long long rows, pb_decision *out, pb_decision *audit, size_t audit_cap,
                  size_t *n_audit);

/* Every step of w (out has pb_step_count(w) entries): what admission
 * calls. Returns the number of steps not allowed outright (deny or
 * needs-approval), or PB_EINVAL. `first_deny` (may be NULL) gets the index
 * of the first denied step or -1. */
int pb_decide_workflow(const pb_polset *set, const char *ns, const pb_subj_user *u,
                       const pb_steps *w, pb_decision *out, int *first_deny);

/* Row constraint j of an allow / needs-approval decision (NULL out of
 * range), for sqlgen.h's pb_sqlgen_pred. */
const pb_pred *pb_decide_constraint(const pb_decision *d, size_t j);

const char *pb_decide_outcome_name(pb_decide_outcome o); /* "Deny", "Allow", "NeedsApproval" */
/* CamelCase, usable as a condition reason: "Allowed", "NoRule", ... */
const char *pb_decide_reason_name(pb_decide_reason r);

#endif
