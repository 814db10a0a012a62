/*
 * json.c - path-based typed getters and setters over jansson (see json.h).
 *
 * A path is parsed one segment at a time while walking the tree, so there is
 * no intermediate representation to allocate or free.
 */
#include "util/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/jdump.h"

#define SEG_KEY_MAX 512 /* annotation keys are at most 253 + 1 + 63 bytes */

typedef struct {
    int is_index;
    size_t index;
    char key[SEG_KEY_MAX];
} seg;

const char *pb_json_type_name(const json_t *v)
{
    if (!v)
        return "missing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

const char *pb_json_unknown_key(const json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const char *const *a = allowed;
        while (*a && strcmp(key, *a) != 0)
            a++;
        if (!*a)
            return key;
    }
    return NULL;
}

static int bad_path(pb_err *err, const char *path, size_t pos, const char *why)
{
    return pb_err_set(err, PB_EINVAL, "bad path \"%s\" at offset %zu: %s", path, pos, why);
}

/* Parse the segment starting at path[*pos]. Returns 1 and fills s, 0 at the
 * end of the path, or PB_EINVAL for a malformed path. */
static int next_seg(const char *path, size_t *pos, seg *s, pb_err *err)
{
    size_t p = *pos;
    if (path[p] == '\0')
        return p == 0 ? bad_path(err, path, p, "empty path") : 0;

    if (path[p] == '[') {
        p++;
        if (path[p] == '"') {
            size_t n = 0;
            p++;
            while (path[p] && path[p] != '"') {
                if (path[p] == '\\' && path[p + 1])
                    p++;
                if (n + 1 >= sizeof s->key)
                    return bad_path(err, path, p, "key too long");
                s->key[n++] = path[p++];
            }
            if (path[p] != '"' || path[p + 1] != ']')
                return bad_path(err, path, p, "unterminated quoted key");
            s->key[n] = '\0';
            s->is_index = 0;
            *pos = p + 2;
            return 1;
        }
        if (path[p] < '0' || path[p] > '9')
            return bad_path(err, path, p, "expected an index or a quoted key");
        errno = 0;
        char *end;
        unsigned long long idx = strtoull(path + p, &end, 10);
        if (errno || *end != ']')
            return bad_path(err, path, p, "bad index");
        s->is_index = 1;
        s->index = (size_t)idx;
        *pos = (size_t)(end - path) + 1;
        return 1;
    }

    if (path[p] == '.') {
        if (p == 0)
            return bad_path(err, path, p, "leading '.'");
        p++;
    } else if (p != 0) {
        return bad_path(err, path, p, "expected '.' or '['");
    }
    size_t start = p;
    while (path[p] && path[p] != '.' && path[p] != '[' && path[p] != ']')
        p++;
    if (p == start)
        return bad_path(err, path, p, "empty key");
    if (p - start >= sizeof s->key)
        return bad_path(err, path, start, "key too long");
    memcpy(s->key, path + start, p - start);
    s->key[p - start] = '\0';
    s->is_index = 0;
    *pos = p;
    return 1;
}

/* The path up to `len` bytes, for messages about a container. */
static int container_err(pb_err *err, const char *path, size_t len, const char *want,
                         const json_t *got)
{
    if (len == 0)
        return pb_err_set(err, PB_EINVAL, "<root>: expected %s, got %s", want,
                          pb_json_type_name(got));
    return pb_err_set(err, PB_EINVAL, "%.*s: expected %s, got %s", (int)len, path, want,
                      pb_json_type_name(got));
}

int pb_json_get(const json_t *root, const char *path, json_t **out, pb_err *err)
{
    json_t *cur = (json_t *)root;
    size_t pos = 0, prev = 0;
    seg s;
    int rc;
    if (!path)
        return pb_err_set(err, PB_EINVAL, "NULL path");
    while ((rc = next_seg(path, &pos, &s, err)) == 1) {
        if (!cur || json_is_null(cur))
            break;
        if (s.is_index) {
            if (!json_is_array(cur))
                return container_err(err, path, prev, "array", cur);
            cur = json_array_get(cur, s.index);
        } else {
            if (!json_is_object(cur))
                return container_err(err, path, prev, "object", cur);
            cur = json_object_get(cur, s.key);
        }
        prev = pos;
    }
    if (rc < 0)
        return rc;
    if (!cur || json_is_null(cur)) {
        /* Still validate the rest of the path so typos are not "not found". */
        while ((rc = next_seg(path, &pos, &s, err)) == 1)
            ;
        if (rc < 0)
            return rc;
        return pb_err_set(err, PB_ENOTFOUND, "%s: not found", path);
    }
    *out = cur;
    return 0;
}

/* Fetch and check the type; `want` is for the message. */
static int get_typed(const json_t *root, const char *path, json_type t1, json_type t2,
                     const char *want, json_t **out, pb_err *err)
{
    json_t *v = NULL;
    int rc = pb_json_get(root, path, &v, err);
    if (rc)
        return rc;
    if (json_typeof(v) != t1 && json_typeof(v) != t2)
        return pb_err_set(err, PB_EINVAL, "%s: expected %s, got %s", path, want,
                          pb_json_type_name(v));
    *out = v;
    return 0;
}

int pb_json_get_string(const json_t *root, const char *path, const char **out, pb_err *err)
{
    json_t *v = NULL;
    int rc = get_typed(root, path, JSON_STRING, JSON_STRING, "string", &v, err);
    if (!rc)
        *out = json_string_value(v);
    return rc;
}

int pb_json_get_int(const json_t *root, const char *path, long long *out, pb_err *err)
{
    json_t *v = NULL;
    int rc = get_typed(root, path, JSON_INTEGER, JSON_INTEGER, "integer", &v, err);
    if (!rc)
        *out = (long long)json_integer_value(v);
    return rc;
}

int pb_json_get_number(const json_t *root, const char *path, double *out, pb_err *err)
{
    json_t *v = NULL;
    int rc = get_typed(root, path, JSON_INTEGER, JSON_REAL, "number", &v, err);
    if (!rc)
        *out = json_number_value(v);
    return rc;
}

int pb_json_get_bool(const json_t *root, const char *path, int *out, pb_err *err)
{
    json_t *v = NULL;
    int rc = get_typed(root, path, JSON_TRUE, JSON_FALSE, "boolean", &v, err);
    if (!rc)
        *out = json_is_true(v);
    return rc;
}

int pb_json_get_object(const json_t *root, const char *path, json_t **out, pb_err *err)
{
    return get_typed(root, path, JSON_OBJECT, JSON_OBJECT, "object", out, err);
}

int pb_json_get_array(const json_t *root, const char *path, json_t **out, pb_err *err)
{
    return get_typed(root, path, JSON_ARRAY, JSON_ARRAY, "array", out, err);
}

/* Turn PB_ENOTFOUND into "use the default". */
static int opt_rc(int rc, pb_err *err)
{
    if (rc == PB_ENOTFOUND) {
        pb_err_clear(err);
        return 1;
    }
    return rc;
}

int pb_json_opt_string(const json_t *root, const char *path, const char *def,
                       const char **out, pb_err *err)
{
    int rc = opt_rc(pb_json_get_string(root, path, out, err), err);
    if (rc == 1)
        *out = def;
    return rc < 0 ? rc : 0;
}

int pb_json_opt_int(const json_t *root, const char *path, long long def, long long *out,
                    pb_err *err)
{
    int rc = opt_rc(pb_json_get_int(root, path, out, err), err);
    if (rc == 1)
        *out = def;
    return rc < 0 ? rc : 0;
}

int pb_json_opt_number(const json_t *root, const char *path, double def, double *out,
                       pb_err *err)
{
    int rc = opt_rc(pb_json_get_number(root, path, out, err), err);
    if (rc == 1)
        *out = def;
    return rc < 0 ? rc : 0;
}

int pb_json_opt_bool(const json_t *root, const char *path, int def, int *out, pb_err *err)
{
    int rc = opt_rc(pb_json_get_bool(root, path, out, err), err);
    if (rc == 1)
        *out = def;
    return rc < 0 ? rc : 0;
}

/* Put `value` (stolen) into container `cur` under segment s. */
static int store(json_t *cur, const seg *s, json_t *value, const char *path, size_t prev,
                 pb_err *err)
{
    if (s->is_index) {
        if (!json_is_array(cur)) {
            json_decref(value);
            return container_err(err, path, prev, "array", cur);
        }
        size_t n = json_array_size(cur);
        int fail = 0;
        if (s->index < n)
            fail = json_array_set_new(cur, s->index, value);
        else if (s->index == n)
            fail = json_array_append_new(cur, value);
        if (s->index <= n)
            return fail ? pb_err_set(err, PB_ENOMEM, "out of memory") : 0;
        json_decref(value);
        return pb_err_set(err, PB_EINVAL, "%s: index %zu out of range (size %zu)", path,
                          s->index, n);
    }
    if (!json_is_object(cur)) {
        json_decref(value);
        return container_err(err, path, prev, "object", cur);
    }
    return json_object_set_new(cur, s->key, value) ? pb_err_set(err, PB_ENOMEM, "out of memory")
                                                    : 0;
}

int pb_json_set_path(json_t *root, const char *path, json_t *value, pb_err *err)
{
    if (!value)
        return pb_err_set(err, PB_EINVAL, "%s: NULL value", path ? path : "");
    if (!root || !path) {
        json_decref(value);
        return pb_err_set(err, PB_EINVAL, "NULL root or path");
    }
    seg s, next;
    size_t pos = 0, prev = 0;
    int rc = next_seg(path, &pos, &s, err);
    if (rc <= 0) {
        json_decref(value);
        return rc ? rc : bad_path(err, path, 0, "empty path");
    }
    json_t *cur = root;
    for (;;) {
        size_t after = pos;
        rc = next_seg(path, &pos, &next, err);
        if (rc < 0) {
            json_decref(value);
            return rc;
        }
        if (rc == 0)
            return store(cur, &s, value, path, prev, err);

        /* An intermediate segment: descend, creating the container the next
         * segment needs when nothing (or null) is there. */
        json_t *child = NULL;
        if (s.is_index && json_is_array(cur))
            child = json_array_get(cur, s.index);
        else if (!s.is_index && json_is_object(cur))
            child = json_object_get(cur, s.key);
        if (!child || json_is_null(child)) {
            child = next.is_index ? json_array() : json_object();
            if (!child) {
                json_decref(value);
                return pb_err_set(err, PB_ENOMEM, "out of memory");
            }
            json_incref(child);
            rc = store(cur, &s, child, path, prev, err);
            if (rc) {
                json_decref(child);
                json_decref(value);
                return rc;
            }
            json_decref(child); /* cur holds it now */
        }
        cur = child;
        prev = after;
        s = next;
    }
}

char *pb_json_dumps_canonical(const json_t *v)
{
    return pb_jdump(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

int pb_json_loads(const char *buf, size_t len, json_t **out, pb_err *err)
{
    json_error_t je;
    json_t *v = json_loadb(buf, len, JSON_DECODE_ANY, &je);
    if (!v)
        return pb_err_set(err, PB_EPARSE, "line %d, column %d: %s", je.line, je.column, je.text);
    *out = v;
    return 0;
}
