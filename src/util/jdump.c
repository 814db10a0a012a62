/*
 * jdump.c - a jansson tree to compact JSON text through yajl's generator
 * (see jdump.h for why, and for what is left to json_dumps).
 *
 * The walk mirrors jansson's do_dump: members in the object's own order,
 * or with JSON_SORT_KEYS in jansson 2.14's order (bytes compared with
 * memcmp, then the shorter key first). yajl escapes exactly what jansson
 * escapes when neither JSON_ENSURE_ASCII nor JSON_ESCAPE_SLASH is set:
 * '"', '\\', and control characters (\b \f \n \r \t by name, the rest as
 * \u00XX in upper-case hex); every other byte is copied.
 */
#include "util/jdump.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "util/buf.h"

#define FAST_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)
#define STACK_MEMBERS 32 /* sorting an object this small needs no allocation */

typedef struct dump {
    yajl_gen g;
    pb_buf out;
    int sort;
} dump;

typedef struct member {
    const char *key;
    size_t len;
    json_t *value;
} member;

/* yajl prints a token at a time; a failure is sticky (out.oom), checked
 * once at the end. */
static void print(void *ctx, const char *s, size_t n)
{
    pb_buf_append(&((dump *)ctx)->out, s, n);
}

static int cmp_member(const void *a, const void *b)
{
    const member *x = a, *y = b;
    int r = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    if (r)
        return r;
    return x->len < y->len ? -1 : x->len > y->len;
}

static int gen(dump *d, json_t *v);

static int gen_key_value(dump *d, const char *key, size_t len, json_t *value)
{
    if (yajl_gen_string(d->g, (const unsigned char *)key, len) != yajl_gen_status_ok)
        return -1;
    return gen(d, value);
}

static int gen_sorted(dump *d, json_t *obj)
{
    size_t n = json_object_size(obj), i = 0;
    member stack[STACK_MEMBERS];
    member *m = n <= STACK_MEMBERS ? stack : malloc(n * sizeof *m);
    if (!m)
        return -1;
    const char *key;
    size_t len;
    json_t *value;
    json_object_keylen_foreach(obj, key, len, value)
    {
        m[i++] = (member){key, len, value};
    }
    qsort(m, n, sizeof *m, cmp_member);
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++)
        rc = gen_key_value(d, m[i].key, m[i].len, m[i].value);
    if (m != stack)
        free(m);
    return rc;
}

/* A real's text is jansson's (%.17g, then ".0" or exponent tidying). */
static int gen_real(dump *d, const json_t *v)
{
    char *text = json_dumps(v, JSON_ENCODE_ANY);
    if (!text)
        return -1;
    yajl_gen_status st = yajl_gen_number(d->g, text, strlen(text));
    free(text);
    return st == yajl_gen_status_ok ? 0 : -1;
}

/* yajl refuses a 128th open container (yajl_max_depth_exceeded): a tree
 * that deep, or a cycle, ends the walk and goes to json_dumps. */
static int gen(dump *d, json_t *v)
{
    yajl_gen g = d->g;
    yajl_gen_status st = yajl_gen_status_ok;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (yajl_gen_map_open(g) != yajl_gen_status_ok)
            return -1;
        if (d->sort) {
            if (gen_sorted(d, v))
                return -1;
        } else {
            const char *key;
            size_t len;
            json_t *value;
            json_object_keylen_foreach(v, key, len, value)
            {
                if (gen_key_value(d, key, len, value))
                    return -1;
            }
        }
        st = yajl_gen_map_close(g);
        break;
    }
    case JSON_ARRAY: {
        if (yajl_gen_array_open(g) != yajl_gen_status_ok)
            return -1;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (gen(d, e))
                return -1;
        }
        st = yajl_gen_array_close(g);
        break;
    }
    case JSON_STRING:
        st = yajl_gen_string(g, (const unsigned char *)json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        st = yajl_gen_integer(g, (long long)json_integer_value(v)); /* "%lld", as jansson's JSON_INTEGER_FORMAT */
        break;
    case JSON_REAL:
        return gen_real(d, v);
    case JSON_TRUE:
        st = yajl_gen_bool(g, 1);
        break;
    case JSON_FALSE:
        st = yajl_gen_bool(g, 0);
        break;
    case JSON_NULL:
        st = yajl_gen_null(g);
        break;
    }
    return st == yajl_gen_status_ok ? 0 : -1;
}

int pb_jdump_gen(const json_t *v, size_t flags, char **out)
{
    if (!v || (flags & ~(size_t)FAST_FLAGS) || !(flags & JSON_COMPACT))
        return 0;
    if (!(flags & JSON_ENCODE_ANY) && !json_is_object(v) && !json_is_array(v))
        return 0;
    dump d = {.sort = (flags & JSON_SORT_KEYS) != 0};
    d.g = yajl_gen_alloc(NULL);
    if (!d.g) {
        *out = NULL;
        return 1;
    }
    yajl_gen_config(d.g, yajl_gen_print_callback, print, &d);
    pb_buf_reserve(&d.out, 4096); /* most bodies fit: one allocation, no regrowth */
    /* The walk never changes the tree; jansson's iterators just take no const. */
    int rc = gen(&d, (json_t *)v);
    yajl_gen_free(d.g);
    if (rc != 0 && !d.out.oom) {
        pb_buf_free(&d.out); /* too deep (or a cycle): json_dumps decides */
        return 0;
    }
    *out = rc == 0 ? pb_buf_take(&d.out, NULL) : NULL;
    pb_buf_free(&d.out);
    return 1;
}

char *pb_jdump(const json_t *v, size_t flags)
{
    char *text;
    return pb_jdump_gen(v, flags, &text) ? text : json_dumps(v, flags);
}
