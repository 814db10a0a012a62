/*
 * stmt.c - typed steps to parameterised SQL (see stmt.h).
 */
#include "agent/stmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"

void pb_stmt_clear(pb_stmt *s)
{
    if (!s)
        return;
    free(s->sql);
    pb_sqlgen_params_free(&s->params);
    free(s->columns);
    memset(s, 0, sizeof *s);
}

int pb_stmt_array_literal(pb_buf *b, const char *const *vals, size_t n, pb_err *e)
{
    pb_buf_puts(b, "{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            pb_buf_puts(b, ",");
        if (!vals[i]) {
            pb_buf_puts(b, "NULL");
            continue;
        }
        pb_buf_puts(b, "\"");
        for (const char *p = vals[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                pb_buf_puts(b, "\\");
            pb_buf_append(b, p, 1);
        }
        pb_buf_puts(b, "\"");
    }
    pb_buf_puts(b, "}");
    return b->oom ? pb_err_set(e, PB_ENOMEM, "out of memory") : 0;
}

static int table_ref(pb_buf *b, const char *schema, const pb_dm_model *m, size_t t, pb_err *e)
{
    int rc = pb_sqlgen_ident(b, schema, e);
    if (rc == 0) {
        pb_buf_puts(b, ".");
        rc = pb_sqlgen_ident(b, pb_dm_table_name(m, t), e);
    }
    return rc;
}

static int col(pb_buf *b, const pb_dm_model *m, size_t t, int c, pb_err *e)
{
    return pb_sqlgen_ident(b, pb_dm_column_name(m, t, (size_t)c), e);
}

/* "col" = ANY($n::type[]) for an in/notIn over an earlier step's field. */
static int ref_pred(pb_buf *b, const pb_steps *w, size_t t, const pb_pred *p, pb_stmt_ref_fn refs, void *ud,
                    pb_sqlgen_params *ps, pb_err *e)
{
    const pb_dm_model *m = w->model;
    if (!refs)
        return pb_err_set(e, PB_EINVAL, "a fromStep predicate needs the earlier step's result");
    const struct pb_step *from = &w->steps[p->from_step];
    const char *field = pb_dm_column_name(m, (size_t)from->table, (size_t)p->from_field);
    const char *const *vals = NULL;
    size_t n = 0;
    int rc = refs(ud, (size_t)p->from_step, field, &vals, &n, e);
    if (rc)
        return rc;
    pb_buf lit = {0};
    if ((rc = pb_stmt_array_literal(&lit, vals, n, e)) == 0)
        rc = pb_sqlgen_param_add(ps, pb_buf_str(&lit), e);
    pb_buf_free(&lit);
    if (rc)
        return rc;
    pb_buf_puts(b, "(");
    if ((rc = col(b, m, t, p->column, e)))
        return rc;
    pb_buf_printf(b, p->op == PB_PRED_NOT_IN ? " <> ALL ($%zu::%s[]))" : " = ANY ($%zu::%s[]))", ps->n,
                  pb_sqlgen_type_name(p->type));
    return 0;
}

/* WHERE <step's predicates> AND <the rule's constraints>, or nothing. */
static int where_clause(pb_buf *b, const pb_steps *w, const struct pb_step *s, const pb_decision *d,
                        pb_stmt_ref_fn refs, void *ud, pb_sqlgen_params *ps, pb_err *e)
{
    size_t t = (size_t)s->table;
    size_t n = s->n_where + d->n_constraints;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        pb_buf_puts(b, k ? " AND " : " WHERE ");
        const pb_pred *p = k < s->n_where ? &s->where[k] : pb_decide_constraint(d, k - s->n_where);
        if (!p)
            return pb_err_set(e, PB_EINTERNAL, "row constraint %zu missing from the decision", k - s->n_where);
        rc = p->from_step >= 0 ? ref_pred(b, w, t, p, refs, ud, ps, e)
                               : pb_sqlgen_pred(b, w->model, t, NULL, p, ps, e);
    }
    return rc;
}

static int values_row(pb_buf *b, const pb_dm_model *m, size_t t, const pb_step_row *r, pb_sqlgen_params *ps,
                      pb_err *e)
{
    pb_buf_puts(b, "(");
    for (size_t k = 0; k < r->n; k++) {
        if (k)
            pb_buf_puts(b, ", ");
        const pb_step_cell *c = &r->cells[k];
        if (c->val.is_null) {
            pb_buf_puts(b, "NULL");
            continue;
        }
        int rc = pb_sqlgen_value(b, pb_dm_column_type(m, t, (size_t)c->column), &c->val, ps, e);
        if (rc)
            return rc;
    }
    pb_buf_puts(b, ")");
    return 0;
}

int pb_stmt_build(const pb_steps *w, size_t i, const pb_decision *d, const char *schema, pb_stmt_ref_fn refs,
                  void *ud, pb_stmt *out, pb_err *e)
{
    memset(out, 0, sizeof *out);
    if (!w || i >= w->n || !d || !schema || !w->model)
        return pb_err_set(e, PB_EINVAL, "pb_stmt_build: bad arguments");
    if (d->outcome == PB_DECIDE_DENY)
        return pb_err_set(e, PB_EINVAL, "step %zu is denied: nothing to build", i);
    const struct pb_step *s = &w->steps[i];
    const pb_dm_model *m = w->model;
    size_t t = (size_t)s->table;
    pb_buf b = {0};
    int rc = 0;
    out->cap = d->max_rows > 0 ? d->max_rows : PB_POL_HARD_MAX_ROWS;
    switch (s->op) {
    case PB_STEP_SELECT: {
        out->returns_rows = 1;
        size_t nc = s->all_columns ? pb_dm_column_count(m, t) : s->n_columns;
        if (!(out->columns = calloc(nc ? nc : 1, sizeof *out->columns))) {
            rc = pb_err_set(e, PB_ENOMEM, "out of memory");
            break;
        }
        out->n_columns = nc;
        pb_buf_puts(&b, "SELECT ");
        for (size_t k = 0; k < nc && rc == 0; k++) {
            out->columns[k] = s->all_columns ? (int)k : s->columns[k];
            if (k)
                pb_buf_puts(&b, ", ");
            rc = col(&b, m, t, out->columns[k], e);
        }
        pb_buf_puts(&b, " FROM ");
        if (rc == 0)
            rc = table_ref(&b, schema, m, t, e);
        if (rc == 0)
            rc = where_clause(&b, w, s, d, refs, ud, &out->params, e);
        for (size_t k = 0; k < s->n_order && rc == 0; k++) {
            pb_buf_puts(&b, k ? ", " : " ORDER BY ");
            rc = col(&b, m, t, s->order[k].column, e);
            pb_buf_puts(&b, s->order[k].descending ? " DESC" : " ASC");
        }
        long long want = s->limit > 0 ? s->limit : 0;
        if (want > 0 && want <= out->cap)
            out->fetch = want;
        else {
            out->fetch = out->cap + 1;
            out->fetch_is_probe = 1;
        }
        pb_buf_printf(&b, " LIMIT %lld", out->fetch);
        break;
    }
    case PB_STEP_INSERT: {
        if (s->n_rows == 0) {
            rc = pb_err_set(e, PB_EINVAL, "insert step without rows");
            break;
        }
        pb_buf_puts(&b, "INSERT INTO ");
        rc = table_ref(&b, schema, m, t, e);
        /* Every row of a step lists the same columns (step.c sorts cells by
         * column); rows that differ are inserted one VALUES list each, so
         * the first row's columns are checked against every other. */
        const pb_step_row *r0 = &s->rows[0];
        for (size_t k = 1; k < s->n_rows && rc == 0; k++) {
            int same = s->rows[k].n == r0->n;
            for (size_t c = 0; same && c < r0->n; c++)
                same = s->rows[k].cells[c].column == r0->cells[c].column;
            if (!same)
                rc = pb_err_set(e, PB_EINVAL, "spec.steps[%zu].rows[%zu]: every row must set the same columns", i, k);
        }
        pb_buf_puts(&b, " (");
        for (size_t c = 0; c < r0->n && rc == 0; c++) {
            if (c)
                pb_buf_puts(&b, ", ");
            rc = col(&b, m, t, r0->cells[c].column, e);
        }
        pb_buf_puts(&b, ") VALUES ");
        for (size_t k = 0; k < s->n_rows && rc == 0; k++) {
            if (k)
                pb_buf_puts(&b, ", ");
            rc = values_row(&b, m, t, &s->rows[k], &out->params, e);
        }
        break;
    }
    case PB_STEP_UPDATE: {
        if (s->n_rows != 1 || s->rows[0].n == 0) {
            rc = pb_err_set(e, PB_EINVAL, "update step without values");
            break;
        }
        pb_buf_puts(&b, "UPDATE ");
        rc = table_ref(&b, schema, m, t, e);
        pb_buf_puts(&b, " SET ");
        const pb_step_row *r = &s->rows[0];
        for (size_t c = 0; c < r->n && rc == 0; c++) {
            if (c)
                pb_buf_puts(&b, ", ");
            if ((rc = col(&b, m, t, r->cells[c].column, e)))
                break;
            pb_buf_puts(&b, " = ");
            if (r->cells[c].val.is_null)
                pb_buf_puts(&b, "NULL");
            else
                rc = pb_sqlgen_value(&b, pb_dm_column_type(m, t, (size_t)r->cells[c].column), &r->cells[c].val,
                                     &out->params, e);
        }
        if (rc == 0)
            rc = where_clause(&b, w, s, d, refs, ud, &out->params, e);
        break;
    }
    case PB_STEP_DELETE:
        pb_buf_puts(&b, "DELETE FROM ");
        rc = table_ref(&b, schema, m, t, e);
        if (rc == 0)
            rc = where_clause(&b, w, s, d, refs, ud, &out->params, e);
        break;
    }
    if (rc == 0 && b.oom)
        rc = pb_err_set(e, PB_ENOMEM, "out of memory");
    if (rc) {
        pb_buf_free(&b);
        pb_stmt_clear(out);
        return rc;
    }
    out->sql = pb_buf_take(&b, NULL);
    return 0;
}
