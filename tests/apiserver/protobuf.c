/*
 * protobuf.c - a minimal protobuf wire-format reader for the access review
 * kinds (see protobuf.h). Field numbers come from k8s.io/api
 * authorization/v1 generated.proto and apimachinery runtime.Unknown.
 */
#include "protobuf.h"

#include <stdint.h>
#include <string.h>

typedef struct reader {
    const unsigned char *p, *end;
} reader;

static int varint(reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        unsigned char b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Next field: number, wire type, and for length-delimited fields the bytes.
 * 1 when a field was read, 0 at the end, -1 on malformed input. */
static int next_field(reader *r, unsigned *num, unsigned *wt, reader *sub, uint64_t *val)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    if (varint(r, &key) != 0)
        return -1;
    *num = (unsigned)(key >> 3);
    *wt = (unsigned)(key & 7);
    switch (*wt) {
    case 0:
        return varint(r, val) == 0 ? 1 : -1;
    case 1:
        if (r->end - r->p < 8)
            return -1;
        r->p += 8;
        return 1;
    case 5:
        if (r->end - r->p < 4)
            return -1;
        r->p += 4;
        return 1;
    case 2: {
        uint64_t len;
        if (varint(r, &len) != 0 || len > (uint64_t)(r->end - r->p))
            return -1;
        sub->p = r->p;
        sub->end = r->p + len;
        r->p += len;
        return 1;
    }
    default:
        return -1;
    }
}

static json_t *str(const reader *s) { return json_stringn((const char *)s->p, (size_t)(s->end - s->p)); }

/* A message whose fields are all strings (or repeated strings), by number. */
static json_t *strings(reader r, const char *const *names, size_t nnames, const char *repeated)
{
    json_t *o = json_object();
    unsigned num, wt;
    reader sub;
    uint64_t v;
    int rc;
    while ((rc = next_field(&r, &num, &wt, &sub, &v)) == 1) {
        if (wt != 2 || num == 0 || num > nnames || !names[num - 1])
            continue;
        const char *name = names[num - 1];
        if (repeated && !strcmp(name, repeated)) {
            json_t *a = json_object_get(o, name);
            if (!a) {
                a = json_array();
                json_object_set_new(o, name, a);
            }
            json_array_append_new(a, str(&sub));
        } else {
            json_object_set_new(o, name, str(&sub));
        }
    }
    if (rc < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const char *const RESOURCE_ATTRS[] = {"namespace", "verb", "group", "version", "resource", "subresource",
                                             "name"};
static const char *const NONRESOURCE_ATTRS[] = {"path", "verb"};
static const char *const OBJECT_META[] = {"name", "generateName", "namespace"};

static json_t *spec(reader r, int subject)
{
    json_t *o = json_object();
    unsigned num, wt;
    reader sub;
    uint64_t v;
    int rc;
    while ((rc = next_field(&r, &num, &wt, &sub, &v)) == 1) {
        if (wt != 2)
            continue;
        json_t *val = NULL;
        const char *name = NULL;
        if (num == 1) {
            name = "resourceAttributes";
            val = strings(sub, RESOURCE_ATTRS, 7, NULL);
        } else if (num == 2) {
            name = "nonResourceAttributes";
            val = strings(sub, NONRESOURCE_ATTRS, 2, NULL);
        } else if (subject && num == 3) {
            name = "user";
            val = str(&sub);
        } else if (subject && num == 4) {
            json_t *a = json_object_get(o, "groups");
            if (!a) {
                a = json_array();
                json_object_set_new(o, "groups", a);
            }
            json_array_append_new(a, str(&sub));
            continue;
        } else if (subject && num == 6) {
            name = "uid";
            val = str(&sub);
        }
        if (name && !val)
            rc = -1;
        if (name && val)
            json_object_set_new(o, name, val);
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *dv_proto_decode(const unsigned char *buf, size_t len)
{
    if (len < 4 || memcmp(buf, "k8s\0", 4) != 0)
        return NULL;
    reader r = {buf + 4, buf + len}, sub, raw = {NULL, NULL};
    unsigned num, wt;
    uint64_t v;
    json_t *apiVersion = NULL, *kind = NULL;
    int rc;
    while ((rc = next_field(&r, &num, &wt, &sub, &v)) == 1) {
        if (num == 1 && wt == 2) { /* TypeMeta */
            static const char *const tm[] = {"apiVersion", "kind"};
            json_t *t = strings(sub, tm, 2, NULL);
            if (t) {
                apiVersion = json_incref(json_object_get(t, "apiVersion"));
                kind = json_incref(json_object_get(t, "kind"));
                json_decref(t);
            }
        } else if (num == 2 && wt == 2) {
            raw = sub;
        }
    }
    const char *k = json_string_value(kind);
    json_t *out = NULL;
    if (rc == 0 && raw.p && k && (!strcmp(k, "SelfSubjectAccessReview") || !strcmp(k, "SubjectAccessReview"))) {
        int subject = !strcmp(k, "SubjectAccessReview");
        out = json_pack("{s:O,s:O}", "apiVersion", apiVersion, "kind", kind);
        while ((rc = next_field(&raw, &num, &wt, &sub, &v)) == 1) {
            if (wt != 2)
                continue;
            json_t *val = NULL;
            if (num == 1)
                json_object_set_new(out, "metadata", (val = strings(sub, OBJECT_META, 3, NULL)));
            else if (num == 2)
                json_object_set_new(out, "spec", (val = spec(sub, subject)));
            else
                continue;
            if (!val) {
                rc = -1;
                break;
            }
        }
        if (rc < 0) {
            json_decref(out);
            out = NULL;
        }
    }
    json_decref(apiVersion);
    json_decref(kind);
    return out;
}
