/*
 * step.c - parsing and type-checking a Workflow's steps against the
 * DataModel (see step.h).
 *
 * Parsing is where every name becomes an index and every value a typed
 * value: after pb_step_parse succeeds, nothing downstream (decide.c, the
 * executor's statement builder) handles a user-supplied name or literal
 * again. It also precomputes each step's column sets (read, written,
 * touched) so that deciding is a few bitset operations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"
#include "util/json.h"

static const char *const OP_NAMES[] = {"select", "insert", "update", "delete"};

const char *pb_step_op_name(pb_step_op op) { return (unsigned)op < 4 ? OP_NAMES[op] : "?"; }

int pb_step_op_parse(const char *s, pb_step_op *out)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, OP_NAMES[i]) == 0) {
            *out = (pb_step_op)i;
            return 0;
        }
    return PB_EINVAL;
}



static void free_row(pb_step_row *r)
{
    for (size_t i = 0; i < r->n; i++)
        pb_pred_value_clear(&r->cells[i].val);
    free(r->cells);
}

static void free_step(struct pb_step *s)
{
    free(s->name);
    free(s->columns);
    for (size_t i = 0; i < s->n_where; i++)
        pb_pred_clear(&s->where[i]);
    free(s->where);
    for (size_t i = 0; i < s->n_rows; i++)
        free_row(&s->rows[i]);
    free(s->rows);
    free(s->order);
    free(s->read);
    free(s->write);
    free(s->touch);
}

void pb_step_free(pb_steps *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free_step(&w->steps[i]);
    free(w->steps);
    free(w->model_name);
    free(w);
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

/* Resolve a column name of table t, or fail naming the field. */
static int column_of(const pb_dm_model *m, size_t t, const json_t *v, const char *path, pb_err *e)
{
    if (!json_is_string(v))
        return pb_err_set(e, PB_EINVAL, "%s: expected a column name, got %s", path, pb_json_type_name(v));
    int c = pb_dm_find_column(m, t, json_string_value(v));
    if (c < 0) {
        char dym[96];
        pb_agent_did_you_mean(dym, sizeof dym, pb_agent_suggest_column(m, t, json_string_value(v)));
        return pb_err_set(e, PB_EINVAL, "%s: table %s has no column \"%.64s\"%s", path, pb_dm_table_name(m, t),
                          json_string_value(v), dym);
    }
    return c;
}

static int cell_cmp(const void *a, const void *b)
{
    const pb_step_cell *x = a, *y = b;
    return (x->column > y->column) - (x->column < y->column);
}

/* One row of values: {"column": value, ...}. */
static int parse_row(const pb_dm_model *m, size_t t, const json_t *o, const char *path, pb_step_row *r,
                     pb_err *e)
{
    memset(r, 0, sizeof *r);
    if (!json_is_object(o))
        return pb_err_set(e, PB_EINVAL, "%s: expected an object {column: value}, got %s", path,
                          pb_json_type_name(o));
    size_t n = json_object_size(o);
    if (n == 0)
        return pb_err_set(e, PB_EINVAL, "%s: no values", path);
    if (n > pb_dm_column_count(m, t))
        return pb_err_set(e, PB_EINVAL, "%s: more values than table %s has columns", path, pb_dm_table_name(m, t));
    if (!(r->cells = calloc(n, sizeof *r->cells)))
        return pb_err_oom(e);
    const char *key;
    json_t *v;
    char sub[600];
    json_object_foreach((json_t *)o, key, v)
    {
        int c = pb_dm_find_column(m, t, key);
        if (c < 0) {
            char dym[96];
            pb_agent_did_you_mean(dym, sizeof dym, pb_agent_suggest_column(m, t, key));
            return pb_err_set(e, PB_EINVAL, "%s: table %s has no column \"%.64s\"%s", path, pb_dm_table_name(m, t),
                              key, dym);
        }
        snprintf(sub, sizeof sub, "%.512s.%.63s", path, key);
        pb_step_cell *cell = &r->cells[r->n];
        cell->column = c;
        int rc = pb_pred_value_parse(v, m, t, (size_t)c, sub, 1, 0, &cell->val, e);
        r->n++;
        if (rc)
            return rc;
    }
    qsort(r->cells, r->n, sizeof *r->cells, cell_cmp);
    return 0;
}

static int types_compatible(pb_dm_type a, pb_dm_type b)
{
    if (a == b)
        return 1;
    int ia = a == PB_DM_INTEGER || a == PB_DM_BIGINT, ib = b == PB_DM_INTEGER || b == PB_DM_BIGINT;
    int ta = a == PB_DM_TEXT || a == PB_DM_ENUM, tb = b == PB_DM_TEXT || b == PB_DM_ENUM;
    return (ia && ib) || (ta && tb);
}

/* A where predicate's fromStep: an earlier select step that returns
 * `field`, of a type comparable with the column. */
static int resolve_ref(pb_steps *w, const json_t *jsteps, size_t i, const pb_dm_model *m, size_t t,
                       pb_pred *p, const char *from, const char *field, const char *path, pb_err *e)
{
    int j = -1;
    for (size_t k = 0; k < i; k++)
        if (strcmp(w->steps[k].name, from) == 0)
            j = (int)k;
    if (j < 0) {
        for (size_t k = i; k < json_array_size(jsteps); k++) {
            const char *nm = json_string_value(json_object_get(json_array_get(jsteps, k), "name"));
            if (nm && strcmp(nm, from) == 0)
                return pb_err_set(e, PB_EINVAL,
                                  "%s.fromStep: step \"%.64s\" %s; a step can only use the results of "
                                  "earlier steps",
                                  path, from, k == i ? "is this step" : "comes later");
        }
        return pb_err_set(e, PB_EINVAL, "%s.fromStep: no step named \"%.64s\" before this one", path, from);
    }
    const struct pb_step *src = &w->steps[j];
    if (src->op != PB_STEP_SELECT)
        return pb_err_set(e, PB_EINVAL, "%s.fromStep: step \"%s\" is %s %s; only select steps have results",
                          path, from, src->op == PB_STEP_INSERT ? "an" : "a", pb_step_op_name(src->op));
    size_t st = (size_t)src->table;
    int f = pb_dm_find_column(m, st, field);
    if (f < 0) {
        char dym[96];
        pb_agent_did_you_mean(dym, sizeof dym, pb_agent_suggest_column(m, st, field));
        return pb_err_set(e, PB_EINVAL, "%s.field: table %s (of step \"%s\") has no column \"%.64s\"%s", path,
                          pb_dm_table_name(m, st), from, field, dym);
    }
    int returned = src->all_columns;
    for (size_t k = 0; k < src->n_columns && !returned; k++)
        returned = src->columns[k] == f;
    if (!returned)
        return pb_err_set(e, PB_EINVAL, "%s.field: step \"%s\" does not return column %s; add it to its columns",
                          path, from, field);
    pb_dm_type ft = pb_dm_column_type(m, st, (size_t)f), ct = pb_dm_column_type(m, t, (size_t)p->column);
    if (!types_compatible(ft, ct) || ct == PB_DM_JSONB)
        return pb_err_set(e, PB_EINVAL, "%s.field: %s.%s cannot be compared with %s.%s (different types)", path,
                          pb_dm_table_name(m, st), field, pb_dm_table_name(m, t),
                          pb_dm_column_name(m, t, (size_t)p->column));
    p->from_step = j;
    p->from_field = f;
    return 0;
}

static int check_keys(const json_t *o, const char *path, pb_err *e)
{
    static const char *const allowed[] = {"name",   "operation", "table",   "columns", "where",
                                          "values", "rows",      "orderBy", "limit",   NULL};
    const char *key = pb_json_unknown_key(o, allowed);
    return key ? pb_err_set(e, PB_EINVAL,
                            "%s: unknown field \"%.64s\" (allowed: name, operation, table, columns, where, "
                            "values, rows, orderBy, limit)",
                            path, key)
               : 0;
}

static int only_for(const json_t *o, const char *key, int ok, const char *path, const char *which, pb_err *e)
{
    if (!ok && json_object_get(o, key))
        return pb_err_set(e, PB_EINVAL, "%s.%s: applies to %s steps only", path, key, which);
    return 0;
}

static int parse_step(pb_steps *w, const json_t *jsteps, size_t i, const pb_dm_model *m, const pb_step_opts *o,
                      pb_err *e)
{
    struct pb_step *s = &w->steps[i];
    const json_t *js = json_array_get(jsteps, i);
    char path[64], sub[512];
    snprintf(path, sizeof path, "spec.steps[%zu]", i);
    s->index = i;
    s->table = -1;
    if (!json_is_object(js))
        return pb_err_set(e, PB_EINVAL, "%s: expected an object, got %s", path, pb_json_type_name(js));
    int rc = check_keys(js, path, e);
    if (rc)
        return rc;
    const char *name = json_string_value(json_object_get(js, "name"));
    if (!name || !name_ok(name))
        return pb_err_set(e, PB_EINVAL, "%s.name: expected a name matching ^[a-z][a-z0-9-]{0,62}$", path);
    for (size_t k = 0; k < i; k++)
        if (strcmp(w->steps[k].name, name) == 0)
            return pb_err_set(e, PB_EINVAL, "%s.name: \"%s\" is also the name of spec.steps[%zu]", path, name, k);
    if (!(s->name = strdup(name)))
        return pb_err_oom(e);
    const char *op = json_string_value(json_object_get(js, "operation"));
    if (!op || pb_step_op_parse(op, &s->op) != 0)
        return pb_err_set(e, PB_EINVAL, "%s.operation: expected select, insert, update or delete", path);
    const char *tname = json_string_value(json_object_get(js, "table"));
    if (!tname)
        return pb_err_set(e, PB_EINVAL, "%s.table: expected a table name", path);
    int t = pb_dm_find_table(m, tname);
    if (t < 0) {
        char dym[96];
        pb_agent_did_you_mean(dym, sizeof dym, pb_agent_suggest_table(m, tname));
        return pb_err_set(e, PB_EINVAL, "%s.table: DataModel %s (version %lld) has no table \"%.64s\"%s", path,
                          pb_dm_name(m), pb_dm_version(m), tname, dym);
    }
    s->table = t;
    size_t ncols = pb_dm_column_count(m, (size_t)t);
    s->words = pb_agent_words(ncols);
    if (s->words > PB_AGENT_MAX_WORDS)
        return pb_err_set(e, PB_EINVAL, "%s.table: %s has more columns than the policy engine supports", path, tname);
    s->read = calloc(s->words, sizeof(uint64_t));
    s->write = calloc(s->words, sizeof(uint64_t));
    s->touch = calloc(s->words, sizeof(uint64_t));
    if (!s->read || !s->write || !s->touch)
        return pb_err_oom(e);

    int sel = s->op == PB_STEP_SELECT, ins = s->op == PB_STEP_INSERT, upd = s->op == PB_STEP_UPDATE;
    if ((rc = only_for(js, "columns", sel, path, "select", e)) || (rc = only_for(js, "orderBy", sel, path, "select", e)) ||
        (rc = only_for(js, "values", ins || upd, path, "insert and update", e)) ||
        (rc = only_for(js, "rows", ins, path, "insert", e)) || (rc = only_for(js, "where", !ins, path, "select, update and delete", e)) ||
        (rc = only_for(js, "limit", !ins, path, "select, update and delete", e)))
        return rc;

    /* columns (select) */
    json_t *jc = json_object_get(js, "columns");
    if (sel && !jc) {
        s->all_columns = 1;
        for (size_t c = 0; c < ncols; c++)
            pb_agent_bit_set(s->read, c);
    } else if (jc) {
        if (!json_is_array(jc) || json_array_size(jc) == 0 || json_array_size(jc) > 256)
            return pb_err_set(e, PB_EINVAL,
                              "%s.columns: expected a list of 1 to 256 columns (leave it out for every column)", path);
        if (!(s->columns = calloc(json_array_size(jc), sizeof(int))))
            return pb_err_oom(e);
        for (size_t k = 0; k < json_array_size(jc); k++) {
            snprintf(sub, sizeof sub, "%s.columns[%zu]", path, k);
            int c = column_of(m, (size_t)t, json_array_get(jc, k), sub, e);
            if (c < 0)
                return c;
            if (pb_agent_bit_has(s->read, (size_t)c))
                return pb_err_set(e, PB_EINVAL, "%s: column %s is listed twice", sub, pb_dm_column_name(m, (size_t)t, (size_t)c));
            pb_agent_bit_set(s->read, (size_t)c);
            s->columns[s->n_columns++] = c;
        }
    }

    /* where */
    json_t *jw = json_object_get(js, "where");
    if (jw) {
        if (!json_is_array(jw) || json_array_size(jw) > PB_STEP_MAX_WHERE)
            return pb_err_set(e, PB_EINVAL, "%s.where: expected a list of at most %d conditions", path,
                              PB_STEP_MAX_WHERE);
        size_t n = json_array_size(jw);
        if (!(s->where = calloc(n ? n : 1, sizeof *s->where)))
            return pb_err_oom(e);
        for (size_t k = 0; k < n; k++) {
            snprintf(sub, sizeof sub, "%s.where[%zu]", path, k);
            const char *from = NULL, *field = NULL;
            rc = pb_pred_parse(json_array_get(jw, k), m, (size_t)t, sub, 1, &s->where[k], &from, &field, e);
            s->n_where = k + 1;
            if (rc)
                return rc;
            if (from && (rc = resolve_ref(w, jsteps, i, m, (size_t)t, &s->where[k], from, field, sub, e)))
                return rc;
            pb_agent_bit_set(s->read, (size_t)s->where[k].column);
        }
    }

    /* values / rows */
    json_t *jv = json_object_get(js, "values"), *jr = json_object_get(js, "rows");
    if (jv && jr)
        return pb_err_set(e, PB_EINVAL, "%s: give values (one row) or rows, not both", path);
    if ((ins || upd) && !jv && !jr)
        return pb_err_set(e, PB_EINVAL, "%s.values: %s needs values", path, op);
    size_t max_rows = o && o->max_rows ? o->max_rows : PB_STEP_MAX_ROWS;
    if (jr) {
        if (!json_is_array(jr) || json_array_size(jr) == 0)
            return pb_err_set(e, PB_EINVAL, "%s.rows: expected a non-empty list of rows", path);
        if (json_array_size(jr) > max_rows)
            return pb_err_set(e, PB_ETOOLARGE, "%s.rows: %zu rows, at most %zu in one step", path,
                              json_array_size(jr), max_rows);
    }
    size_t nrows = jv ? 1 : json_array_size(jr);
    if (nrows) {
        if (!(s->rows = calloc(nrows, sizeof *s->rows)))
            return pb_err_oom(e);
        for (size_t r = 0; r < nrows; r++) {
            if (jv)
                snprintf(sub, sizeof sub, "%s.values", path);
            else
                snprintf(sub, sizeof sub, "%s.rows[%zu]", path, r);
            rc = parse_row(m, (size_t)t, jv ? jv : json_array_get(jr, r), sub, &s->rows[r], e);
            s->n_rows = r + 1;
            if (rc)
                return rc;
            for (size_t k = 0; k < s->rows[r].n; k++)
                pb_agent_bit_set(s->write, (size_t)s->rows[r].cells[k].column);
            if (!ins)
                continue;
            for (size_t c = 0, k = 0; c < ncols; c++) {
                while (k < s->rows[r].n && s->rows[r].cells[k].column < (int)c)
                    k++;
                int given = k < s->rows[r].n && s->rows[r].cells[k].column == (int)c;
                if (!given && !pb_dm_column_nullable(m, (size_t)t, c) && !pb_dm_column_has_default(m, (size_t)t, c))
                    return pb_err_set(e, PB_EINVAL, "%s: column %s.%s is NOT NULL and has no default; give it a value",
                                      sub, pb_dm_table_name(m, (size_t)t), pb_dm_column_name(m, (size_t)t, c));
            }
        }
    }

    /* orderBy */
    json_t *jo = json_object_get(js, "orderBy");
    if (jo) {
        if (!json_is_array(jo) || json_array_size(jo) > PB_STEP_MAX_ORDER)
            return pb_err_set(e, PB_EINVAL, "%s.orderBy: expected a list of at most %d columns", path,
                              PB_STEP_MAX_ORDER);
        size_t n = json_array_size(jo);
        if (!(s->order = calloc(n ? n : 1, sizeof *s->order)))
            return pb_err_oom(e);
        for (size_t k = 0; k < n; k++) {
            json_t *ob = json_array_get(jo, k);
            snprintf(sub, sizeof sub, "%s.orderBy[%zu]", path, k);
            if (!json_is_object(ob))
                return pb_err_set(e, PB_EINVAL, "%s: expected {column, descending}", sub);
            const char *key;
            json_t *v;
            json_object_foreach(ob, key, v)
            {
                if (strcmp(key, "column") && strcmp(key, "descending"))
                    return pb_err_set(e, PB_EINVAL, "%s: unknown field \"%.64s\" (allowed: column, descending)", sub, key);
            }
            json_t *d = json_object_get(ob, "descending");
            if (d && !json_is_boolean(d))
                return pb_err_set(e, PB_EINVAL, "%s.descending: expected true or false", sub);
            char csub[560];
            snprintf(csub, sizeof csub, "%s.column", sub);
            int c = column_of(m, (size_t)t, json_object_get(ob, "column"), csub, e);
            if (c < 0)
                return c;
            s->order[k].column = c;
            s->order[k].descending = json_is_true(d);
            s->n_order = k + 1;
            pb_agent_bit_set(s->read, (size_t)c);
        }
    }

    /* limit */
    json_t *jl = json_object_get(js, "limit");
    if (jl) {
        if (!json_is_integer(jl) || json_integer_value(jl) < 1 || json_integer_value(jl) > PB_STEP_MAX_LIMIT)
            return pb_err_set(e, PB_EINVAL, "%s.limit: expected an integer from 1 to %d", path, PB_STEP_MAX_LIMIT);
        s->limit = (long long)json_integer_value(jl);
    }

    for (size_t k = 0; k < s->words; k++)
        s->touch[k] = s->read[k] | s->write[k];
    if (s->op == PB_STEP_DELETE)
        for (size_t c = 0; c < ncols; c++)
            pb_agent_bit_set(s->touch, c); /* a delete destroys every column's value */
    return 0;
}

int pb_step_parse(const json_t *spec, const pb_dm_model *m, const pb_step_opts *opts, pb_steps **out, pb_err *e)
{
    *out = NULL;
    if (!m)
        return pb_err_set(e, PB_EINVAL, "no DataModel: the tenant's DataModel is missing, steps cannot be checked");
    if (!json_is_object(spec))
        return pb_err_set(e, PB_EINVAL, "spec: expected an object, got %s", pb_json_type_name(spec));
    json_t *js = json_object_get(spec, "steps");
    if (!json_is_array(js) || json_array_size(js) == 0)
        return pb_err_set(e, PB_EINVAL, "spec.steps: expected a non-empty list of steps");
    size_t max = opts && opts->max_steps ? opts->max_steps : PB_STEP_MAX_STEPS;
    if (max > PB_STEP_MAX_STEPS)
        max = PB_STEP_MAX_STEPS;
    if (json_array_size(js) > max)
        return pb_err_set(e, PB_ETOOLARGE, "spec.steps: %zu steps, at most %zu allowed", json_array_size(js), max);
    pb_steps *w = calloc(1, sizeof *w);
    if (!w || !(w->steps = calloc(json_array_size(js), sizeof *w->steps))) {
        free(w);
        return pb_err_oom(e);
    }
    w->model = m;
    w->model_version = pb_dm_version(m);
    w->model_hash = pb_agent_model_hash(m);
    w->model_name = strdup(pb_dm_name(m) ? pb_dm_name(m) : "");
    int rc = w->model_name ? 0 : pb_err_oom(e);
    for (size_t i = 0; i < json_array_size(js) && rc == 0; i++) {
        w->n = i + 1;
        rc = parse_step(w, js, i, m, opts, e);
    }
    if (rc) {
        pb_step_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

size_t pb_step_count(const pb_steps *w) { return w ? w->n : 0; }
const pb_step *pb_step_at(const pb_steps *w, size_t i) { return w && i < w->n ? &w->steps[i] : NULL; }

int pb_step_find(const pb_steps *w, const char *name)
{
    for (size_t i = 0; w && name && i < w->n; i++)
        if (strcmp(w->steps[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *pb_step_model_name(const pb_steps *w) { return w ? w->model_name : ""; }
long long pb_step_model_version(const pb_steps *w) { return w ? w->model_version : -1; }
const char *pb_step_name(const pb_step *s) { return s ? s->name : NULL; }
pb_step_op pb_step_get_op(const pb_step *s) { return s ? s->op : PB_STEP_SELECT; }
int pb_step_table(const pb_step *s) { return s ? s->table : -1; }
long long pb_step_limit(const pb_step *s) { return s ? s->limit : 0; }
size_t pb_step_row_count(const pb_step *s) { return s ? s->n_rows : 0; }
size_t pb_step_where_count(const pb_step *s) { return s ? s->n_where : 0; }
const pb_pred *pb_step_where(const pb_step *s, size_t i) { return s && i < s->n_where ? &s->where[i] : NULL; }
