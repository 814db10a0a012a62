/*
 * auth.c - pieces of the auth module shared by authentication (authn.c)
 * and authorization (rbac.c): the dv_user helpers, the
 * authentication.k8s.io SelfSubjectReview answer, and decoding of the
 * Kubernetes protobuf request bodies kubectl sends for the kinds this
 * module answers (reviews, TokenRequest).
 *
 * The protobuf reader knows just the wire format (varints, length-delimited
 * fields, skipping the rest) and the field numbers of those few messages,
 * from k8s.io/api's generated.proto; everything else in a body is ignored.
 */
#include "auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ---- dv_user ---------------------------------------------------------- */

void dv_user_clear(dv_user *u)
{
    if (!u)
        return;
    free(u->name);
    free(u->uid);
    for (size_t i = 0; i < u->ngroups; i++)
        free(u->groups[i]);
    free(u->groups);
    memset(u, 0, sizeof *u);
}

int dv_user_in_group(const dv_user *u, const char *group)
{
    for (size_t i = 0; u && group && i < u->ngroups; i++)
        if (strcmp(u->groups[i], group) == 0)
            return 1;
    return 0;
}

static int user_add_group(dv_user *u, const char *g)
{
    char **ng = realloc(u->groups, (u->ngroups + 2) * sizeof *ng);
    if (!ng)
        return -1;
    u->groups = ng;
    if (!(ng[u->ngroups] = strdup(g)))
        return -1;
    ng[++u->ngroups] = NULL;
    return 0;
}

int dv_user_set(dv_user *u, const char *name, const char *uid, const char *const *groups)
{
    dv_user t = {0};
    t.name = strdup(name ? name : "");
    t.uid = strdup(uid ? uid : "");
    t.groups = calloc(1, sizeof *t.groups);
    if (!t.name || !t.uid || !t.groups)
        goto fail;
    for (size_t i = 0; groups && groups[i]; i++)
        if (!dv_user_in_group(&t, groups[i]) && user_add_group(&t, groups[i]) < 0)
            goto fail;
    if (!dv_user_in_group(&t, "system:authenticated") &&
        !dv_user_in_group(&t, "system:unauthenticated") &&
        user_add_group(&t, "system:authenticated") < 0)
        goto fail;
    dv_user_clear(u);
    *u = t;
    return 0;
fail:
    dv_user_clear(&t);
    return -1;
}

int dv_user_copy(dv_user *dst, const dv_user *src)
{
    dv_user t = {0};
    if (dv_user_set(&t, src->name, src->uid, (const char *const *)src->groups) < 0)
        return -1;
    *dst = t;
    return 0;
}

/* ---- protobuf request bodies ------------------------------------------------ */

/* Just enough of the protobuf wire format to read the review messages:
 * varints, length-delimited fields, and skipping everything else. */
typedef struct pbuf {
    const unsigned char *p, *end;
    uint64_t value;
} pbuf;

static int pb_varint(pbuf *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        unsigned char b = *r->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Next field: 1 with its number and, for length-delimited ones, the bytes
 * (else bytes->p is NULL and a varint's value is in bytes->value); 0 at the
 * end; -1 on malformed input. */
static int pb_next(pbuf *r, unsigned *num, pbuf *bytes)
{
    uint64_t key, v;
    if (r->p >= r->end)
        return 0;
    if (pb_varint(r, &key) < 0 || (key >> 3) == 0)
        return -1;
    *num = (unsigned)(key >> 3);
    bytes->p = bytes->end = NULL;
    switch (key & 7) {
    case 0:
        if (pb_varint(r, &v) < 0)
            return -1;
        bytes->value = v;
        return 1;
    case 1:
        if (r->end - r->p < 8)
            return -1;
        r->p += 8;
        return 1;
    case 2:
        if (pb_varint(r, &v) < 0 || v > (uint64_t)(r->end - r->p))
            return -1;
        bytes->p = r->p;
        bytes->end = r->p + v;
        r->p += v;
        return 1;
    case 5:
        if (r->end - r->p < 4)
            return -1;
        r->p += 4;
        return 1;
    default:
        return -1; /* groups are not used by Kubernetes */
    }
}

static json_t *pb_string(const pbuf *b)
{
    return json_stringn((const char *)b->p, (size_t)(b->end - b->p));
}

/* A message whose fields 1..n are strings named by keys[] (NULL entries and
 * higher fields skipped); empty strings are left out, as omitempty does. */
static json_t *pb_strings(pbuf m, const char *const *keys, unsigned nkeys)
{
    json_t *o = json_object();
    unsigned num;
    pbuf b;
    int rc;
    while ((rc = pb_next(&m, &num, &b)) == 1) {
        if (num <= nkeys && keys[num - 1] && b.p && b.end > b.p)
            json_object_set_new(o, keys[num - 1], pb_string(&b));
    }
    if (rc < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const char *const RES_ATTR_KEYS[] = {"namespace", "verb", "group", "version",
                                            "resource", "subresource", "name"};
static const char *const NONRES_ATTR_KEYS[] = {"path", "verb"};
static const char *const META_KEYS[] = {"name", "generateName", "namespace"};

static json_t *pb_spec(pbuf m, int rules_review)
{
    json_t *spec = json_object(), *groups = json_array();
    unsigned num;
    pbuf b;
    int rc;
    while ((rc = pb_next(&m, &num, &b)) == 1) {
        if (!b.p)
            continue;
        json_t *v = NULL;
        const char *key = NULL;
        if (rules_review) {
            if (num == 1 && b.end > b.p) {
                key = "namespace";
                v = pb_string(&b);
            }
        } else if (num == 1 || num == 2) {
            key = num == 1 ? "resourceAttributes" : "nonResourceAttributes";
            v = num == 1 ? pb_strings(b, RES_ATTR_KEYS, 7) : pb_strings(b, NONRES_ATTR_KEYS, 2);
            if (!v)
                rc = -1;
        } else if ((num == 3 || num == 6) && b.end > b.p) {
            key = num == 3 ? "user" : "uid";
            v = pb_string(&b);
        } else if (num == 4) {
            json_array_append_new(groups, pb_string(&b));
        }
        if (key && v)
            json_object_set_new(spec, key, v);
        if (rc < 0)
            break;
    }
    if (json_array_size(groups) > 0)
        json_object_set(spec, "groups", groups);
    json_decref(groups);
    if (rc < 0) {
        json_decref(spec);
        return NULL;
    }
    return spec;
}

/* authentication.k8s.io/v1 TokenRequestSpec: audiences (1, repeated),
 * boundObjectRef (3), expirationSeconds (4, varint). */
static json_t *pb_token_spec(pbuf m)
{
    static const char *const REF_KEYS[] = {"kind", "apiVersion", "name", "uid"};
    json_t *spec = json_object(), *aud = json_array();
    unsigned num;
    pbuf b;
    int rc;
    while ((rc = pb_next(&m, &num, &b)) == 1) {
        if (num == 1 && b.p) {
            json_array_append_new(aud, pb_string(&b));
        } else if (num == 3 && b.p) {
            json_t *ref = pb_strings(b, REF_KEYS, 4);
            if (!ref) {
                rc = -1;
                break;
            }
            json_object_set_new(spec, "boundObjectRef", ref);
        } else if (num == 4 && !b.p) {
            json_object_set_new(spec, "expirationSeconds", json_integer((json_int_t)b.value));
        }
    }
    json_object_set_new(spec, "audiences", aud);
    if (rc < 0) {
        json_decref(spec);
        return NULL;
    }
    return spec;
}

json_t *dv_auth_protobuf_to_json(const void *body, size_t len)
{
    static const unsigned char magic[4] = {'k', '8', 's', 0};
    if (!body || len < 4 || memcmp(body, magic, 4) != 0)
        return NULL;
    pbuf env = {.p = (const unsigned char *)body + 4, .end = (const unsigned char *)body + len};
    pbuf b, raw = {0};
    unsigned num;
    int rc;
    json_t *tm = NULL;
    while ((rc = pb_next(&env, &num, &b)) == 1) {
        if (num == 1 && b.p && !tm) {
            static const char *const TM_KEYS[] = {"apiVersion", "kind"};
            tm = pb_strings(b, TM_KEYS, 2);
        } else if (num == 2 && b.p) {
            raw = b;
        }
    }
    const char *av = str_at(tm, "apiVersion"), *kind = str_at(tm, "kind");
    int authz = streq(av, "authorization.k8s.io/v1") &&
                (streq(kind, "SelfSubjectAccessReview") || streq(kind, "SubjectAccessReview") ||
                 streq(kind, "LocalSubjectAccessReview") || streq(kind, "SelfSubjectRulesReview"));
    int authn = streq(av, "authentication.k8s.io/v1") &&
                (streq(kind, "TokenRequest") || streq(kind, "SelfSubjectReview"));
    if (rc < 0 || !raw.p || !(authz || authn)) {
        json_decref(tm);
        return NULL;
    }
    json_t *out = json_pack("{s:s,s:s}", "apiVersion", av, "kind", kind);
    kind = str_at(out, "kind"); /* tm goes now; out lives on */
    json_decref(tm);
    while ((rc = pb_next(&raw, &num, &b)) == 1) {
        if (!b.p)
            continue;
        json_t *v = NULL;
        if (num == 1)
            v = pb_strings(b, META_KEYS, 3);
        else if (num == 2 && strcmp(kind, "TokenRequest") == 0)
            v = pb_token_spec(b);
        else if (num == 2 && strcmp(kind, "SelfSubjectReview") != 0)
            v = pb_spec(b, strcmp(kind, "SelfSubjectRulesReview") == 0);
        else
            continue; /* status is ours to fill */
        if (!v) {
            rc = -1;
            break;
        }
        json_object_set_new(out, num == 1 ? "metadata" : "spec", v);
    }
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    if (!json_object_get(out, "spec"))
        json_object_set_new(out, "spec", json_object());
    return out;
}

json_t *dv_self_subject_review(const dv_user *u)
{
    json_t *groups = json_array();
    for (size_t i = 0; u && i < u->ngroups; i++)
        json_array_append_new(groups, json_string(u->groups[i]));
    json_t *ui = json_pack("{s:s,s:o}", "username", u && u->name ? u->name : "", "groups", groups);
    if (u && u->uid && *u->uid)
        json_object_set_new(ui, "uid", json_string(u->uid));
    return json_pack("{s:s,s:s,s:{s:n},s:{s:o}}", "kind", "SelfSubjectReview", "apiVersion",
                     "authentication.k8s.io/v1", "metadata", "creationTimestamp", "status",
                     "userInfo", ui);
}
