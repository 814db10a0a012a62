/*
 * jscan.c - finding one member in JSON text without decoding the rest
 * (see jscan.h for when and why).
 */
#include "util/jscan.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

size_t pb_jscan_skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* p[i] is '"': the index just past the string, or 0. */
static size_t skip_string(const char *p, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return 0;
}

/* The index just past the value at p[i], or 0 when there is none. */
static size_t skip_value(const char *p, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    if (p[i] == '"')
        return skip_string(p, n, i);
    if (p[i] != '{' && p[i] != '[') { /* number, true, false, null */
        size_t j = i;
        while (j < n && p[j] != ',' && p[j] != '}' && p[j] != ']' && p[j] != ' ' && p[j] != '\t' &&
               p[j] != '\n' && p[j] != '\r')
            j++;
        return j > i ? j : 0;
    }
    /* Which opener each level has (bit set: '['), so that a closer of the
     * wrong kind is caught instead of turning bad text into good. Deeper
     * than 64 levels: not followed. */
    uint64_t arrays = 0;
    size_t depth = 0;
    for (; i < n; i++) {
        if (p[i] == '"') {
            if (!(i = skip_string(p, n, i)))
                return 0;
            i--;
        } else if (p[i] == '{' || p[i] == '[') {
            if (depth == 64)
                return 0;
            arrays = p[i] == '[' ? arrays | (UINT64_C(1) << depth) : arrays & ~(UINT64_C(1) << depth);
            depth++;
        } else if (p[i] == '}' || p[i] == ']') {
            if (depth == 0 || (p[i] == ']') != !!(arrays & (UINT64_C(1) << (depth - 1))))
                return 0;
            if (--depth == 0)
                return i + 1;
        }
    }
    return 0;
}

/* need_end 0: the matched value's end is not looked for (m->end is 0),
 * which spares a walk over all of a big object only to descend into it. */
static int find(const char *p, size_t n, size_t obj, const char *key, pb_jscan_member *m, int need_end)
{
    if (obj >= n || p[obj] != '{')
        return 0;
    size_t klen = strlen(key), i = obj + 1, comma = 0;
    for (;;) {
        i = pb_jscan_skip_ws(p, n, i);
        if (i >= n || p[i] != '"')
            return 0; /* '}' (not found) or malformed */
        size_t kend = skip_string(p, n, i);
        if (!kend)
            return 0;
        int match = kend - i - 2 == klen && memcmp(p + i + 1, key, klen) == 0;
        size_t v = pb_jscan_skip_ws(p, n, kend);
        if (v >= n || p[v] != ':')
            return 0;
        v = pb_jscan_skip_ws(p, n, v + 1);
        if (match && !need_end && v < n) {
            *m = (pb_jscan_member){.key = i, .value = v, .end = 0, .comma_before = comma};
            return 1;
        }
        size_t vend = skip_value(p, n, v);
        if (!vend)
            return 0;
        if (match) {
            *m = (pb_jscan_member){.key = i, .value = v, .end = vend, .comma_before = comma};
            return 1;
        }
        i = pb_jscan_skip_ws(p, n, vend);
        if (i >= n || p[i] != ',')
            return 0;
        comma = i++;
    }
}

int pb_jscan_find(const char *p, size_t n, size_t obj, const char *key, pb_jscan_member *m)
{
    return find(p, n, obj, key, m, 1);
}

int pb_jscan_enter(const char *p, size_t n, size_t obj, const char *key, size_t *value)
{
    pb_jscan_member m;
    if (!find(p, n, obj, key, &m, 0) || p[m.value] != '{')
        return 0;
    *value = m.value;
    return 1;
}

int pb_jscan_string(const char *p, size_t n, const char *path, char *buf, size_t len)
{
    if (len == 0)
        return -1;
    buf[0] = '\0';
    size_t at = pb_jscan_skip_ws(p, n, 0);
    pb_jscan_member m = {0};
    char key[128];
    for (const char *seg = path; seg;) {
        const char *dot = strchr(seg, '.');
        size_t kl = dot ? (size_t)(dot - seg) : strlen(seg);
        if (kl == 0 || kl >= sizeof key)
            return -1;
        memcpy(key, seg, kl);
        key[kl] = '\0';
        seg = dot ? dot + 1 : NULL;
        if (seg ? !pb_jscan_enter(p, n, at, key, &at) : !pb_jscan_find(p, n, at, key, &m))
            return -1;
    }
    if (p[m.value] != '"')
        return -1;
    /* The string itself goes through jansson: escapes and UTF-8 checks are
     * its job, and this value is a few bytes. */
    json_t *s = json_loadb(p + m.value, m.end - m.value, JSON_DECODE_ANY, NULL);
    const char *v = json_string_value(s);
    size_t vl = v ? json_string_length(s) : 0;
    int rc = -1;
    if (v && vl < len) { /* no NUL inside: jansson refuses \u0000 by default */
        memcpy(buf, v, vl + 1);
        rc = 0;
    }
    json_decref(s);
    return rc;
}
