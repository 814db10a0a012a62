/*
 * sqlgen.c - agent role grants and RLS policies from compiled AgentPolicies,
 * and typed predicates as SQL (see sqlgen.h).
 *
 * Quoting is done here rather than with pb_pg_format because the output
 * must not depend on a server connection (the controller renders, diffs and
 * only then connects); it reproduces PQescapeIdentifier / PQescapeLiteral
 * exactly (quote doubling; for literals with a backslash, the " E'" form
 * with its leading space, backslashes doubled), which the unit tests check
 * against libpq itself. Invalid UTF-8 is refused, as libpq refuses it.
 * Identifiers and values reaching this file are already checked (DataModel
 * identifiers, typed values), so quoting is the second line, not the first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"
#include "agent/sqlgen.h"

/* ---- quoting --------------------------------------------------------------------- */

static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        size_t n;
        unsigned min;
        unsigned cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2;
            cp = c & 0x1f;
            min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            cp = c & 0x0f;
            min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n;
    }
    return 1;
}

int pb_sqlgen_ident(pb_buf *b, const char *s, pb_err *e)
{
    if (!s || !utf8_ok(s))
        return pb_err_set(e, PB_EINVAL, "identifier is not valid UTF-8");
    pb_buf_puts(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            pb_buf_append(b, p, 1);
        pb_buf_append(b, p, 1);
    }
    pb_buf_puts(b, "\"");
    return b->oom ? pb_err_set(e, PB_ENOMEM, "out of memory") : 0;
}

int pb_sqlgen_literal(pb_buf *b, const char *s, pb_err *e)
{
    if (!s || !utf8_ok(s))
        return pb_err_set(e, PB_EINVAL, "literal is not valid UTF-8");
    pb_buf_puts(b, strchr(s, '\\') ? " E'" : "'");
    for (const char *p = s; *p; p++) {
        if (*p == '\'' || *p == '\\')
            pb_buf_append(b, p, 1);
        pb_buf_append(b, p, 1);
    }
    pb_buf_puts(b, "'");
    return b->oom ? pb_err_set(e, PB_ENOMEM, "out of memory") : 0;
}

void pb_sqlgen_policy_name(const char *role, const char *cmd, char buf[64])
{
    if (!cmd) {
        snprintf(buf, 64, "pb_agent_base");
        return;
    }
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)(role ? role : ""); *p; p++)
        h = (h ^ *p) * 16777619u;
    snprintf(buf, 64, "pb_agent_%s_%08x", cmd, h);
}

void pb_sqlgen_params_free(pb_sqlgen_params *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->values[i]);
    free(p->values);
    memset(p, 0, sizeof *p);
}

/* ---- predicates ------------------------------------------------------------------ */

const char *pb_sqlgen_type_name(pb_dm_type t)
{
    switch (t) {
    case PB_DM_INTEGER:
        return "integer";
    case PB_DM_BIGINT:
        return "bigint";
    case PB_DM_NUMERIC:
        return "numeric";
    case PB_DM_BOOLEAN:
        return "boolean";
    case PB_DM_TIMESTAMPTZ:
        return "timestamptz";
    case PB_DM_DATE:
        return "date";
    case PB_DM_UUID:
        return "uuid";
    case PB_DM_JSONB:
        return "jsonb";
    default:
        return "text";
    }
}

int pb_sqlgen_param_add(pb_sqlgen_params *ps, const char *text, pb_err *e)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        char **nv = realloc(ps->values, cap * sizeof *nv);
        if (!nv)
            return pb_err_set(e, PB_ENOMEM, "out of memory");
        ps->values = nv;
        ps->cap = cap;
    }
    size_t n = strlen(text) + 1;
    if (!(ps->values[ps->n] = malloc(n)))
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    memcpy(ps->values[ps->n++], text, n);
    return 0;
}

int pb_sqlgen_value(pb_buf *b, pb_dm_type t, const pb_pred_value *v, pb_sqlgen_params *ps, pb_err *e)
{
    char num[32];
    const char *text = v->s;
    if (t == PB_DM_INTEGER || t == PB_DM_BIGINT) {
        snprintf(num, sizeof num, "%lld", v->i);
        text = num;
    } else if (t == PB_DM_BOOLEAN) {
        text = v->i ? "true" : "false";
    }
    if (!text)
        return pb_err_set(e, PB_EINTERNAL, "predicate value without text");
    if (ps) {
        int rc = pb_sqlgen_param_add(ps, text, e);
        if (rc)
            return rc;
        pb_buf_printf(b, "$%zu::%s", ps->n, pb_sqlgen_type_name(t));
        return 0;
    }
    if (t == PB_DM_INTEGER || t == PB_DM_BIGINT || t == PB_DM_BOOLEAN) {
        pb_buf_puts(b, text); /* formatted here from a number: no quoting needed */
        return 0;
    }
    int rc = pb_sqlgen_literal(b, text, e);
    if (rc == 0 && t != PB_DM_TEXT && t != PB_DM_ENUM)
        pb_buf_printf(b, "::%s", pb_sqlgen_type_name(t));
    return rc;
}

int pb_sqlgen_pred(pb_buf *b, const pb_dm_model *m, size_t t, const char *alias, const pb_pred *p,
                   pb_sqlgen_params *params, pb_err *e)
{
    if (!b || !m || !p || t >= pb_dm_table_count(m) || p->column < 0 ||
        (size_t)p->column >= pb_dm_column_count(m, t))
        return pb_err_set(e, PB_EINVAL, "predicate does not belong to this table");
    if (p->from_step >= 0)
        return pb_err_set(e, PB_EINVAL, "a fromStep predicate is bound by the executor, not rendered");
    static const char *const ops[] = {" = ", " <> ", " < ", " <= ", " > ", " >= ",
                                      " IN (", " NOT IN (", " IS NULL", " IS NOT NULL", " LIKE "};
    /* LIKE on an enum column compares its text; every other op the column's
     * own type. */
    pb_dm_type vt = p->op == PB_PRED_LIKE ? PB_DM_TEXT : p->type;
    pb_buf_puts(b, "(");
    int rc = 0;
    if (alias && (rc = pb_sqlgen_ident(b, alias, e)))
        return rc;
    if (alias)
        pb_buf_puts(b, ".");
    if ((rc = pb_sqlgen_ident(b, pb_dm_column_name(m, t, (size_t)p->column), e)))
        return rc;
    pb_buf_puts(b, ops[p->op]);
    switch (p->op) {
    case PB_PRED_IS_NULL:
    case PB_PRED_NOT_NULL:
        break;
    case PB_PRED_IN:
    case PB_PRED_NOT_IN:
        for (size_t i = 0; i < p->n_vals && rc == 0; i++) {
            if (i)
                pb_buf_puts(b, ", ");
            rc = pb_sqlgen_value(b, vt, &p->vals[i], params, e);
        }
        pb_buf_puts(b, ")");
        break;
    default:
        if (p->n_vals != 1)
            return pb_err_set(e, PB_EINTERNAL, "predicate without its value");
        rc = pb_sqlgen_value(b, vt, &p->vals[0], params, e);
        break;
    }
    pb_buf_puts(b, ")");
    if (rc)
        return rc;
    return b->oom ? pb_err_set(e, PB_ENOMEM, "out of memory") : 0;
}

/* ---- the role ----------------------------------------------------------------------- */

enum { C_SELECT, C_INSERT, C_UPDATE, C_DELETE, N_CMD };
static const char *const CMD[N_CMD] = {"select", "insert", "update", "delete"};
static const char *const CMD_SQL[N_CMD] = {"SELECT", "INSERT", "UPDATE", "DELETE"};

/* What the role gets on one table, over every contributing policy. */
typedef struct {
    uint64_t cols[N_CMD][PB_AGENT_MAX_WORDS]; /* SELECT/INSERT/UPDATE columns; DELETE unused */
    int granted[N_CMD];
    int unconstrained[N_CMD]; /* some contributing rule has no constraints */
    int denied[N_CMD];        /* a deny without columns */
    uint64_t deny_cols[N_CMD][PB_AGENT_MAX_WORDS];
} table_acc;

static int contributes(const pb_pol *p) { return p && !p->broken && !p->audit; }

/* The commands a rule's operation set reaches in the database. */
static unsigned rule_cmds(unsigned ops)
{
    unsigned c = 0;
    if (ops & (PB_AGENT_OP_BIT(PB_STEP_SELECT) | PB_AGENT_OP_BIT(PB_STEP_UPDATE) | PB_AGENT_OP_BIT(PB_STEP_DELETE)))
        c |= 1u << C_SELECT; /* update/delete read the columns of their where */
    if (ops & PB_AGENT_OP_BIT(PB_STEP_INSERT))
        c |= 1u << C_INSERT;
    if (ops & PB_AGENT_OP_BIT(PB_STEP_UPDATE))
        c |= 1u << C_UPDATE;
    if (ops & PB_AGENT_OP_BIT(PB_STEP_DELETE))
        c |= 1u << C_DELETE;
    return c;
}

static void accumulate(const pb_pol *const *pols, size_t n, size_t t, size_t words, table_acc *a)
{
    memset(a, 0, sizeof *a);
    /* Deny rules of every contributing policy shrink the shared role. */
    for (size_t i = 0; i < n; i++) {
        const pb_pol *p = pols[i];
        if (!contributes(p))
            continue;
        const pb_pol_table *tb = &p->tables[t];
        for (size_t k = 0; k < tb->n_deny; k++) {
            const pb_pol_deny *d = &p->deny[tb->deny[k]];
            for (int op = 0; op < 4; op++) {
                if (!(d->ops & PB_AGENT_OP_BIT(op)))
                    continue;
                /* step op == db command index for the four operations */
                if (!d->columns || op == PB_STEP_DELETE)
                    a->denied[op] = 1; /* a delete touches every column */
                else
                    for (size_t w = 0; w < words; w++)
                        a->deny_cols[op][w] |= d->columns[w];
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        const pb_pol *p = pols[i];
        if (!contributes(p))
            continue;
        const pb_pol_table *tb = &p->tables[t];
        for (size_t k = 0; k < tb->n_allow; k++) {
            const pb_pol_allow *r = &p->allow[tb->allow[k]];
            unsigned live = r->ops;
            for (int op = 0; op < 4; op++)
                if (a->denied[op])
                    live &= ~PB_AGENT_OP_BIT(op);
            unsigned cmds = rule_cmds(live);
            for (int c = 0; c < N_CMD; c++) {
                if (!(cmds & (1u << c)))
                    continue;
                a->granted[c] = 1;
                if (!r->n_rows)
                    a->unconstrained[c] = 1;
                const uint64_t *src = c == C_SELECT ? r->readable : r->writable;
                for (size_t w = 0; c != C_DELETE && w < words; w++)
                    a->cols[c][w] |= src[w];
            }
        }
    }
    if (a->denied[C_SELECT]) /* no reading at all, not even for where clauses */
        a->granted[C_SELECT] = 0;
    for (int c = 0; c < C_DELETE; c++) {
        int any = 0;
        for (size_t w = 0; w < words; w++) {
            a->cols[c][w] &= ~a->deny_cols[c][w];
            any |= a->cols[c][w] != 0;
        }
        if (!any)
            a->granted[c] = 0;
    }
}

/* OR over the contributing rules reaching command c of their ANDed row
 * constraints; a rule whose constraints render exactly like an earlier
 * one's adds nothing and is left out. */
static int render_constraints(pb_buf *b, const pb_pol *const *pols, size_t n, const pb_dm_model *m, size_t t, int c,
                              const table_acc *a, pb_err *e)
{
    char **terms = NULL;
    size_t nterms = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const pb_pol *p = pols[i];
        if (!contributes(p))
            continue;
        const pb_pol_table *tb = &p->tables[t];
        for (size_t k = 0; k < tb->n_allow && rc == 0; k++) {
            const pb_pol_allow *r = &p->allow[tb->allow[k]];
            unsigned live = r->ops;
            for (int op = 0; op < 4; op++)
                if (a->denied[op])
                    live &= ~PB_AGENT_OP_BIT(op);
            if (!(rule_cmds(live) & (1u << c)))
                continue;
            pb_buf one = {0};
            pb_buf_puts(&one, "(");
            for (size_t j = 0; j < r->n_rows && rc == 0; j++) {
                if (j)
                    pb_buf_puts(&one, " AND ");
                rc = pb_sqlgen_pred(&one, m, t, NULL, &r->rows[j], NULL, e);
            }
            pb_buf_puts(&one, ")");
            char *x = rc ? NULL : pb_buf_take(&one, NULL);
            pb_buf_free(&one);
            if (rc)
                break;
            char **nt = x ? realloc(terms, (nterms + 1) * sizeof *nt) : NULL;
            if (!nt) {
                free(x);
                rc = pb_err_set(e, PB_ENOMEM, "out of memory");
                break;
            }
            terms = nt;
            size_t d;
            for (d = 0; d < nterms && strcmp(terms[d], x); d++) {
            }
            if (d < nterms) {
                free(x);
                continue;
            }
            if (nterms)
                pb_buf_puts(b, " OR ");
            pb_buf_puts(b, x);
            terms[nterms++] = x;
        }
    }
    for (size_t d = 0; d < nterms; d++)
        free(terms[d]);
    free(terms);
    return rc;
}

static void col_grant(pb_buf *b, const char *priv, const pb_dm_model *m, size_t t, const uint64_t *set)
{
    pb_buf_printf(b, "GRANT %s (", priv);
    int any = 0;
    for (size_t c = 0; c < pb_dm_column_count(m, t); c++)
        if (pb_agent_bit_has(set, c)) {
            if (any)
                pb_buf_puts(b, ", ");
            pb_sqlgen_ident(b, pb_dm_column_name(m, t, c), NULL);
            any = 1;
        }
    pb_buf_puts(b, ")");
}

int pb_sqlgen_role(const pb_pol *const *pols, size_t n, const pb_dm_model *m, const pb_sqlgen_target *tg, char **sql,
                   pb_err *e)
{
    *sql = NULL;
    if (!m || !tg || !tg->schema || !*tg->schema || !tg->role || !*tg->role || (n && !pols))
        return pb_err_set(e, PB_EINVAL, "agent role SQL needs a DataModel, a schema and a role");
    if (strlen(tg->role) > 63 || strlen(tg->schema) > 63)
        return pb_err_set(e, PB_EINVAL, "schema and role names are at most 63 bytes");
    for (size_t t = 0; t < pb_dm_table_count(m); t++)
        if (pb_agent_words(pb_dm_column_count(m, t)) > PB_AGENT_MAX_WORDS)
            return pb_err_set(e, PB_EINVAL, "table %s has more columns than the policy engine supports",
                              pb_dm_table_name(m, t));
    uint64_t mh = pb_agent_model_hash(m);
    for (size_t i = 0; i < n; i++) {
        if (!pols[i])
            return pb_err_set(e, PB_EINVAL, "agent role SQL: policy %zu is NULL", i);
        if (contributes(pols[i]) && (pols[i]->model_hash != mh || pols[i]->model_version != pb_dm_version(m)))
            return pb_err_set(e, PB_EINVAL,
                              "AgentPolicy %s/%s was compiled against DataModel %s version %lld, not %s version %lld",
                              pols[i]->ns, pols[i]->name, pols[i]->model_name, pols[i]->model_version, pb_dm_name(m),
                              pb_dm_version(m));
    }
    pb_buf b = {0}, q = {0}, r = {0}, tbl = {0};
    int rc = 0;
    if ((rc = pb_sqlgen_ident(&q, tg->role, e)) || (rc = pb_sqlgen_ident(&q, tg->schema, e)))
        goto out;
    pb_buf_free(&q);
    pb_sqlgen_ident(&r, tg->role, NULL);
    const char *role = pb_buf_str(&r);
    char pname[N_CMD][64], base[64];
    for (int c = 0; c < N_CMD; c++)
        pb_sqlgen_policy_name(tg->role, CMD[c], pname[c]);
    pb_sqlgen_policy_name(tg->role, NULL, base);

    pb_buf_puts(&b, "GRANT USAGE ON SCHEMA ");
    pb_sqlgen_ident(&b, tg->schema, NULL);
    pb_buf_printf(&b, " TO %s;\n", role);
    for (size_t t = 0; t < pb_dm_table_count(m); t++) {
        size_t ncols = pb_dm_column_count(m, t), words = pb_agent_words(ncols);
        pb_buf_truncate(&tbl, 0);
        pb_sqlgen_ident(&tbl, tg->schema, NULL);
        pb_buf_puts(&tbl, ".");
        pb_sqlgen_ident(&tbl, pb_dm_table_name(m, t), NULL);
        const char *tq = pb_buf_str(&tbl);
        pb_buf_printf(&b, "REVOKE ALL ON TABLE %s FROM %s;\n", tq, role);
        for (int c = 0; c < N_CMD; c++)
            pb_buf_printf(&b, "DROP POLICY IF EXISTS \"%s\" ON %s;\n", pname[c], tq);
        if (tg->layout != PB_DM_LAYOUT_RLS) {
            pb_buf_printf(&b, "ALTER TABLE %s ENABLE ROW LEVEL SECURITY;\n", tq);
            pb_buf_printf(&b, "DROP POLICY IF EXISTS \"%s\" ON %s;\n", base, tq);
            pb_buf_printf(&b, "CREATE POLICY \"%s\" ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK "
                              "(true);\n",
                          base, tq);
        }
        table_acc a;
        accumulate(pols, n, t, words, &a);
        for (int c = 0; c < N_CMD; c++) {
            if (!a.granted[c])
                continue;
            if (c == C_DELETE)
                pb_buf_puts(&b, "GRANT DELETE");
            else
                col_grant(&b, CMD_SQL[c], m, t, a.cols[c]);
            pb_buf_printf(&b, " ON TABLE %s TO %s;\n", tq, role);
        }
        for (int c = 0; c < N_CMD; c++) {
            if (!a.granted[c] || a.unconstrained[c])
                continue;
            pb_buf cond = {0};
            if ((rc = render_constraints(&cond, pols, n, m, t, c, &a, e))) {
                pb_buf_free(&cond);
                goto out;
            }
            const char *x = pb_buf_str(&cond);
            pb_buf_printf(&b, "CREATE POLICY \"%s\" ON %s AS RESTRICTIVE FOR %s TO %s", pname[c], tq, CMD_SQL[c], role);
            if (c != C_INSERT)
                pb_buf_printf(&b, " USING (%s)", x);
            if (c == C_INSERT || c == C_UPDATE)
                pb_buf_printf(&b, " WITH CHECK (%s)", x);
            pb_buf_puts(&b, ";\n");
            pb_buf_free(&cond);
        }
    }
    if (b.oom) {
        rc = pb_err_set(e, PB_ENOMEM, "out of memory");
        goto out;
    }
    *sql = pb_buf_take(&b, NULL);
    if (!*sql)
        rc = pb_err_set(e, PB_ENOMEM, "out of memory");
out:
    pb_buf_free(&b);
    pb_buf_free(&q);
    pb_buf_free(&r);
    pb_buf_free(&tbl);
    return rc;
}
