/*
 * patch_apply.c - server-side apply and managedFields bookkeeping (patch.h).
 *
 * A field set is kept in its wire form, the fieldsV1 tree itself:
 *   {"f:spec":{"f:replicas":{}}}                 .spec.replicas
 *   {"f:containers":{"k:{\"name\":\"a\"}":{".":{},"f:image":{}}}}
 *   {"f:finalizers":{"v:\"x\"":{}}}
 * A node is a member (an owned field) when it is empty or holds ".";
 * other nodes only lead to members below them. Path elements are the keys
 * themselves ("f:name", "k:{...}", "v:<json>").
 *
 * Apply follows structured-merge-diff: merge the applied configuration into
 * the live object (keyed lists by merge key, sets as unions, everything else
 * replaced), drop fields the applier owned before and no longer names unless
 * someone else still owns them, then report conflicts on fields another
 * manager owns whose value the apply changes. Which lists are keyed comes
 * from dv_patch_list_keys(); the rest are atomic and owned as one leaf.
 */
#include "patch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 1000

/* ------------------------------------------------------------------------ */
/* paths                                                                    */

typedef struct {
    char **v;
    size_t n, cap;
} pe_path;

static int path_push(pe_path *p, const char *pe)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        char **nv = realloc(p->v, cap * sizeof(*nv));
        if (!nv)
            return -1;
        p->v = nv;
        p->cap = cap;
    }
    p->v[p->n] = strdup(pe);
    if (!p->v[p->n])
        return -1;
    p->n++;
    return 0;
}

static void path_pop(pe_path *p)
{
    if (p->n)
        free(p->v[--p->n]);
}

static void path_free(pe_path *p)
{
    while (p->n)
        path_pop(p);
    free(p->v);
    p->v = NULL;
    p->cap = 0;
}

static int path_copy(pe_path *dst, const pe_path *src)
{
    memset(dst, 0, sizeof(*dst));
    for (size_t i = 0; i < src->n; i++)
        if (path_push(dst, src->v[i]) < 0)
            return -1;
    return 0;
}

/* A list of paths (members collected before a set is modified). */
typedef struct {
    pe_path *v;
    size_t n, cap;
} path_list;

static void plist_free(path_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        path_free(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int plist_add(path_list *l, const pe_path *p)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        pe_path *nv = realloc(l->v, cap * sizeof(*nv));
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = cap;
    }
    if (path_copy(&l->v[l->n], p) < 0) {
        path_free(&l->v[l->n]);
        return -1;
    }
    l->n++;
    return 0;
}

/* Dotted field names of a path, list elements elided, for list specs. */
static void dotted(const pe_path *p, size_t upto, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < upto && o < n; i++) {
        if (strncmp(p->v[i], "f:", 2) != 0)
            continue;
        o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? "." : "", p->v[i] + 2);
    }
}

/* Human form used in conflict messages: .spec.containers[name="a"].image */
static void render_path(const pe_path *p, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < p->n && o < n; i++) {
        const char *pe = p->v[i];
        if (strncmp(pe, "f:", 2) == 0) {
            o += (size_t)snprintf(buf + o, n - o, ".%s", pe + 2);
        } else if (strncmp(pe, "v:", 2) == 0) {
            o += (size_t)snprintf(buf + o, n - o, "[=%s]", pe + 2);
        } else if (strncmp(pe, "i:", 2) == 0) {
            o += (size_t)snprintf(buf + o, n - o, "[%s]", pe + 2);
        } else if (strncmp(pe, "k:", 2) == 0) {
            json_t *k = json_loads(pe + 2, 0, NULL);
            o += (size_t)snprintf(buf + o, n - o, "[");
            const char *kk;
            json_t *kv;
            int first = 1;
            json_object_foreach(k, kk, kv) {
                char *js = json_dumps(kv, JSON_COMPACT | JSON_ENCODE_ANY);
                if (o < n)
                    o += (size_t)snprintf(buf + o, n - o, "%s%s=%s", first ? "" : ",", kk, js ? js : "?");
                free(js);
                first = 0;
            }
            json_decref(k);
            if (o < n)
                o += (size_t)snprintf(buf + o, n - o, "]");
        }
    }
}

/* ------------------------------------------------------------------------ */
/* field sets (fieldsV1 trees)                                              */

static int node_is_member(const json_t *node)
{
    return json_object_size(node) == 0 || json_object_get(node, ".") != NULL;
}

static int node_has_children(const json_t *node)
{
    size_t sz = json_object_size(node);
    return sz > 1 || (sz == 1 && !json_object_get(node, "."));
}

static json_t *set_node(const json_t *set, const pe_path *p)
{
    const json_t *cur = set;
    for (size_t i = 0; i < p->n && cur; i++)
        cur = json_object_get(cur, p->v[i]);
    return (json_t *)cur;
}

static int set_has(const json_t *set, const pe_path *p)
{
    json_t *node = set_node(set, p);
    return p->n > 0 && node && node_is_member(node);
}

static int set_has_under(const json_t *set, const pe_path *p)
{
    json_t *node = set_node(set, p);
    return node && node_has_children(node);
}

static void set_add(json_t *set, const pe_path *p)
{
    json_t *cur = set;
    int created = 1; /* the root never gets "." */
    for (size_t i = 0; i < p->n; i++) {
        json_t *child = json_object_get(cur, p->v[i]);
        if (!child) {
            /* a member leaf that gains children keeps its membership */
            if (!created && json_object_size(cur) == 0)
                json_object_set_new(cur, ".", json_object());
            child = json_object();
            json_object_set_new(cur, p->v[i], child);
            created = 1;
        } else {
            created = 0;
        }
        cur = child;
    }
    if (!created && node_has_children(cur) && !json_object_get(cur, "."))
        json_object_set_new(cur, ".", json_object());
}

/* After a child of the node at p[0..depth) went away, fix the ancestors:
 * an emptied non-member disappears, a member left with only "." is a leaf. */
static void set_cleanup(json_t *set, const pe_path *p, size_t depth)
{
    while (depth > 0) {
        pe_path parent = {.v = p->v, .n = depth - 1};
        json_t *pnode = set_node(set, &parent);
        json_t *node = json_object_get(pnode, p->v[depth - 1]);
        if (!node)
            return;
        size_t sz = json_object_size(node);
        if (sz == 0) {
            json_object_del(pnode, p->v[depth - 1]);
        } else if (sz == 1 && json_object_get(node, ".")) {
            json_object_clear(node);
            return;
        } else {
            return;
        }
        depth--;
    }
}

/* Drops the membership of p (its descendants stay). */
static void set_remove(json_t *set, const pe_path *p)
{
    if (p->n == 0)
        return;
    pe_path parent = {.v = p->v, .n = p->n - 1};
    json_t *pnode = set_node(set, &parent);
    json_t *node = json_object_get(pnode, p->v[p->n - 1]);
    if (!node || !node_is_member(node))
        return;
    if (node_has_children(node)) {
        json_object_del(node, ".");
        return;
    }
    json_object_del(pnode, p->v[p->n - 1]);
    set_cleanup(set, p, p->n - 1);
}

/* Drops p and everything below it. */
static void set_remove_subtree(json_t *set, const pe_path *p)
{
    if (p->n == 0)
        return;
    pe_path parent = {.v = p->v, .n = p->n - 1};
    json_t *pnode = set_node(set, &parent);
    if (!pnode || json_object_del(pnode, p->v[p->n - 1]) != 0)
        return;
    set_cleanup(set, p, p->n - 1);
}

static int collect_rec(const json_t *node, pe_path *p, path_list *out, int depth)
{
    if (depth > MAX_DEPTH)
        return -1;
    if (p->n > 0 && node_is_member(node) && plist_add(out, p) < 0)
        return -1;
    const char *k;
    json_t *child;
    json_object_foreach((json_t *)node, k, child) {
        if (strcmp(k, ".") == 0 || !json_is_object(child))
            continue;
        if (path_push(p, k) < 0)
            return -1;
        int rc = collect_rec(child, p, out, depth + 1);
        path_pop(p);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int collect_members(const json_t *set, path_list *out)
{
    pe_path p = {0};
    memset(out, 0, sizeof(*out));
    int rc = json_is_object(set) ? collect_rec(set, &p, out, 0) : 0;
    path_free(&p);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* values addressed by paths                                                */

/* The path element naming list element e under spec: "v:<json>" for sets,
 * "k:{...}" (sorted keys, defaults filled) for keyed lists; NULL when the
 * element cannot be keyed (then the list is treated as atomic). */
static char *item_pe(const json_t *e, const char *spec)
{
    if (!spec)
        return NULL;
    if (spec[0] == '\0') {
        if (json_is_object(e) || json_is_array(e))
            return NULL;
        char *js = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!js)
            return NULL;
        char *pe = malloc(strlen(js) + 3);
        if (pe)
            sprintf(pe, "v:%s", js);
        free(js);
        return pe;
    }
    if (!json_is_object(e))
        return NULL;
    json_t *k = json_object();
    const char *s = spec;
    while (*s) {
        size_t len = strcspn(s, ",");
        char part[128];
        if (len >= sizeof(part)) {
            json_decref(k);
            return NULL;
        }
        memcpy(part, s, len);
        part[len] = '\0';
        char *eq = strchr(part, '=');
        if (eq)
            *eq = '\0';
        json_t *v = json_object_get(e, part);
        if (v && (json_is_object(v) || json_is_array(v)))
            v = NULL;
        if (v)
            json_object_set(k, part, v);
        else if (eq)
            json_object_set_new(k, part, json_string(eq + 1));
        else {
            json_decref(k);
            return NULL;
        }
        s += len;
        if (*s == ',')
            s++;
    }
    char *js = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(k);
    if (!js)
        return NULL;
    char *pe = malloc(strlen(js) + 3);
    if (pe)
        sprintf(pe, "k:%s", js);
    free(js);
    return pe;
}

typedef struct {
    json_t *value;  /* borrowed */
    json_t *parent; /* object or array holding it */
    const char *key;
    size_t index;
} located;

/* Finds the value at p in obj; 0 when found. */
static int locate(json_t *obj, const pe_path *p, const char *kind, located *out)
{
    json_t *cur = obj;
    char names[2048];
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < p->n; i++) {
        const char *pe = p->v[i];
        out->parent = cur;
        if (strncmp(pe, "f:", 2) == 0) {
            if (!json_is_object(cur))
                return -1;
            out->key = pe + 2;
            cur = json_object_get(cur, pe + 2);
        } else if (json_is_array(cur) && (pe[0] == 'k' || pe[0] == 'v' || pe[0] == 'i') && pe[1] == ':') {
            json_t *found = NULL;
            if (pe[0] == 'i') {
                char *end;
                long idx = strtol(pe + 2, &end, 10);
                if (*end == '\0' && idx >= 0 && (size_t)idx < json_array_size(cur)) {
                    found = json_array_get(cur, (size_t)idx);
                    out->index = (size_t)idx;
                }
            } else {
                dotted(p, i, names, sizeof(names));
                const char *spec = dv_patch_list_keys(kind, names);
                if (pe[0] == 'v')
                    spec = "";
                for (size_t j = 0; j < json_array_size(cur) && !found; j++) {
                    char *ipe = item_pe(json_array_get(cur, j), spec);
                    if (ipe && strcmp(ipe, pe) == 0) {
                        found = json_array_get(cur, j);
                        out->index = j;
                    }
                    free(ipe);
                }
            }
            out->key = NULL;
            cur = found;
        } else {
            return -1;
        }
        if (!cur)
            return -1;
    }
    out->value = cur;
    return 0;
}

/* Removes the value at p; a map or list that this leaves empty goes too
 * (as structured-merge-diff prunes), up to but not including the root. */
static void remove_at(json_t *obj, const pe_path *p, const char *kind)
{
    pe_path cur = {.v = p->v, .n = p->n};
    while (cur.n > 0) {
        located l;
        if (locate(obj, &cur, kind, &l) < 0)
            return;
        if (l.key && json_is_object(l.parent))
            json_object_del(l.parent, l.key);
        else if (json_is_array(l.parent))
            json_array_remove(l.parent, l.index);
        else
            return;
        size_t left = json_is_object(l.parent) ? json_object_size(l.parent) : json_array_size(l.parent);
        if (left > 0)
            return;
        cur.n--;
    }
}

/* ------------------------------------------------------------------------ */
/* field sets of objects                                                    */

typedef struct {
    const char *kind;
    pe_path p;
    int oom;        /* out of memory or nested too deeply */
    char err[1024]; /* the applied configuration is not valid for its kind */
} walk;

static const char *spec_here(walk *w, const char *field)
{
    char names[2048];
    dotted(&w->p, w->p.n, names, sizeof(names));
    size_t l = strlen(names);
    snprintf(names + l, sizeof(names) - l, "%s%s", l ? "." : "", field);
    return dv_patch_list_keys(w->kind, names);
}

/* Maps the schema marks atomic (LabelSelector is x-kubernetes-map-type:
 * atomic): owned and replaced as one value, like atomic lists. */
static int atomic_here(const walk *w)
{
    static const struct {
        const char *kind, *path;
    } atomic_maps[] = {
        {"Deployment", "spec.selector"}, {"ReplicaSet", "spec.selector"}, {"StatefulSet", "spec.selector"},
        {"DaemonSet", "spec.selector"},  {"Job", "spec.selector"},        {"CronJob", "spec.jobTemplate.spec.selector"},
    };
    if (!w->kind)
        return 0;
    char names[2048];
    dotted(&w->p, w->p.n, names, sizeof(names));
    for (size_t i = 0; i < sizeof(atomic_maps) / sizeof(atomic_maps[0]); i++)
        if (strcmp(atomic_maps[i].kind, w->kind) == 0 && strcmp(atomic_maps[i].path, names) == 0)
            return 1;
    return 0;
}

/* Every item of a list keyed under spec, or -1 if one cannot be. */
static int all_keyed(const json_t *arr, const char *spec)
{
    if (!spec)
        return -1;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char *pe = item_pe(json_array_get(arr, i), spec);
        if (!pe)
            return -1;
        free(pe);
    }
    return 0;
}

/* Explains why an applied keyed list cannot be keyed, in the words of
 * structured-merge-diff. */
static void keyed_list_error(walk *w, const json_t *arr, const char *spec)
{
    char where[1024];
    render_path(&w->p, where, sizeof(where));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_object(e)) {
            snprintf(w->err, sizeof(w->err), "%.700s: element %zu: expected map, got %s", where, i,
                     json_is_array(e) ? "list" : json_is_string(e) ? "string" : "scalar");
            return;
        }
        const char *s = spec;
        while (*s) {
            size_t len = strcspn(s, ",");
            char part[128];
            snprintf(part, sizeof(part), "%.*s", (int)len, s);
            char *eq = strchr(part, '=');
            if (eq)
                *eq = '\0';
            json_t *kv = json_object_get(e, part);
            if (!eq && (!kv || json_is_object(kv) || json_is_array(kv))) {
                snprintf(w->err, sizeof(w->err),
                         "%.700s: element %zu: associative list with keys has an element that omits key field "
                         "\"%s\" (and doesn't have default value)", where, i, part);
                return;
            }
            s += len;
            if (*s == ',')
                s++;
        }
    }
    snprintf(w->err, sizeof(w->err), "%.700s: invalid associative list", where);
}

/* The set an applied configuration claims: its leaves, its keyed list
 * items (with "."), the values of its set lists. */
static void applied_set(walk *w, const json_t *obj, json_t *set, int depth)
{
    const char *k;
    json_t *v;
    if (depth > MAX_DEPTH) {
        w->oom = 1;
        return;
    }
    json_object_foreach((json_t *)obj, k, v) {
        char pe[1024];
        snprintf(pe, sizeof(pe), "f:%s", k);
        if (path_push(&w->p, pe) < 0) {
            w->oom = 1;
            return;
        }
        if (json_is_object(v) && json_object_size(v) > 0 && !atomic_here(w)) {
            applied_set(w, v, set, depth + 1);
        } else if (json_is_array(v) && json_array_size(v) > 0) {
            char names[2048];
            dotted(&w->p, w->p.n, names, sizeof(names));
            const char *spec = dv_patch_list_keys(w->kind, names);
            if (spec && spec[0] && all_keyed(v, spec) < 0) {
                keyed_list_error(w, v, spec);
                return;
            }
            if (all_keyed(v, spec) < 0) {
                set_add(set, &w->p);
            } else {
                for (size_t i = 0; i < json_array_size(v); i++) {
                    json_t *e = json_array_get(v, i);
                    char *ipe = item_pe(e, spec);
                    if (!ipe || path_push(&w->p, ipe) < 0) {
                        free(ipe);
                        w->oom = 1;
                        break;
                    }
                    free(ipe);
                    json_t *dup = set_node(set, &w->p);
                    if (dup && spec[0] && json_object_get(dup, ".")) {
                        char where[1024], item[1024];
                        w->p.n--;
                        render_path(&w->p, where, sizeof(where));
                        w->p.n++;
                        pe_path last = {.v = w->p.v + w->p.n - 1, .n = 1};
                        render_path(&last, item, sizeof(item));
                        snprintf(w->err, sizeof(w->err), "%.600s: duplicate entries for key %.300s", where, item);
                        path_pop(&w->p);
                        path_pop(&w->p);
                        return;
                    }
                    set_add(set, &w->p);
                    if (json_is_object(e))
                        applied_set(w, e, set, depth + 1);
                    if (w->err[0]) {
                        path_pop(&w->p);
                        break;
                    }
                    path_pop(&w->p);
                }
            }
        } else {
            set_add(set, &w->p);
        }
        path_pop(&w->p);
        if (w->err[0] || w->oom)
            return;
    }
}

/* Everything under a value that just appeared, for Update managers: maps
 * and list items are members themselves (".") when dot is set. */
static void added_set(walk *w, const json_t *v, json_t *set, int dot, int depth)
{
    if (depth > MAX_DEPTH) {
        w->oom = 1;
        return;
    }
    if (dot || !(json_is_object(v) || json_is_array(v)) || (json_is_object(v) && json_object_size(v) == 0))
        set_add(set, &w->p);
    if (json_is_object(v) && atomic_here(w)) {
        set_add(set, &w->p);
        return;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c) {
            char pe[1024];
            snprintf(pe, sizeof(pe), "f:%s", k);
            const char *spec = json_is_array(c) ? spec_here(w, k) : NULL;
            if (path_push(&w->p, pe) < 0) {
                w->oom = 1;
                return;
            }
            if (json_is_array(c) && all_keyed(c, spec) < 0)
                set_add(set, &w->p);
            else
                added_set(w, c, set, 1, depth + 1);
            path_pop(&w->p);
        }
    } else if (json_is_array(v)) {
        char names[2048];
        dotted(&w->p, w->p.n, names, sizeof(names));
        const char *spec = dv_patch_list_keys(w->kind, names);
        for (size_t i = 0; i < json_array_size(v); i++) {
            char *ipe = item_pe(json_array_get(v, i), spec);
            if (!ipe || path_push(&w->p, ipe) < 0) {
                free(ipe);
                set_add(set, &w->p);
                return;
            }
            free(ipe);
            added_set(w, json_array_get(v, i), set, 1, depth + 1);
            path_pop(&w->p);
        }
    }
}

typedef struct {
    json_t *added, *modified, *removed;
} diff_sets;

static void diff_value(walk *w, const json_t *o, const json_t *n, diff_sets *d, int depth);

static void diff_list(walk *w, const json_t *o, const json_t *n, const char *spec, diff_sets *d, int depth)
{
    if (all_keyed(o, spec) < 0 || all_keyed(n, spec) < 0) {
        if (!json_equal((json_t *)o, (json_t *)n))
            set_add(d->modified, &w->p);
        return;
    }
    size_t on = json_array_size(o), nn = json_array_size(n);
    char **ope = calloc(on + 1, sizeof(char *));
    if (!ope) {
        w->oom = 1;
        return;
    }
    for (size_t i = 0; i < on; i++)
        ope[i] = item_pe(json_array_get(o, i), spec);
    for (size_t j = 0; j < nn; j++) {
        json_t *ne = json_array_get(n, j);
        char *npe = item_pe(ne, spec);
        if (!npe || path_push(&w->p, npe) < 0) {
            free(npe);
            w->oom = 1;
            break;
        }
        const json_t *oe = NULL;
        for (size_t i = 0; i < on && !oe; i++)
            if (ope[i] && strcmp(ope[i], npe) == 0)
                oe = json_array_get(o, i);
        free(npe);
        if (!oe)
            added_set(w, ne, d->added, 1, depth + 1);
        else
            diff_value(w, oe, ne, d, depth + 1);
        path_pop(&w->p);
    }
    for (size_t i = 0; i < on; i++) {
        int kept = 0;
        for (size_t j = 0; j < nn && !kept; j++) {
            char *npe = item_pe(json_array_get(n, j), spec);
            kept = npe && ope[i] && strcmp(npe, ope[i]) == 0;
            free(npe);
        }
        if (!kept && ope[i] && path_push(&w->p, ope[i]) == 0) {
            set_add(d->removed, &w->p);
            path_pop(&w->p);
        }
        free(ope[i]);
    }
    free(ope);
}

/* Compares o and n at w->p (both present). */
static void diff_value(walk *w, const json_t *o, const json_t *n, diff_sets *d, int depth)
{
    if (depth > MAX_DEPTH) {
        w->oom = 1;
        return;
    }
    if (json_is_object(o) && json_is_object(n) && !atomic_here(w)) {
        const char *k;
        json_t *nv;
        json_object_foreach((json_t *)n, k, nv) {
            char pe[1024];
            snprintf(pe, sizeof(pe), "f:%s", k);
            json_t *ov = json_object_get(o, k);
            const char *spec = json_is_array(nv) ? spec_here(w, k) : NULL;
            if (path_push(&w->p, pe) < 0) {
                w->oom = 1;
                return;
            }
            if (!ov) {
                /* top-level fields are Go structs that always exist: no "." */
                if (json_is_array(nv) && all_keyed(nv, spec) < 0)
                    set_add(d->added, &w->p);
                else
                    added_set(w, nv, d->added, w->p.n > 1, depth + 1);
            } else if (json_is_array(ov) && json_is_array(nv) && spec) {
                diff_list(w, ov, nv, spec, d, depth + 1);
            } else {
                diff_value(w, ov, nv, d, depth + 1);
            }
            path_pop(&w->p);
        }
        json_object_foreach((json_t *)o, k, nv) {
            if (json_object_get(n, k))
                continue;
            char pe[1024];
            snprintf(pe, sizeof(pe), "f:%s", k);
            if (path_push(&w->p, pe) < 0) {
                w->oom = 1;
                return;
            }
            set_add(d->removed, &w->p);
            path_pop(&w->p);
        }
        return;
    }
    if (!json_equal((json_t *)o, (json_t *)n))
        set_add(d->modified, &w->p);
}

/* ------------------------------------------------------------------------ */
/* object preparation                                                       */

/* Metadata the server owns: never part of anyone's field set. */
static const char *const server_meta[] = {
    "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
    "deletionTimestamp", "deletionGracePeriodSeconds",
};

/* A copy without server-owned metadata; with identity also without the
 * fields that name the object (apiVersion, kind, name, namespace). */
static json_t *strip_copy(const json_t *obj, int identity)
{
    json_t *c = json_is_object(obj) ? json_deep_copy(obj) : json_object();
    if (!c)
        return NULL;
    json_t *meta = json_object_get(c, "metadata");
    if (json_is_object(meta)) {
        for (size_t i = 0; i < sizeof(server_meta) / sizeof(server_meta[0]); i++)
            json_object_del(meta, server_meta[i]);
        if (identity) {
            json_object_del(meta, "name");
            json_object_del(meta, "namespace");
        }
        if (identity && json_object_size(meta) == 0)
            json_object_del(c, "metadata");
    }
    if (identity) {
        json_object_del(c, "apiVersion");
        json_object_del(c, "kind");
    }
    return c;
}

/* Merges the applied configuration cfg into live; a new value. */
static json_t *apply_merge(walk *w, const json_t *live, const json_t *cfg, int depth)
{
    if (depth > MAX_DEPTH) {
        w->oom = 1;
        return json_null();
    }
    if (json_is_object(cfg)) {
        json_t *out = json_is_object(live) ? json_deep_copy(live) : json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)cfg, k, v) {
            if (json_is_null(v)) {
                json_object_del(out, k);
                continue;
            }
            json_t *merged;
            json_t *lv = json_object_get(out, k);
            if (json_is_array(v)) {
                const char *spec = spec_here(w, k);
                if (!json_is_array(lv) || all_keyed(v, spec) < 0 || all_keyed(lv, spec) < 0) {
                    merged = json_deep_copy(v);
                } else {
                    char pe[1024];
                    snprintf(pe, sizeof(pe), "f:%s", k);
                    path_push(&w->p, pe);
                    merged = json_deep_copy(lv);
                    for (size_t i = 0; i < json_array_size(v); i++) {
                        json_t *e = json_array_get(v, i);
                        char *ipe = item_pe(e, spec);
                        long at = -1;
                        for (size_t j = 0; j < json_array_size(merged) && at < 0; j++) {
                            char *lpe = item_pe(json_array_get(merged, j), spec);
                            if (lpe && ipe && strcmp(lpe, ipe) == 0)
                                at = (long)j;
                            free(lpe);
                        }
                        free(ipe);
                        if (at < 0)
                            json_array_append_new(merged, json_deep_copy(e));
                        else if (spec[0] != '\0')
                            json_array_set_new(merged, (size_t)at,
                                               apply_merge(w, json_array_get(merged, (size_t)at), e, depth + 1));
                    }
                    path_pop(&w->p);
                }
            } else if (json_is_object(v)) {
                char pe[1024];
                snprintf(pe, sizeof(pe), "f:%s", k);
                path_push(&w->p, pe);
                merged = atomic_here(w) ? json_deep_copy(v) : apply_merge(w, lv, v, depth + 1);
                path_pop(&w->p);
            } else {
                merged = json_deep_copy(v);
            }
            json_object_set_new(out, k, merged);
        }
        return out;
    }
    return json_deep_copy(cfg);
}

/* ------------------------------------------------------------------------ */
/* managedFields entries                                                    */

static const char *estr(const json_t *e, const char *k)
{
    const char *s = json_string_value(json_object_get(e, k));
    return s ? s : "";
}

static int entry_cmp(const void *a, const void *b)
{
    const json_t *p = *(json_t *const *)a, *q = *(json_t *const *)b;
    int c;
    if ((c = strcmp(estr(p, "operation"), estr(q, "operation"))))
        return c;
    if ((c = strcmp(estr(p, "time"), estr(q, "time"))))
        return c;
    if ((c = strcmp(estr(p, "manager"), estr(q, "manager"))))
        return c;
    if ((c = strcmp(estr(p, "apiVersion"), estr(q, "apiVersion"))))
        return c;
    return strcmp(estr(p, "subresource"), estr(q, "subresource"));
}

/* Drops anything in a stored field set that is not a nested object, so
 * the set operations can trust its shape. */
static void sanitize_set(json_t *set, int depth)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(set, tmp, k, v) {
        if (!json_is_object(v) || depth > MAX_DEPTH)
            json_object_del(set, k);
        else
            sanitize_set(v, depth + 1);
    }
}

/* Valid entries of a managedFields value, each with an object fieldsV1;
 * a new array of copies. */
static json_t *load_entries(const json_t *mf)
{
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(mf); i++) {
        json_t *e = json_array_get(mf, i);
        if (!json_is_object(e) || !json_is_string(json_object_get(e, "manager")))
            continue;
        json_t *c = json_deep_copy(e);
        if (!json_is_object(json_object_get(c, "fieldsV1")))
            json_object_set_new(c, "fieldsV1", json_object());
        sanitize_set(json_object_get(c, "fieldsV1"), 0);
        json_array_append_new(out, c);
    }
    return out;
}

/* Drops empty entries, sorts like the real server and stores the result
 * in obj.metadata.managedFields (steals entries). */
static void store_entries(json_t *obj, json_t *entries)
{
    size_t n = json_array_size(entries), m = 0;
    json_t **v = calloc(n + 1, sizeof(*v));
    if (!v) {
        json_decref(entries);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(entries, i);
        if (json_object_size(json_object_get(e, "fieldsV1")) > 0)
            v[m++] = e;
    }
    qsort(v, m, sizeof(*v), entry_cmp);
    json_t *meta = json_object_get(obj, "metadata");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(obj, "metadata", meta);
    }
    if (m == 0) {
        json_object_del(meta, "managedFields");
    } else {
        json_t *out = json_array();
        for (size_t i = 0; i < m; i++) {
            /* canonical member order, as the server writes it */
            json_t *e = v[i], *ne = json_object();
            static const char *const order[] = {"manager", "operation", "apiVersion", "time",
                                                "fieldsType", "fieldsV1", "subresource"};
            for (size_t j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
                json_t *x = json_object_get(e, order[j]);
                if (x)
                    json_object_set(ne, order[j], x);
            }
            json_array_append_new(out, ne);
        }
        json_object_set_new(meta, "managedFields", out);
    }
    free(v);
    json_decref(entries);
}

static json_t *new_entry(const char *manager, const char *operation, const char *api_version)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "manager", manager, "operation", operation, "apiVersion",
                     api_version ? api_version : "", "fieldsType", "FieldsV1", "fieldsV1", json_object());
}

/* The Go %q-style manager name in conflict messages, "using <apiVersion>"
 * for Update managers as kube-apiserver prints them. */
static void manager_label(const json_t *e, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "\"%s\"", estr(e, "manager"));
    if (o < n && estr(e, "subresource")[0])
        o += (size_t)snprintf(buf + o, n - o, " with subresource \"%s\"", estr(e, "subresource"));
    if (o < n && strcmp(estr(e, "operation"), "Update") == 0)
        snprintf(buf + o, n - o, " using %s", estr(e, "apiVersion"));
}

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
/* server-side apply                                                        */

typedef struct {
    size_t entry; /* index into entries */
    char path[1024];
} conflict;

static int conflict_cmp(const void *a, const void *b)
{
    return strcmp(((const conflict *)a)->path, ((const conflict *)b)->path);
}

/* The order kube-apiserver lists conflicting managers in: by their
 * encoded identity, i.e. name first, then operation. */
static int manager_cmp(const json_t *a, const json_t *b)
{
    int c = strcmp(estr(a, "manager"), estr(b, "manager"));
    return c ? c : strcmp(estr(a, "operation"), estr(b, "operation"));
}

/* Writes the "Apply failed ..." message for the conflicts and, when causes
 * is not NULL, appends to it the Status causes kube-apiserver sends with
 * it: one {reason: FieldManagerConflict, message: "conflict with <manager>",
 * field: <path>} per conflict, grouped by manager like the message (Go
 * lists the managers in map order, i.e. any order; sorted here). */
static void conflict_message(json_t *entries, conflict *cs, size_t nc, char *msg, size_t n, json_t *causes)
{
    char label[512];
    size_t ne = json_array_size(entries);
    size_t *order = calloc(ne + 1, sizeof(size_t));
    if (!order) {
        set_msg(msg, n, "Apply failed with %zu conflict%s", nc, nc == 1 ? "" : "s");
        return;
    }
    size_t no = 0;
    for (size_t i = 0; i < nc; i++) {
        int seen = 0;
        for (size_t j = 0; j < no && !seen; j++)
            seen = order[j] == cs[i].entry;
        if (!seen)
            order[no++] = cs[i].entry;
    }
    for (size_t i = 1; i < no; i++) {
        for (size_t j = i; j > 0 && manager_cmp(json_array_get(entries, order[j - 1]),
                                                json_array_get(entries, order[j])) > 0;
             j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    }
    size_t o = 0;
    if (nc == 1) {
        manager_label(json_array_get(entries, cs[0].entry), label, sizeof(label));
        set_msg(msg, n, "Apply failed with 1 conflict: conflict with %s: %s", label, cs[0].path);
    } else if (msg && n) {
        /* grouped by manager, managers sorted by name */
        o = (size_t)snprintf(msg, n, "Apply failed with %zu conflicts: ", nc);
    }
    for (size_t m = 0; m < no; m++) {
        manager_label(json_array_get(entries, order[m]), label, sizeof(label));
        if (nc > 1 && msg && o < n)
            o += (size_t)snprintf(msg + o, n - o, "%sconflicts with %s:", m ? "\n" : "", label);
        for (size_t i = 0; i < nc; i++) {
            if (cs[i].entry != order[m])
                continue;
            if (nc > 1 && msg && o < n)
                o += (size_t)snprintf(msg + o, n - o, "\n- %s", cs[i].path);
            if (causes) {
                char cm[600];
                snprintf(cm, sizeof(cm), "conflict with %s", label);
                json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldManagerConflict",
                                                        "message", cm, "field", cs[i].path));
            }
        }
    }
    free(order);
}

static int is_applier(const json_t *e, const char *manager)
{
    return strcmp(estr(e, "manager"), manager) == 0 && strcmp(estr(e, "operation"), "Apply") == 0 &&
           estr(e, "subresource")[0] == '\0';
}

int dv_server_side_apply(const json_t *live, const json_t *applied, const char *manager, int force,
                         const char *now_rfc3339, json_t **out, char *msg, size_t n)
{
    return dv_server_side_apply_causes(live, applied, manager, force, now_rfc3339, out, NULL, msg, n);
}

int dv_server_side_apply_causes(const json_t *live, const json_t *applied, const char *manager, int force,
                                const char *now_rfc3339, json_t **out, json_t **causes, char *msg, size_t n)
{
    *out = NULL;
    if (causes)
        *causes = NULL;
    if (!json_is_object(applied)) {
        set_msg(msg, n, "invalid apply configuration: expected a JSON object");
        return -1;
    }
    if (!manager || !*manager) {
        set_msg(msg, n, "PATCH, application/apply-patch+yaml requests require a fieldManager");
        return -1;
    }
    if (live && !json_is_object(live)) {
        set_msg(msg, n, "invalid live object: expected a JSON object");
        return -1;
    }
    const char *kind = json_string_value(json_object_get(applied, "kind"));
    if (!kind && live)
        kind = json_string_value(json_object_get(live, "kind"));
    walk w = {.kind = kind};
    int rc = -1;
    json_t *cfg = strip_copy(applied, 0), *cfg_fields = strip_copy(applied, 1);
    json_t *live_obj = live ? json_deep_copy(live) : json_object();
    json_t *entries = load_entries(json_object_get(json_object_get(live, "metadata"), "managedFields"));
    json_t *new_set = json_object(), *merged = NULL;
    path_list last = {0}, mine = {0};
    conflict *cs = NULL;
    size_t nc = 0;
    if (!cfg || !cfg_fields || !live_obj || !entries || !new_set)
        goto oom;
    json_object_del(json_object_get(live_obj, "metadata"), "managedFields");

    applied_set(&w, cfg_fields, new_set, 0);
    if (w.err[0]) {
        const json_t *meta = json_object_get(applied, "metadata");
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        const char *name = json_string_value(json_object_get(meta, "name"));
        const char *av = json_string_value(json_object_get(applied, "apiVersion"));
        set_msg(msg, n, "failed to create typed patch object (%s%s%s; %s, Kind=%s): %s", ns ? ns : "",
                ns ? "/" : "", name ? name : "", av ? av : "", kind ? kind : "", w.err);
        goto done;
    }
    if (w.oom)
        goto oom;

    long me = -1;
    for (size_t i = 0; i < json_array_size(entries); i++)
        if (is_applier(json_array_get(entries, i), manager))
            me = (long)i;
    json_t *last_set = me >= 0 ? json_object_get(json_array_get(entries, (size_t)me), "fieldsV1") : NULL;

    merged = apply_merge(&w, live_obj, cfg, 0);
    if (w.oom || !merged)
        goto oom;

    /* drop what this manager applied before and no longer does, unless
     * someone (this apply included) still owns it or something below it */
    if (last_set && collect_members(last_set, &last) < 0)
        goto oom;
    for (size_t i = 0; i < last.n; i++) {
        const pe_path *p = &last.v[i];
        if (set_has(new_set, p) || set_has_under(new_set, p))
            continue;
        int owned = 0;
        for (size_t e = 0; e < json_array_size(entries) && !owned; e++) {
            if ((long)e == me)
                continue;
            json_t *s = json_object_get(json_array_get(entries, e), "fieldsV1");
            owned = set_has(s, p) || set_has_under(s, p);
        }
        if (!owned)
            remove_at(merged, p, kind);
    }

    /* conflicts: fields another manager owns whose value this apply changes */
    if (collect_members(new_set, &mine) < 0)
        goto oom;
    for (size_t i = 0; i < mine.n; i++) {
        const pe_path *p = &mine.v[i];
        located lv, mv;
        int has_l = locate(live_obj, p, kind, &lv) == 0, has_m = locate(merged, p, kind, &mv) == 0;
        int changed = has_l != has_m;
        if (!changed && has_l && !set_has_under(new_set, p))
            changed = !json_equal(lv.value, mv.value);
        if (!changed)
            continue;
        for (size_t e = 0; e < json_array_size(entries); e++) {
            if ((long)e == me || !set_has(json_object_get(json_array_get(entries, e), "fieldsV1"), p))
                continue;
            conflict *nv = realloc(cs, (nc + 1) * sizeof(*cs));
            if (!nv)
                goto oom;
            cs = nv;
            cs[nc].entry = e;
            render_path(p, cs[nc].path, sizeof(cs[nc].path));
            nc++;
        }
    }
    if (nc && !force) {
        qsort(cs, nc, sizeof(*cs), conflict_cmp);
        if (causes)
            *causes = json_array();
        conflict_message(entries, cs, nc, msg, n, causes ? *causes : NULL);
        rc = -2;
        goto done;
    }
    for (size_t i = 0; i < mine.n; i++) {
        /* forced (or uncontested): other managers lose changed fields */
        const pe_path *p = &mine.v[i];
        for (size_t c = 0; c < nc; c++) {
            char rendered[1024];
            render_path(p, rendered, sizeof(rendered));
            if (strcmp(rendered, cs[c].path) == 0)
                set_remove(json_object_get(json_array_get(entries, cs[c].entry), "fieldsV1"), p);
        }
    }
    /* fields that disappeared are nobody's any more */
    for (size_t e = 0; e < json_array_size(entries); e++) {
        if ((long)e == me)
            continue;
        json_t *s = json_object_get(json_array_get(entries, e), "fieldsV1");
        path_list theirs;
        if (collect_members(s, &theirs) < 0)
            goto oom;
        for (size_t i = 0; i < theirs.n; i++) {
            located a, b;
            if (locate(live_obj, &theirs.v[i], kind, &a) == 0 && locate(merged, &theirs.v[i], kind, &b) != 0)
                set_remove(s, &theirs.v[i]);
        }
        plist_free(&theirs);
    }

    const char *api_version = json_string_value(json_object_get(applied, "apiVersion"));
    if (!api_version)
        api_version = json_string_value(json_object_get(live_obj, "apiVersion"));
    json_t *mine_entry;
    if (me >= 0) {
        mine_entry = json_array_get(entries, (size_t)me);
    } else {
        mine_entry = new_entry(manager, "Apply", api_version);
        json_array_append_new(entries, mine_entry);
    }
    int unchanged = me >= 0 && json_equal(last_set, new_set) && json_equal(merged, live_obj);
    json_object_set(mine_entry, "fieldsV1", new_set);
    json_object_set_new(mine_entry, "apiVersion", json_string(api_version ? api_version : ""));
    if (!unchanged || !json_object_get(mine_entry, "time"))
        json_object_set_new(mine_entry, "time", json_string(now_rfc3339 ? now_rfc3339 : ""));
    json_object_set_new(mine_entry, "fieldsType", json_string("FieldsV1"));
    store_entries(merged, json_incref(entries));
    *out = merged;
    merged = NULL;
    rc = 0;
    goto done;
oom:
    set_msg(msg, n, w.oom ? "apply configuration nested too deeply or out of memory" : "out of memory");
    rc = -1;
done:
    free(cs);
    plist_free(&last);
    plist_free(&mine);
    json_decref(merged);
    json_decref(new_set);
    json_decref(entries);
    json_decref(live_obj);
    json_decref(cfg);
    json_decref(cfg_fields);
    path_free(&w.p);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Update / Create operations                                               */

void dv_managed_fields_update(json_t *obj, const json_t *old, const char *manager, const char *operation,
                              const char *now_rfc3339)
{
    if (!json_is_object(obj) || !manager || !operation)
        return;
    /* managedFields only know Apply and Update: creates are Updates */
    if (strcmp(operation, "Apply") != 0)
        operation = "Update";
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const json_t *mine_mf = json_object_get(json_object_get(obj, "metadata"), "managedFields");
    json_t *entries;
    if (json_array_size(mine_mf) == 1 && json_object_size(json_array_get(mine_mf, 0)) == 0)
        entries = json_array(); /* [{}] is how a client resets managedFields */
    else if (json_array_size(mine_mf) > 0)
        entries = load_entries(mine_mf);
    else
        entries = load_entries(json_object_get(json_object_get(old, "metadata"), "managedFields"));

    json_t *o = strip_copy(old, 1), *nw = strip_copy(obj, 1);
    diff_sets d = {json_object(), json_object(), json_object()};
    walk w = {.kind = kind};
    if (!entries || !o || !nw || !d.added || !d.modified || !d.removed)
        goto done;
    diff_value(&w, o, nw, &d, 0);
    if (w.oom)
        goto done;

    path_list changed = {0}, gone = {0};
    if (collect_members(d.added, &changed) < 0 || collect_members(d.removed, &gone) < 0) {
        plist_free(&changed);
        plist_free(&gone);
        goto done;
    }
    path_list modified = {0};
    if (collect_members(d.modified, &modified) == 0)
        for (size_t i = 0; i < modified.n; i++)
            plist_add(&changed, &modified.v[i]);
    plist_free(&modified);

    long me = -1;
    for (size_t i = 0; i < json_array_size(entries); i++) {
        json_t *e = json_array_get(entries, i);
        if (strcmp(estr(e, "manager"), manager) == 0 && strcmp(estr(e, "operation"), operation) == 0 &&
            estr(e, "subresource")[0] == '\0') {
            me = (long)i;
            continue;
        }
        json_t *s = json_object_get(e, "fieldsV1");
        for (size_t j = 0; j < changed.n; j++)
            set_remove(s, &changed.v[j]);
        for (size_t j = 0; j < gone.n; j++)
            set_remove_subtree(s, &gone.v[j]);
    }
    json_t *entry = me >= 0 ? json_array_get(entries, (size_t)me) : NULL;
    json_t *before = entry ? json_deep_copy(json_object_get(entry, "fieldsV1")) : json_object();
    json_t *set = json_deep_copy(before);
    for (size_t j = 0; j < gone.n; j++)
        set_remove_subtree(set, &gone.v[j]);
    for (size_t j = 0; j < changed.n; j++)
        set_add(set, &changed.v[j]);
    if (json_object_size(set) > 0 || entry) {
        const char *api_version = json_string_value(json_object_get(obj, "apiVersion"));
        if (!entry) {
            entry = new_entry(manager, operation, api_version);
            json_array_append_new(entries, entry);
        }
        if (api_version)
            json_object_set_new(entry, "apiVersion", json_string(api_version));
        if (!json_equal(before, set) || !json_object_get(entry, "time"))
            json_object_set_new(entry, "time", json_string(now_rfc3339 ? now_rfc3339 : ""));
        json_object_set(entry, "fieldsV1", set);
    }
    json_decref(before);
    json_decref(set);
    plist_free(&changed);
    plist_free(&gone);
    store_entries(obj, json_incref(entries));
done:
    path_free(&w.p);
    json_decref(entries);
    json_decref(o);
    json_decref(nw);
    json_decref(d.added);
    json_decref(d.modified);
    json_decref(d.removed);
}
