/*
 * yaml.c - YAML stream to JSON documents (see yaml.h).
 *
 * Built on libyaml's event parser rather than its document loader: events
 * tell apart plain, quoted and explicitly tagged scalars (the loader does
 * not), and streaming lets the depth and alias bounds stop a hostile input
 * before it is fully read or copied.
 *
 * Containers are attached to their parent as soon as they start, so on any
 * error freeing the document root (plus the per-frame bookkeeping) frees
 * everything. Anchors are kept in a jansson object used as a hash table:
 * name -> [value, expanded node count].
 */
#include "util/yaml.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/strset.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef struct {
    json_t *node;       /* object or array being filled (borrowed) */
    int is_map;
    char *key;          /* mapping: key waiting for its value, else NULL */
    yaml_mark_t key_mark;
    int key_is_merge;
    json_t *merges;     /* mapping: "<<" sources, applied at the end */
    char *anchor;       /* registered when the collection ends */
    size_t nodes_start; /* node count when the collection started */
} frame;

typedef struct {
    frame stack[PB_YAML_MAX_DEPTH];
    int depth;
    json_t *root;    /* current document root (owned) */
    json_t *anchors; /* name -> [value, nodes] for the current document */
    size_t literal_nodes, alias_nodes;
    pb_err *err;
} loader;

static int at(pb_err *err, int code, const yaml_mark_t *m, const char *fmt, const char *arg)
{
    char what[512];
    snprintf(what, sizeof what, fmt, arg);
    return pb_err_set(err, code, "line %zu, column %zu: %s", m->line + 1, m->column + 1, what);
}

static void frame_free(frame *f)
{
    free(f->key);
    free(f->anchor);
    json_decref(f->merges);
    memset(f, 0, sizeof *f);
}

static void end_document_state(loader *L)
{
    while (L->depth > 0)
        frame_free(&L->stack[--L->depth]);
    json_decref(L->root);
    L->root = NULL;
    json_object_clear(L->anchors);
}

static size_t total_nodes(const loader *L)
{
    return L->literal_nodes + L->alias_nodes;
}

static int count_literal(loader *L, const yaml_mark_t *m)
{
    if (++L->literal_nodes + L->alias_nodes > PB_YAML_MAX_NODES)
        return at(L->err, PB_ETOOLARGE, m, "more than %s nodes", "1000000");
    return 0;
}

/* ---- scalars -------------------------------------------------------------- */

static int all_in(const char *s, const char *e, const char *set)
{
    if (s >= e)
        return 0;
    for (; s < e; s++)
        if (!*s || !strchr(set, *s))
            return 0;
    return 1;
}

/* [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE][-+]?[0-9]+ )? */
static int is_core_float(const char *s, const char *e)
{
    const char *p = s;
    if (p < e && (*p == '-' || *p == '+'))
        p++;
    const char *d = p;
    while (p < e && *p >= '0' && *p <= '9')
        p++;
    int int_digits = (int)(p - d);
    int frac_digits = 0;
    if (p < e && *p == '.') {
        p++;
        const char *f = p;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
        frac_digits = (int)(p - f);
    }
    if (int_digits == 0 && frac_digits == 0)
        return 0;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '-' || *p == '+'))
            p++;
        if (!all_in(p, e, "0123456789"))
            return 0;
        p = e;
    }
    return p == e;
}

/* YAML 1.2 core schema resolution of a plain scalar (NUL-terminated). */
static json_t *resolve_plain(const char *s, size_t n)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    const char *e = s + n;
    if (n == 0 || pb_strset_has(nulls, s))
        return json_null();
    if (pb_strset_has(trues, s))
        return json_true();
    if (pb_strset_has(falses, s))
        return json_false();

    const char *digits = (*s == '-' || *s == '+') ? s + 1 : s;
    if (all_in(digits, e, "0123456789")) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno != ERANGE)
            return json_integer(v);
        return json_real(strtod(s, NULL)); /* too big for int64: a float, as in Go */
    }
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        int hex = s[1] == 'x';
        if (all_in(s + 2, e, hex ? "0123456789abcdefABCDEF" : "01234567")) {
            errno = 0;
            unsigned long long v = strtoull(s + 2, NULL, hex ? 16 : 8);
            if (errno != ERANGE && v <= LLONG_MAX)
                return json_integer((json_int_t)v);
        }
    }
    if (is_core_float(s, e)) {
        double d = strtod(s, NULL);
        if (isfinite(d))
            return json_real(d);
    }
    /* .inf and .nan have no JSON form: they stay strings. */
    return json_stringn(s, n);
}

static json_t *scalar_value(loader *L, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    json_t *v;

    if (tag && (strcmp(tag, "!") == 0 || strcmp(tag, TAG_PREFIX "str") == 0 ||
                strcmp(tag, TAG_PREFIX "binary") == 0 || strcmp(tag, TAG_PREFIX "timestamp") == 0))
        v = json_stringn(s, n);
    else if (tag && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0) {
        const char *t = tag + strlen(TAG_PREFIX);
        v = resolve_plain(s, n);
        int ok = v && ((strcmp(t, "int") == 0 && json_is_integer(v)) ||
                       (strcmp(t, "float") == 0 && json_is_number(v)) ||
                       (strcmp(t, "bool") == 0 && json_is_boolean(v)) ||
                       (strcmp(t, "null") == 0 && json_is_null(v)));
        if (!ok) {
            json_decref(v);
            at(L->err, PB_EPARSE, &ev->start_mark, "value does not match tag !!%s", t);
            return NULL;
        }
        if (strcmp(t, "float") == 0 && json_is_integer(v)) {
            json_t *r = json_real((double)json_integer_value(v));
            json_decref(v);
            v = r;
        }
    } else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        v = resolve_plain(s, n); /* custom tags ("!foo") are ignored */
    else
        v = json_stringn(s, n);
    if (!v)
        at(L->err, PB_EPARSE, &ev->start_mark, "%s", "scalar is not valid UTF-8");
    return v;
}

/* ---- placing values -------------------------------------------------------- */

/* Attach v (stolen) where the parser is: document root, array element or the
 * value of the pending mapping key. */
static int attach(loader *L, json_t *v, const yaml_mark_t *m)
{
    if (L->depth == 0) {
        json_decref(L->root);
        L->root = v;
        return 0;
    }
    frame *f = &L->stack[L->depth - 1];
    if (!f->is_map)
        return json_array_append_new(f->node, v) ? pb_err_set(L->err, PB_ENOMEM, "out of memory") : 0;

    int rc = 0;
    if (f->key_is_merge) {
        if (!json_is_object(v) && !json_is_array(v)) {
            json_decref(v);
            rc = at(L->err, PB_EPARSE, m, "%s", "merge key \"<<\" needs a mapping or a list of mappings");
        } else {
            if (!f->merges)
                f->merges = json_array();
            if (!f->merges || json_array_append_new(f->merges, v))
                rc = pb_err_set(L->err, PB_ENOMEM, "out of memory");
        }
    } else if (json_object_get(f->node, f->key)) {
        json_decref(v);
        rc = at(L->err, PB_EPARSE, &f->key_mark, "mapping key \"%s\" already defined", f->key);
    } else if (json_object_set_new(f->node, f->key, v)) {
        rc = pb_err_set(L->err, PB_ENOMEM, "out of memory");
    }
    free(f->key);
    f->key = NULL;
    f->key_is_merge = 0;
    return rc;
}

static int expecting_key(const loader *L)
{
    return L->depth > 0 && L->stack[L->depth - 1].is_map && !L->stack[L->depth - 1].key;
}

static int set_key(loader *L, const char *k, size_t n, int is_merge, const yaml_mark_t *m)
{
    frame *f = &L->stack[L->depth - 1];
    if (strlen(k) != n)
        return at(L->err, PB_EPARSE, m, "%s", "mapping key contains a NUL byte");
    f->key = strdup(k);
    if (!f->key)
        return pb_err_set(L->err, PB_ENOMEM, "out of memory");
    f->key_mark = *m;
    f->key_is_merge = is_merge;
    return 0;
}

static int register_anchor(loader *L, const char *name, json_t *v, size_t nodes)
{
    json_t *entry = json_pack("[O,I]", v, (json_int_t)nodes);
    if (!entry || json_object_set_new(L->anchors, name, entry))
        return pb_err_set(L->err, PB_ENOMEM, "out of memory");
    return 0;
}

static int on_scalar(loader *L, const yaml_event_t *ev)
{
    int rc = count_literal(L, &ev->start_mark);
    if (rc)
        return rc;
    const char *s = (const char *)ev->data.scalar.value;
    if (expecting_key(L)) {
        int merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag &&
                    strcmp(s, "<<") == 0;
        rc = set_key(L, s, ev->data.scalar.length, merge, &ev->start_mark);
        if (!rc && ev->data.scalar.anchor) {
            json_t *k = json_string(s);
            rc = k ? register_anchor(L, (const char *)ev->data.scalar.anchor, k, 1)
                   : at(L->err, PB_EPARSE, &ev->start_mark, "%s", "key is not valid UTF-8");
            json_decref(k);
        }
        return rc;
    }
    json_t *v = scalar_value(L, ev);
    if (!v)
        return L->err ? L->err->code : PB_EPARSE;
    if (ev->data.scalar.anchor && (rc = register_anchor(L, (const char *)ev->data.scalar.anchor, v, 1))) {
        json_decref(v);
        return rc;
    }
    return attach(L, v, &ev->start_mark);
}

static int on_alias(loader *L, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    json_t *entry = json_object_get(L->anchors, name);
    if (!entry)
        return at(L->err, PB_EPARSE, &ev->start_mark, "unknown anchor \"%s\"", name);
    json_t *v = json_array_get(entry, 0);
    size_t nodes = (size_t)json_integer_value(json_array_get(entry, 1));

    /* Check the bounds before copying anything. */
    L->alias_nodes += nodes;
    if (total_nodes(L) > PB_YAML_MAX_NODES ||
        L->alias_nodes > PB_YAML_ALIAS_SLACK + PB_YAML_ALIAS_RATIO * L->literal_nodes)
        return at(L->err, PB_ETOOLARGE, &ev->start_mark,
                  "alias \"%s\" expands the document too much (too many aliases)", name);

    if (expecting_key(L)) {
        char *text = json_is_string(v) ? strdup(json_string_value(v))
                     : (json_is_object(v) || json_is_array(v)) ? NULL
                                                                : json_dumps(v, JSON_ENCODE_ANY);
        if (!text)
            return at(L->err, PB_EPARSE, &ev->start_mark, "%s", "a collection cannot be a mapping key");
        int rc = set_key(L, text, strlen(text), 0, &ev->start_mark);
        free(text);
        return rc;
    }
    json_t *copy = json_deep_copy(v);
    if (!copy)
        return pb_err_set(L->err, PB_ENOMEM, "out of memory");
    return attach(L, copy, &ev->start_mark);
}

static int on_start(loader *L, const yaml_event_t *ev, int is_map)
{
    int rc = count_literal(L, &ev->start_mark);
    if (rc)
        return rc;
    if (expecting_key(L))
        return at(L->err, PB_EPARSE, &ev->start_mark, "%s", "a collection cannot be a mapping key");
    if (L->depth >= PB_YAML_MAX_DEPTH)
        return at(L->err, PB_ETOOLARGE, &ev->start_mark, "nested deeper than %s levels", "100");
    json_t *node = is_map ? json_object() : json_array();
    if (!node)
        return pb_err_set(L->err, PB_ENOMEM, "out of memory");
    /* attach() needs the parent on top, so attach before pushing. */
    if ((rc = attach(L, node, &ev->start_mark)))
        return rc;
    const yaml_char_t *anchor = is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    frame *f = &L->stack[L->depth++];
    memset(f, 0, sizeof *f);
    f->node = node;
    f->is_map = is_map;
    f->nodes_start = total_nodes(L) - 1;
    if (anchor && !(f->anchor = strdup((const char *)anchor)))
        return pb_err_set(L->err, PB_ENOMEM, "out of memory");
    return 0;
}

/* Apply "<<" sources: earlier sources and explicit keys take precedence. */
static int apply_merges(loader *L, frame *f, const yaml_mark_t *m)
{
    size_t i, j;
    json_t *src;
    json_array_foreach(f->merges, i, src) {
        json_t *list = json_is_array(src) ? src : NULL;
        size_t n = list ? json_array_size(list) : 1;
        for (j = 0; j < n; j++) {
            json_t *obj = list ? json_array_get(list, j) : src;
            if (!json_is_object(obj))
                return at(L->err, PB_EPARSE, m, "%s", "merge key \"<<\" needs a mapping or a list of mappings");
            const char *k;
            json_t *v;
            json_object_foreach(obj, k, v) {
                if (!json_object_get(f->node, k) && json_object_set(f->node, k, v))
                    return pb_err_set(L->err, PB_ENOMEM, "out of memory");
            }
        }
    }
    return 0;
}

static int on_end(loader *L, const yaml_event_t *ev)
{
    frame *f = &L->stack[L->depth - 1];
    int rc = 0;
    if (f->merges)
        rc = apply_merges(L, f, &ev->start_mark);
    if (!rc && f->anchor)
        rc = register_anchor(L, f->anchor, f->node, total_nodes(L) - f->nodes_start);
    frame_free(f);
    L->depth--;
    return rc;
}

/* ---- driver ------------------------------------------------------------------ */

static int parser_error(const yaml_parser_t *p, pb_err *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR)
        return pb_err_set(err, PB_EPARSE, "byte %zu: %s", p->problem_offset, problem);
    if (p->context)
        return pb_err_set(err, PB_EPARSE, "line %zu, column %zu: %s (%s at line %zu, column %zu)",
                          p->problem_mark.line + 1, p->problem_mark.column + 1, problem,
                          p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    return pb_err_set(err, PB_EPARSE, "line %zu, column %zu: %s", p->problem_mark.line + 1,
                      p->problem_mark.column + 1, problem);
}

int pb_yaml_parse_stream(const char *buf, size_t len, json_t **docs, pb_err *err)
{
    if (len > PB_YAML_MAX_INPUT)
        return pb_err_set(err, PB_ETOOLARGE, "YAML input of %zu bytes exceeds the %u byte limit",
                          len, PB_YAML_MAX_INPUT);
    loader L;
    memset(&L, 0, sizeof L);
    L.err = err;
    L.anchors = json_object();
    json_t *out = json_array();
    yaml_parser_t p;
    if (!L.anchors || !out || !yaml_parser_initialize(&p)) {
        json_decref(L.anchors);
        json_decref(out);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)(buf ? buf : ""), len);

    int rc = 0, done = 0;
    while (!done && !rc) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = parser_error(&p, err);
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (L.root && !json_is_null(L.root)) {
                if (json_array_append(out, L.root))
                    rc = pb_err_set(err, PB_ENOMEM, "out of memory");
            }
            end_document_state(&L);
            break;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(&L, &ev);
            break;
        case YAML_ALIAS_EVENT:
            rc = on_alias(&L, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = on_start(&L, &ev, 0);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = on_start(&L, &ev, 1);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = on_end(&L, &ev);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    end_document_state(&L);
    json_decref(L.anchors);
    if (rc) {
        json_decref(out);
        return rc;
    }
    *docs = out;
    return 0;
}

int pb_yaml_parse_one(const char *buf, size_t len, json_t **doc, pb_err *err)
{
    json_t *docs;
    int rc = pb_yaml_parse_stream(buf, len, &docs, err);
    if (rc)
        return rc;
    size_t n = json_array_size(docs);
    if (n != 1) {
        json_decref(docs);
        return n == 0 ? pb_err_set(err, PB_ENOTFOUND, "no YAML document")
                      : pb_err_set(err, PB_EINVAL, "expected one YAML document, found %zu", n);
    }
    *doc = json_incref(json_array_get(docs, 0));
    json_decref(docs);
    return 0;
}

int pb_yaml_parse_file(const char *path, json_t **docs, pb_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pb_err_set(err, PB_EIO, "%s: %s", path, strerror(errno));
    /* Read one byte past the limit so an oversized file is detected. */
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (len == cap) {
            if (cap > PB_YAML_MAX_INPUT)
                break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (!buf)
        rc = pb_err_set(err, PB_ENOMEM, "out of memory");
    else if (ferror(f))
        rc = pb_err_set(err, PB_EIO, "%s: read error", path);
    fclose(f);
    if (!rc)
        rc = pb_yaml_parse_stream(buf, len, docs, err);
    free(buf);
    if (rc)
        pb_err_wrap(err, "%s", path);
    return rc;
}
