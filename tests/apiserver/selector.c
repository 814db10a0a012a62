/*
 * selector.c - label and field selectors for the dev API server (selector.h).
 *
 * The label parser follows kube-apiserver's (apimachinery pkg/labels) token
 * by token: the whole string is lexed first, then a recursive-descent parser
 * builds requirements, so the error messages ("unable to parse requirement:
 * ...", "found 'x', expected: ...") read exactly like the real server's,
 * which is what kubectl prints to the user. Field selectors are the simpler
 * "path op value" terms of pkg/fields, with backslash escapes.
 */
#include "selector.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    OP_EXISTS,
    OP_NOT_EXISTS,
    OP_EQ,  /* "=" and "==" */
    OP_NEQ,
    OP_IN,
    OP_NOTIN,
    OP_GT,
    OP_LT
} sel_op;

typedef struct {
    char *key;      /* label key, or dotted field path */
    sel_op op;
    char **vals;    /* sorted, unique */
    size_t nvals;
} sel_req;

struct dv_selector {
    int is_field;
    sel_req *reqs;
    size_t nreqs, cap;
};

/* ------------------------------------------------------------------------ */
/* shared helpers                                                           */

static void set_msg(char *msg, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t n, const char *fmt, ...)
{
    if (!msg || n == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
}

static char *dup_range(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static void req_clear(sel_req *r)
{
    free(r->key);
    for (size_t i = 0; i < r->nvals; i++)
        free(r->vals[i]);
    free(r->vals);
}

void dv_selector_free(dv_selector *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; i < sel->nreqs; i++)
        req_clear(&sel->reqs[i]);
    free(sel->reqs);
    free(sel);
}

/* Takes ownership of r's contents (also on failure). */
static int sel_add(dv_selector *sel, sel_req *r)
{
    if (sel->nreqs == sel->cap) {
        size_t cap = sel->cap ? sel->cap * 2 : 4;
        sel_req *nr = realloc(sel->reqs, cap * sizeof(*nr));
        if (!nr) {
            req_clear(r);
            return -1;
        }
        sel->reqs = nr;
        sel->cap = cap;
    }
    sel->reqs[sel->nreqs++] = *r;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* validation (apimachinery util/validation wording)                        */

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static int matches_qualified_name(const char *s, size_t len)
{
    if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)* */
static int matches_dns1123_subdomain(const char *s, size_t len)
{
    size_t start = 0;
    if (len == 0)
        return 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            size_t l = i - start;
            if (l == 0)
                return 0;
            const char *p = s + start;
            for (size_t j = 0; j < l; j++) {
                char c = p[j];
                int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                if (!ok || ((j == 0 || j == l - 1) && c == '-'))
                    return 0;
            }
            start = i + 1;
        }
    }
    return 1;
}

#define QNAME_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define QNAME_MSG "must consist of alphanumeric characters, '-', '_' or '.', and must start " \
                  "and end with an alphanumeric character"
#define QNAME_EXAMPLES "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" \
                       QNAME_FMT "')"
#define DNS_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
#define DNS_MSG "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric " \
                "characters, '-' or '.', and must start and end with an alphanumeric character"
#define LVAL_FMT "(" QNAME_FMT ")?"
#define LVAL_MSG "a valid label must be an empty string or consist of alphanumeric characters, " \
                 "'-', '_' or '.', and must start and end with an alphanumeric character"

/* Appends "; "-joined problems to buf. */
static void add_problem(char *buf, size_t n, const char *text)
{
    size_t used = strlen(buf);
    if (used >= n - 1)
        return;
    snprintf(buf + used, n - used, "%s%s", used ? "; " : "", text);
}

/* IsQualifiedName: "" when fine, else the joined problems in buf. */
static void qualified_name_problems(const char *k, char *buf, size_t n)
{
    buf[0] = '\0';
    const char *slash = strchr(k, '/');
    const char *name = k;
    if (slash && strchr(slash + 1, '/')) {
        add_problem(buf, n, "a qualified name " QNAME_MSG " " QNAME_EXAMPLES
                            " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
        return;
    }
    if (slash) {
        size_t plen = (size_t)(slash - k);
        name = slash + 1;
        if (plen == 0) {
            add_problem(buf, n, "prefix part must be non-empty");
        } else {
            if (plen > 253)
                add_problem(buf, n, "prefix part must be no more than 253 characters");
            if (!matches_dns1123_subdomain(k, plen))
                add_problem(buf, n, "prefix part " DNS_MSG " (e.g. 'example.com', regex used for "
                                    "validation is '" DNS_FMT "')");
        }
    }
    size_t nlen = strlen(name);
    if (nlen == 0)
        add_problem(buf, n, "name part must be non-empty");
    else if (nlen > 63)
        add_problem(buf, n, "name part must be no more than 63 characters");
    if (!matches_qualified_name(name, nlen))
        add_problem(buf, n, "name part " QNAME_MSG " " QNAME_EXAMPLES);
}

static void label_value_problems(const char *v, char *buf, size_t n)
{
    buf[0] = '\0';
    size_t len = strlen(v);
    if (len > 63)
        add_problem(buf, n, "must be no more than 63 characters");
    if (len > 0 && !matches_qualified_name(v, len))
        add_problem(buf, n, LVAL_MSG " (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
                            "for validation is '" LVAL_FMT "')");
}

/* Go's %q for the bad value inside "Invalid value: %q". */
static void go_quote(const char *s, char *out, size_t n)
{
    size_t o = 0;
    if (n < 3) {
        if (n)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 6 < n; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* ------------------------------------------------------------------------ */
/* label selector lexer                                                     */

typedef enum {
    T_END,
    T_IDENT,
    T_IN,
    T_NOTIN,
    T_EQ,
    T_DEQ,
    T_NEQ,
    T_NOT,
    T_GT,
    T_LT,
    T_OPEN,
    T_CLOSE,
    T_COMMA,
    T_ERROR
} tok_kind;

typedef struct {
    tok_kind kind;
    char *lit;
} token;

typedef struct {
    token *toks;
    size_t ntoks, cap;
    size_t pos;
    char *msg;
    size_t n;
} parser;

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_special(char c)
{
    return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

static tok_kind keyword_kind(const char *s, size_t len)
{
    static const struct {
        const char *s;
        tok_kind k;
    } words[] = {
        {")", T_CLOSE}, {",", T_COMMA}, {"!", T_NOT},    {"==", T_DEQ},     {"=", T_EQ},
        {">", T_GT},    {"in", T_IN},   {"<", T_LT},     {"!=", T_NEQ},     {"notin", T_NOTIN},
        {"(", T_OPEN},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].s) == len && memcmp(words[i].s, s, len) == 0)
            return words[i].k;
    return T_IDENT;
}

static int push_tok(parser *p, tok_kind k, const char *s, size_t len)
{
    if (p->ntoks == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        token *nt = realloc(p->toks, cap * sizeof(*nt));
        if (!nt)
            return -1;
        p->toks = nt;
        p->cap = cap;
    }
    char *lit = dup_range(s, len);
    if (!lit)
        return -1;
    p->toks[p->ntoks].kind = k;
    p->toks[p->ntoks].lit = lit;
    p->ntoks++;
    return 0;
}

/* Lexes the whole string up front (the real parser does the same). */
static int lex_all(parser *p, const char *s)
{
    size_t i = 0, len = strlen(s);
    for (;;) {
        while (i < len && is_space(s[i]))
            i++;
        if (i >= len)
            return push_tok(p, T_END, "", 0);
        if (is_special(s[i])) {
            /* longest run of special symbols that is still a token */
            size_t best = 0;
            tok_kind bk = T_ERROR;
            size_t j = i;
            while (j < len && is_special(s[j])) {
                j++;
                tok_kind k = keyword_kind(s + i, j - i);
                if (k != T_IDENT) {
                    best = j - i;
                    bk = k;
                } else if (best) {
                    break;
                }
            }
            if (!best) {
                char m[64];
                snprintf(m, sizeof(m), "error expected: keyword found '%.*s'", (int)(j - i), s + i);
                if (push_tok(p, T_ERROR, m, strlen(m)) < 0)
                    return -1;
                i = j;
                continue;
            }
            if (push_tok(p, bk, s + i, best) < 0)
                return -1;
            i += best;
        } else {
            size_t j = i;
            while (j < len && !is_special(s[j]) && !is_space(s[j]))
                j++;
            if (push_tok(p, keyword_kind(s + i, j - i), s + i, j - i) < 0)
                return -1;
            i = j;
        }
    }
}

/* In the "values" context the keywords in/notin are plain identifiers. */
static tok_kind values_kind(tok_kind k)
{
    return (k == T_IN || k == T_NOTIN) ? T_IDENT : k;
}

static const token *peek(parser *p)
{
    return &p->toks[p->pos];
}

static const token *next(parser *p)
{
    const token *t = &p->toks[p->pos];
    if (t->kind != T_END)
        p->pos++;
    return t;
}

/* ------------------------------------------------------------------------ */
/* label selector parser                                                    */

typedef struct {
    char **v;
    size_t n;
} strset;

static int strset_add(strset *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], v) == 0)
            return 0;
    char **nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    s->v = nv;
    s->v[s->n] = strdup(v);
    if (!s->v[s->n])
        return -1;
    s->n++;
    return 0;
}

static void strset_free(strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_values(parser *p, strset *vals)
{
    const token *t = next(p);
    if (t->kind != T_OPEN) {
        set_msg(p->msg, p->n, "found '%s' expected: '('", t->lit);
        return -1;
    }
    const token *la = peek(p);
    tok_kind k = values_kind(la->kind);
    if (k == T_CLOSE) {
        next(p);
        return strset_add(vals, "");
    }
    if (k != T_IDENT && k != T_COMMA) {
        set_msg(p->msg, p->n, "found '%s', expected: ',', ')' or identifier", la->lit);
        return -1;
    }
    const char *first_lit = la->lit;
    for (;;) {
        t = next(p);
        k = values_kind(t->kind);
        if (k == T_IDENT) {
            if (strset_add(vals, t->lit) < 0)
                return -1;
            const token *t2 = peek(p);
            if (t2->kind == T_COMMA)
                continue;
            if (t2->kind == T_CLOSE)
                break;
            set_msg(p->msg, p->n, "found '%s', expected: ',' or ')'", t2->lit);
            return -1;
        } else if (k == T_COMMA) {
            if (vals->n == 0 && strset_add(vals, "") < 0)
                return -1;
            tok_kind k2 = peek(p)->kind;
            if (k2 == T_CLOSE) {
                if (strset_add(vals, "") < 0)
                    return -1;
                break;
            }
            if (k2 == T_COMMA) {
                next(p);
                if (strset_add(vals, "") < 0)
                    return -1;
            }
        } else {
            set_msg(p->msg, p->n, "found '%s', expected: ',', or identifier", t->lit);
            return -1;
        }
    }
    if (next(p)->kind != T_CLOSE) {
        set_msg(p->msg, p->n, "found '%s', expected: ')'", first_lit);
        return -1;
    }
    return 0;
}

static int parse_exact_value(parser *p, strset *vals)
{
    tok_kind k = peek(p)->kind;
    if (k == T_END || k == T_COMMA)
        return strset_add(vals, "");
    const token *t = next(p);
    if (values_kind(t->kind) == T_IDENT)
        return strset_add(vals, t->lit);
    set_msg(p->msg, p->n, "found '%s', expected: identifier", t->lit);
    return -1;
}

static int parse_int64(const char *s, int64_t *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* NewRequirement's checks on the values: "" when fine. */
static void check_values(const char *key, sel_op op, strset *vals, char *out, size_t n)
{
    char errs[8][2048];
    size_t nerr = 0;
    char q[600];
    if (op == OP_GT || op == OP_LT) {
        /* the grammar guarantees exactly one value here */
        for (size_t i = 0; i < vals->n && nerr < 4; i++) {
            int64_t dummy;
            if (parse_int64(vals->v[i], &dummy) < 0) {
                go_quote(vals->v[i], q, sizeof(q));
                snprintf(errs[nerr++], sizeof(errs[0]),
                         "values[%zu]: Invalid value: %s: for 'Gt', 'Lt' operators, the value must be an integer",
                         i, q);
            }
        }
    }
    for (size_t i = 0; i < vals->n && nerr < 8; i++) {
        char prob[900];
        label_value_problems(vals->v[i], prob, sizeof(prob));
        if (prob[0]) {
            go_quote(vals->v[i], q, sizeof(q));
            snprintf(errs[nerr++], sizeof(errs[0]), "values[%zu][%.200s]: Invalid value: %s: %s", i, key,
                     q, prob);
        }
    }
    out[0] = '\0';
    if (nerr == 1) {
        snprintf(out, n, "%s", errs[0]);
    } else if (nerr > 1) {
        /* utilerrors aggregate: "[a, b]" */
        size_t o = (size_t)snprintf(out, n, "[");
        for (size_t i = 0; i < nerr && o < n; i++)
            o += (size_t)snprintf(out + o, n - o, "%s%s", i ? ", " : "", errs[i]);
        if (o < n)
            snprintf(out + o, n - o, "]");
    }
}

static int parse_requirement(parser *p, sel_req *r)
{
    sel_op op = OP_EQ;
    int not_exists = 0;
    const token *t = next(p);
    if (t->kind == T_NOT) {
        not_exists = 1;
        t = next(p);
    }
    if (values_kind(t->kind) != T_IDENT) {
        set_msg(p->msg, p->n, "found '%s', expected: identifier", t->lit);
        return -1;
    }
    char prob[2048];
    qualified_name_problems(t->lit, prob, sizeof(prob));
    if (prob[0]) {
        char q[600];
        go_quote(t->lit, q, sizeof(q));
        set_msg(p->msg, p->n, "<nil>: Invalid value: %s: %s", q, prob);
        return -1;
    }
    r->key = strdup(t->lit);
    if (!r->key)
        return -1;
    tok_kind la = peek(p)->kind;
    if (not_exists || la == T_END || la == T_COMMA) {
        r->op = not_exists ? OP_NOT_EXISTS : OP_EXISTS;
        return 0;
    }
    t = next(p);
    switch (t->kind) {
    case T_IN: op = OP_IN; break;
    case T_NOTIN: op = OP_NOTIN; break;
    case T_EQ:
    case T_DEQ: op = OP_EQ; break;
    case T_NEQ: op = OP_NEQ; break;
    case T_GT: op = OP_GT; break;
    case T_LT: op = OP_LT; break;
    default:
        set_msg(p->msg, p->n, "found '%s', expected: '=', '!=', '==', 'in', notin'", t->lit);
        return -1;
    }
    strset vals = {0};
    int rc = (op == OP_IN || op == OP_NOTIN) ? parse_values(p, &vals) : parse_exact_value(p, &vals);
    if (rc < 0) {
        strset_free(&vals);
        return -1;
    }
    qsort(vals.v, vals.n, sizeof(char *), cmp_str);
    char verr[4096];
    check_values(r->key, op, &vals, verr, sizeof(verr));
    if (verr[0]) {
        set_msg(p->msg, p->n, "%s", verr);
        strset_free(&vals);
        return -1;
    }
    r->op = op;
    r->vals = vals.v;
    r->nvals = vals.n;
    return 0;
}

static int parse_labels(parser *p, dv_selector *sel)
{
    for (;;) {
        const token *la = peek(p);
        tok_kind k = values_kind(la->kind);
        if (k == T_END)
            return 0;
        if (k != T_IDENT && k != T_NOT) {
            set_msg(p->msg, p->n, "found '%s', expected: !, identifier, or 'end of string'", la->lit);
            return -1;
        }
        sel_req r = {0};
        char inner[4096] = "";
        char *saved = p->msg;
        size_t saved_n = p->n;
        p->msg = inner;
        p->n = sizeof(inner);
        int rc = parse_requirement(p, &r);
        p->msg = saved;
        p->n = saved_n;
        if (rc < 0) {
            req_clear(&r);
            set_msg(p->msg, p->n, "unable to parse requirement: %s", inner[0] ? inner : "out of memory");
            return -1;
        }
        if (sel_add(sel, &r) < 0) {
            set_msg(p->msg, p->n, "out of memory");
            return -1;
        }
        const token *t = next(p);
        if (t->kind == T_END)
            return 0;
        if (t->kind != T_COMMA) {
            set_msg(p->msg, p->n, "found '%s', expected: ',' or 'end of string'", t->lit);
            return -1;
        }
        const token *t2 = peek(p);
        k = values_kind(t2->kind);
        if (k != T_IDENT && k != T_NOT) {
            set_msg(p->msg, p->n, "found '%s', expected: identifier after ','", t2->lit);
            return -1;
        }
    }
}

static dv_selector *sel_new(int is_field)
{
    dv_selector *sel = calloc(1, sizeof(*sel));
    if (sel)
        sel->is_field = is_field;
    return sel;
}

int dv_label_selector_parse(const char *s, dv_selector **out, char *msg, size_t n)
{
    *out = NULL;
    dv_selector *sel = sel_new(0);
    if (!sel) {
        set_msg(msg, n, "out of memory");
        return -1;
    }
    if (!s || !*s) {
        *out = sel;
        return 0;
    }
    parser p = {.msg = msg, .n = n};
    int rc = lex_all(&p, s);
    if (rc < 0)
        set_msg(msg, n, "out of memory");
    else
        rc = parse_labels(&p, sel);
    for (size_t i = 0; i < p.ntoks; i++)
        free(p.toks[i].lit);
    free(p.toks);
    if (rc < 0) {
        dv_selector_free(sel);
        return -1;
    }
    *out = sel;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* field selectors                                                          */

/* Unescapes \\ \, \= ; a bare ',' or '=' in a value is an error. */
static char *unescape_value(const char *s, size_t len, char *msg, size_t n)
{
    char *out = malloc(len + 1);
    if (!out) {
        set_msg(msg, n, "out of memory");
        return NULL;
    }
    size_t o = 0;
    int in_slash = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_slash) {
            if (c != '\\' && c != ',' && c != '=') {
                set_msg(msg, n, "invalid field selector: invalid escape sequence: \\%c", c);
                free(out);
                return NULL;
            }
            out[o++] = c;
            in_slash = 0;
        } else if (c == '\\') {
            in_slash = 1;
        } else if (c == ',' || c == '=') {
            /* Go prints the rune with %v: its code point */
            set_msg(msg, n, "invalid field selector: unescaped character in value: %d", c);
            free(out);
            return NULL;
        } else {
            out[o++] = c;
        }
    }
    if (in_slash) {
        set_msg(msg, n, "invalid field selector: invalid escape sequence: \\");
        free(out);
        return NULL;
    }
    out[o] = '\0';
    return out;
}

static int parse_field_term(dv_selector *sel, const char *whole, const char *term, size_t len,
                            char *msg, size_t n)
{
    /* leftmost operator; at one position "!=" and "==" win over "=" */
    for (size_t i = 0; i < len; i++) {
        size_t oplen = 0;
        sel_op op = OP_EQ;
        if (i + 1 < len && term[i] == '!' && term[i + 1] == '=') {
            oplen = 2;
            op = OP_NEQ;
        } else if (i + 1 < len && term[i] == '=' && term[i + 1] == '=') {
            oplen = 2;
        } else if (term[i] == '=') {
            oplen = 1;
        }
        if (!oplen)
            continue;
        sel_req r = {0};
        r.op = op;
        r.key = dup_range(term, i);
        r.vals = calloc(1, sizeof(char *));
        if (!r.key || !r.vals) {
            req_clear(&r);
            set_msg(msg, n, "out of memory");
            return -1;
        }
        r.vals[0] = unescape_value(term + i + oplen, len - i - oplen, msg, n);
        if (!r.vals[0]) {
            req_clear(&r);
            return -1;
        }
        r.nvals = 1;
        if (sel_add(sel, &r) < 0) {
            set_msg(msg, n, "out of memory");
            return -1;
        }
        return 0;
    }
    set_msg(msg, n, "invalid selector: '%s'; can't understand '%.*s'", whole, (int)len, term);
    return -1;
}

int dv_field_selector_parse(const char *s, dv_selector **out, char *msg, size_t n)
{
    *out = NULL;
    dv_selector *sel = sel_new(1);
    if (!sel) {
        set_msg(msg, n, "out of memory");
        return -1;
    }
    if (s) {
        /* split on commas that are not escaped with a backslash */
        size_t start = 0, len = strlen(s);
        int in_slash = 0;
        for (size_t i = 0; i <= len; i++) {
            if (i < len && in_slash) {
                in_slash = 0;
                continue;
            }
            if (i < len && s[i] == '\\') {
                in_slash = 1;
                continue;
            }
            if (i == len || s[i] == ',') {
                if (i > start && parse_field_term(sel, s, s + start, i - start, msg, n) < 0) {
                    dv_selector_free(sel);
                    return -1;
                }
                start = i + 1;
            }
        }
    }
    *out = sel;
    return 0;
}

const char *dv_selector_key(const dv_selector *sel, size_t i)
{
    return sel && i < sel->nreqs ? sel->reqs[i].key : NULL;
}

/* ------------------------------------------------------------------------ */
/* matching                                                                 */

static int val_in(const sel_req *r, const char *v)
{
    for (size_t i = 0; i < r->nvals; i++)
        if (strcmp(r->vals[i], v) == 0)
            return 1;
    return 0;
}

static int label_req_matches(const sel_req *r, const json_t *labels)
{
    const json_t *jv = json_is_object(labels) ? json_object_get(labels, r->key) : NULL;
    const char *v = json_string_value(jv); /* labels are strings; others count as absent */
    int64_t a, b;
    switch (r->op) {
    case OP_EXISTS: return v != NULL;
    case OP_NOT_EXISTS: return v == NULL;
    case OP_EQ:
    case OP_IN: return v != NULL && val_in(r, v);
    case OP_NEQ:
    case OP_NOTIN: return v == NULL || !val_in(r, v);
    case OP_GT:
    case OP_LT:
        if (!v || r->nvals != 1 || parse_int64(v, &a) < 0 || parse_int64(r->vals[0], &b) < 0)
            return 0;
        return r->op == OP_GT ? a > b : a < b;
    }
    return 0;
}

/* The field at a dotted path rendered as the server compares it: strings
 * as-is, numbers and booleans in their JSON form, anything else as "". */
static void field_string(const json_t *obj, const char *path, char *buf, size_t n)
{
    buf[0] = '\0';
    const json_t *cur = obj;
    const char *p = path;
    while (cur) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(cur))
            return;
        cur = json_object_getn(cur, p, len);
        if (!dot)
            break;
        p = dot + 1;
    }
    if (!cur)
        return;
    switch (json_typeof(cur)) {
    case JSON_STRING: snprintf(buf, n, "%s", json_string_value(cur)); break;
    case JSON_INTEGER: snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(cur)); break;
    case JSON_REAL: snprintf(buf, n, "%.17g", json_real_value(cur)); break;
    case JSON_TRUE: snprintf(buf, n, "true"); break;
    case JSON_FALSE: snprintf(buf, n, "false"); break;
    default: break;
    }
}

int dv_selector_matches(const dv_selector *sel, const json_t *obj)
{
    if (!sel)
        return 1;
    const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    for (size_t i = 0; i < sel->nreqs; i++) {
        const sel_req *r = &sel->reqs[i];
        if (!sel->is_field) {
            if (!label_req_matches(r, labels))
                return 0;
            continue;
        }
        char buf[1024];
        field_string(obj, r->key, buf, sizeof(buf));
        int eq = strcmp(buf, r->vals[0]) == 0;
        if ((r->op == OP_EQ) != eq)
            return 0;
    }
    return 1;
}
