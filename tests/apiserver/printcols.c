/*
 * printcols.c - CRD additionalPrinterColumns: a small JSONPath evaluator
 * (the subset kubectl and kube-apiserver's client-go jsonpath accept in
 * printer columns) and the cell conversion of apiextensions' table
 * convertor. See printcols.h.
 *
 * The path is interpreted while it is read: each step parses its token and
 * recurses into the matching values with the rest of the path, stopping at
 * the first complete match (the convertor only uses results[0][0]). With a
 * NULL value the same walk only checks the syntax, which is how
 * dv_printcol_check validates a path without an object.
 */
#include "printcols.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 128 /* path tokens followed in one evaluation */

typedef struct walk {
    const json_t *found; /* first complete match (borrowed) */
    int check;           /* syntax check only: values are NULL */
    int err;
    char msg[160];
    int steps;
} walk;

static int fail(walk *w, const char *fmt, const char *at)
{
    if (!w->err) {
        w->err = 1;
        snprintf(w->msg, sizeof w->msg, fmt, at);
    }
    return -1;
}

static void eval(walk *w, const char *p, const json_t *v);

/* A field name after '.': up to the next '.', '[' or '}'. */
static const char *field_end(const char *p)
{
    while (*p && *p != '.' && *p != '[' && *p != '}' && *p != ' ')
        p++;
    return p;
}

/* Apply a field name to v and continue with rest. */
static void step_field(walk *w, const char *name, size_t n, const char *rest, const json_t *v)
{
    if (w->check) {
        eval(w, rest, NULL);
        return;
    }
    if (!json_is_object(v))
        return;
    char *key = strndup(name, n);
    if (!key)
        abort();
    const json_t *c = json_object_get(v, key);
    free(key);
    if (c)
        eval(w, rest, c);
}

static void step_all(walk *w, const char *rest, const json_t *v)
{
    if (w->check) {
        eval(w, rest, NULL);
        return;
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            if (w->found || w->err)
                return;
            eval(w, rest, e);
        }
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            if (w->found || w->err)
                return;
            eval(w, rest, e);
        }
    }
}

/* ..name: v itself and every descendant, depth first. */
static void step_recursive(walk *w, const char *name, size_t n, const char *rest, const json_t *v, int depth)
{
    if (w->found || w->err || depth > 64)
        return;
    if (n == 1 && name[0] == '*')
        step_all(w, rest, v);
    else
        step_field(w, name, n, rest, v);
    if (w->check)
        return;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) step_recursive(w, name, n, rest, e, depth + 1);
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)v, k, e) step_recursive(w, name, n, rest, e, depth + 1);
    }
}

static int parse_long(const char **pp, long *out)
{
    char *end;
    const char *p = *pp;
    while (*p == ' ')
        p++;
    if (!(isdigit((unsigned char)*p) || ((*p == '-' || *p == '+') && isdigit((unsigned char)p[1]))))
        return 0;
    *out = strtol(p, &end, 10);
    while (*end == ' ')
        end++;
    *pp = end;
    return 1;
}

/* [a], [a:b], [a:b:c] on arrays. */
static void step_index(walk *w, const char *p, const json_t *v)
{
    long idx[3] = {0, 0, 1};
    int have[3] = {0, 0, 0}, parts = 0;
    for (;;) {
        have[parts] = parse_long(&p, &idx[parts]);
        if (*p == ':' && parts < 2) {
            parts++;
            p++;
            continue;
        }
        break;
    }
    if (*p != ']') {
        fail(w, "unrecognized character in array index near %s", p);
        return;
    }
    const char *rest = p + 1;
    if (!parts && !have[0]) {
        fail(w, "empty array index near %s", p);
        return;
    }
    if (w->check) {
        eval(w, rest, NULL);
        return;
    }
    if (!json_is_array(v))
        return;
    long len = (long)json_array_size(v);
    if (!parts) {
        long i = idx[0] < 0 ? idx[0] + len : idx[0];
        if (i >= 0 && i < len)
            eval(w, rest, json_array_get(v, (size_t)i));
        return;
    }
    long start = have[0] ? idx[0] : 0, end = have[1] ? idx[1] : len, stride = have[2] ? idx[2] : 1;
    if (start < 0)
        start += len;
    if (end < 0)
        end += len;
    if (start < 0)
        start = 0;
    if (end > len)
        end = len;
    if (stride <= 0) {
        fail(w, "step must be positive near %s", p);
        return;
    }
    for (long i = start; i < end && !w->found && !w->err; i += stride)
        eval(w, rest, json_array_get(v, (size_t)i));
}

/* A literal on the right of a filter: "x", 'x', number, true, false. */
static json_t *parse_literal(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0])
        return json_stringn(s + 1, n - 2);
    if (n == 4 && !strncmp(s, "true", 4))
        return json_true();
    if (n == 5 && !strncmp(s, "false", 5))
        return json_false();
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    if (!strpbrk(buf, ".eE")) {
        long long i = strtoll(buf, &end, 10);
        if (*end == '\0')
            return json_integer(i);
    }
    double d = strtod(buf, &end);
    if (*end == '\0')
        return json_real(d);
    return NULL;
}

/* The first value of a relative path "@.a.b" (or NULL). */
static const json_t *eval_relative(walk *parent, const char *path, size_t n, const json_t *v)
{
    char *p = strndup(path, n);
    if (!p)
        abort();
    walk w = {NULL, parent->check, 0, "", parent->steps};
    const char *q = p;
    while (*q == ' ')
        q++;
    if (*q == '@')
        q++;
    eval(&w, q, v);
    if (w.err && !parent->err) {
        parent->err = 1;
        snprintf(parent->msg, sizeof parent->msg, "%s", w.msg);
    }
    free(p);
    return w.found;
}

static int compare(const json_t *l, const char *op, const json_t *r)
{
    int eq = op[0] == '=' || (op[1] == '=' && op[0] != '!');
    double c;
    if (json_is_string(l) && json_is_string(r))
        c = strcmp(json_string_value(l), json_string_value(r));
    else if (json_is_number(l) && json_is_number(r))
        c = json_number_value(l) - json_number_value(r);
    else if (json_is_boolean(l) && json_is_boolean(r))
        c = (double)(json_is_true(l) - json_is_true(r));
    else
        return op[0] == '!';
    if (!strcmp(op, "=="))
        return c == 0;
    if (!strcmp(op, "!="))
        return c != 0;
    if (op[0] == '<')
        return c < 0 || (eq && c == 0);
    return c > 0 || (eq && c == 0);
}

/* [?(<left> <op> <right>)] or [?(<left>)] */
static void step_filter(walk *w, const char *p, const json_t *v)
{
    /* p is just after "[?(" ; find the closing ")]" outside quotes */
    const char *q = p;
    char quote = 0;
    for (; *q; q++) {
        if (quote) {
            if (*q == quote)
                quote = 0;
        } else if (*q == '"' || *q == '\'') {
            quote = *q;
        } else if (*q == ')' && q[1] == ']') {
            break;
        }
    }
    if (!*q) {
        fail(w, "unclosed filter near %s", p);
        return;
    }
    const char *rest = q + 2;
    const char *ops[] = {"==", "!=", "<=", ">=", "<", ">", NULL};
    const char *opat = NULL, *op = NULL;
    quote = 0;
    for (const char *s = p; s < q && !opat; s++) {
        if (quote) {
            if (*s == quote)
                quote = 0;
            continue;
        }
        if (*s == '"' || *s == '\'') {
            quote = *s;
            continue;
        }
        for (int i = 0; ops[i]; i++)
            if (!strncmp(s, ops[i], strlen(ops[i]))) {
                opat = s;
                op = ops[i];
                break;
            }
    }
    const char *lend = opat ? opat : q;
    const char *ls = p;
    while (ls < lend && *ls == ' ')
        ls++;
    if (ls == lend || *ls != '@') {
        fail(w, "filter must start with @ near %s", p);
        return;
    }
    json_t *lit = NULL;
    const char *rs = NULL;
    if (opat) {
        rs = opat + strlen(op);
        while (rs < q && *rs == ' ')
            rs++;
        if (rs == q) {
            fail(w, "missing right side of filter near %s", p);
            return;
        }
        if (*rs != '@') {
            lit = parse_literal(rs, (size_t)(q - rs));
            if (!lit) {
                fail(w, "unrecognized literal in filter near %s", rs);
                return;
            }
        }
    }
    if (w->check) {
        eval_relative(w, ls, (size_t)(lend - ls), NULL);
        if (rs && !lit)
            eval_relative(w, rs, (size_t)(q - rs), NULL);
        json_decref(lit);
        if (!w->err)
            eval(w, rest, NULL);
        return;
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            if (w->found || w->err)
                break;
            const json_t *l = eval_relative(w, ls, (size_t)(lend - ls), e);
            int pass;
            if (!opat) {
                pass = l != NULL;
            } else {
                const json_t *r = lit ? lit : eval_relative(w, rs, (size_t)(q - rs), e);
                pass = l && r && compare(l, op, r);
            }
            if (pass)
                eval(w, rest, e);
        }
    }
    json_decref(lit);
}

static void eval(walk *w, const char *p, const json_t *v)
{
    if (w->found || w->err)
        return;
    if (++w->steps > MAX_STEPS * 64) {
        fail(w, "path too complex near %s", p);
        return;
    }
    while (*p == ' ')
        p++;
    if (*p == '\0' || (*p == '}' && p[1] == '\0')) {
        if (!w->check)
            w->found = v;
        return;
    }
    if (p[0] == '.' && p[1] == '.') {
        const char *n = p + 2;
        const char *e = *n == '*' ? n + 1 : field_end(n);
        if (e == n)
            return (void)fail(w, "missing field name after .. near %s", p);
        step_recursive(w, n, (size_t)(e - n), e, v, 0);
        return;
    }
    if (*p == '.') {
        const char *n = p + 1;
        if (*n == '*') {
            step_all(w, n + 1, v);
            return;
        }
        const char *e = field_end(n);
        if (e == n) {
            /* a lone "." is the current object */
            if (*e == '\0' || *e == '}' || *e == '[') {
                eval(w, e, v);
                return;
            }
            return (void)fail(w, "unrecognized character in field name near %s", p);
        }
        step_field(w, n, (size_t)(e - n), e, v);
        return;
    }
    if (*p == '[') {
        const char *q = p + 1;
        while (*q == ' ')
            q++;
        if (*q == '\'' || *q == '"') {
            const char *end = strchr(q + 1, *q);
            if (!end || end[1] != ']')
                return (void)fail(w, "unclosed quoted field near %s", p);
            step_field(w, q + 1, (size_t)(end - q - 1), end + 2, v);
            return;
        }
        if (*q == '*') {
            if (q[1] != ']')
                return (void)fail(w, "unclosed wildcard near %s", p);
            step_all(w, q + 2, v);
            return;
        }
        if (q[0] == '?' && q[1] == '(') {
            step_filter(w, q + 2, v);
            return;
        }
        step_index(w, q, v);
        return;
    }
    fail(w, "unrecognized character near %s", p);
}

/* Strip "{...}" and a leading "$". Returns a pointer into a malloc'd copy. */
static char *normalize(const char *path, const char **start)
{
    char *s = strdup(path ? path : "");
    if (!s)
        abort();
    char *p = s;
    size_t n = strlen(p);
    while (n && isspace((unsigned char)p[n - 1]))
        p[--n] = '\0';
    while (*p && isspace((unsigned char)*p))
        p++;
    n = strlen(p);
    if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
        p[n - 1] = '\0';
        p++;
    }
    if (*p == '$')
        p++;
    *start = p;
    return s;
}

static int run(const char *jsonpath, const json_t *obj, walk *w)
{
    const char *p;
    char *copy = normalize(jsonpath, &p);
    if (!*p || (*p != '.' && *p != '[')) {
        snprintf(w->msg, sizeof w->msg, "must start with '.': %s", jsonpath ? jsonpath : "");
        w->err = 1;
    } else {
        eval(w, p, obj);
    }
    free(copy);
    return w->err ? -1 : 0;
}

json_t *dv_printcol_eval(const char *jsonpath, const json_t *obj)
{
    walk w = {NULL, 0, 0, "", 0};
    if (!obj || run(jsonpath, obj, &w) < 0 || !w.found)
        return NULL;
    return json_incref((json_t *)w.found);
}

int dv_printcol_check(const char *jsonpath, char *msg, size_t n)
{
    walk w = {NULL, 1, 0, "", 0};
    int rc = run(jsonpath, NULL, &w);
    if (msg && n)
        snprintf(msg, n, "%s", rc < 0 ? w.msg : "");
    return rc;
}

/* Go's fmt %v of a float64: shortest round-trip digits, exponent form when
 * the decimal exponent is < -4 or >= 6 (strconv 'g', precision -1). */
static void go_float(double d, char *buf, size_t n)
{
    char e[48];
    if (isnan(d) || isinf(d)) {
        snprintf(buf, n, "%s", isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (d == 0) {
        snprintf(buf, n, "0");
        return;
    }
    int prec;
    for (prec = 1; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    snprintf(e, sizeof e, "%.*e", prec - 1, d);
    int exp = atoi(strchr(e, 'e') + 1);
    if (exp < -4 || exp >= 6) {
        /* Go: 1e+06, 1.5e-05 */
        char mant[40];
        snprintf(mant, sizeof mant, "%.*s", (int)(strchr(e, 'e') - e), e);
        snprintf(buf, n, "%se%c%02d", mant, exp < 0 ? '-' : '+', abs(exp));
        return;
    }
    int decimals = prec - 1 - exp;
    snprintf(buf, n, "%.*f", decimals > 0 ? decimals : 0, d);
}

json_t *dv_printcol_cell(const char *jsonpath, const char *type, const json_t *obj)
{
    json_t *v = dv_printcol_eval(jsonpath, obj);
    json_t *cell = NULL;
    if (!v || json_is_null(v) || !type) {
        json_decref(v);
        return NULL;
    }
    if (!strcmp(type, "string")) {
        char buf[64];
        switch (json_typeof(v)) {
        case JSON_STRING:
            cell = json_incref(v);
            break;
        case JSON_INTEGER:
            snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            cell = json_string(buf);
            break;
        case JSON_REAL:
            go_float(json_real_value(v), buf, sizeof buf);
            cell = json_string(buf);
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            cell = json_string(json_is_true(v) ? "true" : "false");
            break;
        default: {
            char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
            cell = s ? json_string(s) : NULL;
            free(s);
        }
        }
    } else if (!strcmp(type, "integer")) {
        if (json_is_integer(v))
            cell = json_incref(v);
        else if (json_is_real(v))
            cell = json_integer((json_int_t)json_real_value(v));
    } else if (!strcmp(type, "number")) {
        if (json_is_number(v))
            cell = json_real(json_number_value(v));
    } else if (!strcmp(type, "boolean")) {
        if (json_is_boolean(v))
            cell = json_incref(v);
    } else if (!strcmp(type, "date")) {
        if (json_is_string(v))
            cell = json_incref(v);
    }
    json_decref(v);
    return cell;
}

/* RFC 3339 -> seconds since the epoch; -1 if malformed. */
static int parse_rfc3339(const char *s, time_t *out)
{
    int Y, M, D, h, m, sec, used = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &used) != 6 || used != 19)
        return -1;
    const char *p = s + used;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, n2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n2) != 2 || n2 != 5)
            return -1;
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    *out = timegm(&tm) - off;
    return 0;
}

const char *dv_printcol_age(const char *timestamp, time_t now, char *buf, size_t n)
{
    time_t t;
    if (!timestamp || !*timestamp) {
        snprintf(buf, n, "<unknown>");
        return buf;
    }
    if (parse_rfc3339(timestamp, &t) < 0) {
        snprintf(buf, n, "<invalid>");
        return buf;
    }
    long long secs = (long long)now - (long long)t;
    if (secs < -1) {
        snprintf(buf, n, "<invalid>");
    } else if (secs < 0) {
        snprintf(buf, n, "0s");
    } else if (secs < 120) {
        snprintf(buf, n, "%llds", secs);
    } else {
        long long mins = secs / 60, hours = secs / 3600, days = hours / 24;
        if (mins < 10) {
            if (secs % 60 == 0)
                snprintf(buf, n, "%lldm", mins);
            else
                snprintf(buf, n, "%lldm%llds", mins, secs % 60);
        } else if (mins < 60 * 3) {
            snprintf(buf, n, "%lldm", mins);
        } else if (hours < 8) {
            if (mins % 60 == 0)
                snprintf(buf, n, "%lldh", hours);
            else
                snprintf(buf, n, "%lldh%lldm", hours, mins % 60);
        } else if (hours < 48) {
            snprintf(buf, n, "%lldh", hours);
        } else if (hours < 24 * 8) {
            if (hours % 24 == 0)
                snprintf(buf, n, "%lldd", days);
            else
                snprintf(buf, n, "%lldd%lldh", days, hours % 24);
        } else if (hours < 24 * 365 * 2) {
            snprintf(buf, n, "%lldd", days);
        } else if (hours < 24 * 365 * 8) {
            if (days % 365 == 0)
                snprintf(buf, n, "%lldy", days / 365);
            else
                snprintf(buf, n, "%lldy%lldd", days / 365, days % 365);
        } else {
            snprintf(buf, n, "%lldy", days / 365);
        }
    }
    return buf;
}
