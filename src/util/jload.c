/*
 * jload.c - JSON text to a jansson tree through jsmn's tokens (see jload.h
 * for why, and for what is left to jansson).
 *
 * jsmn, even in strict mode, is lenient about structure: it does not check
 * that members are separated by exactly one ',' or that a key is followed
 * by ':' ({"a" "b"} and [1,,2] tokenize). So the walk below accounts for
 * every byte of the text: each token's own bytes are validated by the
 * token's decoder, and every gap between two tokens must be whitespace
 * around exactly the separator the grammar puts there. Text that passes is
 * well formed JSON; anything else is declined, never guessed at.
 */
#include "util/jload.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT       /* primitives are numbers, true, false, null only */
#define JSMN_PARENT_LINKS /* without them closing a bracket walks back over its siblings: quadratic on lists */
#include <jsmn.h>

#define MAX_DEPTH 128      /* deeper goes to jansson (its own limit is 2,048) */
#define STACK_TOKENS 512   /* a typical watch event needs ~150 */
#define MAX_FAST_DIGITS 18 /* any 18-digit integer fits a json_int_t */

typedef struct walk {
    const char *p;
    int reject_duplicates; /* JSON_REJECT_DUPLICATES: a repeated key declines */
    const jsmntok_t *t;
    int ntok;
    int next; /* the next token to consume */
} walk;

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* p[from..to) is whitespace, around exactly one `sep` when sep is not 0. */
static int gap_ok(const char *p, size_t from, size_t to, char sep)
{
    if (from > to)
        return 0;
    while (from < to && is_ws(p[from]))
        from++;
    if (sep) {
        if (from == to || p[from] != sep)
            return 0;
        from++;
        while (from < to && is_ws(p[from]))
            from++;
    }
    return from == to;
}

/* A token's bytes including a string's quotes. */
static size_t tok_begin(const jsmntok_t *t)
{
    return (size_t)(t->type == JSMN_STRING ? t->start - 1 : t->start);
}

static size_t tok_end(const jsmntok_t *t)
{
    return (size_t)(t->type == JSMN_STRING ? t->end + 1 : t->end);
}

/* Printable ASCII without a backslash: the bytes are the string. */
static int plain_string(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x80 || c == '\\')
            return 0;
    }
    return 1;
}

/* A string token (its quotes at q[-1] and q[n]) as a new jansson string;
 * NULL when jansson refuses it (a bad escape, \u0000, invalid UTF-8, a raw
 * control byte). */
static json_t *string_of(const char *q, size_t n)
{
    if (plain_string(q, n))
        return json_stringn_nocheck(q, n);
    json_t *s = json_loadb(q - 1, n + 2, JSON_DECODE_ANY, NULL);
    if (s && !json_is_string(s)) { /* cannot happen for a quoted token; checked, not assumed */
        json_decref(s);
        s = NULL;
    }
    return s;
}

/* A primitive token: true, false, null or a number; NULL when jansson
 * would not read it as one. */
static json_t *primitive_of(const char *s, size_t n)
{
    if (n == 4 && memcmp(s, "true", 4) == 0)
        return json_true();
    if (n == 5 && memcmp(s, "false", 5) == 0)
        return json_false();
    if (n == 4 && memcmp(s, "null", 4) == 0)
        return json_null();
    /* -?(0|[1-9][0-9]*), at most 18 digits: an integer, read here. */
    size_t i = s[0] == '-';
    size_t digits = n - i;
    int simple = digits >= 1 && digits <= MAX_FAST_DIGITS && (s[i] != '0' || digits == 1);
    json_int_t v = 0;
    for (size_t k = i; simple && k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            simple = 0;
        else
            v = v * 10 + (s[k] - '0');
    }
    if (simple)
        return json_integer(i ? -v : v);
    /* Reals, long integers and anything malformed: jansson's answer. */
    json_t *num = n < INT_MAX ? json_loadb(s, n, JSON_DECODE_ANY, NULL) : NULL;
    if (num && !json_is_number(num)) {
        json_decref(num);
        num = NULL;
    }
    return num;
}

static json_t *build(walk *w, int depth);

/* The members of the object token t (already consumed) into obj. */
static int build_members(walk *w, const jsmntok_t *t, json_t *obj, int depth)
{
    size_t pos = (size_t)t->start + 1; /* just past '{' */
    for (int i = 0; i < t->size; i++) {
        if (w->next + 1 >= w->ntok)
            return 0;
        const jsmntok_t *k = &w->t[w->next++];
        if (k->type != JSMN_STRING || k->size != 1 || !gap_ok(w->p, pos, tok_begin(k), i ? ',' : 0))
            return 0;
        const jsmntok_t *vt = &w->t[w->next];
        if (!gap_ok(w->p, tok_end(k), tok_begin(vt), ':'))
            return 0;
        json_t *key = NULL;
        const char *kp = w->p + k->start;
        size_t kn = (size_t)(k->end - k->start);
        if (!plain_string(kp, kn)) {
            if (!(key = string_of(kp, kn)))
                return 0;
            kp = json_string_value(key);
            kn = json_string_length(key);
        }
        json_t *v = w->reject_duplicates && json_object_getn(obj, kp, kn) ? NULL : build(w, depth + 1);
        int ok = v && json_object_setn_new_nocheck(obj, kp, kn, v) == 0;
        json_decref(key);
        if (!ok)
            return 0;
        pos = tok_end(vt);
    }
    return gap_ok(w->p, pos, (size_t)t->end - 1, 0);
}

/* The elements of the array token t (already consumed) into arr. */
static int build_elements(walk *w, const jsmntok_t *t, json_t *arr, int depth)
{
    size_t pos = (size_t)t->start + 1; /* just past '[' */
    for (int i = 0; i < t->size; i++) {
        if (w->next >= w->ntok)
            return 0;
        const jsmntok_t *et = &w->t[w->next];
        if (!gap_ok(w->p, pos, tok_begin(et), i ? ',' : 0))
            return 0;
        json_t *v = build(w, depth + 1);
        if (!v || json_array_append_new(arr, v) != 0)
            return 0;
        pos = tok_end(et);
    }
    return gap_ok(w->p, pos, (size_t)t->end - 1, 0);
}

/* The value starting at the next token, consuming it and its children. */
static json_t *build(walk *w, int depth)
{
    if (w->next >= w->ntok || depth > MAX_DEPTH)
        return NULL;
    const jsmntok_t *t = &w->t[w->next++];
    if (t->start < 0 || t->end < t->start)
        return NULL;
    const char *s = w->p + t->start;
    size_t n = (size_t)(t->end - t->start);
    json_t *v = NULL;
    switch (t->type) {
    case JSMN_STRING:
        return t->size == 0 ? string_of(s, n) : NULL; /* a string with a child is a key out of place */
    case JSMN_PRIMITIVE:
        return t->size == 0 && n > 0 ? primitive_of(s, n) : NULL;
    case JSMN_OBJECT:
        if (!(v = json_object()) || !build_members(w, t, v, depth)) {
            json_decref(v);
            return NULL;
        }
        return v;
    case JSMN_ARRAY:
        if (!(v = json_array()) || !build_elements(w, t, v, depth)) {
            json_decref(v);
            return NULL;
        }
        return v;
    default:
        return NULL;
    }
}

static int tokens(const char *text, size_t n, int reject_duplicates, json_t **out)
{
    if (!text || n == 0 || n > INT_MAX / 2)
        return 0;
    jsmntok_t stack[STACK_TOKENS];
    jsmntok_t *tok = stack;
    unsigned cap = STACK_TOKENS;
    jsmn_parser ps;
    jsmn_init(&ps);
    int ntok;
    for (;;) {
        ntok = jsmn_parse(&ps, text, n, tok, cap);
        if (ntok != JSMN_ERROR_NOMEM)
            break;
        /* Grow and go on where it stopped (jsmn supports resuming). */
        if (cap > UINT_MAX / 4)
            break;
        jsmntok_t *bigger = tok == stack ? malloc(sizeof *tok * cap * 4) : realloc(tok, sizeof *tok * cap * 4);
        if (!bigger)
            break;
        if (tok == stack)
            memcpy(bigger, stack, sizeof stack);
        tok = bigger;
        cap *= 4;
    }
    json_t *root = NULL;
    if (ntok > 0 && (tok[0].type == JSMN_OBJECT || tok[0].type == JSMN_ARRAY) &&
        gap_ok(text, 0, (size_t)tok[0].start, 0) && gap_ok(text, (size_t)tok[0].end, n, 0)) {
        walk w = {.p = text, .reject_duplicates = reject_duplicates, .t = tok, .ntok = ntok, .next = 0};
        root = build(&w, 0);
        if (root && w.next != ntok) { /* tokens the walk did not account for */
            json_decref(root);
            root = NULL;
        }
    }
    if (tok != stack)
        free(tok);
    if (!root)
        return 0;
    *out = root;
    return 1;
}

int pb_jload_tokens(const char *text, size_t n, size_t flags, json_t **out)
{
    if (flags & ~(size_t)(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES))
        return 0;
    return tokens(text, n, (flags & JSON_REJECT_DUPLICATES) != 0, out);
}

json_t *pb_jload(const char *text, size_t n, size_t flags, json_error_t *err)
{
    json_t *v = NULL;
    if (pb_jload_tokens(text, n, flags, &v)) {
        if (err) { /* as json_loadb leaves it on success */
            memset(err, 0, sizeof *err);
            err->line = err->column = -1;
            snprintf(err->source, sizeof err->source, "%s", "<buffer>");
        }
        return v;
    }
    return json_loadb(text, n, flags, err);
}
