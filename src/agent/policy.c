/*
 * policy.c - compiling an AgentPolicy spec against a DataModel (see
 * policy.h for the spec and the guarantees).
 *
 * Compilation resolves every table and column name to an index, every
 * constraint value to a typed value, and builds per-table lists of the allow
 * and deny rules so a decision looks only at the rules of its table. When
 * anything is wrong the policy is kept, marked broken with the first error
 * (the reason is what AgentPolicy status shows), and stripped of its rules:
 * decide.c denies every step under it. The subjects are parsed first and
 * kept even then, because a broken policy must still apply to the people it
 * was written for (its deny rules may be what restricts them); when the
 * subjects themselves cannot be read, it applies to everyone in its
 * namespace.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"
#include "util/json.h"
#include "util/timeutil.h"

#define MAX_WARNINGS 64

/* A copy of s, or of "" for NULL. */
static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static void warn(pb_pol *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(pb_pol *p, const char *fmt, ...)
{
    if (p->n_warnings > MAX_WARNINGS)
        return;
    char buf[1024];
    if (p->n_warnings == MAX_WARNINGS) {
        snprintf(buf, sizeof buf, "more warnings not shown");
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
    }
    char **w = realloc(p->warnings, (p->n_warnings + 1) * sizeof *w);
    if (!w)
        return; /* a lost warning is not a lost check */
    p->warnings = w;
    if ((w[p->n_warnings] = dup_or_empty(buf)))
        p->n_warnings++;
}

static void free_rules(pb_pol *p)
{
    for (size_t i = 0; i < p->n_allow; i++) {
        pb_pol_allow *r = &p->allow[i];
        free(r->name);
        free(r->readable);
        free(r->writable);
        for (size_t k = 0; k < r->n_rows; k++)
            pb_pred_clear(&r->rows[k]);
        free(r->rows);
    }
    free(p->allow);
    p->allow = NULL;
    p->n_allow = 0;
    for (size_t i = 0; i < p->n_deny; i++) {
        free(p->deny[i].name);
        free(p->deny[i].columns);
    }
    free(p->deny);
    p->deny = NULL;
    p->n_deny = 0;
    for (size_t t = 0; p->tables && t < p->n_tables; t++) {
        free(p->tables[t].allow);
        free(p->tables[t].deny);
    }
    free(p->tables);
    p->tables = NULL;
}

static void free_warnings(pb_pol *p)
{
    for (size_t i = 0; i < p->n_warnings; i++)
        free(p->warnings[i]);
    free(p->warnings);
    p->warnings = NULL;
    p->n_warnings = 0;
}

void pb_pol_free(pb_pol *p)
{
    if (!p)
        return;
    free_rules(p);
    free_warnings(p);
    pb_subj_list_free(p->subjects);
    pb_subj_list_free(p->approvers);
    free(p->ns);
    free(p->name);
    free(p->reason);
    free(p->model_name);
    free(p->names);
    free(p->tname);
    free(p->cname);
    free(p->col_off);
    free(p);
}

/* ---- pieces -------------------------------------------------------------------- */

static int check_keys(const json_t *o, const char *path, const char *const *allowed, const char *list, pb_err *e)
{
    const char *key = pb_json_unknown_key(o, allowed);
    return key ? pb_err_set(e, PB_EINVAL, "%s: unknown field \"%.64s\" (allowed: %s)", path, key, list) : 0;
}

static int copy_names(pb_pol *p, const pb_dm_model *m, pb_err *e)
{
    size_t nt = pb_dm_table_count(m), total = 0, ncol = 0;
    for (size_t t = 0; t < nt; t++) {
        if (pb_agent_words(pb_dm_column_count(m, t)) > PB_AGENT_MAX_WORDS)
            return pb_err_set(e, PB_EINVAL, "table %s has %zu columns, more than the policy engine supports",
                              pb_dm_table_name(m, t), pb_dm_column_count(m, t));
        total += strlen(pb_dm_table_name(m, t)) + 1;
        for (size_t c = 0; c < pb_dm_column_count(m, t); c++, ncol++)
            total += strlen(pb_dm_column_name(m, t, c)) + 1;
    }
    p->names = malloc(total ? total : 1);
    p->tname = calloc(nt ? nt : 1, sizeof *p->tname);
    p->cname = calloc(ncol ? ncol : 1, sizeof *p->cname);
    p->col_off = calloc(nt + 1, sizeof *p->col_off);
    if (!p->names || !p->tname || !p->cname || !p->col_off)
        return pb_err_oom(e);
    char *o = p->names;
    size_t k = 0;
    for (size_t t = 0; t < nt; t++) {
        size_t n = strlen(pb_dm_table_name(m, t)) + 1;
        memcpy(o, pb_dm_table_name(m, t), n);
        p->tname[t] = o;
        o += n;
        p->col_off[t] = k;
        for (size_t c = 0; c < pb_dm_column_count(m, t); c++) {
            n = strlen(pb_dm_column_name(m, t, c)) + 1;
            memcpy(o, pb_dm_column_name(m, t, c), n);
            p->cname[k++] = o;
            o += n;
        }
    }
    p->col_off[nt] = k;
    p->n_tables = nt;
    return 0;
}

static int parse_table(const pb_dm_model *m, const json_t *v, const char *path, int star, pb_err *e)
{
    const char *s = json_string_value(v);
    if (!s)
        return pb_err_set(e, PB_EINVAL, "%s: expected a table name%s", path, star ? " or \"*\"" : "");
    if (star && strcmp(s, "*") == 0)
        return -1000;
    int t = pb_dm_find_table(m, s);
    if (t < 0) {
        char dym[96];
        pb_agent_did_you_mean(dym, sizeof dym, pb_agent_suggest_table(m, s));
        return pb_err_set(e, PB_EINVAL, "%s: DataModel %s (version %lld) has no table \"%.64s\"%s", path,
                          pb_dm_name(m), pb_dm_version(m), s, dym);
    }
    return t;
}

static int parse_ops(const json_t *v, const char *path, unsigned *mask, pb_err *e)
{
    *mask = 0;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 4)
        return pb_err_set(e, PB_EINVAL, "%s: expected a list of 1 to 4 of select, insert, update, delete", path);
    for (size_t i = 0; i < json_array_size(v); i++) {
        pb_step_op op;
        if (pb_step_op_parse(json_string_value(json_array_get(v, i)), &op) != 0)
            return pb_err_set(e, PB_EINVAL, "%s[%zu]: expected select, insert, update or delete", path, i);
        if (*mask & PB_AGENT_OP_BIT(op))
            return pb_err_set(e, PB_EINVAL, "%s[%zu]: %s is listed twice", path, i, pb_step_op_name(op));
        *mask |= PB_AGENT_OP_BIT(op);
    }
    return 0;
}

/* A list of column names into a new bitset. */
static int parse_cols(const pb_dm_model *m, size_t t, const json_t *v, const char *path, uint64_t **out,
                      pb_err *e)
{
    size_t ncols = pb_dm_column_count(m, t);
    if (!json_is_array(v) || json_array_size(v) > ncols)
        return pb_err_set(e, PB_EINVAL, "%s: expected a list of at most %zu columns of table %s", path, ncols,
                          pb_dm_table_name(m, t));
    uint64_t *set = calloc(pb_agent_words(ncols), sizeof *set);
    if (!set)
        return pb_err_oom(e);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *s = json_string_value(json_array_get(v, i));
        int c = s ? pb_dm_find_column(m, t, s) : -1;
        if (c < 0) {
            char dym[96];
            pb_agent_did_you_mean(dym, sizeof dym, s ? pb_agent_suggest_column(m, t, s) : NULL);
            free(set);
            if (!s)
                return pb_err_set(e, PB_EINVAL, "%s[%zu]: expected a column name", path, i);
            return pb_err_set(e, PB_EINVAL, "%s[%zu]: table %s has no column \"%.64s\"%s", path, i,
                              pb_dm_table_name(m, t), s, dym);
        }
        pb_agent_bit_set(set, (size_t)c);
    }
    *out = set;
    return 0;
}

static uint64_t *all_cols(size_t ncols)
{
    uint64_t *set = calloc(pb_agent_words(ncols), sizeof *set);
    for (size_t c = 0; set && c < ncols; c++)
        pb_agent_bit_set(set, c);
    return set;
}

static int parse_name(const json_t *v, const char *path, char **out, pb_err *e)
{
    if (!v) {
        *out = dup_or_empty("");
        return *out ? 0 : pb_err_oom(e);
    }
    const char *s = json_string_value(v);
    if (!s || strlen(s) > 63)
        return pb_err_set(e, PB_EINVAL, "%s: expected a name of at most 63 characters", path);
    for (const char *q = s; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == '"' || *q == '\\' || *q == 0x7f)
            return pb_err_set(e, PB_EINVAL, "%s: names are printable, without quotes or backslashes", path);
    *out = dup_or_empty(s);
    return *out ? 0 : pb_err_oom(e);
}

static int parse_int(const json_t *o, const char *key, const char *path, long long lo, long long hi, long long *out,
                     pb_err *e)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return pb_err_set(e, PB_EINVAL, "%s.%s: expected an integer from %lld to %lld", path, key, lo, hi);
    *out = (long long)json_integer_value(v);
    return 0;
}

static int parse_duration(const json_t *o, const char *key, const char *path, long long *out_ms, pb_err *e)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    pb_duration d;
    if (!json_is_string(v) || pb_time_parse_duration(json_string_value(v), &d, NULL) != 0 || d <= 0)
        return pb_err_set(e, PB_EINVAL, "%s.%s: expected a positive duration such as \"30s\" or \"5m\"", path, key);
    *out_ms = (long long)(d / PB_MILLISECOND);
    if (*out_ms == 0)
        *out_ms = 1;
    return 0;
}

int pb_pol_limits_parse(const json_t *o, const char *path, pb_pol_limits *l, pb_err *e)
{
    static const char *const keys[] = {"workflowsPerHour", "stepsPerWorkflow", "rowsPerStep", "rowsPerHour",
                                       "stepTimeout",      "workflowTimeout",  NULL};
    if (!json_is_object(o))
        return pb_err_set(e, PB_EINVAL, "%s: expected an object", path);
    int rc = check_keys(o, path, keys,
                        "workflowsPerHour, stepsPerWorkflow, rowsPerStep, rowsPerHour, stepTimeout, workflowTimeout", e);
    if (rc || (rc = parse_int(o, "workflowsPerHour", path, 0, 100000, &l->workflows_per_hour, e)) ||
        (rc = parse_int(o, "stepsPerWorkflow", path, 1, PB_STEP_MAX_STEPS, &l->steps_per_workflow, e)) ||
        (rc = parse_int(o, "rowsPerStep", path, 1, PB_POL_HARD_MAX_ROWS, &l->rows_per_step, e)) ||
        (rc = parse_int(o, "rowsPerHour", path, 1, 1000000000LL, &l->rows_per_hour, e)) ||
        (rc = parse_duration(o, "stepTimeout", path, &l->step_timeout_ms, e)) ||
        (rc = parse_duration(o, "workflowTimeout", path, &l->workflow_timeout_ms, e)))
        return rc;
    return 0;
}

static long long lower(long long a, long long b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static int compile_allow(pb_pol *p, const pb_dm_model *m, const json_t *jr, size_t i, pb_err *e)
{
    static const char *const keys[] = {"name",           "table",   "operations",   "columns",
                                       "readableColumns", "writableColumns", "rowConstraints", "maxRows",
                                       "requireWhere",   "approval", NULL};
    pb_pol_allow *r = &p->allow[i];
    char path[64], sub[128];
    snprintf(path, sizeof path, "spec.rules[%zu]", i);
    r->index = i;
    r->require_where = 1;
    if (!json_is_object(jr))
        return pb_err_set(e, PB_EINVAL, "%s: expected an object {table, operations, ...}, got %s", path,
                          pb_json_type_name(jr));
    int rc = check_keys(jr, path, keys,
                        "name, table, operations, columns, readableColumns, writableColumns, rowConstraints, "
                        "maxRows, requireWhere, approval",
                        e);
    if (rc)
        return rc;
    snprintf(sub, sizeof sub, "%s.name", path);
    if ((rc = parse_name(json_object_get(jr, "name"), sub, &r->name, e)))
        return rc;
    snprintf(sub, sizeof sub, "%s.table", path);
    int t = parse_table(m, json_object_get(jr, "table"), sub, 0, e);
    if (t < 0)
        return t;
    r->table = t;
    size_t ncols = pb_dm_column_count(m, (size_t)t);
    snprintf(sub, sizeof sub, "%s.operations", path);
    if ((rc = parse_ops(json_object_get(jr, "operations"), sub, &r->ops, e)))
        return rc;
    json_t *jc = json_object_get(jr, "columns"), *jrd = json_object_get(jr, "readableColumns"),
           *jwr = json_object_get(jr, "writableColumns");
    snprintf(sub, sizeof sub, "%s.%s", path, jrd ? "readableColumns" : "columns");
    if (jrd || jc)
        rc = parse_cols(m, (size_t)t, jrd ? jrd : jc, sub, &r->readable, e);
    else if (!(r->readable = all_cols(ncols)))
        rc = pb_err_oom(e);
    if (rc)
        return rc;
    snprintf(sub, sizeof sub, "%s.%s", path, jwr ? "writableColumns" : "columns");
    if (jwr || jc)
        rc = parse_cols(m, (size_t)t, jwr ? jwr : jc, sub, &r->writable, e);
    else if (!(r->writable = all_cols(ncols)))
        rc = pb_err_oom(e);
    if (rc)
        return rc;
    if (!jc && !jrd && !jwr && (r->ops & (PB_AGENT_OP_BIT(PB_STEP_SELECT) | PB_AGENT_OP_BIT(PB_STEP_INSERT) |
                                          PB_AGENT_OP_BIT(PB_STEP_UPDATE))))
        warn(p, "%s (table %s) lists no columns: every column is readable and writable, including columns a "
                "later DataModel version adds",
             path, p->tname[t]);

    json_t *jk = json_object_get(jr, "rowConstraints");
    if (jk) {
        if (!json_is_array(jk) || json_array_size(jk) > PB_POL_MAX_CONSTRAINTS)
            return pb_err_set(e, PB_EINVAL, "%s.rowConstraints: expected a list of at most %d conditions", path,
                              PB_POL_MAX_CONSTRAINTS);
        size_t n = json_array_size(jk);
        if (!(r->rows = calloc(n ? n : 1, sizeof *r->rows)))
            return pb_err_oom(e);
        for (size_t k = 0; k < n; k++) {
            char cp[160];
            snprintf(cp, sizeof cp, "%s.rowConstraints[%zu]", path, k);
            rc = pb_pred_parse(json_array_get(jk, k), m, (size_t)t, cp, 0, &r->rows[k], NULL, NULL, e);
            r->n_rows = k + 1;
            if (rc)
                return rc;
        }
    }
    if ((rc = parse_int(jr, "maxRows", path, 1, PB_POL_HARD_MAX_ROWS, &r->max_rows, e)))
        return rc;
    json_t *jw = json_object_get(jr, "requireWhere");
    if (jw && !json_is_boolean(jw))
        return pb_err_set(e, PB_EINVAL, "%s.requireWhere: expected true or false", path);
    if (jw)
        r->require_where = json_is_true(jw);
    json_t *ja = json_object_get(jr, "approval");
    if (ja) {
        static const char *const akeys[] = {"operations", "rowsAbove", NULL};
        snprintf(sub, sizeof sub, "%s.approval", path);
        if (!json_is_object(ja))
            return pb_err_set(e, PB_EINVAL, "%s: expected an object {operations, rowsAbove}", sub);
        if ((rc = check_keys(ja, sub, akeys, "operations, rowsAbove", e)))
            return rc;
        r->has_approval = 1;
        r->approval_ops = r->ops;
        if (json_object_get(ja, "operations")) {
            char op[160];
            snprintf(op, sizeof op, "%s.operations", sub);
            if ((rc = parse_ops(json_object_get(ja, "operations"), op, &r->approval_ops, e)))
                return rc;
            if (r->approval_ops & ~r->ops)
                warn(p, "%s.approval lists operations the rule does not allow; they are ignored", path);
            r->approval_ops &= r->ops;
        }
        if ((rc = parse_int(ja, "rowsAbove", sub, 0, PB_POL_HARD_MAX_ROWS, &r->approval_rows_above, e)))
            return rc;
    }
    return 0;
}

static int compile_deny(pb_pol *p, const pb_dm_model *m, const json_t *jd, size_t i, pb_err *e)
{
    static const char *const keys[] = {"name", "table", "operations", "columns", NULL};
    pb_pol_deny *d = &p->deny[i];
    char path[64], sub[128];
    snprintf(path, sizeof path, "spec.deny[%zu]", i);
    d->index = i;
    if (!json_is_object(jd))
        return pb_err_set(e, PB_EINVAL, "%s: expected an object {table, operations, columns}, got %s", path,
                          pb_json_type_name(jd));
    int rc = check_keys(jd, path, keys, "name, table, operations, columns", e);
    if (rc)
        return rc;
    snprintf(sub, sizeof sub, "%s.name", path);
    if ((rc = parse_name(json_object_get(jd, "name"), sub, &d->name, e)))
        return rc;
    snprintf(sub, sizeof sub, "%s.table", path);
    int t = parse_table(m, json_object_get(jd, "table"), sub, 1, e);
    if (t < 0 && t != -1000)
        return t;
    d->table = t == -1000 ? -1 : t;
    d->ops = PB_AGENT_ALL_OPS;
    if (json_object_get(jd, "operations")) {
        snprintf(sub, sizeof sub, "%s.operations", path);
        if ((rc = parse_ops(json_object_get(jd, "operations"), sub, &d->ops, e)))
            return rc;
    }
    json_t *jc = json_object_get(jd, "columns");
    if (jc) {
        snprintf(sub, sizeof sub, "%s.columns", path);
        if (d->table < 0)
            return pb_err_set(e, PB_EINVAL, "%s: columns need a specific table, not \"*\"", sub);
        if ((rc = parse_cols(m, (size_t)d->table, jc, sub, &d->columns, e)))
            return rc;
        if (json_array_size(jc) == 0)
            return pb_err_set(e, PB_EINVAL, "%s: empty; leave columns out to deny the whole operation", sub);
    }
    return 0;
}

static int build_index(pb_pol *p, pb_err *e)
{
    if (!(p->tables = calloc(p->n_tables ? p->n_tables : 1, sizeof *p->tables)))
        return pb_err_oom(e);
    for (size_t t = 0; t < p->n_tables; t++) {
        pb_pol_table *tb = &p->tables[t];
        tb->words = pb_agent_words(pb_pol_ncols(p, t));
        size_t na = 0, nd = 0;
        for (size_t i = 0; i < p->n_allow; i++)
            na += p->allow[i].table == (int)t;
        for (size_t i = 0; i < p->n_deny; i++)
            nd += p->deny[i].table == (int)t || p->deny[i].table < 0;
        tb->allow = calloc(na ? na : 1, sizeof *tb->allow);
        tb->deny = calloc(nd ? nd : 1, sizeof *tb->deny);
        if (!tb->allow || !tb->deny)
            return pb_err_oom(e);
        for (size_t i = 0; i < p->n_allow; i++)
            if (p->allow[i].table == (int)t)
                tb->allow[tb->n_allow++] = i;
        for (size_t i = 0; i < p->n_deny; i++)
            if (p->deny[i].table == (int)t || p->deny[i].table < 0)
                tb->deny[tb->n_deny++] = i;
    }
    return 0;
}

/* Append the names of the columns in `set` to buf (comma separated). */
static void col_list(const pb_pol *p, size_t t, const uint64_t *set, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t c = 0; c < pb_pol_ncols(p, t) && o + 8 < n; c++)
        if (pb_agent_bit_has(set, c))
            o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", pb_pol_col(p, t, c));
    if (o >= n)
        snprintf(buf + n - 4, 4, "...");
}

static void ops_list(unsigned mask, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int op = 0; op < 4; op++)
        if (mask & PB_AGENT_OP_BIT(op))
            o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", pb_step_op_name((pb_step_op)op));
}

/* Constraints on one column that no value satisfies (an eq/in list none of
 * whose values passes the others, or isNull on a NOT NULL column). */
static int contradictory(const pb_dm_model *m, const pb_pol_allow *r)
{
    for (size_t k = 0; k < r->n_rows; k++) {
        const pb_pred *a = &r->rows[k];
        if (a->op == PB_PRED_IS_NULL && !pb_dm_column_nullable(m, (size_t)r->table, (size_t)a->column))
            return 1;
        if (a->op != PB_PRED_EQ && a->op != PB_PRED_IN)
            continue;
        int any = 0;
        for (size_t v = 0; v < a->n_vals && !any; v++) {
            int ok = 1;
            for (size_t j = 0; j < r->n_rows && ok; j++)
                if (r->rows[j].column == a->column)
                    ok = pb_pred_eval(&r->rows[j], &a->vals[v]);
            any = ok;
        }
        if (!any)
            return 1;
    }
    return 0;
}

static int same_preds(const pb_pol_allow *a, const pb_pol_allow *b)
{
    if (a->n_rows != b->n_rows)
        return 0;
    for (size_t k = 0; k < a->n_rows; k++) {
        const pb_pred *x = &a->rows[k], *y = &b->rows[k];
        if (x->column != y->column || x->op != y->op || x->n_vals != y->n_vals)
            return 0;
        for (size_t v = 0; v < x->n_vals; v++)
            if (!pb_pred_value_eq(x->type, &x->vals[v], &y->vals[v]))
                return 0;
    }
    return 1;
}

#define OPS_READING (PB_AGENT_OP_BIT(PB_STEP_SELECT) | PB_AGENT_OP_BIT(PB_STEP_UPDATE) | PB_AGENT_OP_BIT(PB_STEP_DELETE))
#define OPS_WRITING (PB_AGENT_OP_BIT(PB_STEP_INSERT) | PB_AGENT_OP_BIT(PB_STEP_UPDATE))

/* The columns a rule's live operations use: readable ones for reading
 * operations (select lists, where clauses), writable ones for writes. */
static void used_cols(const pb_pol_allow *r, unsigned live, size_t words, uint64_t *out)
{
    for (size_t w = 0; w < words; w++)
        out[w] = ((live & OPS_READING) ? r->readable[w] : 0) | ((live & OPS_WRITING) ? r->writable[w] : 0);
}

static void warnings(pb_pol *p, const pb_dm_model *m)
{
    char cols[512], ops[64];
    unsigned *live = calloc(p->n_allow ? p->n_allow : 1, sizeof *live);
    if (!live)
        return; /* warnings are advice; the checks do not depend on them */
    for (size_t i = 0; i < p->n_allow; i++) {
        pb_pol_allow *r = &p->allow[i];
        size_t t = (size_t)r->table, words = p->tables[t].words;
        live[i] = r->ops;
        for (size_t k = 0; k < p->tables[t].n_deny; k++) {
            const pb_pol_deny *d = &p->deny[p->tables[t].deny[k]];
            unsigned shadowed = live[i] & d->ops;
            if (!d->columns && shadowed) {
                ops_list(shadowed, ops, sizeof ops);
                live[i] &= ~d->ops;
                if (!live[i])
                    warn(p, "spec.rules[%zu] can never match: every operation it allows is denied by spec.deny[%zu]",
                         i, d->index);
                else
                    warn(p, "spec.rules[%zu]: %s shadowed by spec.deny[%zu]", i, ops, d->index);
            }
        }
        if (!live[i])
            continue;
        for (size_t k = 0; k < p->tables[t].n_deny; k++) {
            const pb_pol_deny *d = &p->deny[p->tables[t].deny[k]];
            unsigned hit = live[i] & d->ops;
            if (!d->columns || !hit)
                continue;
            uint64_t both[PB_AGENT_MAX_WORDS];
            used_cols(r, hit, words, both);
            for (size_t w = 0; w < words; w++)
                both[w] &= d->columns[w];
            if (pb_agent_bit_first_common(both, both, words) >= 0) {
                col_list(p, t, both, cols, sizeof cols);
                ops_list(hit, ops, sizeof ops);
                warn(p, "spec.rules[%zu]: columns %s are denied by spec.deny[%zu] for %s", i, cols, d->index, ops);
            }
        }
        int any_read = pb_agent_bit_first_common(r->readable, r->readable, words) >= 0;
        int any_write = pb_agent_bit_first_common(r->writable, r->writable, words) >= 0;
        if ((live[i] & PB_AGENT_OP_BIT(PB_STEP_SELECT)) && !any_read)
            warn(p, "spec.rules[%zu] can never match a select: no column is readable", i);
        if ((live[i] & OPS_WRITING) && !any_write)
            warn(p, "spec.rules[%zu] can never match an insert or update: no column is writable", i);
        if (contradictory(m, r))
            warn(p, "spec.rules[%zu] can never match: no row satisfies its rowConstraints", i);
        if (r->max_rows > 0 && p->limits.rows_per_step > 0 && r->max_rows > p->limits.rows_per_step)
            warn(p, "spec.rules[%zu].maxRows %lld is above rowsPerStep %lld, which applies instead", i, r->max_rows,
                 p->limits.rows_per_step);
        if (r->has_approval && r->approval_ops && pb_subj_count(p->approvers) == 0)
            warn(p, "spec.rules[%zu] needs approval but spec.approvers is empty: such steps can never run", i);
        /* Two live rules reaching the same operations with different
         * columns or constraints: the database role gets their union.
         * Comparing each rule with the first earlier one it overlaps finds
         * such a pair whenever one exists, in linear comparisons. */
        for (size_t j = 0; j < i; j++) {
            const pb_pol_allow *q = &p->allow[j];
            unsigned both_ops = live[j] & live[i];
            if (q->table != r->table || !both_ops)
                continue;
            uint64_t a[PB_AGENT_MAX_WORDS], b[PB_AGENT_MAX_WORDS];
            used_cols(q, both_ops, words, a);
            used_cols(r, both_ops, words, b);
            if (memcmp(a, b, words * sizeof a[0]) || !same_preds(q, r))
                warn(p, "spec.rules[%zu] and spec.rules[%zu] both allow operations on %s with different columns "
                        "or rowConstraints: the database role gets their union (the operator's check stays "
                        "exact)",
                     j, i, p->tname[t]);
            break;
        }
    }
    free(live);
    for (size_t i = 0; i < pb_subj_count(p->subjects); i++) {
        int g = 0;
        const char *k = pb_subj_key_at(p->subjects, i, &g);
        if (g && (strcmp(k, "system:authenticated") == 0 || strcmp(k, "system:serviceaccounts") == 0))
            warn(p, "spec.subjects[%zu]: group %s matches every %s", i, k,
                 strcmp(k, "system:authenticated") == 0 ? "authenticated user" : "service account");
    }
}

static int compile(pb_pol *p, const json_t *spec, const pb_dm_model *m, const pb_pol_opts *o, pb_err *e)
{
    static const char *const keys[] = {"dataModel", "enforcement", "subjects", "rules", "deny",
                                       "limits",    "approvers",   NULL};
    if (!json_is_object(spec)) {
        p->all_subjects = 1;
        return pb_err_set(e, PB_EINVAL, "spec: expected an object, got %s", pb_json_type_name(spec));
    }
    /* Enforcement and subjects first: they decide whom a broken policy
     * denies, and whether its denial counts. */
    json_t *je = json_object_get(spec, "enforcement");
    if (je && (!json_is_string(je) || (strcmp(json_string_value(je), "Enforce") &&
                                       strcmp(json_string_value(je), "Audit")))) {
        return pb_err_set(e, PB_EINVAL, "spec.enforcement: expected Enforce or Audit");
    }
    p->audit = je && strcmp(json_string_value(je), "Audit") == 0;
    json_t *js = json_object_get(spec, "subjects");
    int rc;
    if (js)
        rc = pb_subj_list_parse(js, o->ns, "spec.subjects", &p->subjects, e);
    else if (o->ns)
        rc = pb_subj_list_one_sa(o->ns, PB_POL_DEFAULT_SUBJECT, &p->subjects, e);
    else
        rc = pb_subj_list_parse(NULL, NULL, "spec.subjects", &p->subjects, e);
    if (rc) {
        p->all_subjects = 1;
        return rc;
    }
    if ((rc = check_keys(spec, "spec", keys, "dataModel, enforcement, subjects, rules, deny, limits, approvers", e)))
        return rc;
    if (!m) {
        p->no_model = 1;
        return pb_err_set(e, PB_EINVAL,
                          "no DataModel: the tenant's DataModel is missing or not ready, so no rule can be checked; "
                          "every step is denied until it exists");
    }
    free(p->model_name);
    if (!(p->model_name = dup_or_empty(pb_dm_name(m))))
        return pb_err_oom(e);
    p->model_version = pb_dm_version(m);
    p->model_hash = pb_agent_model_hash(m);
    if ((rc = copy_names(p, m, e)))
        return rc;
    json_t *jm = json_object_get(spec, "dataModel");
    if (jm && (!json_is_string(jm) || strcmp(json_string_value(jm), pb_dm_name(m) ? pb_dm_name(m) : "") != 0))
        return pb_err_set(e, PB_EINVAL, "spec.dataModel: the policy is written for DataModel \"%.64s\" but the "
                                        "tenant's is \"%s\"; fix the name or the tenant's plan",
                          json_is_string(jm) ? json_string_value(jm) : "?", pb_dm_name(m));
    if ((rc = pb_subj_list_parse(json_object_get(spec, "approvers"), o->ns, "spec.approvers", &p->approvers, e)))
        return rc;
    pb_pol_limits pl = PB_POL_LIMITS_UNSET;
    json_t *jl = json_object_get(spec, "limits");
    if (jl && (rc = pb_pol_limits_parse(jl, "spec.limits", &pl, e)))
        return rc;
    const pb_pol_limits *plan = o->plan;
    p->limits.workflows_per_hour = lower(pl.workflows_per_hour, plan ? plan->workflows_per_hour : -1);
    p->limits.steps_per_workflow = lower(pl.steps_per_workflow, plan ? plan->steps_per_workflow : -1);
    p->limits.rows_per_step = lower(pl.rows_per_step, plan ? plan->rows_per_step : -1);
    p->limits.rows_per_hour = lower(pl.rows_per_hour, plan ? plan->rows_per_hour : -1);
    p->limits.step_timeout_ms = lower(pl.step_timeout_ms, plan ? plan->step_timeout_ms : -1);
    p->limits.workflow_timeout_ms = lower(pl.workflow_timeout_ms, plan ? plan->workflow_timeout_ms : -1);

    json_t *jr = json_object_get(spec, "rules");
    size_t max = o->max_rules ? o->max_rules : PB_POL_MAX_RULES;
    if (!json_is_array(jr) || json_array_size(jr) == 0)
        return pb_err_set(e, PB_EINVAL, "spec.rules: expected a non-empty list of rules (nothing is allowed "
                                        "without one)");
    if (json_array_size(jr) > max)
        return pb_err_set(e, PB_EINVAL, "spec.rules: %zu rules, at most %zu", json_array_size(jr), max);
    if (!(p->allow = calloc(json_array_size(jr), sizeof *p->allow)))
        return pb_err_oom(e);
    for (size_t i = 0; i < json_array_size(jr); i++) {
        p->n_allow = i + 1;
        if ((rc = compile_allow(p, m, json_array_get(jr, i), i, e)))
            return rc;
    }
    json_t *jd = json_object_get(spec, "deny");
    if (jd) {
        if (!json_is_array(jd) || json_array_size(jd) > PB_POL_MAX_DENY)
            return pb_err_set(e, PB_EINVAL, "spec.deny: expected a list of at most %d rules", PB_POL_MAX_DENY);
        if (!(p->deny = calloc(json_array_size(jd) ? json_array_size(jd) : 1, sizeof *p->deny)))
            return pb_err_oom(e);
        for (size_t i = 0; i < json_array_size(jd); i++) {
            p->n_deny = i + 1;
            if ((rc = compile_deny(p, m, json_array_get(jd, i), i, e)))
                return rc;
        }
    }
    if ((rc = build_index(p, e)))
        return rc;
    if (pb_subj_count(p->subjects) == 0)
        warn(p, "spec.subjects is empty: the policy applies to nobody");
    warnings(p, m);
    return 0;
}

int pb_pol_compile(const json_t *spec, const pb_dm_model *m, const pb_pol_opts *opts, pb_pol **out, pb_err *e)
{
    pb_pol_opts none = {0};
    const pb_pol_opts *o = opts ? opts : &none;
    *out = NULL;
    pb_pol *p = calloc(1, sizeof *p);
    if (!p)
        return pb_err_oom(e);
    pb_pol_limits unset = PB_POL_LIMITS_UNSET;
    p->limits = unset;
    p->ns = dup_or_empty(o->ns);
    p->name = dup_or_empty(o->name);
    p->model_name = dup_or_empty("");
    p->model_version = -1;
    p->generation = o->generation;
    if (!p->ns || !p->name || !p->model_name) {
        pb_pol_free(p);
        return pb_err_oom(e);
    }
    pb_err local;
    pb_err_clear(&local);
    int rc = compile(p, spec, m, o, &local);
    if (rc == PB_ENOMEM) {
        pb_pol_free(p);
        return pb_err_oom(e);
    }
    if (rc) {
        /* Broken: keep identity, subjects and model facts, drop every rule
         * so nothing can be allowed by accident. */
        p->broken = 1;
        free_rules(p);
        free_warnings(p);
        if (!(p->reason = dup_or_empty(local.msg))) {
            pb_pol_free(p);
            return pb_err_oom(e);
        }
        if (!p->subjects && !p->all_subjects)
            p->all_subjects = 1;
        pb_err_set(e, PB_EINVAL, "%s", local.msg);
        *out = p;
        return PB_EINVAL;
    }
    *out = p;
    return 0;
}

/* ---- accessors ---------------------------------------------------------------- */

int pb_pol_broken(const pb_pol *p) { return !p || p->broken; }
const char *pb_pol_reason(const pb_pol *p) { return !p ? "no policy" : p->reason ? p->reason : ""; }
int pb_pol_audit(const pb_pol *p) { return p && p->audit; }
const char *pb_pol_namespace(const pb_pol *p) { return p ? p->ns : ""; }
const char *pb_pol_name(const pb_pol *p) { return p ? p->name : ""; }
long long pb_pol_generation(const pb_pol *p) { return p ? p->generation : 0; }
const char *pb_pol_model_name(const pb_pol *p) { return p ? p->model_name : ""; }
long long pb_pol_model_version(const pb_pol *p) { return p ? p->model_version : -1; }
size_t pb_pol_rule_count(const pb_pol *p) { return p ? p->n_allow : 0; }
size_t pb_pol_deny_count(const pb_pol *p) { return p ? p->n_deny : 0; }
const char *pb_pol_rule_name(const pb_pol *p, size_t i) { return p && i < p->n_allow ? p->allow[i].name : NULL; }
size_t pb_pol_warning_count(const pb_pol *p) { return p ? p->n_warnings : 0; }
const char *pb_pol_warning(const pb_pol *p, size_t i) { return p && i < p->n_warnings ? p->warnings[i] : NULL; }

const pb_pol_limits *pb_pol_get_limits(const pb_pol *p)
{
    static const pb_pol_limits unset = PB_POL_LIMITS_UNSET;
    return p ? &p->limits : &unset;
}

const pb_subj_list *pb_pol_subjects(const pb_pol *p) { return p ? p->subjects : NULL; }

int pb_pol_subjects_match(const pb_pol *p, const pb_subj_user *u)
{
    if (!p || pb_subj_user_anonymous(u))
        return 0;
    return p->all_subjects || pb_subj_match(p->subjects, u);
}

int pb_pol_may_approve(const pb_pol *p, const pb_subj_user *approver, const pb_subj_user *submitter, pb_err *e)
{
    if (!p || p->broken)
        return pb_err_set(e, PB_EFORBIDDEN, "AgentPolicy %s/%s is invalid: nobody may approve under it (%s)",
                          pb_pol_namespace(p), pb_pol_name(p), pb_pol_reason(p));
    if (pb_subj_user_anonymous(approver))
        return pb_err_set(e, PB_EFORBIDDEN, "an approval needs an authenticated approver");
    if (pb_subj_same_principal(approver, submitter))
        return pb_err_set(e, PB_EFORBIDDEN,
                          "%s submitted this workflow and cannot approve it; another approver listed in "
                          "AgentPolicy %s/%s spec.approvers must",
                          approver->username, p->ns, p->name);
    if (!pb_subj_match(p->approvers, approver))
        return pb_err_set(e, PB_EFORBIDDEN, "%s is not an approver of AgentPolicy %s/%s (spec.approvers)",
                          approver->username, p->ns, p->name);
    return 0;
}

json_t *pb_pol_status_json(const pb_pol *p)
{
    if (!p)
        return NULL;
    json_t *w = json_array();
    for (size_t i = 0; w && i < p->n_warnings; i++)
        json_array_append_new(w, json_string(p->warnings[i]));
    const char *reason = !p->broken ? "Compiled" : p->no_model ? "NoDataModel" : "Invalid";
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o}", "phase", p->broken ? "Invalid" : "Ready",
                          "reason", reason, "message", p->broken ? p->reason : "compiled", "dataModel",
                          p->model_name, "dataModelVersion", (json_int_t)p->model_version, "rules",
                          (json_int_t)p->n_allow, "denyRules", (json_int_t)p->n_deny, "enforcement",
                          p->audit ? "Audit" : "Enforce", "warnings", w ? w : json_array());
    return o;
}
