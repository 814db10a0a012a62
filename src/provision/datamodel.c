/*
 * datamodel.c - DataModel parsing, validation and DDL rendering (see
 * datamodel.h for the spec and the guarantees).
 *
 * Parsing builds plain arrays of structs; validation runs entirely before a
 * model is handed out, so pb_dm_render can assume every name is a checked
 * identifier and every default a checked literal. Identifiers are still
 * always double-quoted in the output: validation makes quoting trivially
 * safe, quoting makes a reserved-word slip harmless.
 */
#include "provision/datamodel.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* ---- model ----------------------------------------------------------------- */

typedef struct {
    char **v;
    size_t n;
} strs;

typedef struct {
    char *name;
    pb_dm_type type;
    int precision, scale; /* numeric only; precision 0 = unconstrained */
    strs values;          /* enum only */
    int nullable;
    char *default_sql;    /* rendered literal or function call, or NULL */
} column;

typedef struct {
    strs cols;
    char *ref_table;
    strs ref_cols;
    char *on_delete; /* SQL words, e.g. "CASCADE"; NULL = NO ACTION */
} fkey;

typedef struct {
    char *name;
    strs cols;
    int unique;
} index_def;

typedef struct {
    char *name;
    column *cols;
    size_t n_cols;
    strs pk;
    strs *uniques;
    size_t n_uniques;
    fkey *fks;
    size_t n_fks;
    index_def *idx;
    size_t n_idx;
} table;

struct pb_dm_model {
    char *name;
    long long version;
    table *tables; /* in creation (topological) order */
    size_t n_tables;
    char *canonical;
};

static const char *const type_names[] = {"text", "integer", "bigint", "numeric", "boolean",
                                         "timestamptz", "date", "uuid", "jsonb", "enum"};

/* PostgreSQL 15 reserved key words (categories "reserved" and "reserved, can
 * be function or type"), and names we keep for ourselves. */
static const char *const reserved[] = {
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric",
    "authorization", "binary", "both", "case", "cast", "check", "collate", "collation",
    "column", "concurrently", "constraint", "create", "cross", "current_catalog",
    "current_date", "current_role", "current_schema", "current_time", "current_timestamp",
    "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end",
    "except", "false", "fetch", "for", "foreign", "freeze", "from", "full", "grant",
    "group", "having", "ilike", "in", "initially", "inner", "intersect", "into", "is",
    "isnull", "join", "lateral", "leading", "left", "like", "limit", "localtime",
    "localtimestamp", "natural", "not", "notnull", "null", "offset", "on", "only", "or",
    "order", "outer", "overlaps", "placing", "primary", "references", "returning", "right",
    "select", "session_user", "similar", "some", "symmetric", "system_user", "table",
    "tablesample", "then", "to", "trailing", "true", "union", "unique", "user", "using",
    "variadic", "verbose", "when", "where", "window", "with",
    /* system columns */
    "oid", "tableoid", "xmin", "xmax", "cmin", "cmax", "ctid",
    /* ours */
    PB_DM_TENANT_COLUMN, NULL};

static void strs_free(strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static void table_free(table *t)
{
    free(t->name);
    for (size_t i = 0; i < t->n_cols; i++) {
        free(t->cols[i].name);
        strs_free(&t->cols[i].values);
        free(t->cols[i].default_sql);
    }
    free(t->cols);
    strs_free(&t->pk);
    for (size_t i = 0; i < t->n_uniques; i++)
        strs_free(&t->uniques[i]);
    free(t->uniques);
    for (size_t i = 0; i < t->n_fks; i++) {
        strs_free(&t->fks[i].cols);
        free(t->fks[i].ref_table);
        strs_free(&t->fks[i].ref_cols);
        free(t->fks[i].on_delete);
    }
    free(t->fks);
    for (size_t i = 0; i < t->n_idx; i++) {
        free(t->idx[i].name);
        strs_free(&t->idx[i].cols);
    }
    free(t->idx);
}

void pb_dm_free(pb_dm_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_tables; i++)
        table_free(&m->tables[i]);
    free(m->tables);
    free(m->name);
    free(m->canonical);
    free(m);
}

/* An SQL string literal the way PQescapeLiteral writes one (quotes and
 * backslashes doubled, E'' when a backslash is present), so it reads the
 * same whatever standard_conforming_strings says. Rendering needs no server
 * connection, hence no PGconn to call PQescapeLiteral with. */
static void put_literal(pb_buf *b, const char *s)
{
    int has_bs = strchr(s, '\\') != NULL;
    pb_buf_puts(b, has_bs ? "E'" : "'");
    for (const char *p = s; *p; p++) {
        if (*p == '\'' || *p == '\\')
            pb_buf_append(b, p, 1);
        pb_buf_append(b, p, 1);
    }
    pb_buf_puts(b, "'");
}

static char *literal_dup(const char *s)
{
    pb_buf b = {0};
    put_literal(&b, s);
    return pb_buf_take(&b, NULL);
}

/* ---- validation helpers ---------------------------------------------------- */

int pb_dm_ident_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 63)
        return 0;
    if (!(islower((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    if (strncmp(s, "pg_", 3) == 0)
        return 0;
    for (size_t i = 0; reserved[i]; i++)
        if (strcmp(s, reserved[i]) == 0)
            return 0;
    return 1;
}

/* Explain why an identifier is bad (the caller already knows it is). */
static int ident_error(pb_err *e, const char *path, const char *s)
{
    if (!s || !*s)
        return pb_err_set(e, PB_EINVAL, "%s: must not be empty", path);
    if (strlen(s) > 63)
        return pb_err_set(e, PB_EINVAL, "%s: identifier \"%.20s...\" is longer than 63 bytes", path, s);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return pb_err_set(e, PB_EINVAL,
                              "%s: invalid identifier (only a-z, 0-9 and _ are allowed, "
                              "starting with a letter or _; found byte 0x%02x)",
                              path, c);
    }
    if (isdigit((unsigned char)s[0]))
        return pb_err_set(e, PB_EINVAL, "%s: identifier \"%s\" must not start with a digit", path, s);
    return pb_err_set(e, PB_EINVAL, "%s: \"%s\" is a reserved name", path, s);
}

static int check_ident(pb_err *e, const char *path, const char *s)
{
    return pb_dm_ident_ok(s) ? 0 : ident_error(e, path, s);
}

/* Every member of obj must be one of the NULL-terminated `allowed`. */
static int check_fields(pb_err *e, const char *path, const json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return pb_err_set(e, PB_EINVAL, "%s: unknown field \"%s\"", path, key);
    }
    return 0;
}

/* j must be an object whose members are all in `allowed`. */
static int check_object(pb_err *e, const char *path, const json_t *j, const char *const *allowed)
{
    if (!json_is_object(j))
        return pb_err_set(e, PB_EINVAL, "%s: must be an object", path);
    if (check_fields(e, path, j, allowed))
        return e ? e->code : PB_EINVAL;
    return 0;
}

/* A required identifier s, found at `path`: *out gets a copy the caller frees. */
static int dup_ident(pb_err *e, const char *path, const char *s, char **out)
{
    if (!s)
        return pb_err_set(e, PB_EINVAL, "%s: required string", path);
    if (check_ident(e, path, s))
        return e ? e->code : PB_EINVAL;
    if (!(*out = strdup(s)))
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    return 0;
}

static int all_match(const char *s, const char *set)
{
    for (; *s; s++)
        if (!strchr(set, *s))
            return 0;
    return 1;
}

/* Shape check: `pat` uses 'd' for a digit, 'x' for a hex digit, anything
 * else literally. */
static int shape(const char *s, const char *pat)
{
    for (; *pat; s++, pat++) {
        if (!*s)
            return 0;
        if (*pat == 'd' ? !isdigit((unsigned char)*s)
                        : *pat == 'x' ? !isxdigit((unsigned char)*s) : *s != *pat)
            return 0;
    }
    return *s == '\0';
}

static int timestamp_ok(const char *s)
{
    char date[11];
    if (strlen(s) < 19)
        return 0;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!shape(date, "dddd-dd-dd") || (s[10] != 'T' && s[10] != ' '))
        return 0;
    char tm[9];
    memcpy(tm, s + 11, 8);
    tm[8] = '\0';
    if (!shape(tm, "dd:dd:dd"))
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z')
        return p[1] == '\0';
    if (*p == '+' || *p == '-')
        return shape(p + 1, "dd") || shape(p + 1, "dd:dd");
    return *p == '\0';
}

static int decimal_ok(const char *s)
{
    if (*s == '-')
        s++;
    if (!isdigit((unsigned char)*s))
        return 0;
    while (isdigit((unsigned char)*s))
        s++;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

/* A string from the spec that will become a literal: valid UTF-8 is
 * guaranteed by jansson; refuse control characters so DDL and logs stay
 * printable. */
static int text_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* A field path for messages, "spec.tables[1].columns[2].type". Deep paths
 * are cut short rather than overflowing (vsnprintf: no truncation warning
 * for a message that is allowed to be cut). */
__attribute__((format(printf, 3, 4))) static void pathf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

/* ---- parsing --------------------------------------------------------------- */

static int parse_strs(pb_err *e, const char *path, const json_t *arr, int idents, strs *out)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return pb_err_set(e, PB_EINVAL, "%s: must be a non-empty array of strings", path);
    if (json_array_size(arr) > 1000)
        return pb_err_set(e, PB_EINVAL, "%s: too many entries (max 1000)", path);
    /* Column lists of keys and indexes: PostgreSQL allows 32 columns, and
     * the rls layout prepends tenant_id. */
    if (idents && json_array_size(arr) > 31)
        return pb_err_set(e, PB_EINVAL, "%s: at most 31 columns", path);
    out->v = calloc(json_array_size(arr), sizeof *out->v);
    if (!out->v)
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char p[256];
        pathf(p, sizeof p, "%s[%zu]", path, i);
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s)
            return pb_err_set(e, PB_EINVAL, "%s: must be a string", p);
        if (idents && check_ident(e, p, s))
            return e ? e->code : PB_EINVAL;
        for (size_t j = 0; j < out->n; j++)
            if (strcmp(out->v[j], s) == 0)
                return pb_err_set(e, PB_EINVAL, "%s: duplicate \"%s\"", p, s);
        if (!(out->v[out->n] = strdup(s)))
            return pb_err_set(e, PB_ENOMEM, "out of memory");
        out->n++;
    }
    return 0;
}

static int parse_type(pb_err *e, const char *path, const char *s, column *c)
{
    if (!s)
        return pb_err_set(e, PB_EINVAL, "%s: required string", path);
    for (size_t i = 0; i < sizeof type_names / sizeof *type_names; i++) {
        if (strcmp(s, type_names[i]) == 0) {
            c->type = (pb_dm_type)i;
            return 0;
        }
    }
    int p = 0, sc = 0, n = 0;
    if (strncmp(s, "numeric(", 8) == 0 && all_match(s + 8, "0123456789,)") &&
        (sscanf(s, "numeric(%d,%d)%n", &p, &sc, &n) == 2 ||
         (sc = 0, sscanf(s, "numeric(%d)%n", &p, &n) == 1)) &&
        s[n] == '\0') {
        if (p < 1 || p > 1000 || sc < 0 || sc > p)
            return pb_err_set(e, PB_EINVAL,
                              "%s: \"%s\": numeric precision must be 1..1000 and scale 0..precision",
                              path, s);
        c->type = PB_DM_NUMERIC;
        c->precision = p;
        c->scale = sc;
        return 0;
    }
    return pb_err_set(e, PB_EINVAL,
                      "%s: unknown type \"%s\" (supported: text, integer, bigint, numeric, "
                      "numeric(p), numeric(p,s), boolean, timestamptz, date, uuid, jsonb, enum)",
                      path, s);
}

static int parse_default(pb_err *e, const char *path, const json_t *d, column *c)
{
    const char *tn = type_names[c->type];
    char buf[64];
    if (c->type == PB_DM_JSONB) {
        char *js = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!js)
            return pb_err_set(e, PB_ENOMEM, "out of memory");
        pb_buf b = {0};
        put_literal(&b, js);
        pb_buf_printf(&b, "::jsonb");
        free(js);
        c->default_sql = pb_buf_take(&b, NULL);
        return c->default_sql ? 0 : pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    if (json_is_object(d)) {
        static const char *const allowed[] = {"function", NULL};
        if (check_fields(e, path, d, allowed))
            return e ? e->code : PB_EINVAL;
        const char *fn = json_string_value(json_object_get(d, "function"));
        const char *sql = NULL;
        if (fn && strcmp(fn, "now") == 0 && c->type == PB_DM_TIMESTAMPTZ)
            sql = "now()";
        else if (fn && strcmp(fn, "current_date") == 0 && c->type == PB_DM_DATE)
            sql = "CURRENT_DATE";
        else if (fn && strcmp(fn, "gen_random_uuid") == 0 && c->type == PB_DM_UUID)
            sql = "gen_random_uuid()";
        if (!sql)
            return pb_err_set(e, PB_EINVAL,
                              "%s.function: \"%s\" is not a default function for type %s "
                              "(now: timestamptz, current_date: date, gen_random_uuid: uuid)",
                              path, fn ? fn : "", tn);
        c->default_sql = strdup(sql);
        return c->default_sql ? 0 : pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    const char *s = json_string_value(d);
    switch (c->type) {
    case PB_DM_BOOLEAN:
        if (!json_is_boolean(d))
            break;
        c->default_sql = strdup(json_is_true(d) ? "true" : "false");
        return c->default_sql ? 0 : pb_err_set(e, PB_ENOMEM, "out of memory");
    case PB_DM_INTEGER:
    case PB_DM_BIGINT:
        if (!json_is_integer(d))
            break;
        if (c->type == PB_DM_INTEGER &&
            (json_integer_value(d) < INT_MIN || json_integer_value(d) > INT_MAX))
            return pb_err_set(e, PB_EINVAL, "%s: %lld is out of range for integer", path,
                              (long long)json_integer_value(d));
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(d));
        c->default_sql = strdup(buf);
        return c->default_sql ? 0 : pb_err_set(e, PB_ENOMEM, "out of memory");
    case PB_DM_NUMERIC:
        if (json_is_integer(d)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(d));
            s = buf;
        }
        if (!s || !decimal_ok(s))
            return pb_err_set(e, PB_EINVAL,
                              "%s: a numeric default must be an integer or a decimal string like \"12.50\"",
                              path);
        c->default_sql = literal_dup(s);
        return c->default_sql ? 0 : pb_err_set(e, PB_ENOMEM, "out of memory");
    case PB_DM_TEXT:
    case PB_DM_ENUM:
        if (!s)
            break;
        if (!text_ok(s))
            return pb_err_set(e, PB_EINVAL, "%s: control characters are not allowed", path);
        if (c->type == PB_DM_ENUM) {
            int found = 0;
            for (size_t i = 0; i < c->values.n && !found; i++)
                found = strcmp(c->values.v[i], s) == 0;
            if (!found)
                return pb_err_set(e, PB_EINVAL, "%s: \"%s\" is not one of the enum's values", path, s);
        }
        c->default_sql = literal_dup(s);
        return c->default_sql ? 0 : pb_err_set(e, PB_ENOMEM, "out of memory");
    case PB_DM_DATE:
    case PB_DM_TIMESTAMPTZ:
    case PB_DM_UUID:
        if (!s)
            break;
        if ((c->type == PB_DM_DATE && !shape(s, "dddd-dd-dd")) ||
            (c->type == PB_DM_TIMESTAMPTZ && !timestamp_ok(s)) ||
            (c->type == PB_DM_UUID && !shape(s, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")))
            return pb_err_set(e, PB_EINVAL, "%s: \"%s\" is not a valid %s literal", path, s, tn);
        c->default_sql = literal_dup(s);
        return c->default_sql ? 0 : pb_err_set(e, PB_ENOMEM, "out of memory");
    case PB_DM_JSONB:
        break;
    }
    return pb_err_set(e, PB_EINVAL, "%s: default does not match the column type %s", path, tn);
}

static int parse_column(pb_err *e, const char *path, const json_t *j, column *c, strs *unique1)
{
    static const char *const allowed[] = {"name", "type", "nullable", "default", "values", "unique", NULL};
    char p[256];
    if (check_object(e, path, j, allowed))
        return e ? e->code : PB_EINVAL;
    pathf(p, sizeof p, "%s.name", path);
    const char *name = json_string_value(json_object_get(j, "name"));
    if (dup_ident(e, p, name, &c->name))
        return e ? e->code : PB_EINVAL;
    pathf(p, sizeof p, "%s.type", path);
    if (parse_type(e, p, json_string_value(json_object_get(j, "type")), c))
        return e ? e->code : PB_EINVAL;
    const json_t *vals = json_object_get(j, "values");
    pathf(p, sizeof p, "%s.values", path);
    if (c->type == PB_DM_ENUM) {
        if (parse_strs(e, p, vals, 0, &c->values))
            return e ? e->code : PB_EINVAL;
        for (size_t i = 0; i < c->values.n; i++)
            if (!*c->values.v[i] || strlen(c->values.v[i]) > 63 || !text_ok(c->values.v[i]))
                return pb_err_set(e, PB_EINVAL, "%s[%zu]: enum values must be 1..63 printable bytes", p, i);
    } else if (vals) {
        return pb_err_set(e, PB_EINVAL, "%s: only enum columns take values", p);
    }
    const json_t *nl = json_object_get(j, "nullable");
    if (nl && !json_is_boolean(nl))
        return pb_err_set(e, PB_EINVAL, "%s.nullable: must be a boolean", path);
    c->nullable = nl ? json_is_true(nl) : 1;
    const json_t *un = json_object_get(j, "unique");
    if (un && !json_is_boolean(un))
        return pb_err_set(e, PB_EINVAL, "%s.unique: must be a boolean", path);
    if (json_is_true(un)) {
        unique1->v = calloc(1, sizeof *unique1->v);
        if (!unique1->v || !(unique1->v[0] = strdup(name)))
            return pb_err_set(e, PB_ENOMEM, "out of memory");
        unique1->n = 1;
    }
    const json_t *d = json_object_get(j, "default");
    if (d && !json_is_null(d)) {
        pathf(p, sizeof p, "%s.default", path);
        if (parse_default(e, p, d, c))
            return e ? e->code : PB_EINVAL;
    }
    return 0;
}

static const column *find_col(const table *t, const char *name)
{
    for (size_t i = 0; i < t->n_cols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return &t->cols[i];
    return NULL;
}

static int cols_exist(pb_err *e, const char *path, const table *t, const strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (!find_col(t, s->v[i]))
            return pb_err_set(e, PB_EINVAL, "%s[%zu]: table \"%s\" has no column \"%s\"", path, i,
                              t->name, s->v[i]);
    return 0;
}

static int strs_eq(const strs *a, const strs *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return 0;
    return 1;
}

static int parse_fk(pb_err *e, const char *path, const json_t *j, const table *t, fkey *fk)
{
    static const char *const allowed[] = {"columns", "references", "onDelete", NULL};
    static const char *const ref_allowed[] = {"table", "columns", NULL};
    char p[256];
    if (check_object(e, path, j, allowed))
        return e ? e->code : PB_EINVAL;
    pathf(p, sizeof p, "%s.columns", path);
    if (parse_strs(e, p, json_object_get(j, "columns"), 1, &fk->cols) || cols_exist(e, p, t, &fk->cols))
        return e ? e->code : PB_EINVAL;
    const json_t *ref = json_object_get(j, "references");
    pathf(p, sizeof p, "%s.references", path);
    if (!json_is_object(ref))
        return pb_err_set(e, PB_EINVAL, "%s: required object {table, columns}", p);
    if (check_fields(e, p, ref, ref_allowed))
        return e ? e->code : PB_EINVAL;
    const char *rt = json_string_value(json_object_get(ref, "table"));
    pathf(p, sizeof p, "%s.references.table", path);
    if (dup_ident(e, p, rt, &fk->ref_table))
        return e ? e->code : PB_EINVAL;
    pathf(p, sizeof p, "%s.references.columns", path);
    if (parse_strs(e, p, json_object_get(ref, "columns"), 1, &fk->ref_cols))
        return e ? e->code : PB_EINVAL;
    if (fk->ref_cols.n != fk->cols.n)
        return pb_err_set(e, PB_EINVAL, "%s: %zu referenced columns for %zu columns", p,
                          fk->ref_cols.n, fk->cols.n);
    const json_t *od = json_object_get(j, "onDelete");
    if (od) {
        const char *s = json_string_value(od);
        const char *sql = NULL;
        if (s && strcmp(s, "no action") == 0)
            sql = NULL;
        else if (s && strcmp(s, "restrict") == 0)
            sql = "RESTRICT";
        else if (s && strcmp(s, "cascade") == 0)
            sql = "CASCADE";
        else if (s && strcmp(s, "set null") == 0)
            sql = "SET NULL";
        else
            return pb_err_set(e, PB_EINVAL,
                              "%s.onDelete: unsupported value \"%s\" (supported: \"no action\", "
                              "\"restrict\", \"cascade\", \"set null\")",
                              path, s ? s : "");
        if (sql && !(fk->on_delete = strdup(sql)))
            return pb_err_set(e, PB_ENOMEM, "out of memory");
        if (sql && strcmp(sql, "SET NULL") == 0)
            for (size_t i = 0; i < fk->cols.n; i++)
                if (!find_col(t, fk->cols.v[i])->nullable)
                    return pb_err_set(e, PB_EINVAL,
                                      "%s.onDelete: \"set null\" needs nullable columns, \"%s\" is NOT NULL",
                                      path, fk->cols.v[i]);
    }
    return 0;
}

static int parse_index(pb_err *e, const char *path, const json_t *j, const table *t, index_def *ix)
{
    static const char *const allowed[] = {"name", "columns", "unique", NULL};
    char p[256];
    if (check_object(e, path, j, allowed))
        return e ? e->code : PB_EINVAL;
    const char *name = json_string_value(json_object_get(j, "name"));
    pathf(p, sizeof p, "%s.name", path);
    if (dup_ident(e, p, name, &ix->name))
        return e ? e->code : PB_EINVAL;
    pathf(p, sizeof p, "%s.columns", path);
    if (parse_strs(e, p, json_object_get(j, "columns"), 1, &ix->cols) || cols_exist(e, p, t, &ix->cols))
        return e ? e->code : PB_EINVAL;
    const json_t *u = json_object_get(j, "unique");
    if (u && !json_is_boolean(u))
        return pb_err_set(e, PB_EINVAL, "%s.unique: must be a boolean", path);
    ix->unique = json_is_true(u);
    return 0;
}

static int parse_table(pb_err *e, const char *path, const json_t *j, table *t)
{
    static const char *const allowed[] = {"name", "columns", "primaryKey", "unique",
                                          "foreignKeys", "indexes", NULL};
    char p[256];
    if (check_object(e, path, j, allowed))
        return e ? e->code : PB_EINVAL;
    const char *name = json_string_value(json_object_get(j, "name"));
    pathf(p, sizeof p, "%s.name", path);
    if (dup_ident(e, p, name, &t->name))
        return e ? e->code : PB_EINVAL;

    const json_t *cols = json_object_get(j, "columns");
    pathf(p, sizeof p, "%s.columns", path);
    if (!json_is_array(cols) || json_array_size(cols) == 0)
        return pb_err_set(e, PB_EINVAL, "%s: must be a non-empty array", p);
    if (json_array_size(cols) > 1500)
        return pb_err_set(e, PB_EINVAL, "%s: too many columns (max 1500)", p);
    const json_t *uniq = json_object_get(j, "unique");
    if (uniq && !json_is_array(uniq))
        return pb_err_set(e, PB_EINVAL, "%s.unique: must be an array of column lists", path);
    size_t n_cols = json_array_size(cols);
    t->cols = calloc(n_cols, sizeof *t->cols);
    t->uniques = calloc(n_cols + json_array_size(uniq), sizeof *t->uniques);
    if (!t->cols || !t->uniques)
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    for (size_t i = 0; i < n_cols; i++) {
        pathf(p, sizeof p, "%s.columns[%zu]", path, i);
        strs u1 = {0};
        int rc = parse_column(e, p, json_array_get(cols, i), &t->cols[i], &u1);
        t->n_cols++;
        if (u1.n)
            t->uniques[t->n_uniques++] = u1;
        if (rc)
            return rc;
        for (size_t k = 0; k < i; k++)
            if (strcmp(t->cols[k].name, t->cols[i].name) == 0)
                return pb_err_set(e, PB_EINVAL, "%s.name: duplicate column \"%s\" in table \"%s\"", p,
                                  t->cols[i].name, t->name);
    }
    const json_t *pk = json_object_get(j, "primaryKey");
    if (pk) {
        pathf(p, sizeof p, "%s.primaryKey", path);
        if (parse_strs(e, p, pk, 1, &t->pk) || cols_exist(e, p, t, &t->pk))
            return e ? e->code : PB_EINVAL;
    }
    for (size_t i = 0; i < json_array_size(uniq); i++) {
        pathf(p, sizeof p, "%s.unique[%zu]", path, i);
        strs *u = &t->uniques[t->n_uniques++];
        if (parse_strs(e, p, json_array_get(uniq, i), 1, u) || cols_exist(e, p, t, u))
            return e ? e->code : PB_EINVAL;
        for (size_t k = 0; k + 1 < t->n_uniques; k++)
            if (strs_eq(&t->uniques[k], u))
                return pb_err_set(e, PB_EINVAL, "%s: duplicate unique constraint", p);
    }
    const json_t *fks = json_object_get(j, "foreignKeys");
    if (fks) {
        if (!json_is_array(fks))
            return pb_err_set(e, PB_EINVAL, "%s.foreignKeys: must be an array", path);
        if (!(t->fks = calloc(json_array_size(fks) + 1, sizeof *t->fks)))
            return pb_err_set(e, PB_ENOMEM, "out of memory");
        for (size_t i = 0; i < json_array_size(fks); i++) {
            pathf(p, sizeof p, "%s.foreignKeys[%zu]", path, i);
            t->n_fks++;
            if (parse_fk(e, p, json_array_get(fks, i), t, &t->fks[i]))
                return e ? e->code : PB_EINVAL;
        }
    }
    const json_t *idx = json_object_get(j, "indexes");
    if (idx) {
        if (!json_is_array(idx))
            return pb_err_set(e, PB_EINVAL, "%s.indexes: must be an array", path);
        if (!(t->idx = calloc(json_array_size(idx) + 1, sizeof *t->idx)))
            return pb_err_set(e, PB_ENOMEM, "out of memory");
        for (size_t i = 0; i < json_array_size(idx); i++) {
            pathf(p, sizeof p, "%s.indexes[%zu]", path, i);
            t->n_idx++;
            if (parse_index(e, p, json_array_get(idx, i), t, &t->idx[i]))
                return e ? e->code : PB_EINVAL;
        }
    }
    return 0;
}

static table *find_table(table *ts, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ts[i].name, name) == 0)
            return &ts[i];
    return NULL;
}

/* ---- relation names ---------------------------------------------------------- */

/* PostgreSQL's names are at most 63 bytes (NAMEDATALEN - 1). */
#define PG_NAME_MAX 63

/* The name PostgreSQL makes for an implicit object (makeObjectName):
 * "name1[_name2]_label", the longer of name1 and name2 shortened first
 * until it fits in 63 bytes (identifiers here are ASCII). */
static void pg_object_name(const char *name1, const char *name2, const char *label, char out[PG_NAME_MAX + 1])
{
    int n1 = (int)strlen(name1), n2 = name2 ? (int)strlen(name2) : 0;
    int avail = PG_NAME_MAX - (name2 ? 1 : 0) - (int)strlen(label) - 1;
    while (n1 + n2 > avail) {
        if (n1 > n2)
            n1--;
        else
            n2--;
    }
    if (name2)
        snprintf(out, PG_NAME_MAX + 1, "%.*s_%.*s_%s", n1, name1, n2, name2, label);
    else
        snprintf(out, PG_NAME_MAX + 1, "%.*s_%s", n1, name1, label);
}

/* The column part of a unique constraint's index name
 * (ChooseIndexNameAddition): the names joined by '_', stopping once 63
 * bytes are reached. */
static void pg_name_addition(const strs *cols, int rls, char out[2 * (PG_NAME_MAX + 1)])
{
    size_t len = 0, cap = 2 * (PG_NAME_MAX + 1);
    out[0] = '\0';
    for (size_t i = 0; i < cols->n + (rls ? 1 : 0) && len <= PG_NAME_MAX; i++) {
        const char *c = rls ? (i == 0 ? PB_DM_TENANT_COLUMN : cols->v[i - 1]) : cols->v[i];
        len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "_" : "", c);
    }
}

/* The index the rls layout adds on tenant_id to a table without a primary
 * key (render_table; the name is kept as it always was, so existing
 * targets do not change). */
static void tenant_index_name(const char *tname, char out[PG_NAME_MAX + 1])
{
    snprintf(out, PG_NAME_MAX + 1, "%.50s_tenant_idx", tname);
}

typedef struct {
    char name[PG_NAME_MAX + 1];
    char what[200];  /* for messages: "index \"x\" of table \"t\"" */
    char path[64];   /* for messages: the spec field ("" when implicit) */
    int explicit_;   /* we name it (IF NOT EXISTS skips it when taken);
                        else PostgreSQL picks it and avoids what exists */
} relname;

static int relname_cmp(const void *a, const void *b)
{
    const relname *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c == 0)
        c = y->explicit_ - x->explicit_; /* explicit ones first */
    if (c == 0)
        c = strcmp(x->path, y->path); /* then in spec order: a stable message */
    return c ? c : strcmp(x->what, y->what);
}

/* Every relation the DDL makes shares the schema's namespace: tables and
 * their indexes, those the model names and those PostgreSQL names for
 * primary keys and unique constraints (in either layout). A name the DDL
 * gives explicitly that another relation also gets would be skipped by IF
 * NOT EXISTS: refused here, naming both. Two names PostgreSQL picks never
 * clash (it picks another). */
static int check_relation_names(pb_err *e, const table *ts, size_t n)
{
    size_t cap = 0;
    for (size_t i = 0; i < n; i++)
        cap += 3 + ts[i].n_idx + 2 * ts[i].n_uniques;
    relname *r = calloc(cap ? cap : 1, sizeof *r);
    if (!r)
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const table *t = &ts[i];
        snprintf(r[k].name, sizeof r[k].name, "%s", t->name);
        snprintf(r[k].what, sizeof r[k].what, "table \"%s\"", t->name);
        pathf(r[k].path, sizeof r[k].path, "spec.tables[%zu].name", i);
        r[k++].explicit_ = 1;
        for (size_t x = 0; x < t->n_idx; x++) {
            snprintf(r[k].name, sizeof r[k].name, "%s", t->idx[x].name);
            snprintf(r[k].what, sizeof r[k].what, "index \"%s\" of table \"%s\"", t->idx[x].name, t->name);
            pathf(r[k].path, sizeof r[k].path, "spec.tables[%zu].indexes[%zu].name", i, x);
            r[k++].explicit_ = 1;
        }
        if (!t->pk.n) {
            tenant_index_name(t->name, r[k].name);
            snprintf(r[k].what, sizeof r[k].what,
                     "the index on tenant_id the rls layout adds to table \"%s\" (it has no primary key)", t->name);
            pathf(r[k].path, sizeof r[k].path, "spec.tables[%zu].name", i);
            r[k++].explicit_ = 1;
        } else {
            pg_object_name(t->name, NULL, "pkey", r[k].name);
            snprintf(r[k].what, sizeof r[k].what, "the primary key index PostgreSQL names for table \"%s\"",
                     t->name);
            r[k++].explicit_ = 0;
        }
        for (size_t u = 0; u < t->n_uniques; u++)
            for (int rls = 0; rls < 2; rls++) {
                char add[2 * (PG_NAME_MAX + 1)];
                pg_name_addition(&t->uniques[u], rls, add);
                pg_object_name(t->name, add, "key", r[k].name);
                snprintf(r[k].what, sizeof r[k].what,
                         "the index PostgreSQL names for a unique constraint of table \"%s\"%s", t->name,
                         rls ? " in the rls layout" : "");
                r[k++].explicit_ = 0;
            }
    }
    qsort(r, k, sizeof *r, relname_cmp);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i + 1 < k; i++) {
        if (strcmp(r[i].name, r[i + 1].name) != 0 || !r[i].explicit_)
            continue;
        /* Same text twice: the same spec line rendered in both layouts. */
        if (strcmp(r[i].what, r[i + 1].what) == 0)
            continue;
        rc = pb_err_set(e, PB_EINVAL,
                        "%s: %s and %s would both be named \"%s\" (PostgreSQL names are at most 63 bytes, and "
                        "longer ones are cut): one of them would not be created; rename one",
                        r[i].path, r[i].what, r[i + 1].what, r[i].name);
    }
    free(r);
    return rc;
}

/* Cross-table checks: names unique across tables and indexes (they share a
 * schema's namespace), foreign keys point at an existing key of matching
 * column types. */
static int check_references(pb_err *e, table *ts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < i; k++)
            if (strcmp(ts[k].name, ts[i].name) == 0)
                return pb_err_set(e, PB_EINVAL, "spec.tables[%zu].name: duplicate table \"%s\"", i,
                                  ts[i].name);
        for (size_t x = 0; x < ts[i].n_idx; x++) {
            const char *in = ts[i].idx[x].name;
            if (find_table(ts, n, in))
                return pb_err_set(e, PB_EINVAL,
                                  "spec.tables[%zu].indexes[%zu].name: \"%s\" is already a table name", i, x, in);
            for (size_t k = 0; k <= i; k++)
                for (size_t y = 0; y < (k == i ? x : ts[k].n_idx); y++)
                    if (strcmp(ts[k].idx[y].name, in) == 0)
                        return pb_err_set(e, PB_EINVAL,
                                          "spec.tables[%zu].indexes[%zu].name: duplicate index \"%s\"", i, x, in);
        }
        for (size_t f = 0; f < ts[i].n_fks; f++) {
            const fkey *fk = &ts[i].fks[f];
            const table *rt = find_table(ts, n, fk->ref_table);
            if (!rt)
                return pb_err_set(e, PB_EINVAL,
                                  "spec.tables[%zu].foreignKeys[%zu].references.table: unknown table \"%s\"",
                                  i, f, fk->ref_table);
            for (size_t c = 0; c < fk->ref_cols.n; c++) {
                const column *rc = find_col(rt, fk->ref_cols.v[c]);
                if (!rc)
                    return pb_err_set(e, PB_EINVAL,
                                      "spec.tables[%zu].foreignKeys[%zu].references.columns[%zu]: table "
                                      "\"%s\" has no column \"%s\"",
                                      i, f, c, rt->name, fk->ref_cols.v[c]);
                const column *lc = find_col(&ts[i], fk->cols.v[c]);
                if (lc->type != rc->type || lc->precision != rc->precision || lc->scale != rc->scale)
                    return pb_err_set(e, PB_EINVAL,
                                      "spec.tables[%zu].foreignKeys[%zu]: column \"%s\" and referenced "
                                      "column \"%s.%s\" have different types",
                                      i, f, lc->name, rt->name, rc->name);
            }
            int keyed = strs_eq(&rt->pk, &fk->ref_cols);
            for (size_t u = 0; u < rt->n_uniques && !keyed; u++)
                keyed = strs_eq(&rt->uniques[u], &fk->ref_cols);
            if (!keyed)
                return pb_err_set(e, PB_EINVAL,
                                  "spec.tables[%zu].foreignKeys[%zu].references.columns: must be the "
                                  "primary key or a unique constraint of \"%s\"",
                                  i, f, rt->name);
        }
    }
    return 0;
}

/* Order tables so each comes after the tables it references (self references
 * are fine); a cycle is an error. Simple O(n^2) passes: models are small. */
static int topo_sort(pb_err *e, table **tsp, size_t n)
{
    table *in = *tsp;
    table *out = calloc(n ? n : 1, sizeof *out);
    char *placed = calloc(n ? n : 1, 1);
    if (!out || !placed) {
        free(out);
        free(placed);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    size_t k = 0;
    while (k < n) {
        int progress = 0;
        for (size_t i = 0; i < n; i++) {
            if (placed[i])
                continue;
            int ready = 1;
            for (size_t f = 0; f < in[i].n_fks && ready; f++) {
                const char *rt = in[i].fks[f].ref_table;
                if (strcmp(rt, in[i].name) == 0)
                    continue;
                for (size_t j = 0; j < n; j++)
                    if (!placed[j] && strcmp(in[j].name, rt) == 0)
                        ready = 0;
            }
            if (ready) {
                out[k++] = in[i];
                placed[i] = 1;
                progress = 1;
            }
        }
        if (!progress) {
            const char *stuck = "";
            for (size_t i = 0; i < n; i++)
                if (!placed[i]) {
                    stuck = in[i].name;
                    break;
                }
            /* Hand the tables back unsorted so they are freed normally. */
            free(out);
            free(placed);
            return pb_err_set(e, PB_EINVAL,
                              "spec.tables: foreign keys form a cycle through table \"%s\"", stuck);
        }
    }
    free(in);
    free(placed);
    *tsp = out;
    return 0;
}

int pb_dm_parse_json(const char *name, const json_t *spec, pb_dm_model **out, pb_err *e)
{
    static const char *const allowed[] = {"version", "tables", NULL};
    *out = NULL;
    if (check_object(e, "spec", spec, allowed))
        return e ? e->code : PB_EINVAL;
    const json_t *ver = json_object_get(spec, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) < 1)
        return pb_err_set(e, PB_EINVAL, "spec.version: required integer >= 1");
    const json_t *tables = json_object_get(spec, "tables");
    if (!json_is_array(tables) || json_array_size(tables) == 0)
        return pb_err_set(e, PB_EINVAL, "spec.tables: must be a non-empty array");
    if (json_array_size(tables) > 1000)
        return pb_err_set(e, PB_EINVAL, "spec.tables: too many tables (max 1000)");

    pb_dm_model *m = calloc(1, sizeof *m);
    if (!m)
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    m->version = json_integer_value(ver);
    m->name = strdup(name ? name : "unnamed");
    m->canonical = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    m->tables = calloc(json_array_size(tables), sizeof *m->tables);
    int rc = 0;
    if (!m->name || !m->canonical || !m->tables)
        rc = pb_err_set(e, PB_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < json_array_size(tables); i++) {
        char p[64];
        pathf(p, sizeof p, "spec.tables[%zu]", i);
        m->n_tables++;
        rc = parse_table(e, p, json_array_get(tables, i), &m->tables[i]);
    }
    if (rc == 0)
        rc = check_references(e, m->tables, m->n_tables);
    if (rc == 0)
        rc = check_relation_names(e, m->tables, m->n_tables);
    if (rc == 0)
        rc = topo_sort(e, &m->tables, m->n_tables);
    if (rc) {
        pb_dm_free(m);
        return rc < 0 ? rc : PB_EINVAL;
    }
    *out = m;
    return 0;
}

int pb_dm_parse(const char *name, const char *json_text, pb_dm_model **out, pb_err *e)
{
    *out = NULL;
    if (!json_text)
        return pb_err_set(e, PB_EINVAL, "spec: missing");
    json_error_t je;
    json_t *j = json_loads(json_text, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return pb_err_set(e, PB_EPARSE, "spec: invalid JSON at line %d column %d: %s", je.line,
                          je.column, je.text);
    int rc = pb_dm_parse_json(name, j, out, e);
    json_decref(j);
    return rc;
}

/* ---- accessors ------------------------------------------------------------- */

const char *pb_dm_layout_name(pb_dm_layout l)
{
    switch (l) {
    case PB_DM_LAYOUT_RLS: return "rls";
    case PB_DM_LAYOUT_SCHEMA: return "schema";
    case PB_DM_LAYOUT_DATABASE: return "database";
    }
    return "unknown";
}

int pb_dm_layout_parse(const char *s, pb_dm_layout *out)
{
    for (int l = PB_DM_LAYOUT_RLS; l <= PB_DM_LAYOUT_DATABASE; l++)
        if (s && strcmp(s, pb_dm_layout_name((pb_dm_layout)l)) == 0) {
            *out = (pb_dm_layout)l;
            return 0;
        }
    return PB_EINVAL;
}

const char *pb_dm_name(const pb_dm_model *m) { return m->name; }
long long pb_dm_version(const pb_dm_model *m) { return m->version; }
const char *pb_dm_canonical(const pb_dm_model *m) { return m->canonical; }
size_t pb_dm_table_count(const pb_dm_model *m) { return m->n_tables; }
const char *pb_dm_table_name(const pb_dm_model *m, size_t t) { return t < m->n_tables ? m->tables[t].name : NULL; }

size_t pb_dm_column_count(const pb_dm_model *m, size_t t)
{
    return t < m->n_tables ? m->tables[t].n_cols : 0;
}

const char *pb_dm_column_name(const pb_dm_model *m, size_t t, size_t c)
{
    return t < m->n_tables && c < m->tables[t].n_cols ? m->tables[t].cols[c].name : NULL;
}

pb_dm_type pb_dm_column_type(const pb_dm_model *m, size_t t, size_t c)
{
    return t < m->n_tables && c < m->tables[t].n_cols ? m->tables[t].cols[c].type : PB_DM_TEXT;
}

static const column *col_at(const pb_dm_model *m, size_t t, size_t c)
{
    return t < m->n_tables && c < m->tables[t].n_cols ? &m->tables[t].cols[c] : NULL;
}

int pb_dm_find_table(const pb_dm_model *m, const char *name)
{
    for (size_t i = 0; name && i < m->n_tables; i++)
        if (strcmp(m->tables[i].name, name) == 0)
            return (int)i;
    return -1;
}

int pb_dm_find_column(const pb_dm_model *m, size_t t, const char *name)
{
    for (size_t i = 0; name && t < m->n_tables && i < m->tables[t].n_cols; i++)
        if (strcmp(m->tables[t].cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

int pb_dm_column_nullable(const pb_dm_model *m, size_t t, size_t c)
{
    const column *k = col_at(m, t, c);
    return k ? k->nullable : 0;
}

int pb_dm_column_has_default(const pb_dm_model *m, size_t t, size_t c)
{
    const column *k = col_at(m, t, c);
    return k ? k->default_sql != NULL : 0;
}

void pb_dm_column_numeric(const pb_dm_model *m, size_t t, size_t c, int *precision, int *scale)
{
    const column *k = col_at(m, t, c);
    *precision = k ? k->precision : 0;
    *scale = k ? k->scale : 0;
}

size_t pb_dm_enum_count(const pb_dm_model *m, size_t t, size_t c)
{
    const column *k = col_at(m, t, c);
    return k ? k->values.n : 0;
}

const char *pb_dm_enum_value(const pb_dm_model *m, size_t t, size_t c, size_t i)
{
    const column *k = col_at(m, t, c);
    return k && i < k->values.n ? k->values.v[i] : NULL;
}

/* ---- rendering ------------------------------------------------------------- */

static void render_type(pb_buf *b, const column *c)
{
    if (c->type == PB_DM_NUMERIC && c->precision)
        pb_buf_printf(b, "numeric(%d,%d)", c->precision, c->scale);
    else
        pb_buf_printf(b, "%s", c->type == PB_DM_ENUM ? "text" : type_names[c->type]);
}

static void render_column(pb_buf *b, const column *c)
{
    pb_buf_printf(b, "\"%s\" ", c->name);
    render_type(b, c);
    if (!c->nullable)
        pb_buf_printf(b, " NOT NULL");
    if (c->default_sql)
        pb_buf_printf(b, " DEFAULT %s", c->default_sql);
    if (c->type == PB_DM_ENUM) {
        pb_buf_printf(b, " CHECK (\"%s\" IN (", c->name);
        for (size_t i = 0; i < c->values.n; i++) {
            pb_buf_printf(b, "%s", i ? ", " : "");
            put_literal(b, c->values.v[i]);
        }
        pb_buf_printf(b, "))");
    }
}

/* ("tenant_id", "a", "b") in rls, ("a", "b") otherwise. */
static void render_cols(pb_buf *b, const strs *s, int rls)
{
    pb_buf_printf(b, "(%s", rls ? "\"" PB_DM_TENANT_COLUMN "\"" : "");
    for (size_t i = 0; i < s->n; i++)
        pb_buf_printf(b, "%s\"%s\"", (i || rls) ? ", " : "", s->v[i]);
    pb_buf_printf(b, ")");
}

/* After CREATE INDEX IF NOT EXISTS: the index of that name must be the
 * one just asked for. IF NOT EXISTS skips silently whenever any relation
 * has the name (an index on another table or on other columns, a table);
 * that is an error naming what holds the name instead. Identifiers are
 * [a-z0-9_], so they go into the literals as they are. */
static void render_index_check(pb_buf *b, const pb_dm_target *tg, const char *tname, const char *name,
                               const strs *cols, int unique, int rls)
{
    pb_buf_printf(b,
                  "DO $pb$DECLARE found text; BEGIN\n"
                  "SELECT CASE WHEN x.relkind IN ('i', 'I') THEN pg_catalog.pg_get_indexdef(x.oid) "
                  "ELSE 'relation of kind ' || x.relkind::text END INTO found\n"
                  "  FROM pg_catalog.pg_class x LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = x.oid\n"
                  " WHERE x.relnamespace = '\"%s\"'::pg_catalog.regnamespace AND x.relname = '%s'\n"
                  "   AND NOT coalesce(i.indrelid = '\"%s\".\"%s\"'::pg_catalog.regclass AND i.indisunique = %s\n"
                  "       AND i.indexprs IS NULL AND i.indpred IS NULL\n"
                  "       AND ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) "
                  "WITH ORDINALITY k(att, o)\n"
                  "                 JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.att "
                  "ORDER BY k.o) = ARRAY[",
                  tg->schema, name, tg->schema, tname, unique ? "true" : "false");
    for (size_t i = 0; i < cols->n + (rls ? 1 : 0); i++)
        pb_buf_printf(b, "%s'%s'", i ? ", " : "", rls ? (i == 0 ? PB_DM_TENANT_COLUMN : cols->v[i - 1]) : cols->v[i]);
    pb_buf_printf(b,
                  "]::text[], false);\n"
                  "IF found IS NOT NULL THEN RAISE EXCEPTION USING ERRCODE = 'duplicate_table', MESSAGE = "
                  "'index \"%s\".\"%s\" exists already and is not the one the model declares (%son \"%s\" ",
                  tg->schema, name, unique ? "unique, " : "", tname);
    render_cols(b, cols, rls);
    pb_buf_printf(b, "): the name is taken by ' || found || '; drop or rename that one'; END IF; END$pb$;\n");
}

static void render_index(pb_buf *b, const pb_dm_target *tg, const table *t, const index_def *ix)
{
    int rls = tg->layout == PB_DM_LAYOUT_RLS;
    pb_buf_printf(b, "CREATE %sINDEX IF NOT EXISTS \"%s\" ON \"%s\".\"%s\" ", ix->unique ? "UNIQUE " : "",
           ix->name, tg->schema, t->name);
    render_cols(b, &ix->cols, rls);
    pb_buf_printf(b, ";\n");
    render_index_check(b, tg, t->name, ix->name, &ix->cols, ix->unique, rls);
}

#define TENANT_FN_SQL "\"" PB_DM_META_SCHEMA "\".\"" PB_DM_TENANT_FN "\"()"

static void render_table(pb_buf *b, const pb_dm_target *tg, const table *t)
{
    int rls = tg->layout == PB_DM_LAYOUT_RLS;
    pb_buf_printf(b, "CREATE TABLE IF NOT EXISTS \"%s\".\"%s\" (\n", tg->schema, t->name);
    if (rls)
        pb_buf_printf(b, "  \"" PB_DM_TENANT_COLUMN "\" text NOT NULL DEFAULT " TENANT_FN_SQL ",\n");
    for (size_t i = 0; i < t->n_cols; i++) {
        pb_buf_printf(b, "  ");
        render_column(b, &t->cols[i]);
        pb_buf_printf(b, "%s\n", i + 1 < t->n_cols || t->pk.n || t->n_uniques || t->n_fks ? "," : "");
    }
    if (t->pk.n) {
        pb_buf_printf(b, "  PRIMARY KEY ");
        render_cols(b, &t->pk, rls);
        pb_buf_printf(b, "%s\n", t->n_uniques || t->n_fks ? "," : "");
    }
    for (size_t i = 0; i < t->n_uniques; i++) {
        pb_buf_printf(b, "  UNIQUE ");
        render_cols(b, &t->uniques[i], rls);
        pb_buf_printf(b, "%s\n", i + 1 < t->n_uniques || t->n_fks ? "," : "");
    }
    for (size_t i = 0; i < t->n_fks; i++) {
        const fkey *fk = &t->fks[i];
        pb_buf_printf(b, "  FOREIGN KEY ");
        render_cols(b, &fk->cols, rls);
        pb_buf_printf(b, " REFERENCES \"%s\".\"%s\" ", tg->schema, fk->ref_table);
        render_cols(b, &fk->ref_cols, rls);
        if (fk->on_delete && rls && strcmp(fk->on_delete, "SET NULL") == 0) {
            /* Only the referencing columns: tenant_id must stay (PG 15+). */
            pb_buf_printf(b, " ON DELETE SET NULL ");
            render_cols(b, &fk->cols, 0);
        } else if (fk->on_delete) {
            pb_buf_printf(b, " ON DELETE %s", fk->on_delete);
        }
        pb_buf_printf(b, "%s\n", i + 1 < t->n_fks ? "," : "");
    }
    pb_buf_printf(b, ");\n");
    if (rls && !t->pk.n) {
        char tix[PG_NAME_MAX + 1];
        strs none = {0};
        tenant_index_name(t->name, tix);
        pb_buf_printf(b, "CREATE INDEX IF NOT EXISTS \"%s\" ON \"%s\".\"%s\" (\"" PB_DM_TENANT_COLUMN "\");\n", tix,
                      tg->schema, t->name);
        render_index_check(b, tg, t->name, tix, &none, 0, 1);
    }
    for (size_t i = 0; i < t->n_idx; i++)
        render_index(b, tg, t, &t->idx[i]);
    if (rls) {
        pb_buf_printf(b, "ALTER TABLE \"%s\".\"%s\" ENABLE ROW LEVEL SECURITY;\n", tg->schema, t->name);
        pb_buf_printf(b, "ALTER TABLE \"%s\".\"%s\" FORCE ROW LEVEL SECURITY;\n", tg->schema, t->name);
        pb_buf_printf(b, "DROP POLICY IF EXISTS \"" PB_DM_POLICY "\" ON \"%s\".\"%s\";\n", tg->schema, t->name);
        pb_buf_printf(b,
               "CREATE POLICY \"" PB_DM_POLICY "\" ON \"%s\".\"%s\" USING (\"" PB_DM_TENANT_COLUMN
               "\" = " TENANT_FN_SQL ") WITH CHECK (\"" PB_DM_TENANT_COLUMN "\" = " TENANT_FN_SQL ");\n",
               tg->schema, t->name);
    }
}

static int column_eq(const column *a, const column *b)
{
    if (a->type != b->type || a->precision != b->precision || a->scale != b->scale ||
        a->nullable != b->nullable || !strs_eq(&a->values, &b->values))
        return 0;
    if (!a->default_sql || !b->default_sql)
        return a->default_sql == b->default_sql;
    return strcmp(a->default_sql, b->default_sql) == 0;
}

static int fk_eq(const fkey *a, const fkey *b)
{
    return strs_eq(&a->cols, &b->cols) && strcmp(a->ref_table, b->ref_table) == 0 &&
           strs_eq(&a->ref_cols, &b->ref_cols) &&
           strcmp(a->on_delete ? a->on_delete : "", b->on_delete ? b->on_delete : "") == 0;
}

/* Keys of an existing table must not change (changing them rewrites data or
 * can fail on existing rows: out of scope for automatic migration). */
static int keys_unchanged(pb_err *e, const table *o, const table *n)
{
    int same = strs_eq(&o->pk, &n->pk) && o->n_uniques == n->n_uniques && o->n_fks == n->n_fks;
    for (size_t i = 0; same && i < o->n_uniques; i++)
        same = strs_eq(&o->uniques[i], &n->uniques[i]);
    for (size_t i = 0; same && i < o->n_fks; i++)
        same = fk_eq(&o->fks[i], &n->fks[i]);
    return same ? 0
                : pb_err_set(e, PB_EINVAL,
                             "table \"%s\": changing primary key, unique constraints or foreign keys "
                             "of an existing table is not supported",
                             n->name);
}

static const index_def *find_index(const table *t, const char *name)
{
    for (size_t i = 0; i < t->n_idx; i++)
        if (strcmp(t->idx[i].name, name) == 0)
            return &t->idx[i];
    return NULL;
}

/* Drops go first (indexes, columns, then whole tables in reverse creation
 * order), then additions in creation order. */
static int render_diff(pb_buf *b, const pb_dm_model *from, const pb_dm_model *to, const pb_dm_target *tg,
                       int allow_destructive, pb_err *e)
{
#define DESTRUCTIVE(...)                                                                          \
    do {                                                                                          \
        if (!allow_destructive) {                                                                 \
            char what_[256];                                                                      \
            snprintf(what_, sizeof what_, __VA_ARGS__);                                           \
            return pb_err_set(e, PB_EFORBIDDEN,                                                   \
                              "version %lld %s: destructive change refused (allowDestructive is " \
                              "not set)",                                                         \
                              to->version, what_);                                                \
        }                                                                                         \
    } while (0)

    for (size_t i = 0; i < from->n_tables; i++) {
        const table *o = &from->tables[i];
        const table *n = find_table(to->tables, to->n_tables, o->name);
        if (!n)
            continue;
        for (size_t x = 0; x < o->n_idx; x++) {
            const index_def *ni = find_index(n, o->idx[x].name);
            if (ni && (ni->unique != o->idx[x].unique || !strs_eq(&ni->cols, &o->idx[x].cols)))
                return pb_err_set(e, PB_EINVAL,
                                  "index \"%s\": changing an existing index is not supported "
                                  "(add one with a new name)",
                                  ni->name);
            if (!ni) {
                DESTRUCTIVE("drops index \"%s\"", o->idx[x].name);
                pb_buf_printf(b, "DROP INDEX IF EXISTS \"%s\".\"%s\";\n", tg->schema, o->idx[x].name);
            }
        }
        for (size_t c = 0; c < o->n_cols; c++) {
            const column *nc = find_col(n, o->cols[c].name);
            if (nc && !column_eq(nc, &o->cols[c]))
                return pb_err_set(e, PB_EINVAL,
                                  "column \"%s.%s\": changing the type, nullability, default or values "
                                  "of an existing column is not supported (add a new column)",
                                  n->name, nc->name);
            if (!nc) {
                DESTRUCTIVE("drops column \"%s.%s\"", o->name, o->cols[c].name);
                pb_buf_printf(b, "ALTER TABLE \"%s\".\"%s\" DROP COLUMN IF EXISTS \"%s\";\n", tg->schema, o->name,
                       o->cols[c].name);
            }
        }
        if (keys_unchanged(e, o, n))
            return e ? e->code : PB_EINVAL;
    }
    for (size_t i = from->n_tables; i-- > 0;) {
        const table *o = &from->tables[i];
        if (!find_table(to->tables, to->n_tables, o->name)) {
            DESTRUCTIVE("drops table \"%s\"", o->name);
            pb_buf_printf(b, "DROP TABLE IF EXISTS \"%s\".\"%s\" CASCADE;\n", tg->schema, o->name);
        }
    }
    for (size_t i = 0; i < to->n_tables; i++) {
        const table *n = &to->tables[i];
        const table *o = find_table(from->tables, from->n_tables, n->name);
        if (!o) {
            render_table(b, tg, n);
            continue;
        }
        for (size_t c = 0; c < n->n_cols; c++) {
            const column *nc = &n->cols[c];
            if (find_col(o, nc->name))
                continue;
            if (!nc->nullable && !nc->default_sql)
                return pb_err_set(e, PB_EINVAL,
                                  "column \"%s.%s\": a new NOT NULL column needs a default "
                                  "(existing rows have no value for it)",
                                  n->name, nc->name);
            pb_buf_printf(b, "ALTER TABLE \"%s\".\"%s\" ADD COLUMN IF NOT EXISTS ", tg->schema, n->name);
            render_column(b, nc);
            pb_buf_printf(b, ";\n");
        }
        for (size_t x = 0; x < n->n_idx; x++)
            if (!find_index(o, n->idx[x].name))
                render_index(b, tg, n, &n->idx[x]);
    }
    return 0;
#undef DESTRUCTIVE
}

int pb_dm_render(const pb_dm_model *from, const pb_dm_model *to, const pb_dm_target *tg,
                 int allow_destructive, char **sql, pb_err *e)
{
    *sql = NULL;
    if (!to || !tg || !tg->schema)
        return pb_err_set(e, PB_EINVAL, "render: model and target schema are required");
    if (!pb_dm_ident_ok(tg->schema) && strcmp(tg->schema, "public") != 0)
        return ident_error(e, "render: target schema", tg->schema);
    pb_buf b = {0};
    int rc = 0;
    if (from) {
        if (to->version < from->version)
            return pb_err_set(e, PB_EINVAL, "version %lld is lower than the applied version %lld",
                              to->version, from->version);
        if (to->version == from->version) {
            if (strcmp(to->canonical, from->canonical) != 0)
                return pb_err_set(e, PB_EINVAL,
                                  "version %lld is already applied with a different spec: bump the "
                                  "version to change the model",
                                  to->version);
            *sql = strdup("");
            return *sql ? 0 : pb_err_set(e, PB_ENOMEM, "out of memory");
        }
        rc = render_diff(&b, from, to, tg, allow_destructive, e);
    } else {
        for (size_t i = 0; i < to->n_tables; i++)
            render_table(&b, tg, &to->tables[i]);
    }
    if (rc) {
        pb_buf_free(&b);
        return rc;
    }
    *sql = pb_buf_take(&b, NULL);
    return *sql ? 0 : pb_err_set(e, PB_ENOMEM, "out of memory");
}
