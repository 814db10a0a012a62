/*
 * decide.c - deciding typed steps under compiled policies (see decide.h for
 * the order of the checks and how policies combine).
 *
 * The evaluation proper (eval_policy) touches only the compiled policy and
 * the parsed step: per-table rule lists, bitset subset tests, a few integer
 * comparisons and, for inserted or updated values, the typed constraint
 * checks. It records why a rule failed as numbers (reason, rule, column,
 * counts); the human message is written once, for the final decision only.
 * Nothing here allocates.
 */
#include <stdio.h>
#include <string.h>

#include "agent/agent_int.h"
#include "agent/decide.h"

typedef struct {
    pb_decide_outcome outcome;
    pb_decide_reason reason;
    int rule;        /* allow index, or deny index when is_deny */
    int is_deny;
    int column;      /* the column concerned, -1 */
    int pred;        /* rowConstraints index (R_CONSTRAINT) */
    int row;         /* values row (R_CONSTRAINT), -1: column missing */
    int progress;    /* checks passed: how close the rule came */
    long long a, b;  /* counts: what the step asks, what is allowed */
    int cap_from;    /* 0 rule maxRows, 1 limits.rowsPerStep, 2 hard cap */
    long long max_rows, rows;
} eval_t;

static const char *const OUTCOMES[] = {"Deny", "Allow", "NeedsApproval"};
static const char *const REASONS[] = {
    "Allowed",       "NeedsApproval", "BadInput",      "NoPolicy",       "Anonymous",     "TooManyPolicies",
    "PolicyInvalid", "DataModelMismatch", "DeniedByRule", "NoRule",       "ColumnNotReadable",
    "ColumnNotWritable", "WhereRequired", "TooManyRows", "RowConstraint", "TooManySteps"};

const char *pb_decide_outcome_name(pb_decide_outcome o) { return (unsigned)o < 3 ? OUTCOMES[o] : "?"; }

const char *pb_decide_reason_name(pb_decide_reason r)
{
    return (size_t)r < sizeof REASONS / sizeof REASONS[0] ? REASONS[r] : "?";
}

const pb_pred *pb_decide_constraint(const pb_decision *d, size_t j)
{
    return d && j < d->n_constraints ? &d->constraints[j] : NULL;
}

static const pb_step_cell *find_cell(const pb_step_row *r, int column)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->cells[mid].column < column)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->n && r->cells[lo].column == column ? &r->cells[lo] : NULL;
}

/* Checks of one allow rule; progress says how many passed. */
static int check_rule(const pb_pol *p, const pb_pol_allow *r, const struct pb_step *s, long long rows, eval_t *ev)
{
    size_t words = s->words;
    ev->rule = (int)r->index;
    ev->column = -1;
    ev->progress = 0;
    int c = pb_agent_bit_first_missing(s->read, r->readable, words);
    if (c >= 0) {
        ev->reason = PB_DECIDE_R_NOT_READABLE;
        ev->column = c;
        return 0;
    }
    ev->progress = 1;
    if ((c = pb_agent_bit_first_missing(s->write, r->writable, words)) >= 0) {
        ev->reason = PB_DECIDE_R_NOT_WRITABLE;
        ev->column = c;
        return 0;
    }
    ev->progress = 2;
    if ((s->op == PB_STEP_UPDATE || s->op == PB_STEP_DELETE) && r->require_where && s->n_where == 0) {
        ev->reason = PB_DECIDE_R_WHERE_REQUIRED;
        return 0;
    }
    ev->progress = 3;
    long long cap = PB_POL_HARD_MAX_ROWS;
    ev->cap_from = 2;
    if (p->limits.rows_per_step > 0 && p->limits.rows_per_step <= cap) {
        cap = p->limits.rows_per_step;
        ev->cap_from = 1;
    }
    if (r->max_rows > 0 && r->max_rows <= cap) {
        cap = r->max_rows;
        ev->cap_from = 0;
    }
    long long asked = s->op == PB_STEP_INSERT ? (long long)s->n_rows : s->limit;
    if (rows > asked)
        asked = rows;
    if (asked > cap) {
        ev->reason = PB_DECIDE_R_TOO_MANY_ROWS;
        ev->a = asked;
        ev->b = cap;
        return 0;
    }
    ev->max_rows = s->op == PB_STEP_INSERT ? (long long)s->n_rows : (s->limit > 0 && s->limit < cap ? s->limit : cap);
    ev->progress = 4;
    if (s->op == PB_STEP_INSERT || s->op == PB_STEP_UPDATE) {
        for (size_t k = 0; k < r->n_rows; k++) {
            const pb_pred *pr = &r->rows[k];
            for (size_t ri = 0; ri < s->n_rows; ri++) {
                const pb_step_cell *cell = find_cell(&s->rows[ri], pr->column);
                /* Update: an unset column keeps its value, and the
                 * constraint is ANDed into the WHERE, so it holds. Insert:
                 * an unset column gets its default, which this side cannot
                 * evaluate: ask for the value explicitly. */
                if (!cell && s->op == PB_STEP_UPDATE)
                    continue;
                if (!cell || !pb_pred_eval(pr, &cell->val)) {
                    ev->reason = PB_DECIDE_R_CONSTRAINT;
                    ev->column = pr->column;
                    ev->pred = (int)k;
                    ev->row = cell ? (int)ri : -1;
                    ev->a = (long long)ri;
                    return 0;
                }
            }
        }
    }
    ev->progress = 5;
    return 1;
}

static void eval_policy(const pb_pol *p, const pb_steps *w, const struct pb_step *s, long long rows, eval_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->outcome = PB_DECIDE_DENY;
    ev->rule = -1;
    ev->column = -1;
    ev->row = -1;
    ev->rows = rows;
    if (!p || p->broken) {
        ev->reason = PB_DECIDE_R_BROKEN;
        return;
    }
    if (p->model_hash != w->model_hash || p->model_version != w->model_version || s->table < 0 ||
        (size_t)s->table >= p->n_tables) {
        ev->reason = PB_DECIDE_R_MODEL_MISMATCH;
        return;
    }
    const pb_pol_table *tb = &p->tables[s->table];
    unsigned bit = PB_AGENT_OP_BIT(s->op);
    for (size_t k = 0; k < tb->n_deny; k++) {
        const pb_pol_deny *d = &p->deny[tb->deny[k]];
        if (!(d->ops & bit))
            continue;
        int c = -1;
        if (d->columns && (c = pb_agent_bit_first_common(s->touch, d->columns, s->words)) < 0)
            continue;
        ev->reason = PB_DECIDE_R_DENY_RULE;
        ev->is_deny = 1;
        ev->rule = (int)d->index;
        ev->column = c;
        return;
    }
    eval_t best, cur;
    int have = 0;
    for (size_t k = 0; k < tb->n_allow; k++) {
        const pb_pol_allow *r = &p->allow[tb->allow[k]];
        if (!(r->ops & bit))
            continue;
        cur = *ev;
        if (check_rule(p, r, s, rows, &cur)) {
            *ev = cur;
            long long est = rows >= 0 ? rows : cur.max_rows;
            ev->rows = est;
            if (r->has_approval && (r->approval_ops & bit) && est > r->approval_rows_above) {
                ev->outcome = PB_DECIDE_APPROVAL;
                ev->reason = PB_DECIDE_R_NEEDS_APPROVAL;
                ev->a = est;
                ev->b = r->approval_rows_above;
            } else {
                ev->outcome = PB_DECIDE_ALLOW;
                ev->reason = PB_DECIDE_R_ALLOWED;
            }
            return;
        }
        if (!have || cur.progress > best.progress) {
            best = cur;
            have = 1;
        }
    }
    if (have) {
        *ev = best;
        ev->outcome = PB_DECIDE_DENY;
        return;
    }
    ev->reason = PB_DECIDE_R_NO_RULE;
}

/* ---- messages -------------------------------------------------------------- */

typedef struct {
    char *b;
    size_t n, o;
} out_t;

static void put(out_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *m, const char *fmt, ...)
{
    if (m->o + 1 >= m->n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(m->b + m->o, m->n - m->o, fmt, ap);
    va_end(ap);
    if (k > 0)
        m->o = (size_t)k < m->n - m->o ? m->o + (size_t)k : m->n - 1;
}

static void value_text(pb_dm_type t, const pb_pred_value *v, char *buf, size_t n)
{
    if (!v || v->is_null)
        snprintf(buf, n, "null");
    else if (t == PB_DM_BOOLEAN)
        snprintf(buf, n, "%s", v->i ? "true" : "false");
    else if (t == PB_DM_INTEGER || t == PB_DM_BIGINT)
        snprintf(buf, n, "%lld", v->i);
    else {
        size_t o = 0;
        buf[o++] = '"';
        for (const char *s = v->s ? v->s : ""; *s && o + 5 < n && o < 42; s++)
            buf[o++] = ((unsigned char)*s >= 0x20 && *s != 0x7f) ? *s : '?';
        buf[o++] = '"';
        buf[o] = '\0';
    }
}

static void pred_text(out_t *m, const pb_pol *p, size_t t, const pb_pred *pr)
{
    char vb[64];
    put(m, "%s %s", pb_pol_col(p, t, (size_t)pr->column), pb_pred_op_name(pr->op));
    if (pr->n_vals == 1) {
        value_text(pr->type, &pr->vals[0], vb, sizeof vb);
        put(m, " %s", vb);
    } else if (pr->n_vals > 1) {
        put(m, " [");
        for (size_t i = 0; i < pr->n_vals && i < 5; i++) {
            value_text(pr->type, &pr->vals[i], vb, sizeof vb);
            put(m, "%s%s", i ? ", " : "", vb);
        }
        put(m, "%s]", pr->n_vals > 5 ? ", ..." : "");
    }
}

/* Where in the step a column first appears, as a field path. */
static void column_field(const struct pb_step *s, int c, char *buf, size_t n)
{
    for (size_t k = 0; k < s->n_columns; k++)
        if (s->columns[k] == c) {
            snprintf(buf, n, "spec.steps[%zu].columns[%zu]", s->index, k);
            return;
        }
    for (size_t k = 0; k < s->n_where; k++)
        if (s->where[k].column == c) {
            snprintf(buf, n, "spec.steps[%zu].where[%zu].column", s->index, k);
            return;
        }
    for (size_t k = 0; k < s->n_order; k++)
        if (s->order[k].column == c) {
            snprintf(buf, n, "spec.steps[%zu].orderBy[%zu].column", s->index, k);
            return;
        }
    for (size_t r = 0; r < s->n_rows; r++)
        if (find_cell(&s->rows[r], c)) {
            snprintf(buf, n, s->op == PB_STEP_INSERT && s->n_rows > 1 ? "spec.steps[%zu].rows[%zu]" : "spec.steps[%zu].values",
                     s->index, r);
            return;
        }
    snprintf(buf, n, "spec.steps[%zu]%s", s->index, s->op == PB_STEP_SELECT ? ".columns" : "");
}

static void rule_ref(out_t *m, const pb_pol *p, const eval_t *ev)
{
    const char *nm = ev->is_deny ? p->deny[ev->rule].name : p->allow[ev->rule].name;
    put(m, "spec.%s[%d]", ev->is_deny ? "deny" : "rules", ev->rule);
    if (nm && *nm)
        put(m, " \"%s\"", nm);
}

static void col_names(out_t *m, const pb_pol *p, size_t t, const uint64_t *set)
{
    int any = 0;
    for (size_t c = 0; c < pb_pol_ncols(p, t); c++)
        if (pb_agent_bit_has(set, c)) {
            put(m, "%s%s", any ? ", " : "", pb_pol_col(p, t, c));
            any = 1;
        }
    if (!any)
        put(m, "none");
}

static void format(pb_decision *d, const pb_pol *p, const pb_steps *w, const struct pb_step *s, const eval_t *ev)
{
    out_t m = {d->message, sizeof d->message, 0};
    d->message[0] = '\0';
    d->field[0] = '\0';
    const char *op = pb_step_op_name(s->op);
    size_t t = (size_t)(s->table < 0 ? 0 : s->table);
    const char *tname = w->model ? pb_dm_table_name(w->model, t) : "?";
    if (ev->outcome == PB_DECIDE_ALLOW || ev->outcome == PB_DECIDE_APPROVAL) {
        const pb_pol_allow *r = &p->allow[ev->rule];
        put(&m, "step \"%s\" (%s on %s) ", s->name, op, tname);
        if (ev->outcome == PB_DECIDE_ALLOW) {
            put(&m, "allowed by AgentPolicy %s/%s ", p->ns, p->name);
            rule_ref(&m, p, ev);
            put(&m, ": at most %lld rows", ev->max_rows);
        } else {
            put(&m, "needs approval under AgentPolicy %s/%s ", p->ns, p->name);
            rule_ref(&m, p, ev);
            put(&m, ": %s of up to %lld rows is above approval.rowsAbove %lld; an approver in spec.approvers must "
                    "approve this step",
                op, ev->a, ev->b);
        }
        if (r->n_rows) {
            put(&m, "; rows limited to ");
            for (size_t k = 0; k < r->n_rows; k++) {
                put(&m, "%s", k ? " and " : "");
                pred_text(&m, p, t, &r->rows[k]);
            }
        }
        return;
    }
    put(&m, "step \"%s\" (%s on %s) denied", s->name, op, tname);
    switch (ev->reason) {
    case PB_DECIDE_R_BROKEN:
        put(&m, ": AgentPolicy %s/%s is invalid and denies every step until it is fixed: %s", pb_pol_namespace(p),
            pb_pol_name(p), pb_pol_reason(p));
        return;
    case PB_DECIDE_R_MODEL_MISMATCH:
        put(&m, ": AgentPolicy %s/%s was checked against DataModel %s version %lld, the workflow against %s "
                "version %lld; retry once the policy is recompiled for the tenant's current DataModel",
            p->ns, p->name, p->model_name, p->model_version, w->model_name, w->model_version);
        return;
    case PB_DECIDE_R_NO_RULE:
        snprintf(d->field, sizeof d->field, "spec.steps[%zu].operation", s->index);
        put(&m, ": no rule of AgentPolicy %s/%s allows %s on %s; the policy needs a rule {table: %s, operations: "
                "[%s]}",
            p->ns, p->name, op, tname, tname, op);
        return;
    case PB_DECIDE_R_DENY_RULE:
        put(&m, " by AgentPolicy %s/%s ", p->ns, p->name);
        rule_ref(&m, p, ev);
        if (ev->column >= 0) {
            column_field(s, ev->column, d->field, sizeof d->field);
            if (s->op == PB_STEP_DELETE || (s->op == PB_STEP_SELECT && s->all_columns &&
                                            !pb_agent_bit_has(s->write, (size_t)ev->column)))
                put(&m, ": column %s may not be touched%s", pb_pol_col(p, t, (size_t)ev->column),
                    s->op == PB_STEP_DELETE ? ", and a delete removes every column; deny rules override any "
                                              "allow, no delete can pass"
                                            : "; list the columns you need, without it");
            else
                put(&m, ": column %s may not be touched by %s; remove it from %s", pb_pol_col(p, t, (size_t)ev->column),
                    op, d->field);
        } else {
            snprintf(d->field, sizeof d->field, "spec.steps[%zu].operation", s->index);
            put(&m, ": %s on %s is forbidden (deny rules override any allow; no change to the step can pass)", op,
                tname);
        }
        return;
    default:
        break;
    }
    const pb_pol_allow *r = &p->allow[ev->rule];
    put(&m, " by AgentPolicy %s/%s ", p->ns, p->name);
    rule_ref(&m, p, ev);
    switch (ev->reason) {
    case PB_DECIDE_R_NOT_READABLE:
    case PB_DECIDE_R_NOT_WRITABLE: {
        int rd = ev->reason == PB_DECIDE_R_NOT_READABLE;
        column_field(s, ev->column, d->field, sizeof d->field);
        put(&m, ": column %s is not %s (%s: ", pb_pol_col(p, t, (size_t)ev->column), rd ? "readable" : "writable",
            rd ? "readable" : "writable");
        col_names(&m, p, t, rd ? r->readable : r->writable);
        if (rd && s->op == PB_STEP_SELECT && s->all_columns)
            put(&m, "); a select without columns reads every column: list the columns you need");
        else
            put(&m, "); remove it from %s or add it to spec.rules[%d].%s", d->field, ev->rule,
                rd ? "readableColumns" : "writableColumns");
        return;
    }
    case PB_DECIDE_R_WHERE_REQUIRED:
        snprintf(d->field, sizeof d->field, "spec.steps[%zu].where", s->index);
        put(&m, ": %s on %s needs a where condition (requireWhere); add one to %s", op, tname, d->field);
        return;
    case PB_DECIDE_R_TOO_MANY_ROWS: {
        const char *src = ev->cap_from == 0 ? "the rule's maxRows"
                          : ev->cap_from == 1 ? "limits.rowsPerStep (the lower of policy and plan)"
                                              : "the engine's hard cap";
        if (s->op == PB_STEP_INSERT) {
            snprintf(d->field, sizeof d->field, "spec.steps[%zu].rows", s->index);
            put(&m, ": inserts %lld rows, more than the %lld allowed by %s; split it into steps of at most %lld rows",
                ev->a, ev->b, src, ev->b);
        } else if (ev->a == s->limit) {
            snprintf(d->field, sizeof d->field, "spec.steps[%zu].limit", s->index);
            put(&m, ": limit %lld is above the %lld rows allowed by %s; set limit to at most %lld", ev->a, ev->b, src,
                ev->b);
        } else {
            put(&m, ": would touch %lld rows, more than the %lld allowed by %s; narrow the where conditions", ev->a,
                ev->b, src);
        }
        return;
    }
    case PB_DECIDE_R_CONSTRAINT: {
        const pb_pred *pr = &r->rows[ev->pred];
        const char *cn = pb_pol_col(p, t, (size_t)pr->column);
        if (s->op == PB_STEP_INSERT && s->n_rows > 1)
            snprintf(d->field, sizeof d->field, "spec.steps[%zu].rows[%lld].%s", s->index, ev->a, cn);
        else
            snprintf(d->field, sizeof d->field, "spec.steps[%zu].values.%s", s->index, cn);
        if (ev->row < 0) {
            put(&m, ": an insert must set column %s, which spec.rules[%d].rowConstraints[%d] constrains (", cn,
                ev->rule, ev->pred);
            pred_text(&m, p, t, pr);
            put(&m, "); set %s to a value that satisfies it", d->field);
        } else {
            char vb[64];
            const pb_step_cell *cell = find_cell(&s->rows[ev->row], pr->column);
            value_text(pr->type, cell ? &cell->val : NULL, vb, sizeof vb);
            put(&m, ": %s = %s is outside spec.rules[%d].rowConstraints[%d] (", cn, vb, ev->rule, ev->pred);
            pred_text(&m, p, t, pr);
            put(&m, "); use a value that satisfies it");
        }
        return;
    }
    default:
        put(&m, ": %s", pb_decide_reason_name(ev->reason));
        return;
    }
}

static void fill(pb_decision *d, const pb_pol *p, const pb_steps *w, const struct pb_step *s, const eval_t *ev)
{
    d->outcome = ev->outcome;
    d->reason = ev->reason;
    d->policy = p;
    d->rule = ev->rule;
    d->is_deny = ev->is_deny;
    d->rule_name = "";
    d->constraints = NULL;
    d->n_constraints = 0;
    d->max_rows = 0;
    d->rows = ev->rows;
    if (p && !p->broken && ev->rule >= 0) {
        d->rule_name = ev->is_deny ? p->deny[ev->rule].name : p->allow[ev->rule].name;
        if (ev->outcome != PB_DECIDE_DENY) {
            d->constraints = p->allow[ev->rule].rows;
            d->n_constraints = p->allow[ev->rule].n_rows;
            d->max_rows = ev->max_rows;
        }
    }
    format(d, p, w, s, ev);
}

static int bad(pb_decision *d, const char *msg)
{
    if (d) {
        memset(d, 0, sizeof *d);
        d->outcome = PB_DECIDE_DENY;
        d->reason = PB_DECIDE_R_BAD_INPUT;
        d->rule = -1;
        d->rule_name = "";
        snprintf(d->message, sizeof d->message, "denied: %s", msg);
    }
    return PB_EINVAL;
}

int pb_decide_step(const pb_pol *p, const pb_steps *w, size_t i, long long rows, pb_decision *out)
{
    if (!out || !w || i >= w->n)
        return bad(out, "no such step");
    const struct pb_step *s = &w->steps[i];
    eval_t ev;
    eval_policy(p, w, s, rows, &ev);
    fill(out, p, w, s, &ev);
    if (!p)
        snprintf(out->message, sizeof out->message, "step \"%s\" denied: no AgentPolicy", s->name);
    return 0;
}

static int hard_deny(pb_decide_reason r)
{
    return r == PB_DECIDE_R_BROKEN || r == PB_DECIDE_R_MODEL_MISMATCH || r == PB_DECIDE_R_DENY_RULE;
}

int pb_decide_set(const pb_polset *set, const char *ns, const pb_subj_user *u, const pb_steps *w, size_t i,
                  long long rows, pb_decision *out, pb_decision *audit, size_t audit_cap, size_t *n_audit)
{
    if (n_audit)
        *n_audit = 0;
    if (!out || !set || !w || i >= w->n || (!audit && audit_cap))
        return bad(out, "bad arguments to the policy engine");
    const struct pb_step *s = &w->steps[i];
    if (pb_subj_user_anonymous(u)) {
        bad(out, "");
        out->reason = PB_DECIDE_R_ANONYMOUS;
        snprintf(out->message, sizeof out->message,
                 "step \"%s\" denied: the submitter is not authenticated; workflows need an authenticated identity",
                 s->name);
        return 0;
    }
    size_t idx[PB_DECIDE_MAX_APPLICABLE];
    size_t n = pb_polset_lookup(set, ns, u, idx, PB_DECIDE_MAX_APPLICABLE);
    if (n > PB_DECIDE_MAX_APPLICABLE) {
        bad(out, "");
        out->reason = PB_DECIDE_R_TOO_MANY_POLICIES;
        snprintf(out->message, sizeof out->message,
                 "step \"%s\" denied: %zu AgentPolicies in namespace %s apply to %s, more than the %d the engine "
                 "evaluates; merge some",
                 s->name, n, ns ? ns : "", u->username, PB_DECIDE_MAX_APPLICABLE);
        return 0;
    }
    eval_t ev, hard, allow, appr, soft;
    const pb_pol *hp = NULL, *ap = NULL, *pp = NULL, *sp = NULL;
    size_t na = 0;
    for (size_t k = 0; k < n; k++) {
        const pb_pol *p = pb_polset_at(set, idx[k]);
        eval_policy(p, w, s, rows, &ev);
        if (p->audit) {
            if (na < audit_cap)
                fill(&audit[na], p, w, s, &ev);
            na++;
            continue;
        }
        if (ev.outcome == PB_DECIDE_ALLOW) {
            if (!ap) {
                ap = p;
                allow = ev;
            }
        } else if (ev.outcome == PB_DECIDE_APPROVAL) {
            if (!pp) {
                pp = p;
                appr = ev;
            }
        } else if (hard_deny(ev.reason)) {
            if (!hp) {
                hp = p;
                hard = ev;
            }
        } else if (!sp || (soft.reason == PB_DECIDE_R_NO_RULE && ev.reason != PB_DECIDE_R_NO_RULE)) {
            sp = p;
            soft = ev;
        }
    }
    if (n_audit)
        *n_audit = na;
    if (hp)
        fill(out, hp, w, s, &hard);
    else if (ap)
        fill(out, ap, w, s, &allow);
    else if (pp)
        fill(out, pp, w, s, &appr);
    else if (sp)
        fill(out, sp, w, s, &soft);
    else {
        bad(out, "");
        out->reason = PB_DECIDE_R_NO_POLICY;
        out_t m = {out->message, sizeof out->message, 0};
        put(&m, "step \"%s\" denied: no enforcing AgentPolicy in namespace %s applies to %s", s->name, ns ? ns : "",
            u->username);
        if (u->n_groups) {
            put(&m, " (groups:");
            for (size_t g = 0; g < u->n_groups && g < PB_SUBJ_MAX_GROUPS; g++)
                put(&m, " %s", u->groups[g] ? u->groups[g] : "");
            put(&m, ")");
        }
        put(&m, "; everything not allowed is denied: add the submitter to an AgentPolicy's subjects");
    }
    return 0;
}

int pb_decide_workflow(const pb_polset *set, const char *ns, const pb_subj_user *u, const pb_steps *w,
                       pb_decision *out, int *first_deny)
{
    if (first_deny)
        *first_deny = -1;
    if (!set || !w || !out)
        return PB_EINVAL;
    int blocked = 0;
    for (size_t i = 0; i < w->n; i++) {
        pb_decision *d = &out[i];
        pb_decide_set(set, ns, u, w, i, -1, d, NULL, 0, NULL);
        if (d->outcome != PB_DECIDE_DENY && d->policy) {
            long long lim = d->policy->limits.steps_per_workflow;
            if (lim > 0 && (long long)w->n > lim) {
                const pb_pol *p = d->policy;
                d->outcome = PB_DECIDE_DENY;
                d->reason = PB_DECIDE_R_TOO_MANY_STEPS;
                d->constraints = NULL;
                d->n_constraints = 0;
                d->max_rows = 0;
                snprintf(d->field, sizeof d->field, "spec.steps");
                snprintf(d->message, sizeof d->message,
                         "step \"%s\" denied by AgentPolicy %s/%s: the workflow has %zu steps, more than "
                         "stepsPerWorkflow %lld (the lower of policy and plan); split it",
                         w->steps[i].name, p->ns, p->name, w->n, lim);
            }
        }
        if (d->outcome != PB_DECIDE_ALLOW)
            blocked++;
        if (d->outcome == PB_DECIDE_DENY && first_deny && *first_deny < 0)
            *first_deny = (int)i;
    }
    return blocked;
}
