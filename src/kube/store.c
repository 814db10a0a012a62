/*
 * store.c - thread-safe object cache with indexes (see store.h).
 *
 * Layout, chosen for memory (bench/informer_bench measures it):
 *  - every object is kept packed (util/jpack) in one item together with
 *    its key: about 0.8x its compact JSON, against 7x for jansson nodes;
 *  - items live in a binary tree (libc tsearch) ordered by key, so lists
 *    come out sorted and a lookup costs O(log n) string compares;
 *  - each index maps a value to the set of items having it, again as
 *    trees holding pointers to the items' keys. An item keeps its address
 *    while it is updated, so index sets never dangle; an update touches
 *    only the index values of the old and the new object.
 * Reading unpacks: get, list and by_index return fresh objects. Lists copy
 * the packed bytes under the read lock and unpack after releasing it, so a
 * big list never holds up the watch that feeds the store.
 */
#include "kube/store.h"

#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/jpack.h"

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

typedef struct item {
    unsigned char *blob; /* the stripped object, packed */
    size_t len;
    char key[]; /* the trees point here */
} item;

/* One index value and the keys of the items that have it. */
typedef struct ivalue {
    void *members; /* tree of item keys */
    size_t n;      /* how many: counting must not walk the set */
    char value[];  /* the index's tree points here */
} ivalue;

#define ITEM_OF(keyp) ((item *)((char *)(keyp)-offsetof(item, key)))
#define IVALUE_OF(valp) ((ivalue *)((char *)(valp)-offsetof(ivalue, value)))
/* A tsearch node starts with the pointer it was given. */
#define NODE_KEY(nodep) (*(char *const *)(nodep))

typedef struct indexer {
    char *name;
    store_index_fn fn;
    void *ud;
    void *values; /* tree of ivalue values */
} indexer;

struct store {
    pthread_rwlock_t lock;
    void *items; /* tree of item keys */
    size_t len;
    size_t bytes; /* packed objects + keys */
    indexer *idx;
    size_t nidx;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void free_nothing(void *p)
{
    (void)p;
}

static void free_item(void *keyp)
{
    item *it = ITEM_OF(keyp);
    free(it->blob);
    free(it);
}

static void free_ivalue(void *valp)
{
    ivalue *iv = IVALUE_OF(valp);
    tdestroy(iv->members, free_nothing); /* the items are owned by s->items */
    free(iv);
}

static item *find_item(const store *s, const char *key)
{
    void *const *n = tfind(key, &s->items, cmp_str);
    return n ? ITEM_OF(*n) : NULL;
}

json_t *store_index_namespace(json_t *obj, void *ud)
{
    (void)ud;
    const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    if (!ns || !*ns)
        return NULL;
    json_t *a = json_array();
    json_array_append_new(a, json_string(ns));
    return a;
}

json_t *store_index_labels(json_t *obj, void *ud)
{
    (void)ud;
    json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    if (!json_is_object(labels))
        return NULL;
    json_t *a = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v) {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        size_t n = strlen(k) + strlen(s) + 2;
        char *kv = malloc(n);
        if (!kv)
            continue;
        snprintf(kv, n, "%s=%s", k, s);
        json_array_append_new(a, json_string(kv));
        free(kv);
    }
    return a;
}

json_t *store_index_owner_uids(json_t *obj, void *ud)
{
    (void)ud;
    json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
    if (!json_is_array(refs))
        return NULL;
    json_t *a = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r) {
        const char *uid = json_string_value(json_object_get(r, "uid"));
        if (uid && *uid)
            json_array_append_new(a, json_string(uid));
    }
    return a;
}

/* Add `it` to the sets of the index values obj (it, unpacked) produces. An
 * allocation failure leaves the item out of that value's set: a lookup
 * then misses it, which callers already handle as "not cached yet". */
static void index_add(indexer *ix, item *it, json_t *obj)
{
    json_t *vals = ix->fn(obj, ix->ud);
    size_t i;
    json_t *v;
    json_array_foreach(vals, i, v) {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        void **n = tfind(s, &ix->values, cmp_str);
        ivalue *iv = n ? IVALUE_OF(*n) : NULL;
        if (!iv) {
            size_t sl = strlen(s);
            iv = malloc(sizeof *iv + sl + 1);
            if (!iv)
                continue;
            iv->members = NULL;
            iv->n = 0;
            memcpy(iv->value, s, sl + 1);
            if (!tsearch(iv->value, &ix->values, cmp_str)) {
                free(iv);
                continue;
            }
        }
        /* Only a new member counts (an object may yield a value twice). */
        if (tfind(it->key, &iv->members, cmp_str))
            continue;
        if (tsearch(it->key, &iv->members, cmp_str))
            iv->n++;
        else if (!iv->members) {
            tdelete(iv->value, &ix->values, cmp_str);
            free(iv);
        }
    }
    json_decref(vals);
}

static void index_remove(indexer *ix, item *it, json_t *obj)
{
    json_t *vals = ix->fn(obj, ix->ud);
    size_t i;
    json_t *v;
    json_array_foreach(vals, i, v) {
        const char *s = json_string_value(v);
        void **n = s ? tfind(s, &ix->values, cmp_str) : NULL;
        if (!n)
            continue;
        ivalue *iv = IVALUE_OF(*n);
        if (tdelete(it->key, &iv->members, cmp_str))
            iv->n--;
        if (!iv->members) {
            tdelete(iv->value, &ix->values, cmp_str);
            free(iv);
        }
    }
    json_decref(vals);
}

store *store_new(void)
{
    store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_rwlock_init(&s->lock, NULL);
    if (store_add_indexer(s, STORE_INDEX_NAMESPACE, store_index_namespace, NULL, NULL)) {
        store_free(s);
        return NULL;
    }
    return s;
}

void store_free(store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nidx; i++) {
        free(s->idx[i].name);
        tdestroy(s->idx[i].values, free_ivalue);
    }
    free(s->idx);
    tdestroy(s->items, free_item);
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

static void reindex_node(const void *nodep, VISIT which, void *closure)
{
    if (which != postorder && which != leaf)
        return;
    item *it = ITEM_OF(NODE_KEY(nodep));
    json_t *obj = jpack_decode(it->blob, it->len);
    if (obj)
        index_add(closure, it, obj);
    json_decref(obj);
}

int store_add_indexer(store *s, const char *name, store_index_fn fn, void *ud, pb_err *err)
{
    if (!s || !name || !*name || !fn)
        return pb_err_set(err, PB_EINVAL, "store_add_indexer: missing name or function");
    int rc = 0;
    pthread_rwlock_wrlock(&s->lock);
    for (size_t i = 0; i < s->nidx; i++)
        if (strcmp(s->idx[i].name, name) == 0) {
            rc = pb_err_set(err, PB_EEXIST, "store: index %s already exists", name);
            goto out;
        }
    indexer *grown = realloc(s->idx, (s->nidx + 1) * sizeof *grown);
    if (!grown) {
        rc = pb_err_set(err, PB_ENOMEM, "store: out of memory");
        goto out;
    }
    s->idx = grown;
    indexer *ix = &s->idx[s->nidx];
    *ix = (indexer){.name = strdup(name), .fn = fn, .ud = ud};
    if (!ix->name) {
        rc = pb_err_set(err, PB_ENOMEM, "store: out of memory");
        goto out;
    }
    s->nidx++;
    twalk_r(s->items, reindex_node, ix); /* objects cached before the index */
out:
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

int store_key_of(const json_t *obj, char *buf, size_t n, pb_err *err)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    if (!name || !*name)
        return pb_err_set(err, PB_EINVAL, "object has no metadata.name");
    int w = ns && *ns ? snprintf(buf, n, "%s/%s", ns, name) : snprintf(buf, n, "%s", name);
    if (w < 0 || (size_t)w >= n)
        return pb_err_set(err, PB_ETOOLARGE, "object key longer than %zu bytes", n);
    return 0;
}

int store_split_key(const char *key, char *ns, size_t ns_n, char *name, size_t name_n)
{
    if (!key || !*key || !ns || !name || ns_n == 0 || name_n == 0)
        return PB_EINVAL;
    const char *slash = strchr(key, '/');
    size_t nslen = slash ? (size_t)(slash - key) : 0;
    const char *nm = slash ? slash + 1 : key;
    if (nslen >= ns_n || strlen(nm) >= name_n || !*nm || strchr(nm, '/'))
        return PB_EINVAL;
    memcpy(ns, key, nslen);
    ns[nslen] = '\0';
    strcpy(name, nm);
    return 0;
}

json_t *store_strip(json_t *obj)
{
    if (!json_is_object(obj))
        return json_incref(obj);
    json_t *c = json_copy(obj);
    json_t *md = json_object_get(c, "metadata");
    if (!c || !json_is_object(md))
        return c;
    json_t *ann = json_object_get(md, "annotations");
    int strip_ann = json_object_get(ann, LAST_APPLIED) != NULL;
    if (!json_object_get(md, "managedFields") && !strip_ann)
        return c;
    json_t *md2 = json_copy(md);
    json_object_del(md2, "managedFields");
    if (strip_ann) {
        json_t *ann2 = json_copy(ann);
        json_object_del(ann2, LAST_APPLIED);
        if (json_object_size(ann2) == 0)
            json_object_del(md2, "annotations");
        else
            json_object_set(md2, "annotations", ann2);
        json_decref(ann2);
    }
    json_object_set_new(c, "metadata", md2);
    return c;
}

int store_upsert(store *s, json_t *obj, json_t **old_out, json_t **new_out, pb_err *err)
{
    if (old_out)
        *old_out = NULL;
    if (new_out)
        *new_out = NULL;
    if (!s || !json_is_object(obj))
        return pb_err_set(err, PB_EINVAL, "store_upsert: not an object");
    char key[512];
    int rc = store_key_of(obj, key, sizeof key, err);
    if (rc)
        return rc;
    json_t *stripped = store_strip(obj);
    size_t len = 0;
    unsigned char *blob = stripped ? jpack_encode(stripped, &len) : NULL;
    if (!blob) {
        json_decref(stripped);
        return pb_err_set(err, PB_ENOMEM, "store: out of memory");
    }
    json_t *old = NULL;
    pthread_rwlock_wrlock(&s->lock);
    item *it = find_item(s, key);
    if (it) {
        /* The old object's index values are needed to leave its sets. */
        old = jpack_decode(it->blob, it->len);
        if (!old)
            goto oom;
        for (size_t i = 0; i < s->nidx; i++)
            index_remove(&s->idx[i], it, old);
        s->bytes -= it->len;
        free(it->blob);
    } else {
        size_t kl = strlen(key);
        it = malloc(sizeof *it + kl + 1);
        if (!it)
            goto oom;
        memcpy(it->key, key, kl + 1);
        if (!tsearch(it->key, &s->items, cmp_str)) {
            free(it);
            goto oom;
        }
        s->len++;
        s->bytes += kl + 1;
    }
    it->blob = blob;
    it->len = len;
    s->bytes += len;
    for (size_t i = 0; i < s->nidx; i++)
        index_add(&s->idx[i], it, stripped);
    pthread_rwlock_unlock(&s->lock);
    if (old_out)
        *old_out = old;
    else
        json_decref(old);
    if (new_out)
        *new_out = stripped;
    else
        json_decref(stripped);
    return 0;
oom:
    pthread_rwlock_unlock(&s->lock);
    free(blob);
    json_decref(stripped);
    return pb_err_set(err, PB_ENOMEM, "store: out of memory");
}

int store_delete(store *s, const char *key, json_t **old_out)
{
    if (old_out)
        *old_out = NULL;
    if (!s || !key)
        return PB_EINVAL;
    pthread_rwlock_wrlock(&s->lock);
    item *it = find_item(s, key);
    json_t *old = it ? jpack_decode(it->blob, it->len) : NULL;
    if (it && !old) {
        pthread_rwlock_unlock(&s->lock);
        return PB_ENOMEM;
    }
    if (it) {
        for (size_t i = 0; i < s->nidx; i++)
            index_remove(&s->idx[i], it, old);
        tdelete(it->key, &s->items, cmp_str);
        s->len--;
        s->bytes -= it->len + strlen(it->key) + 1;
        free_item(it->key);
    }
    pthread_rwlock_unlock(&s->lock);
    if (!old)
        return PB_ENOTFOUND;
    if (old_out)
        *old_out = old;
    else
        json_decref(old);
    return 0;
}

json_t *store_get(store *s, const char *key)
{
    if (!s || !key)
        return NULL;
    pthread_rwlock_rdlock(&s->lock);
    item *it = find_item(s, key);
    json_t *o = it ? jpack_decode(it->blob, it->len) : NULL;
    pthread_rwlock_unlock(&s->lock);
    return o;
}

int store_resource_version(store *s, const char *key, char *buf, size_t n)
{
    if (!s || !key || !buf || n == 0)
        return PB_EINVAL;
    int rc = PB_ENOTFOUND;
    pthread_rwlock_rdlock(&s->lock);
    item *it = find_item(s, key);
    if (it) {
        size_t rvn = 0; /* stays 0 when there is no resourceVersion */
        const char *rv = jpack_get_string(it->blob, it->len, "metadata.resourceVersion", &rvn);
        rc = rvn < n ? 0 : PB_ETOOLARGE;
        if (rc == 0) {
            memcpy(buf, rv ? rv : "", rvn);
            buf[rvn] = '\0';
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

/* Items gathered under the read lock: their keys, or copies of their
 * packed bytes to unpack once the lock is released. */
typedef struct gather {
    int keys_only;
    json_t *keys; /* keys_only */
    pb_buf bytes; /* the blobs, back to back */
    size_t *ends; /* where each blob ends in bytes */
    size_t n, ncap;
    int oom;
} gather;

static void gather_item(gather *g, const item *it)
{
    if (g->oom)
        return;
    if (g->keys_only) {
        if (json_array_append_new(g->keys, json_string_nocheck(it->key)))
            g->oom = 1;
        return;
    }
    if (!g->bytes.cap && pb_buf_reserve(&g->bytes, 4096)) { /* lists are rarely tiny */
        g->oom = 1;
        return;
    }
    if (pb_buf_append(&g->bytes, it->blob, it->len)) {
        g->oom = 1;
        return;
    }
    if (g->n == g->ncap) {
        size_t ncap = g->ncap ? g->ncap * 2 : 64;
        size_t *e = realloc(g->ends, ncap * sizeof *e);
        if (!e) {
            g->oom = 1;
            return;
        }
        g->ends = e;
        g->ncap = ncap;
    }
    g->ends[g->n++] = g->bytes.len;
}

static void gather_node(const void *nodep, VISIT which, void *closure)
{
    if (which == postorder || which == leaf)
        gather_item(closure, ITEM_OF(NODE_KEY(nodep)));
}

/* The gathered objects as a new array (NULL when out of memory); frees
 * the gather's buffers. */
static json_t *gather_finish(gather *g)
{
    json_t *a = g->oom ? NULL : g->keys_only ? json_incref(g->keys) : json_array();
    size_t start = 0;
    for (size_t i = 0; a && !g->keys_only && i < g->n; i++) {
        json_t *o = jpack_decode((const unsigned char *)g->bytes.data + start, g->ends[i] - start);
        start = g->ends[i];
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            a = NULL;
        }
    }
    json_decref(g->keys);
    pb_buf_free(&g->bytes);
    free(g->ends);
    return a;
}

/* Every cached object or, when `keys`, every key, in key order. */
static json_t *list_all(store *s, int keys)
{
    gather g = {.keys_only = keys, .keys = keys ? json_array() : NULL};
    if (!s || (keys && !g.keys))
        return gather_finish(&g);
    pthread_rwlock_rdlock(&s->lock);
    twalk_r(s->items, gather_node, &g);
    pthread_rwlock_unlock(&s->lock);
    return gather_finish(&g);
}

json_t *store_list(store *s)
{
    return list_all(s, 0);
}

json_t *store_list_keys(store *s)
{
    return list_all(s, 1);
}

static json_t *by_index(store *s, const char *index, const char *value, int keys_only, pb_err *err)
{
    if (!s || !index || !value) {
        pb_err_set(err, PB_EINVAL, "store_by_index: missing index or value");
        return NULL;
    }
    gather g = {.keys_only = keys_only};
    if (keys_only && !(g.keys = json_array())) {
        pb_err_set(err, PB_ENOMEM, "store: out of memory");
        return NULL;
    }
    int found = 0;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->nidx; i++) {
        if (strcmp(s->idx[i].name, index) != 0)
            continue;
        found = 1;
        void **n = tfind(value, &s->idx[i].values, cmp_str);
        if (n)
            twalk_r(IVALUE_OF(*n)->members, gather_node, &g);
        break;
    }
    pthread_rwlock_unlock(&s->lock);
    json_t *a = gather_finish(&g);
    if (!found) {
        json_decref(a);
        pb_err_set(err, PB_ENOTFOUND, "store: no index named %s", index);
        return NULL;
    }
    if (!a)
        pb_err_set(err, PB_ENOMEM, "store: out of memory");
    return a;
}

json_t *store_by_index(store *s, const char *index, const char *value, pb_err *err)
{
    return by_index(s, index, value, 0, err);
}

json_t *store_index_keys(store *s, const char *index, const char *value, pb_err *err)
{
    return by_index(s, index, value, 1, err);
}

int store_index_count(store *s, const char *index, const char *value, size_t *count)
{
    *count = 0;
    if (!s || !index || !value)
        return PB_EINVAL;
    int rc = PB_ENOTFOUND;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->nidx; i++) {
        if (strcmp(s->idx[i].name, index) != 0)
            continue;
        void **n = tfind(value, &s->idx[i].values, cmp_str);
        *count = n ? IVALUE_OF(*n)->n : 0;
        rc = 0;
        break;
    }
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

/* One of the store's counters, read under its lock. */
static size_t read_counter(store *s, const size_t *counter)
{
    pthread_rwlock_rdlock(&s->lock);
    size_t n = *counter;
    pthread_rwlock_unlock(&s->lock);
    return n;
}

size_t store_len(store *s)
{
    return s ? read_counter(s, &s->len) : 0;
}

size_t store_bytes(store *s)
{
    return s ? read_counter(s, &s->bytes) : 0;
}
