/*
 * patch_strategic.c - strategic merge patch for built-in kinds (patch.h),
 * plus the table of list semantics (merge keys) that server-side apply
 * shares.
 *
 * The real server reads patch strategies from Go struct tags; we keep a
 * small table of the lists kubectl actually touches (pod spec containers,
 * env, ports, volumes, Service ports, finalizers, ownerReferences,
 * conditions...). Any other list is atomic: a patch replaces it whole, as the
 * real server does for lists without a patchStrategy.
 *
 * Directives (see sig-api-machinery strategic-merge-patch.md):
 *   "$patch": "replace" | "delete" | "merge"   in a map or a list element
 *   "$setElementOrder/<list>": [...]           final order of a merged list
 *   "$deleteFromPrimitiveList/<list>": [...]   values to drop from a set list
 *   "$retainKeys": [...]                       keys of the map to keep
 * A null value deletes the field.
 */
#include "patch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 1000

/* ------------------------------------------------------------------------ */
/* list semantics table                                                     */

typedef struct {
    const char *path;
    const char *keys;
} list_rule;

/* Where each workload kind embeds its PodSpec. */
static const struct {
    const char *kind;
    const char *prefix;
} pod_spec_at[] = {
    {"Pod", "spec"},
    {"PodTemplate", "template.spec"},
    {"Deployment", "spec.template.spec"},
    {"ReplicaSet", "spec.template.spec"},
    {"StatefulSet", "spec.template.spec"},
    {"DaemonSet", "spec.template.spec"},
    {"Job", "spec.template.spec"},
    {"ReplicationController", "spec.template.spec"},
    {"CronJob", "spec.jobTemplate.spec.template.spec"},
};

static const list_rule pod_spec_rules[] = {
    {"containers", "name"},
    {"initContainers", "name"},
    {"ephemeralContainers", "name"},
    {"volumes", "name"},
    {"imagePullSecrets", "name"},
    {"hostAliases", "ip"},
    {"topologySpreadConstraints", "topologyKey,whenUnsatisfiable"},
    {"resourceClaims", "name"},
    {"schedulingGates", "name"},
};

static const list_rule container_rules[] = {
    {"env", "name"},
    {"ports", "containerPort,protocol=TCP"},
    {"volumeMounts", "mountPath"},
    {"volumeDevices", "devicePath"},
    {"resizePolicy", "resourceName"},
};

/* ObjectMeta: every kind, custom resources included. */
static const list_rule meta_rules[] = {
    {"metadata.finalizers", ""},
    {"metadata.ownerReferences", "uid"},
};

static const struct {
    const char *kind;
    const char *path;
    const char *keys;
} kind_rules[] = {
    {"Service", "spec.ports", "port,protocol=TCP"},
    {"Node", "status.addresses", "type"},
    {"ServiceAccount", "secrets", "name"},
    {"MutatingWebhookConfiguration", "webhooks", "name"},
    {"ValidatingWebhookConfiguration", "webhooks", "name"},
};

/* Built-in kinds whose status.conditions merge by type. */
static const char *const condition_kinds[] = {
    "Pod", "Node", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
    "Namespace", "PersistentVolumeClaim", "ReplicationController", "HorizontalPodAutoscaler",
    "CustomResourceDefinition", "APIService", "PodDisruptionBudget", "Service",
};

static const char *find_rule(const list_rule *rules, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rules[i].path, path) == 0)
            return rules[i].keys;
    return NULL;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *dv_patch_list_keys(const char *kind, const char *path)
{
    if (!path)
        return NULL;
    const char *r = find_rule(meta_rules, COUNT(meta_rules), path);
    if (r)
        return r;
    if (!kind)
        return NULL;
    for (size_t i = 0; i < COUNT(kind_rules); i++)
        if (strcmp(kind_rules[i].kind, kind) == 0 && strcmp(kind_rules[i].path, path) == 0)
            return kind_rules[i].keys;
    if (strcmp(path, "status.conditions") == 0)
        for (size_t i = 0; i < COUNT(condition_kinds); i++)
            if (strcmp(condition_kinds[i], kind) == 0)
                return "type";
    for (size_t i = 0; i < COUNT(pod_spec_at); i++) {
        if (strcmp(pod_spec_at[i].kind, kind) != 0)
            continue;
        size_t pl = strlen(pod_spec_at[i].prefix);
        if (strncmp(path, pod_spec_at[i].prefix, pl) != 0 || path[pl] != '.')
            return NULL;
        const char *rel = path + pl + 1;
        r = find_rule(pod_spec_rules, COUNT(pod_spec_rules), rel);
        if (r)
            return r;
        static const char *const holders[] = {"containers.", "initContainers.", "ephemeralContainers."};
        for (size_t h = 0; h < COUNT(holders); h++) {
            size_t hl = strlen(holders[h]);
            if (strncmp(rel, holders[h], hl) == 0)
                return find_rule(container_rules, COUNT(container_rules), rel + hl);
        }
        return NULL;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* merging                                                                  */

typedef struct {
    const char *kind;
    char *msg;
    size_t n;
    char *path; /* dotted path of the field being merged, grown as we descend */
    size_t len, cap;
} smp_ctx;

static int fail(smp_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(smp_ctx *c, const char *fmt, ...)
{
    if (c->msg && c->n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, c->n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Appends ".k" (or "k" at the root); returns the old length for path_pop. */
static size_t path_push(smp_ctx *c, const char *k)
{
    size_t old = c->len, kl = strlen(k);
    size_t need = c->len + kl + 2;
    if (need > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < need)
            cap *= 2;
        char *np = realloc(c->path, cap);
        if (!np)
            return old; /* path stays as it was: only affects key lookup */
        c->path = np;
        c->cap = cap;
    }
    if (c->len)
        c->path[c->len++] = '.';
    memcpy(c->path + c->len, k, kl + 1);
    c->len += kl;
    return old;
}

static void path_pop(smp_ctx *c, size_t old)
{
    c->len = old;
    if (c->path)
        c->path[old] = '\0';
}

#define SET_ORDER "$setElementOrder/"
#define DEL_PRIM "$deleteFromPrimitiveList/"

static int is_directive(const char *k)
{
    return strcmp(k, "$patch") == 0 || strcmp(k, "$retainKeys") == 0 ||
           strncmp(k, SET_ORDER, strlen(SET_ORDER)) == 0 || strncmp(k, DEL_PRIM, strlen(DEL_PRIM)) == 0;
}

static char *compact(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    return s ? s : strdup("?");
}

/* First merge key of a spec ("containerPort,protocol=TCP" -> containerPort). */
static void first_key(const char *spec, char *buf, size_t n)
{
    size_t l = strcspn(spec, ",=");
    if (l >= n)
        l = n - 1;
    memcpy(buf, spec, l);
    buf[l] = '\0';
}

static int smp_map(json_t *dst, const json_t *patch, smp_ctx *c, int depth);

/* Index of the element of arr whose identity (key field, or the element
 * itself for primitives) equals id, skipping taken ones; -1 if none. */
static long find_elem(const json_t *arr, const char *key, const json_t *id, const char *taken)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if (taken && taken[i])
            continue;
        json_t *e = json_array_get(arr, i);
        json_t *eid = key ? json_object_get(e, key) : e;
        if (eid && json_equal(eid, (json_t *)id))
            return (long)i;
    }
    return -1;
}

/* Reorders res per a $setElementOrder list: elements named there come in
 * that order; the others keep their relative order, interleaved by their
 * position in the server's list (apimachinery's mergeSortedSlice). */
static json_t *reorder(json_t *res, const json_t *order, const json_t *server, const char *key)
{
    size_t n = json_array_size(res);
    char *taken = calloc(n + 1, 1);
    json_t *right = json_array(), *left = json_array(), *out = json_array();
    if (!taken || !right || !left || !out) {
        free(taken);
        json_decref(right);
        json_decref(left);
        json_decref(out);
        return res;
    }
    for (size_t i = 0; i < json_array_size(order); i++) {
        json_t *o = json_array_get(order, i);
        json_t *id = key ? json_object_get(o, key) : o;
        if (!id)
            continue;
        long at = find_elem(res, key, id, taken);
        if (at >= 0) {
            taken[at] = 1;
            json_array_append(right, json_array_get(res, (size_t)at));
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!taken[i])
            json_array_append(left, json_array_get(res, i));
    size_t li = 0, ri = 0, ln = json_array_size(left), rn = json_array_size(right);
    while (li < ln || ri < rn) {
        int take_left;
        if (ri >= rn) {
            take_left = 1;
        } else if (li >= ln) {
            take_left = 0;
        } else {
            json_t *l = json_array_get(left, li), *r = json_array_get(right, ri);
            json_t *lid = key ? json_object_get(l, key) : l;
            json_t *rid = key ? json_object_get(r, key) : r;
            long lpos = lid ? find_elem(server, key, lid, NULL) : -1;
            long rpos = rid ? find_elem(server, key, rid, NULL) : -1;
            take_left = lpos >= 0 && rpos >= 0 && lpos < rpos;
        }
        json_array_append(out, take_left ? json_array_get(left, li++) : json_array_get(right, ri++));
    }
    free(taken);
    json_decref(left);
    json_decref(right);
    json_decref(res);
    return out;
}

/* A patch value with its directives processed against nothing: what goes
 * into the object when the field did not exist. NULL on error. */
static json_t *fresh_value(const json_t *pv, smp_ctx *c, int depth)
{
    if (!json_is_object(pv))
        return json_deep_copy(pv);
    json_t *o = json_object();
    if (!o) {
        fail(c, "out of memory");
        return NULL;
    }
    int rc = smp_map(o, pv, c, depth + 1);
    if (rc < 0) {
        json_decref(o);
        return NULL;
    }
    if (rc == 1) { /* "$patch": "delete" of something absent */
        json_decref(o);
        return json_null();
    }
    return o;
}

static const char *patch_directive(const json_t *elem)
{
    return json_is_object(elem) ? json_string_value(json_object_get(elem, "$patch")) : NULL;
}

/* Merges list patch into cur (borrowed, may be NULL) per spec; new ref. */
static json_t *smp_list(const json_t *cur, const json_t *patch, const json_t *order, const char *spec,
                        smp_ctx *c, int depth)
{
    if (!spec) /* atomic list: the patch replaces it */
        return patch ? json_deep_copy(patch) : json_deep_copy(cur);
    int prim = spec[0] == '\0';
    char keybuf[128];
    const char *key = NULL;
    if (!prim) {
        first_key(spec, keybuf, sizeof(keybuf));
        key = keybuf;
    }
    json_t *res = json_is_array(cur) ? json_deep_copy(cur) : json_array();
    if (!res) {
        fail(c, "out of memory");
        return NULL;
    }
    size_t np = json_array_size(patch);
    int replace = 0;
    for (size_t i = 0; i < np; i++) {
        json_t *e = json_array_get(patch, i);
        if (json_is_object(e) && json_object_get(e, "$patch")) {
            const char *d = patch_directive(e);
            if (d && strcmp(d, "replace") == 0) {
                replace = 1;
            } else if (!d || (strcmp(d, "delete") != 0 && strcmp(d, "merge") != 0) || prim) {
                char *js = compact(e);
                fail(c, "unknown patch type: %s in map: %s", d ? d : "(not a string)", js);
                free(js);
                json_decref(res);
                return NULL;
            }
        }
    }
    if (replace)
        json_array_clear(res);
    for (size_t i = 0; i < np; i++) {
        json_t *e = json_array_get(patch, i);
        const char *d = patch_directive(e);
        if (d && strcmp(d, "replace") == 0)
            continue;
        if (prim) {
            if (find_elem(res, NULL, e, NULL) < 0)
                json_array_append_new(res, json_deep_copy(e));
            continue;
        }
        if (!json_is_object(e)) {
            char *js = compact(e);
            fail(c, "%s: list element %s is not an object with merge key %s", c->path, js, key);
            free(js);
            json_decref(res);
            return NULL;
        }
        json_t *id = json_object_get(e, key);
        if (!id) {
            char *js = compact(e);
            fail(c, "map: %s does not contain declared merge key: %s", js, key);
            free(js);
            json_decref(res);
            return NULL;
        }
        long at = find_elem(res, key, id, NULL);
        if (d && strcmp(d, "delete") == 0) {
            while (at >= 0) {
                json_array_remove(res, (size_t)at);
                at = find_elem(res, key, id, NULL);
            }
            continue;
        }
        if (at >= 0 && json_is_object(json_array_get(res, (size_t)at))) {
            int rc = smp_map(json_array_get(res, (size_t)at), e, c, depth + 1);
            if (rc < 0) {
                json_decref(res);
                return NULL;
            }
            if (rc == 1)
                json_array_remove(res, (size_t)at);
        } else {
            json_t *fresh = fresh_value(e, c, depth);
            if (!fresh) {
                json_decref(res);
                return NULL;
            }
            if (at >= 0)
                json_array_set_new(res, (size_t)at, fresh);
            else
                json_array_append_new(res, fresh);
        }
    }
    if (order && !replace)
        res = reorder(res, order, cur, key);
    return res;
}

/* Drops from dst every value listed in a $deleteFromPrimitiveList. */
static int delete_from_primitive_list(json_t *dst, const char *field, const json_t *vals, smp_ctx *c)
{
    if (!json_is_array(vals))
        return fail(c, "invalid patch: " DEL_PRIM "%s must be a list", field);
    json_t *list = json_object_get(dst, field);
    if (!json_is_array(list))
        return 0;
    for (size_t i = 0; i < json_array_size(vals); i++) {
        long at;
        while ((at = find_elem(list, NULL, json_array_get(vals, i), NULL)) >= 0)
            json_array_remove(list, (size_t)at);
    }
    return 0;
}

static int apply_retain_keys(json_t *dst, const json_t *patch, const json_t *keys, smp_ctx *c)
{
    if (!json_is_array(keys))
        return fail(c, "invalid patch format of retainKeys");
    for (size_t i = 0; i < json_array_size(keys); i++)
        if (!json_is_string(json_array_get(keys, i)))
            return fail(c, "invalid patch format of retainKeys");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v) {
        if (json_is_null(v) || is_directive(k))
            continue;
        int found = 0;
        for (size_t i = 0; i < json_array_size(keys) && !found; i++)
            found = strcmp(json_string_value(json_array_get(keys, i)), k) == 0;
        if (!found)
            return fail(c, "invalid patch format of retainKeys");
    }
    void *tmp;
    json_object_foreach_safe(dst, tmp, k, v) {
        int found = 0;
        for (size_t i = 0; i < json_array_size(keys) && !found; i++)
            found = strcmp(json_string_value(json_array_get(keys, i)), k) == 0;
        if (!found)
            json_object_del(dst, k);
    }
    return 0;
}

/* Merges patch into dst in place. 0, -1 (error in c->msg), or 1 when the
 * patch says "$patch": "delete" (the caller drops dst). */
static int smp_map(json_t *dst, const json_t *patch, smp_ctx *c, int depth)
{
    if (depth > MAX_DEPTH)
        return fail(c, "strategic merge patch nested too deeply");
    json_t *dir = json_object_get(patch, "$patch");
    if (dir) {
        const char *d = json_string_value(dir);
        if (d && strcmp(d, "delete") == 0)
            return 1;
        if (d && strcmp(d, "replace") == 0) {
            json_object_clear(dst);
        } else if (!d || strcmp(d, "merge") != 0) {
            char *js = compact(patch);
            fail(c, "unknown patch type: %s in map: %s", d ? d : "(not a string)", js);
            free(js);
            return -1;
        }
    }
    json_t *retain = json_object_get(patch, "$retainKeys");
    if (retain && apply_retain_keys(dst, patch, retain, c) < 0)
        return -1;
    const char *k;
    json_t *pv;
    json_object_foreach((json_t *)patch, k, pv) {
        if (strncmp(k, DEL_PRIM, strlen(DEL_PRIM)) == 0 &&
            delete_from_primitive_list(dst, k + strlen(DEL_PRIM), pv, c) < 0)
            return -1;
        if (strncmp(k, SET_ORDER, strlen(SET_ORDER)) == 0 && !json_is_array(pv))
            return fail(c, "invalid patch: %s must be a list", k);
    }
    json_object_foreach((json_t *)patch, k, pv) {
        if (is_directive(k))
            continue;
        if (json_is_null(pv)) {
            json_object_del(dst, k);
            continue;
        }
        size_t mark = path_push(c, k);
        json_t *cur = json_object_get(dst, k);
        int rc = 0;
        if (json_is_object(pv) && json_is_object(cur)) {
            rc = smp_map(cur, pv, c, depth + 1);
            if (rc == 1) {
                json_object_del(dst, k);
                rc = 0;
            }
        } else if (json_is_array(pv)) {
            char okey[512];
            snprintf(okey, sizeof(okey), SET_ORDER "%s", k);
            json_t *order = json_object_get(patch, okey);
            json_t *res = smp_list(json_is_array(cur) ? cur : NULL, pv, order,
                                   dv_patch_list_keys(c->kind, c->path), c, depth + 1);
            if (res)
                json_object_set_new(dst, k, res);
            else
                rc = -1;
        } else {
            json_t *fresh = fresh_value(pv, c, depth);
            if (!fresh)
                rc = -1;
            else if (json_is_null(fresh)) { /* "$patch": "delete" on a non-map */
                json_decref(fresh);
                json_object_del(dst, k);
            }
            else
                json_object_set_new(dst, k, fresh);
        }
        path_pop(c, mark);
        if (rc < 0)
            return -1;
    }
    /* order-only directives: the list itself is not in the patch */
    json_object_foreach((json_t *)patch, k, pv) {
        if (strncmp(k, SET_ORDER, strlen(SET_ORDER)) != 0)
            continue;
        const char *field = k + strlen(SET_ORDER);
        json_t *cur = json_object_get(dst, field);
        if (json_object_get(patch, field) || !json_is_array(cur))
            continue;
        size_t mark = path_push(c, field);
        const char *spec = dv_patch_list_keys(c->kind, c->path);
        path_pop(c, mark);
        if (!spec)
            continue;
        char keybuf[128];
        first_key(spec, keybuf, sizeof(keybuf));
        json_t *copy = json_deep_copy(cur);
        json_t *res = reorder(json_deep_copy(cur), pv, copy, spec[0] ? keybuf : NULL);
        json_decref(copy);
        json_object_set_new(dst, field, res);
    }
    return 0;
}

int dv_strategic_merge(const json_t *target, const json_t *patch, const char *kind, json_t **out, char *msg,
                       size_t n)
{
    *out = NULL;
    if (!json_is_object(patch)) {
        if (msg && n)
            snprintf(msg, n, "invalid strategic merge patch: the patch must be a JSON object");
        return -1;
    }
    smp_ctx c = {.kind = kind, .msg = msg, .n = n};
    json_t *dst = json_is_object(target) ? json_deep_copy(target) : json_object();
    if (!dst) {
        fail(&c, "out of memory");
        return -1;
    }
    int rc = smp_map(dst, patch, &c, 0);
    free(c.path);
    if (rc < 0) {
        json_decref(dst);
        return -1;
    }
    if (rc == 1) {
        json_decref(dst);
        dst = json_object();
    }
    *out = dst;
    return 0;
}
