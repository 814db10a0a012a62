/*
 * jpack.c - packed JSON encoder, decoder and path lookup (see jpack.h).
 */
#include "util/jpack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

enum { T_LIT, T_INT, T_REAL, T_STR, T_WORD, T_ARRAY, T_OBJ };
enum { LIT_NULL, LIT_FALSE, LIT_TRUE };

#define ARG_VARINT 31
#define MAX_DEPTH 4096 /* jansson's parser stops at 2048 */

/* Strings that recur in nearly every Kubernetes object, as keys or values,
 * ordered by length, then bytes: the encoder binary-searches them, and
 * comparing lengths first settles most steps without touching the bytes.
 * test_jpack checks the order. */
typedef struct word {
    const char *s;
    size_t n;
} word;

#define W(lit) {lit, sizeof(lit) - 1}
static const word dictionary[] = {
    W("to"), W("v1"), W("TCP"), W("cpu"),
    W("get"), W("key"), W("max"), W("min"),
    W("uid"), W("Plan"), W("Role"), W("True"),
    W("data"), W("from"), W("hard"), W("kind"),
    W("list"), W("name"), W("plan"), W("port"),
    W("spec"), W("tier"), W("type"), W("used"),
    W("Event"), W("False"), W("Lease"), W("Ready"),
    W("email"), W("image"), W("items"), W("owner"),
    W("patch"), W("phase"), W("ports"), W("rules"),
    W("state"), W("value"), W("verbs"), W("watch"),
    W("Egress"), W("Opaque"), W("Secret"), W("Tenant"),
    W("create"), W("delete"), W("egress"), W("labels"),
    W("limits"), W("memory"), W("reason"), W("status"),
    W("update"), W("values"), W("Ingress"), W("Unknown"),
    W("default"), W("ingress"), W("message"), W("planRef"),
    W("roleRef"), W("storage"), W("Workflow"), W("apiGroup"),
    W("database"), W("metadata"), W("operator"), W("protocol"),
    W("requests"), W("selector"), W("subjects"), W("template"),
    W("ConfigMap"), W("Container"), W("DataModel"), W("Namespace"),
    W("apiGroups"), W("immutable"), W("namespace"), W("resources"),
    W("suspended"), W("tenantRef"), W("LimitRange"), W("apiVersion"),
    W("binaryData"), W("conditions"), W("containers"), W("controller"),
    W("finalizers"), W("generation"), W("secretName"), W("stringData"),
    W("AgentPolicy"), W("ClusterRole"), W("RoleBinding"), W("annotations"),
    W("displayName"), W("matchLabels"), W("paybill.dev"), W("podSelector"),
    W("policyTypes"), W("Subscription"), W("NetworkPolicy"), W("ResourceQuota"),
    W("ServiceAccount"), W("defaultRequest"), W("lastUpdateTime"), W("ownerReferences"),
    W("resourceVersion"), W("dataModelVersion"), W("matchExpressions"), W("paybill-operator"),
    W("paybill.dev/plan"), W("creationTimestamp"), W("deletionTimestamp"), W("namespaceSelector"),
    W("blockOwnerDeletion"), W("lastTransitionTime"), W("observedGeneration"), W("paybill.dev/tenant"),
    W("networking.k8s.io/v1"), W("paybill.dev/v1alpha1"), W("app.kubernetes.io/name"), W("coordination.k8s.io/v1"),
    W("app.kubernetes.io/part-of"), W("rbac.authorization.k8s.io"), W("app.kubernetes.io/instance"), W("deletionGracePeriodSeconds"),
    W("app.kubernetes.io/component"), W("kubernetes.io/metadata.name"), W("app.kubernetes.io/managed-by"), W("rbac.authorization.k8s.io/v1"),
};
#undef W
#define NWORDS (sizeof dictionary / sizeof dictionary[0])

size_t jpack_dictionary_size(void)
{
    return NWORDS;
}

const char *jpack_dictionary_word(size_t i)
{
    return i < NWORDS ? dictionary[i].s : NULL;
}

/* The dictionary index of s, or -1. Words are sorted by length, then
 * bytes; searched inline (bsearch's comparison calls were a tenth of the
 * encoder's time, one lookup per key and per string value). */
static long word_index(const char *s, size_t n)
{
    size_t lo = 0, hi = NWORDS;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const word *w = &dictionary[mid];
        int c = w->n != n ? (w->n < n ? -1 : 1) : memcmp(w->s, s, n);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* --- encoder --------------------------------------------------------------- */

/* pb_buf_append when there is room without growing (the common case, kept
 * inline: most appends are a one-byte tag). */
static inline void put_bytes(pb_buf *b, const void *p, size_t n)
{
    if (b->data && !b->oom && b->len + n < b->cap) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
    } else {
        pb_buf_append(b, p, n);
    }
}

static void put_varint(pb_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    put_bytes(b, tmp, n);
}

/* A tag with its argument inline when small, else as a varint after it. */
static void put_tag(pb_buf *b, int type, uint64_t arg)
{
    unsigned char t = (unsigned char)(type | ((arg < ARG_VARINT ? arg : ARG_VARINT) << 3));
    put_bytes(b, &t, 1);
    if (arg >= ARG_VARINT)
        put_varint(b, arg);
}

static void put_string(pb_buf *b, const char *s, size_t n)
{
    long w = word_index(s, n);
    if (w >= 0) {
        put_tag(b, T_WORD, (uint64_t)w);
        return;
    }
    put_tag(b, T_STR, n);
    put_bytes(b, s, n);
}

static void encode(pb_buf *b, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        put_tag(b, T_LIT, LIT_NULL);
        break;
    case JSON_FALSE:
        put_tag(b, T_LIT, LIT_FALSE);
        break;
    case JSON_TRUE:
        put_tag(b, T_LIT, LIT_TRUE);
        break;
    case JSON_INTEGER: {
        uint64_t u = (uint64_t)json_integer_value(v);
        put_tag(b, T_INT, 0);
        put_varint(b, (u << 1) ^ (0 - (u >> 63))); /* zigzag: small negatives stay short */
        break;
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        put_tag(b, T_REAL, 0);
        put_bytes(b, &d, sizeof d);
        break;
    }
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        put_tag(b, T_ARRAY, json_array_size(v));
        json_array_foreach(v, i, item)
            encode(b, item);
        break;
    }
    case JSON_OBJECT: {
        const char *k;
        size_t kn;
        json_t *item;
        put_tag(b, T_OBJ, json_object_size(v));
        json_object_keylen_foreach(v, k, kn, item) {
            put_string(b, k, kn);
            encode(b, item);
        }
        break;
    }
    }
}

unsigned char *jpack_encode(json_t *v, size_t *len)
{
    if (len)
        *len = 0;
    if (!v)
        return NULL;
    pb_buf b = {0};
    pb_buf_reserve(&b, 256); /* most objects need a few hundred bytes: fewer reallocs */
    encode(&b, v);
    size_t n;
    unsigned char *p = (unsigned char *)pb_buf_take(&b, &n);
    if (!p)
        return NULL;
    /* Exact size, without pb_buf's NUL: the cache keeps these for a long time. */
    unsigned char *exact = realloc(p, n ? n : 1);
    if (!exact)
        exact = p;
    if (len)
        *len = n;
    return exact;
}

/* --- decoder --------------------------------------------------------------- */

typedef struct reader {
    const unsigned char *p, *end;
} reader;

static int get_varint(reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        unsigned char c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int get_tag(reader *r, int *type, uint64_t *arg)
{
    if (r->p >= r->end)
        return -1;
    unsigned char t = *r->p++;
    *type = t & 7;
    *arg = t >> 3;
    return *arg == ARG_VARINT ? get_varint(r, arg) : 0;
}

/* A STR or WORD value: its bytes (in the buffer or the dictionary). */
static int get_string(reader *r, int type, uint64_t arg, word *out)
{
    if (type == T_WORD) {
        if (arg >= NWORDS)
            return -1;
        *out = dictionary[arg];
        return 0;
    }
    if (type != T_STR || arg > (uint64_t)(r->end - r->p))
        return -1;
    out->s = (const char *)r->p;
    out->n = (size_t)arg;
    r->p += arg;
    return 0;
}

static json_t *decode(reader *r, int depth);

static json_t *decode_container(reader *r, int type, uint64_t count, int depth)
{
    /* Every item takes at least one byte: a bigger count is corrupt, and
     * checking it first keeps a bad count from looping for long. */
    if (count > (uint64_t)(r->end - r->p) || depth >= MAX_DEPTH)
        return NULL;
    json_t *c = type == T_ARRAY ? json_array() : json_object();
    for (uint64_t i = 0; c && i < count; i++) {
        word key = {0};
        int kt;
        uint64_t ka;
        if (type == T_OBJ && (get_tag(r, &kt, &ka) || get_string(r, kt, ka, &key)))
            goto bad;
        json_t *item = decode(r, depth + 1);
        if (!item)
            goto bad;
        int rc = type == T_ARRAY ? json_array_append_new(c, item)
                                 : json_object_setn_new_nocheck(c, key.s, key.n, item);
        if (rc)
            goto bad;
    }
    return c;
bad:
    json_decref(c);
    return NULL;
}

static json_t *decode(reader *r, int depth)
{
    int type;
    uint64_t arg;
    if (get_tag(r, &type, &arg))
        return NULL;
    switch (type) {
    case T_LIT:
        return arg == LIT_NULL ? json_null() : arg == LIT_FALSE ? json_false() : arg == LIT_TRUE ? json_true() : NULL;
    case T_INT: {
        uint64_t z;
        if (get_varint(r, &z))
            return NULL;
        return json_integer((json_int_t)((z >> 1) ^ (0 - (z & 1))));
    }
    case T_REAL: {
        double d;
        if ((size_t)(r->end - r->p) < sizeof d)
            return NULL;
        memcpy(&d, r->p, sizeof d);
        r->p += sizeof d;
        return json_real(d);
    }
    case T_STR:
    case T_WORD: {
        word s;
        return get_string(r, type, arg, &s) ? NULL : json_stringn_nocheck(s.s, s.n);
    }
    case T_ARRAY:
    case T_OBJ:
        return decode_container(r, type, arg, depth);
    default:
        return NULL;
    }
}

json_t *jpack_decode(const unsigned char *buf, size_t len)
{
    if (!buf)
        return NULL;
    reader r = {buf, buf + len};
    json_t *v = decode(&r, 0);
    if (v && r.p != r.end) { /* trailing bytes: not one value */
        json_decref(v);
        return NULL;
    }
    return v;
}

/* --- lookup without decoding ----------------------------------------------- */

/* Step over one value. */
static int skip(reader *r, int depth)
{
    int type;
    uint64_t arg;
    if (depth >= MAX_DEPTH || get_tag(r, &type, &arg))
        return -1;
    switch (type) {
    case T_LIT:
    case T_WORD:
        return 0;
    case T_INT:
        return get_varint(r, &arg);
    case T_REAL:
        if ((size_t)(r->end - r->p) < sizeof(double))
            return -1;
        r->p += sizeof(double);
        return 0;
    case T_STR: {
        word s;
        return get_string(r, type, arg, &s);
    }
    case T_ARRAY:
    case T_OBJ:
        if (arg > (uint64_t)(r->end - r->p))
            return -1;
        for (uint64_t i = 0; i < arg; i++) {
            if (type == T_OBJ && skip(r, depth + 1)) /* the key */
                return -1;
            if (skip(r, depth + 1))
                return -1;
        }
        return 0;
    default:
        return -1;
    }
}

const char *jpack_get_string(const unsigned char *buf, size_t len, const char *path, size_t *n)
{
    if (!buf || !path)
        return NULL;
    reader r = {buf, buf + len};
    const char *seg = path;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t seglen = dot ? (size_t)(dot - seg) : strlen(seg);
        int type;
        uint64_t count;
        if (get_tag(&r, &type, &count) || type != T_OBJ)
            return NULL;
        uint64_t i;
        for (i = 0; i < count; i++) {
            int kt;
            uint64_t ka;
            word key;
            if (get_tag(&r, &kt, &ka) || get_string(&r, kt, ka, &key))
                return NULL;
            if (key.n == seglen && memcmp(key.s, seg, seglen) == 0)
                break;
            if (skip(&r, 1))
                return NULL;
        }
        if (i == count)
            return NULL;
        if (!dot)
            break;
        seg = dot + 1;
    }
    int type;
    uint64_t arg;
    word s;
    if (get_tag(&r, &type, &arg) || (type != T_STR && type != T_WORD) || get_string(&r, type, arg, &s))
        return NULL;
    if (n)
        *n = s.n;
    return s.s;
}
