/*
 * patch.c - JSON merge patch (RFC 7386) and JSON patch (RFC 6902) for the
 * dev API server (patch.h). Strategic merge lives in patch_strategic.c and
 * server-side apply in patch_apply.c.
 *
 * JSON patch follows the library kube-apiserver uses (evanphx/json-patch):
 * same error wording, negative array indices accepted, "-" appends, and a
 * bound on operations (10000, like the server) and on the data copied by
 * "copy" ops so a short patch cannot blow memory up.
 */
#include "patch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 1000
#define MAX_JSON_PATCH_OPS 10000
#define MAX_COPIED_NODES (1u << 20)

static void set_msg(char *msg, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t n, const char *fmt, ...)
{
    if (!msg || n == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* RFC 7386                                                                 */

/* Returns a new reference: target with patch merged in (target borrowed). */
static json_t *merge_value(const json_t *target, const json_t *patch, int depth, int *too_deep)
{
    if (depth > MAX_DEPTH) {
        *too_deep = 1;
        return NULL;
    }
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
    if (!out)
        return NULL;
    const char *k;
    json_t *pv;
    json_object_foreach((json_t *)patch, k, pv) {
        if (json_is_null(pv)) {
            json_object_del(out, k);
            continue;
        }
        json_t *merged = merge_value(json_object_get(out, k), pv, depth + 1, too_deep);
        if (!merged) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, k, merged);
    }
    return out;
}

int dv_merge_patch(const json_t *target, const json_t *patch, json_t **out, char *msg, size_t n)
{
    *out = NULL;
    if (!json_is_object(patch)) {
        set_msg(msg, n, "invalid merge patch: the patch must be a JSON object");
        return -1;
    }
    int too_deep = 0;
    json_t *res = merge_value(target, patch, 0, &too_deep);
    if (!res) {
        set_msg(msg, n, too_deep ? "invalid merge patch: nested too deeply" : "out of memory");
        return -1;
    }
    *out = res;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* RFC 6901 pointers                                                        */

typedef struct {
    char **tok;
    size_t n;
} jptr;

static void jptr_free(jptr *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->tok[i]);
    free(p->tok);
    p->tok = NULL;
    p->n = 0;
}

/* "" is the whole document; otherwise "/a/b~1c". */
static int jptr_parse(const char *s, jptr *p, char *msg, size_t n)
{
    p->tok = NULL;
    p->n = 0;
    if (*s == '\0')
        return 0;
    if (*s != '/') {
        set_msg(msg, n, "invalid JSON pointer %s: must be empty or start with '/'", s);
        return -1;
    }
    const char *c = s + 1;
    for (;;) {
        const char *end = strchr(c, '/');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        char *t = malloc(len + 1);
        char **nt = realloc(p->tok, (p->n + 1) * sizeof(*nt));
        if (!t || !nt) {
            free(t);
            if (nt)
                p->tok = nt;
            jptr_free(p);
            set_msg(msg, n, "out of memory");
            return -1;
        }
        p->tok = nt;
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            if (c[i] == '~') {
                if (i + 1 < len && (c[i + 1] == '0' || c[i + 1] == '1')) {
                    t[o++] = c[i + 1] == '0' ? '~' : '/';
                    i++;
                    continue;
                }
                free(t);
                jptr_free(p);
                set_msg(msg, n, "invalid JSON pointer %s: '~' must be followed by 0 or 1", s);
                return -1;
            }
            t[o++] = c[i];
        }
        t[o] = '\0';
        p->tok[p->n++] = t;
        if (!end)
            return 0;
        c = end + 1;
    }
}

/* Array index per evanphx: digits (negatives count from the end). Returns
 * 0 and the index in [0, len] (add) or [0, len) (others), else -1. */
static int array_index(const char *tok, size_t len, int for_add, size_t *out, char *msg, size_t n)
{
    if (for_add && strcmp(tok, "-") == 0) {
        *out = len;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(tok, &end, 10);
    if (*tok == '\0' || *end || errno || (tok[0] == '0' && tok[1]) || tok[0] == '+') {
        set_msg(msg, n, "Unable to access invalid index: %s: invalid index referenced", tok);
        return -1;
    }
    long long max = for_add ? (long long)len : (long long)len - 1;
    if (v < 0)
        v += (long long)len;
    if (v < 0 || v > max) {
        set_msg(msg, n, "Unable to access invalid index: %s: invalid index referenced", tok);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/* The container holding the last token (NULL when missing). */
static json_t *jptr_parent(json_t *doc, const jptr *p)
{
    json_t *cur = doc;
    for (size_t i = 0; i + 1 < p->n && cur; i++) {
        if (json_is_object(cur)) {
            cur = json_object_get(cur, p->tok[i]);
        } else if (json_is_array(cur)) {
            size_t idx;
            if (array_index(p->tok[i], json_array_size(cur), 0, &idx, NULL, 0) < 0)
                return NULL;
            cur = json_array_get(cur, idx);
        } else {
            return NULL;
        }
    }
    return cur;
}

static json_t *jptr_get(json_t *doc, const jptr *p)
{
    if (p->n == 0)
        return doc;
    json_t *parent = jptr_parent(doc, p);
    const char *last = p->tok[p->n - 1];
    if (json_is_object(parent))
        return json_object_get(parent, last);
    if (json_is_array(parent)) {
        size_t idx;
        if (array_index(last, json_array_size(parent), 0, &idx, NULL, 0) < 0)
            return NULL;
        return json_array_get(parent, idx);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* RFC 6902                                                                 */

/* Numbers compare by value (1 == 1.0), everything else structurally. */
static int json_equal_num(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            json_t *bv = json_object_get(b, k);
            if (!bv || !json_equal_num(v, bv))
                return 0;
        }
        return 1;
    }
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_equal_num(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static size_t count_nodes(const json_t *v, size_t limit)
{
    size_t c = 1;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            c += count_nodes(x, limit);
            if (c > limit)
                return c;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && c <= limit; i++)
            c += count_nodes(json_array_get(v, i), limit);
    }
    return c;
}

/* Adds value (stolen) at p in *doc. */
static int op_add(json_t **doc, const jptr *p, const char *path, json_t *value, char *msg, size_t n)
{
    if (p->n == 0) {
        json_decref(*doc);
        *doc = value;
        return 0;
    }
    json_t *parent = jptr_parent(*doc, p);
    const char *last = p->tok[p->n - 1];
    if (json_is_object(parent)) {
        json_object_set_new(parent, last, value);
        return 0;
    }
    if (json_is_array(parent)) {
        size_t idx;
        if (array_index(last, json_array_size(parent), 1, &idx, msg, n) < 0) {
            json_decref(value);
            return -1;
        }
        json_array_insert_new(parent, idx, value);
        return 0;
    }
    json_decref(value);
    set_msg(msg, n, "add operation does not apply: doc is missing path: \"%s\": missing value", path);
    return -1;
}

static int op_remove(json_t *doc, const jptr *p, const char *path, char *msg, size_t n)
{
    if (p->n == 0) {
        set_msg(msg, n, "remove operation does not apply: cannot remove the whole document");
        return -1;
    }
    json_t *parent = jptr_parent(doc, p);
    const char *last = p->tok[p->n - 1];
    if (json_is_object(parent)) {
        if (json_object_del(parent, last) != 0) {
            set_msg(msg, n, "error in remove for path: '%s': Unable to remove nonexistent key: %s: missing value",
                    path, last);
            return -1;
        }
        return 0;
    }
    if (json_is_array(parent)) {
        size_t idx;
        char inner[256];
        if (array_index(last, json_array_size(parent), 0, &idx, inner, sizeof(inner)) < 0) {
            set_msg(msg, n, "error in remove for path: '%s': %s", path, inner);
            return -1;
        }
        json_array_remove(parent, idx);
        return 0;
    }
    set_msg(msg, n, "remove operation does not apply: doc is missing path: \"%s\": missing value", path);
    return -1;
}

static const char *op_str(const json_t *op, const char *key)
{
    return json_string_value(json_object_get(op, key));
}

/* The name encoding/json gives a JSON value's type in "cannot unmarshal X". */
static const char *go_json_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    default:
        return "number";
    }
}

int dv_json_patch_decode(const json_t *ops, int strict, char *msg, size_t n)
{
    /* Go decodes null into anything without complaint (an empty patch). */
    if (json_is_null(ops))
        return 0;
    /* Strict and Warn field validation first decode into []jsonPatchOp
     * (typed op/path/from); Ignore only into []map[string]RawMessage, which
     * takes any member value. The first type error in document order wins. */
    const char *prefix = strict ? "error decoding patch: json" : "json";
    if (!json_is_array(ops)) {
        set_msg(msg, n, "%s: cannot unmarshal %s into Go value of type %s", prefix, go_json_type(ops),
                strict ? "[]handlers.jsonPatchOp" : "jsonpatch.Patch");
        return -1;
    }
    size_t i;
    const json_t *op;
    json_array_foreach(ops, i, op) {
        if (json_is_null(op))
            continue;
        if (!json_is_object(op)) {
            set_msg(msg, n, "%s: cannot unmarshal %s into Go value of type %s", prefix, go_json_type(op),
                    strict ? "handlers.jsonPatchOp" : "jsonpatch.Operation");
            return -1;
        }
        if (!strict)
            continue;
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)op, key, v) {
            if ((!strcmp(key, "op") || !strcmp(key, "path") || !strcmp(key, "from")) && !json_is_string(v) &&
                !json_is_null(v)) {
                set_msg(msg, n, "%s: cannot unmarshal %s into Go struct field jsonPatchOp.%s of type string",
                        prefix, go_json_type(v), key);
                return -1;
            }
        }
    }
    if (json_array_size(ops) > MAX_JSON_PATCH_OPS) {
        set_msg(msg, n, "The allowed maximum operations in a JSON patch is %d, got %zu", MAX_JSON_PATCH_OPS,
                json_array_size(ops));
        return -2;
    }
    return 0;
}

int dv_json_patch(const json_t *target, const json_t *ops, json_t **out, char *msg, size_t n)
{
    *out = NULL;
    if (json_is_null(ops)) { /* what Go decodes null into: no operations */
        *out = target ? json_deep_copy(target) : json_null();
        if (*out)
            return 0;
        set_msg(msg, n, "out of memory");
        return -1;
    }
    if (!json_is_array(ops)) {
        set_msg(msg, n, "invalid JSON patch: expected a JSON array of operations");
        return -1;
    }
    if (json_array_size(ops) > MAX_JSON_PATCH_OPS) {
        set_msg(msg, n, "The allowed maximum operations in a JSON patch is %d, got %zu", MAX_JSON_PATCH_OPS,
                json_array_size(ops));
        return -1;
    }
    json_t *doc = target ? json_deep_copy(target) : json_null();
    if (!doc) {
        set_msg(msg, n, "out of memory");
        return -1;
    }
    size_t copied = 0;
    for (size_t i = 0; i < json_array_size(ops); i++) {
        const json_t *op = json_array_get(ops, i);
        if (!json_is_object(op)) {
            set_msg(msg, n, "invalid JSON patch: operation %zu is not an object", i);
            goto fail;
        }
        const char *kind = op_str(op, "op");
        const char *path = op_str(op, "path");
        if (!kind) {
            set_msg(msg, n, "Unexpected kind: unknown");
            goto fail;
        }
        if (!path) {
            set_msg(msg, n, "operation missing path field: missing value");
            goto fail;
        }
        jptr p;
        if (jptr_parse(path, &p, msg, n) < 0)
            goto fail;
        int rc = 0;
        json_t *value = json_object_get(op, "value");
        if (strcmp(kind, "add") == 0 || strcmp(kind, "replace") == 0 || strcmp(kind, "test") == 0) {
            if (!value) {
                set_msg(msg, n, "%s operation, missing value field: missing value", kind);
                rc = -1;
            }
        }
        if (rc == 0 && strcmp(kind, "add") == 0) {
            rc = op_add(&doc, &p, path, json_deep_copy(value), msg, n);
        } else if (rc == 0 && strcmp(kind, "remove") == 0) {
            rc = op_remove(doc, &p, path, msg, n);
        } else if (rc == 0 && strcmp(kind, "replace") == 0) {
            if (p.n == 0) {
                json_decref(doc);
                doc = json_deep_copy(value);
            } else if (!jptr_get(doc, &p)) {
                set_msg(msg, n, "replace operation does not apply: doc is missing key: %s: missing value", path);
                rc = -1;
            } else {
                json_t *parent = jptr_parent(doc, &p);
                const char *last = p.tok[p.n - 1];
                if (json_is_object(parent)) {
                    json_object_set_new(parent, last, json_deep_copy(value));
                } else {
                    size_t idx;
                    array_index(last, json_array_size(parent), 0, &idx, NULL, 0);
                    json_array_set_new(parent, idx, json_deep_copy(value));
                }
            }
        } else if (rc == 0 && strcmp(kind, "test") == 0) {
            json_t *cur = jptr_get(doc, &p);
            int ok = cur ? json_equal_num(cur, value) : json_is_null(value);
            if (!ok) {
                set_msg(msg, n, "testing value %s failed: test failed", path);
                rc = -1;
            }
        } else if (rc == 0 && (strcmp(kind, "move") == 0 || strcmp(kind, "copy") == 0)) {
            int is_move = kind[0] == 'm';
            const char *from = op_str(op, "from");
            jptr f;
            if (!from) {
                set_msg(msg, n, "%s operation, missing from field: missing value", kind);
                rc = -1;
            } else if (jptr_parse(from, &f, msg, n) < 0) {
                rc = -1;
            } else {
                json_t *src = jptr_get(doc, &f);
                size_t flen = strlen(from);
                if (!src) {
                    set_msg(msg, n, "%s operation does not apply: doc is missing from path: %s: missing value",
                            kind, from);
                    rc = -1;
                } else if (is_move && strcmp(from, path) == 0) {
                    /* moving onto itself is a no-op */
                } else if (is_move && strncmp(from, path, flen) == 0 && path[flen] == '/') {
                    set_msg(msg, n, "move operation does not apply: \"from\" %s is a prefix of \"path\" %s", from,
                            path);
                    rc = -1;
                } else {
                    json_t *val;
                    if (is_move) {
                        val = json_incref(src);
                        rc = op_remove(doc, &f, from, msg, n);
                    } else {
                        copied += count_nodes(src, MAX_COPIED_NODES);
                        if (copied > MAX_COPIED_NODES) {
                            set_msg(msg, n, "Unable to complete JSON patch: copies exceed the allowed size");
                            rc = -1;
                            val = NULL;
                        } else {
                            val = json_deep_copy(src);
                        }
                    }
                    if (rc == 0)
                        rc = op_add(&doc, &p, path, val, msg, n);
                    else
                        json_decref(val);
                }
                jptr_free(&f);
            }
        } else if (rc == 0) {
            set_msg(msg, n, "Unexpected kind: %s", kind);
            rc = -1;
        }
        jptr_free(&p);
        if (rc < 0)
            goto fail;
    }
    *out = doc;
    return 0;
fail:
    json_decref(doc);
    return -1;
}
