/*
 * store.h - the informer cache: a thread-safe map of Kubernetes objects
 * keyed "namespace/name" ("name" for cluster-scoped objects), with indexes
 * (client-go's cache.Indexer).
 *
 * Memory: objects are stored without metadata.managedFields and the
 * kubectl.kubernetes.io/last-applied-configuration annotation (on a typical
 * object more than half its size, and nobody reading the cache needs them),
 * packed with util/jpack: a cached object costs about as much as its
 * compact JSON text instead of seven times that as jansson nodes.
 *
 * Ownership: every json_t returned is a NEW reference the caller must
 * json_decref(). get, list, by_index and the old objects of
 * store_upsert/store_delete are unpacked for the caller: private copies it
 * may modify. The new object of store_upsert shares nodes with the object
 * passed in: treat it as read-only.
 *
 * Cost: reading unpacks (about 1-2 us for a small object), so hot paths
 * that only need a resourceVersion use store_resource_version.
 *
 * Indexes: "namespace" (metadata.namespace) always exists.
 * store_add_indexer() adds others, and may be called at any time (existing
 * objects are indexed on the spot); "label" (one value "key=value" per
 * label) and "owner-uid" (one per ownerReferences[].uid) are ready-made
 * ones. Like client-go's, an index is opt-in: every upsert pays for each
 * one in CPU and memory (about 50 bytes per value per object), and the
 * operator looks nothing up by label or owner.
 *
 * Thread-safety: a rwlock; readers run in parallel.
 */
#ifndef PAYBILL_KUBE_STORE_H
#define PAYBILL_KUBE_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define STORE_INDEX_NAMESPACE "namespace"
#define STORE_INDEX_LABEL "label"
#define STORE_INDEX_OWNER_UID "owner-uid"

typedef struct store store;

/* An index function: the index values of obj (borrowed) as a new JSON array
 * of strings, or NULL/empty for none. */
typedef json_t *(*store_index_fn)(json_t *obj, void *ud);

store *store_new(void); /* NULL when out of memory */
void store_free(store *s);

/* name must be unique; ud is passed back to fn and not owned. */
int store_add_indexer(store *s, const char *name, store_index_fn fn, void *ud, pb_err *err);

/* The object's key into buf ("ns/name" or "name"). PB_EINVAL if it has no
 * metadata.name, PB_ETOOLARGE if buf is too small. */
int store_key_of(const json_t *obj, char *buf, size_t n, pb_err *err);

/* Split a key into namespace ("" for cluster-scoped) and name; both are
 * NUL-terminated copies. PB_EINVAL when empty or a buffer is too small. */
int store_split_key(const char *key, char *ns, size_t ns_n, char *name, size_t name_n);

/* Insert or replace obj (borrowed; the store keeps a stripped, packed
 * copy). *old_out (may be NULL) receives the previous object or NULL;
 * *new_out (may be NULL) the stripped object (shares nodes with obj). */
int store_upsert(store *s, json_t *obj, json_t **old_out, json_t **new_out, pb_err *err);

/* Remove key; *old_out (may be NULL) receives the removed object. Returns
 * PB_ENOTFOUND when absent. */
int store_delete(store *s, const char *key, json_t **old_out);

/* Strip obj the way the store does: a new shallow copy (new reference). */
json_t *store_strip(json_t *obj);

json_t *store_get(store *s, const char *key); /* NULL if absent */
/* Lists are in key order; NULL only when out of memory. */
json_t *store_list(store *s);
json_t *store_list_keys(store *s); /* array of strings */
/* The cached object's metadata.resourceVersion ("" if it has none) into
 * buf, without unpacking it: 0, PB_ENOTFOUND, or PB_ETOOLARGE. */
int store_resource_version(store *s, const char *key, char *buf, size_t n);
json_t *store_by_index(store *s, const char *index, const char *value, pb_err *err);
/* The keys store_by_index would return (in key order), unpacking nothing. */
json_t *store_index_keys(store *s, const char *index, const char *value, pb_err *err);
/* How many objects have `value` in `index`, in O(log n): 0, PB_ENOTFOUND
 * (no such index) or PB_EINVAL. */
int store_index_count(store *s, const char *index, const char *value, size_t *count);
size_t store_len(store *s);
/* Bytes of the packed objects and their keys: the cache's payload, without
 * allocator, tree and index overhead (about 235 B per small object). */
size_t store_bytes(store *s);

/* Index functions: the "namespace" index's, and the ready-made ones for
 * STORE_INDEX_LABEL and STORE_INDEX_OWNER_UID (store_add_indexer). */
json_t *store_index_namespace(json_t *obj, void *ud);
json_t *store_index_labels(json_t *obj, void *ud);
json_t *store_index_owner_uids(json_t *obj, void *ud);

#endif
