/*
 * pred.c - typed values and predicates (see pred.h), plus the small helpers
 * every agent module shares: "did you mean" suggestions and the DataModel
 * fingerprint.
 *
 * Values are checked the way PostgreSQL would store them, and kept in a
 * canonical form so that equality in C (used to check written values
 * against row constraints, and by tests as the reference) agrees with
 * equality in the database: numerics normalised, uuids lower-cased,
 * timestamps in UTC. Anything that cannot be represented exactly (JSON
 * reals, sub-microsecond timestamps, out-of-range integers) is refused
 * rather than rounded.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"
#include "util/json.h"
#include "util/timeutil.h"

static const char *const OP_NAMES[] = {"eq", "ne", "lt", "le", "gt", "ge",
                                       "in", "notIn", "isNull", "notNull", "like"};
#define N_OPS (sizeof OP_NAMES / sizeof OP_NAMES[0])

const char *pb_pred_op_name(pb_pred_op op) { return (size_t)op < N_OPS ? OP_NAMES[op] : "?"; }

int pb_pred_op_parse(const char *s, pb_pred_op *out)
{
    for (size_t i = 0; s && i < N_OPS; i++)
        if (strcmp(s, OP_NAMES[i]) == 0) {
            *out = (pb_pred_op)i;
            return 0;
        }
    return PB_EINVAL;
}

int pb_pred_column(const pb_pred *p) { return p ? p->column : -1; }
pb_pred_op pb_pred_get_op(const pb_pred *p) { return p ? p->op : PB_PRED_EQ; }
size_t pb_pred_value_count(const pb_pred *p) { return p ? p->n_vals : 0; }
int pb_pred_from_step(const pb_pred *p) { return p ? p->from_step : -1; }

int pb_pred_op_fits(pb_pred_op op, pb_dm_type t)
{
    switch (op) {
    case PB_PRED_EQ:
    case PB_PRED_NE:
    case PB_PRED_IS_NULL:
    case PB_PRED_NOT_NULL:
        return 1;
    case PB_PRED_IN:
    case PB_PRED_NOT_IN:
        return t != PB_DM_JSONB;
    case PB_PRED_LT:
    case PB_PRED_LE:
    case PB_PRED_GT:
    case PB_PRED_GE:
        /* Ordering on text depends on the database's collation, which the C
         * side cannot reproduce; on booleans, uuids and enums it is rarely
         * what was meant. Only types with one obvious order. */
        return t == PB_DM_INTEGER || t == PB_DM_BIGINT || t == PB_DM_NUMERIC || t == PB_DM_DATE ||
               t == PB_DM_TIMESTAMPTZ;
    case PB_PRED_LIKE:
        return t == PB_DM_TEXT || t == PB_DM_ENUM;
    }
    return 0;
}

/* ---- shared helpers -------------------------------------------------------- */

/* Levenshtein distance, cut off above 2 (we only suggest close names). */
static int near(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > 2)
        return 0;
    int prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb] <= 2;
}

const char *pb_agent_suggest_column(const pb_dm_model *m, size_t t, const char *name)
{
    for (size_t c = 0; name && c < pb_dm_column_count(m, t); c++)
        if (near(name, pb_dm_column_name(m, t, c)))
            return pb_dm_column_name(m, t, c);
    return NULL;
}

const char *pb_agent_suggest_table(const pb_dm_model *m, const char *name)
{
    for (size_t t = 0; name && t < pb_dm_table_count(m); t++)
        if (near(name, pb_dm_table_name(m, t)))
            return pb_dm_table_name(m, t);
    return NULL;
}

void pb_agent_did_you_mean(char *buf, size_t n, const char *s)
{
    buf[0] = '\0';
    if (s)
        snprintf(buf, n, ", did you mean \"%s\"?", s);
}

uint64_t pb_agent_model_hash(const pb_dm_model *m)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[2] = {pb_dm_name(m), pb_dm_canonical(m)};
    for (int i = 0; i < 2; i++) {
        for (const unsigned char *p = (const unsigned char *)(parts[i] ? parts[i] : ""); *p; p++) {
            h ^= *p;
            h *= 1099511628211ULL;
        }
        h ^= 0xff;
        h *= 1099511628211ULL;
    }
    return h;
}

/* ---- values ------------------------------------------------------------------ */

/* A short, printable rendering of a JSON value for messages. */
static void preview(const json_t *v, char *buf, size_t n)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t o = 0;
        buf[o++] = '"';
        for (size_t i = 0; s[i] && o + 5 < n && i < 40; i++)
            buf[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
        if (strlen(s) > 40 && o + 4 < n) {
            memcpy(buf + o, "...", 3);
            o += 3;
        }
        buf[o++] = '"';
        buf[o] = '\0';
    } else if (json_is_integer(v)) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, n, "%g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, n, "%s", json_is_true(v) ? "true" : "false");
    } else {
        snprintf(buf, n, "a JSON %s", pb_json_type_name(v));
    }
}

static void describe_type(const pb_dm_model *m, size_t t, size_t c, char *buf, size_t n)
{
    static const char *const names[] = {"text", "integer",     "bigint", "numeric", "boolean",
                                        "timestamptz", "date", "uuid",   "jsonb",   "enum"};
    pb_dm_type ty = pb_dm_column_type(m, t, c);
    if (ty == PB_DM_NUMERIC) {
        int p = 0, s = 0;
        pb_dm_column_numeric(m, t, c, &p, &s);
        if (p > 0)
            snprintf(buf, n, "numeric(%d,%d)", p, s);
        else
            snprintf(buf, n, "numeric");
    } else if (ty == PB_DM_ENUM) {
        size_t o = (size_t)snprintf(buf, n, "enum: ");
        size_t k = pb_dm_enum_count(m, t, c);
        for (size_t i = 0; i < k && o < n; i++)
            o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "", pb_dm_enum_value(m, t, c, i));
    } else {
        snprintf(buf, n, "%s", (size_t)ty < sizeof names / sizeof names[0] ? names[ty] : "?");
    }
}

static int bad_value(pb_err *e, const char *path, const json_t *v, const pb_dm_model *m, size_t t,
                     size_t c, const char *why)
{
    char pv[64], ty[256];
    preview(v, pv, sizeof pv);
    describe_type(m, t, c, ty, sizeof ty);
    return pb_err_set(e, PB_EINVAL, "%s: %s is not a valid value for column %s.%s (%s): %s", path, pv,
                      pb_dm_table_name(m, t), pb_dm_column_name(m, t, c), ty, why);
}

/* Normalise a decimal string: optional '-', digits, optionally '.' digits.
 * Leading zeros of the integer part and trailing zeros of the fraction go;
 * "-0" becomes "0". *idig / *fdig get the significant digit counts. */
static int norm_decimal(const char *s, char *out, size_t n, int *idig, int *fdig)
{
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    const char *ip = s;
    while (isdigit((unsigned char)*s))
        s++;
    size_t ilen = (size_t)(s - ip);
    const char *fp = NULL;
    size_t flen = 0;
    if (*s == '.') {
        fp = ++s;
        while (isdigit((unsigned char)*s))
            s++;
        flen = (size_t)(s - fp);
        if (flen == 0)
            return -1;
    }
    if (*s || ilen == 0)
        return -1;
    while (ilen > 1 && *ip == '0') {
        ip++;
        ilen--;
    }
    while (flen > 0 && fp[flen - 1] == '0')
        flen--;
    int zero = ilen == 1 && *ip == '0' && flen == 0;
    if (ilen + flen + 3 > n)
        return -1;
    size_t o = 0;
    if (neg && !zero)
        out[o++] = '-';
    memcpy(out + o, ip, ilen);
    o += ilen;
    if (flen) {
        out[o++] = '.';
        memcpy(out + o, fp, flen);
        o += flen;
    }
    out[o] = '\0';
    *idig = (ilen == 1 && *ip == '0') ? 0 : (int)ilen;
    *fdig = (int)flen;
    return 0;
}

static int cmp_mag(const char *a, const char *b)
{
    size_t ia = strcspn(a, "."), ib = strcspn(b, ".");
    if (ia != ib)
        return ia < ib ? -1 : 1;
    int c = strncmp(a, b, ia);
    if (c)
        return c < 0 ? -1 : 1;
    const char *fa = a[ia] ? a + ia + 1 : "", *fb = b[ib] ? b + ib + 1 : "";
    while (*fa || *fb) {
        char x = *fa ? *fa++ : '0', y = *fb ? *fb++ : '0';
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

static int dec_cmp(const char *a, const char *b)
{
    int na = a[0] == '-', nb = b[0] == '-';
    if (na != nb)
        return na ? -1 : 1;
    int c = cmp_mag(a + na, b + nb);
    return na ? -c : c;
}

static int valid_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return 0;
    int y = atoi(s), mo = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || mo < 1 || mo > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[mo - 1] + (mo == 2 && leap);
}

static int valid_uuid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}



int pb_pred_value_parse(const json_t *v, const pb_dm_model *m, size_t t, size_t c, const char *path,
                        int allow_null, int as_text, pb_pred_value *out, pb_err *e)
{
    memset(out, 0, sizeof *out);
    pb_dm_type ty = as_text ? PB_DM_TEXT : pb_dm_column_type(m, t, c);
    if (!v || json_is_null(v)) {
        if (!allow_null)
            return pb_err_set(e, PB_EINVAL, "%s: null is not a value to compare with (use op isNull or notNull)",
                              path);
        if (!pb_dm_column_nullable(m, t, c))
            return pb_err_set(e, PB_EINVAL, "%s: column %s.%s is NOT NULL, it cannot be set to null", path,
                              pb_dm_table_name(m, t), pb_dm_column_name(m, t, c));
        out->is_null = 1;
        return 0;
    }
    char buf[2200];
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (s && strlen(s) != json_string_length(v))
        return bad_value(e, path, v, m, t, c, "it contains a NUL byte");
    switch (ty) {
    case PB_DM_TEXT:
        if (!s)
            return bad_value(e, path, v, m, t, c, "expected a string");
        if (json_string_length(v) > PB_PRED_TEXT_MAX)
            return bad_value(e, path, v, m, t, c, "longer than 65536 bytes");
        out->s = strdup(s);
        break;
    case PB_DM_ENUM: {
        if (!s)
            return bad_value(e, path, v, m, t, c, "expected a string");
        size_t k = pb_dm_enum_count(m, t, c), i;
        for (i = 0; i < k; i++)
            if (strcmp(s, pb_dm_enum_value(m, t, c, i)) == 0)
                break;
        if (i == k)
            return bad_value(e, path, v, m, t, c, "not one of the enum's values");
        out->s = strdup(s);
        break;
    }
    case PB_DM_INTEGER:
    case PB_DM_BIGINT:
        if (!json_is_integer(v))
            return bad_value(e, path, v, m, t, c,
                             json_is_real(v) ? "expected a JSON integer, got a number with a fraction"
                                             : "expected a JSON integer");
        out->i = (long long)json_integer_value(v);
        if (ty == PB_DM_INTEGER && (out->i < INT_MIN || out->i > INT_MAX))
            return bad_value(e, path, v, m, t, c, "out of range for a 32-bit integer");
        return 0;
    case PB_DM_NUMERIC: {
        int idig = 0, fdig = 0, p = 0, sc = 0;
        char in[32];
        const char *txt = s;
        if (json_is_integer(v)) {
            snprintf(in, sizeof in, "%lld", (long long)json_integer_value(v));
            txt = in;
        } else if (json_is_real(v)) {
            return bad_value(e, path, v, m, t, c,
                             "JSON numbers with a fraction have already lost digits; write it as a "
                             "decimal string, e.g. \"12.50\"");
        } else if (!s) {
            return bad_value(e, path, v, m, t, c, "expected an integer or a decimal string");
        }
        if (strlen(txt) > 2100 || norm_decimal(txt, buf, sizeof buf, &idig, &fdig) != 0)
            return bad_value(e, path, v, m, t, c, "not a decimal number (digits, optional '-' and '.')");
        pb_dm_column_numeric(m, t, c, &p, &sc);
        if (p > 0 && (idig > p - sc || fdig > sc)) {
            char why[160];
            snprintf(why, sizeof why, "at most %d digits before and %d after the decimal point", p - sc, sc);
            return bad_value(e, path, v, m, t, c, why);
        }
        out->s = strdup(buf);
        break;
    }
    case PB_DM_BOOLEAN:
        if (!json_is_boolean(v))
            return bad_value(e, path, v, m, t, c, "expected true or false");
        out->i = json_is_true(v);
        return 0;
    case PB_DM_DATE:
        if (!s || !valid_date(s))
            return bad_value(e, path, v, m, t, c, "expected a date \"YYYY-MM-DD\"");
        out->s = strdup(s);
        break;
    case PB_DM_TIMESTAMPTZ: {
        if (!s || pb_time_parse_rfc3339(s, &out->ts, NULL) != 0)
            return bad_value(e, path, v, m, t, c,
                             "expected an RFC 3339 timestamp with an offset, e.g. \"2026-01-31T10:00:00Z\"");
        if (out->ts.tv_nsec % 1000)
            return bad_value(e, path, v, m, t, c, "more precise than the microseconds PostgreSQL keeps");
        char tb[PB_TIME_BUF];
        pb_time_format_rfc3339_micro(out->ts, tb, sizeof tb);
        if (!tb[0] || strncmp(tb, "0000", 4) == 0)
            return bad_value(e, path, v, m, t, c, "year outside 0001..9999");
        out->s = strdup(tb);
        break;
    }
    case PB_DM_UUID:
        if (!s || !valid_uuid(s))
            return bad_value(e, path, v, m, t, c, "expected a uuid xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
        out->s = strdup(s);
        if (out->s)
            for (char *q = out->s; *q; q++)
                *q = (char)tolower((unsigned char)*q);
        break;
    case PB_DM_JSONB: {
        char *j = pb_json_dumps_canonical(v);
        if (!j)
            return pb_err_oom(e);
        if (strlen(j) > PB_PRED_TEXT_MAX) {
            free(j);
            return bad_value(e, path, v, m, t, c, "longer than 65536 bytes");
        }
        out->s = j;
        break;
    }
    }
    return out->s ? 0 : pb_err_oom(e);
}

void pb_pred_value_clear(pb_pred_value *v)
{
    if (!v)
        return;
    free(v->s);
    memset(v, 0, sizeof *v);
}

int pb_pred_value_eq(pb_dm_type t, const pb_pred_value *a, const pb_pred_value *b)
{
    switch (t) {
    case PB_DM_INTEGER:
    case PB_DM_BIGINT:
    case PB_DM_BOOLEAN:
        return a->i == b->i;
    case PB_DM_TIMESTAMPTZ:
        return a->ts.tv_sec == b->ts.tv_sec && a->ts.tv_nsec == b->ts.tv_nsec;
    default:
        return a->s && b->s && strcmp(a->s, b->s) == 0;
    }
}

int pb_pred_value_cmp(pb_dm_type t, const pb_pred_value *a, const pb_pred_value *b)
{
    switch (t) {
    case PB_DM_INTEGER:
    case PB_DM_BIGINT:
    case PB_DM_BOOLEAN:
        return a->i < b->i ? -1 : a->i > b->i;
    case PB_DM_TIMESTAMPTZ:
        if (a->ts.tv_sec != b->ts.tv_sec)
            return a->ts.tv_sec < b->ts.tv_sec ? -1 : 1;
        return a->ts.tv_nsec < b->ts.tv_nsec ? -1 : a->ts.tv_nsec > b->ts.tv_nsec;
    case PB_DM_NUMERIC:
        return dec_cmp(a->s, b->s);
    default: {
        int c = strcmp(a->s ? a->s : "", b->s ? b->s : "");
        return c < 0 ? -1 : c > 0;
    }
    }
}

/* ---- LIKE -------------------------------------------------------------------- */

static size_t u8len(const char *s)
{
    unsigned char c = (unsigned char)*s;
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    size_t i = 1;
    while (i < n && s[i])
        i++;
    return i;
}

int pb_pred_like(const char *s, const char *p)
{
    const char *star_p = NULL, *star_s = NULL;
    while (*s) {
        if (*p == '%') {
            while (*p == '%')
                p++;
            if (!*p)
                return 1;
            star_p = p;
            star_s = s;
            continue;
        }
        if (*p == '_') {
            s += u8len(s);
            p++;
            continue;
        }
        const char *pc = (*p == '\\' && p[1]) ? p + 1 : p;
        if (*pc && *pc == *s) {
            p = pc + 1;
            s++;
            continue;
        }
        if (!star_p)
            return 0;
        star_s += u8len(star_s);
        s = star_s;
        p = star_p;
    }
    while (*p == '%')
        p++;
    return *p == '\0';
}

/* ---- predicates ---------------------------------------------------------------- */

void pb_pred_clear(pb_pred *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_vals; i++)
        pb_pred_value_clear(&p->vals[i]);
    free(p->vals);
    p->vals = NULL;
    p->n_vals = 0;
}

int pb_pred_eval(const pb_pred *p, const pb_pred_value *v)
{
    if (p->from_step >= 0)
        return 0;
    int null = !v || v->is_null;
    switch (p->op) {
    case PB_PRED_IS_NULL:
        return null;
    case PB_PRED_NOT_NULL:
        return !null;
    default:
        break;
    }
    if (null || p->n_vals == 0)
        return 0;
    switch (p->op) {
    case PB_PRED_EQ:
        return pb_pred_value_eq(p->type, v, &p->vals[0]);
    case PB_PRED_NE:
        return !pb_pred_value_eq(p->type, v, &p->vals[0]);
    case PB_PRED_LT:
        return pb_pred_value_cmp(p->type, v, &p->vals[0]) < 0;
    case PB_PRED_LE:
        return pb_pred_value_cmp(p->type, v, &p->vals[0]) <= 0;
    case PB_PRED_GT:
        return pb_pred_value_cmp(p->type, v, &p->vals[0]) > 0;
    case PB_PRED_GE:
        return pb_pred_value_cmp(p->type, v, &p->vals[0]) >= 0;
    case PB_PRED_IN:
    case PB_PRED_NOT_IN: {
        int found = 0;
        for (size_t i = 0; i < p->n_vals && !found; i++)
            found = pb_pred_value_eq(p->type, v, &p->vals[i]);
        return p->op == PB_PRED_IN ? found : !found;
    }
    case PB_PRED_LIKE:
        return v->s && p->vals[0].s && pb_pred_like(v->s, p->vals[0].s);
    default:
        return 0;
    }
}

static int set_vals(pb_pred *p, size_t n, pb_err *e)
{
    p->vals = calloc(n ? n : 1, sizeof *p->vals);
    return p->vals ? 0 : pb_err_oom(e);
}

int pb_pred_parse(const json_t *obj, const pb_dm_model *m, size_t t, const char *path, int refs,
                  pb_pred *out, const char **from_step, const char **field, pb_err *e)
{
    memset(out, 0, sizeof *out);
    out->column = -1;
    out->from_step = -1;
    out->from_field = -1;
    if (from_step)
        *from_step = NULL;
    if (field)
        *field = NULL;
    if (!json_is_object(obj))
        return pb_err_set(e, PB_EINVAL, "%s: expected an object {column, op, value}, got %s", path,
                          pb_json_type_name(obj));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        if (strcmp(key, "column") && strcmp(key, "op") && strcmp(key, "value") && strcmp(key, "values") &&
            !(refs && (strcmp(key, "fromStep") == 0 || strcmp(key, "field") == 0)))
            return pb_err_set(e, PB_EINVAL, "%s: unknown field \"%.64s\" (allowed: column, op, value%s)", path,
                              key, refs ? ", fromStep, field" : "");
    }
    json_t *jc = json_object_get(obj, "column"), *jo = json_object_get(obj, "op");
    if (!json_is_string(jc))
        return pb_err_set(e, PB_EINVAL, "%s.column: expected a column name, got %s", path, pb_json_type_name(jc));
    const char *cname = json_string_value(jc);
    int c = pb_dm_find_column(m, t, cname);
    if (c < 0) {
        char dym[96];
        pb_agent_did_you_mean(dym, sizeof dym, pb_agent_suggest_column(m, t, cname));
        return pb_err_set(e, PB_EINVAL, "%s.column: table %s has no column \"%.64s\"%s", path,
                          pb_dm_table_name(m, t), cname, dym);
    }
    out->column = c;
    out->type = pb_dm_column_type(m, t, (size_t)c);
    if (!json_is_string(jo) || pb_pred_op_parse(json_string_value(jo), &out->op) != 0)
        return pb_err_set(e, PB_EINVAL,
                          "%s.op: expected one of eq, ne, lt, le, gt, ge, in, notIn, isNull, notNull, like; got %s",
                          path, json_is_string(jo) ? json_string_value(jo) : pb_json_type_name(jo));
    if (!pb_pred_op_fits(out->op, out->type)) {
        char ty[256];
        describe_type(m, t, (size_t)c, ty, sizeof ty);
        const char *hint = out->op == PB_PRED_LIKE ? "like applies to text and enum columns"
                           : (out->op == PB_PRED_IN || out->op == PB_PRED_NOT_IN)
                               ? "use eq on a jsonb column"
                               : "ordering applies to integer, bigint, numeric, date and timestamptz columns";
        return pb_err_set(e, PB_EINVAL, "%s.op: %s does not apply to column %s.%s (%s); %s", path,
                          pb_pred_op_name(out->op), pb_dm_table_name(m, t), cname, ty, hint);
    }
    json_t *jv = json_object_get(obj, "value"), *jvs = json_object_get(obj, "values");
    json_t *jfs = refs ? json_object_get(obj, "fromStep") : NULL;
    json_t *jff = refs ? json_object_get(obj, "field") : NULL;
    if (jv && jvs)
        return pb_err_set(e, PB_EINVAL, "%s: give value or values, not both", path);
    const char *vkey = jvs ? "values" : "value";
    if (jvs)
        jv = jvs;
    if (jfs || jff) {
        if (!json_is_string(jfs) || !json_is_string(jff))
            return pb_err_set(e, PB_EINVAL, "%s: a reference needs fromStep and field, both strings", path);
        if (out->op != PB_PRED_IN && out->op != PB_PRED_NOT_IN)
            return pb_err_set(e, PB_EINVAL, "%s.op: a fromStep reference needs op in or notIn, not %s", path,
                              pb_pred_op_name(out->op));
        if (jv)
            return pb_err_set(e, PB_EINVAL, "%s: give a value or a fromStep reference, not both", path);
        *from_step = json_string_value(jfs);
        *field = json_string_value(jff);
        return 0;
    }
    char sub[512];
    switch (out->op) {
    case PB_PRED_IS_NULL:
    case PB_PRED_NOT_NULL:
        if (jv && !json_is_null(jv))
            return pb_err_set(e, PB_EINVAL, "%s.%s: op %s takes no value", path, vkey, pb_pred_op_name(out->op));
        return 0;
    case PB_PRED_IN:
    case PB_PRED_NOT_IN: {
        if (!json_is_array(jv))
            return pb_err_set(e, PB_EINVAL, "%s.%s: op %s needs a list of values, got %s", path, vkey,
                              pb_pred_op_name(out->op), pb_json_type_name(jv));
        size_t n = json_array_size(jv);
        if (n == 0 || n > PB_PRED_MAX_VALUES)
            return pb_err_set(e, PB_EINVAL, "%s.%s: %zu values; op %s needs 1 to %d", path, vkey, n,
                              pb_pred_op_name(out->op), PB_PRED_MAX_VALUES);
        if (set_vals(out, n, e))
            return PB_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            snprintf(sub, sizeof sub, "%s.%s[%zu]", path, vkey, i);
            int rc = pb_pred_value_parse(json_array_get(jv, i), m, t, (size_t)c, sub, 0, 0, &out->vals[i], e);
            if (rc) {
                out->n_vals = i + 1;
                pb_pred_clear(out);
                return rc;
            }
        }
        out->n_vals = n;
        return 0;
    }
    default:
        break;
    }
    if (!jv)
        return pb_err_set(e, PB_EINVAL, "%s.value: op %s needs a value", path, pb_pred_op_name(out->op));
    if (json_is_array(jv) && out->type != PB_DM_JSONB)
        return pb_err_set(e, PB_EINVAL, "%s.%s: op %s takes one value, not a list (use op in)", path, vkey,
                          pb_pred_op_name(out->op));
    if (set_vals(out, 1, e))
        return PB_ENOMEM;
    snprintf(sub, sizeof sub, "%s.%s", path, vkey);
    int rc = pb_pred_value_parse(jv, m, t, (size_t)c, sub, 0, out->op == PB_PRED_LIKE, &out->vals[0], e);
    out->n_vals = 1;
    if (rc == 0 && out->op == PB_PRED_LIKE) {
        size_t len = strlen(out->vals[0].s), bs = 0;
        while (bs < len && out->vals[0].s[len - 1 - bs] == '\\')
            bs++;
        if (bs % 2)
            rc = pb_err_set(e, PB_EINVAL, "%s: a like pattern must not end with an escape character (\\)", sub);
    }
    if (rc)
        pb_pred_clear(out);
    return rc;
}
