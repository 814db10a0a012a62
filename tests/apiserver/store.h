/*
 * store.h - the dev API server's object store: what etcd is to kube-apiserver.
 *
 * Objects are keyed by (group, resource, namespace, name) and held as their
 * compact JSON; jansson trees are decoded on demand and cached (store.c).
 * One global, strictly increasing revision is stamped into
 * metadata.resourceVersion on every write. The last `window` events are
 * retained (with the previous object) so that watches can resume from a
 * revision and lists can be served "as of" a revision for paginated
 * snapshots; anything older is Gone (410).
 *
 * Persistence (optional, data_dir != NULL): an append-only log of JSON lines,
 * written (fflush) at every write and fsync'ed by dv_store_sync: the server
 * calls it once before sending any reply, so one fsync covers every write of
 * a loop turn (group commit) and no reply or event leaves before the writes
 * it may reflect are durable. Replayed and compacted on open and compacted
 * again when it grows past 2x the live size (+1 MB). Revisions keep
 * increasing across restarts; the event window starts empty after a restart.
 *
 * Threading: none. The store is used from the server's single event loop.
 * Ownership: objects passed to dv_store_put are stolen and must not be
 * modified afterwards (they are shared with lists and events); objects
 * returned by dv_store_get are borrowed: valid until the object leaves the
 * store or the next dv_store_trim (json_incref to keep one longer); arrays
 * from dv_store_list* are new references whose items must not be modified
 * (deep-copy first).
 */
#ifndef DEVAPI_STORE_H
#define DEVAPI_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dv_store dv_store;

typedef enum { DV_EV_ADDED = 0, DV_EV_MODIFIED = 1, DV_EV_DELETED = 2 } dv_event_type;

typedef struct dv_event {
    dv_event_type type;
    uint64_t rv;
    const char *group, *resource, *ns; /* ns "" for cluster-scoped */
    const json_t *obj;                 /* the object after the event (for DELETED: last state, new rv) */
    const json_t *prev;                /* the object before (NULL for ADDED) */
} dv_event;

/* Events are delivered synchronously, after the write, in revision order. */
typedef void (*dv_store_cb)(void *ud, const dv_event *ev);

/* window: events retained (>= 1). 0, or -1 with a message. */
int dv_store_open(const char *data_dir, size_t window, dv_store **out, char *msg, size_t n);
void dv_store_free(dv_store *s);

/* Current (latest) revision. */
uint64_t dv_store_rv(const dv_store *s);
/* Every event with rv > floor is retained: resuming from rv >= floor works. */
uint64_t dv_store_floor(const dv_store *s);

/* Borrowed object or NULL. ns NULL or "" for cluster-scoped. */
const json_t *dv_store_get(dv_store *s, const char *group, const char *resource, const char *ns,
                           const char *name);

/* Objects of group/resource in ns (NULL = all namespaces), sorted by
 * namespace then name. New array. */
json_t *dv_store_list(dv_store *s, const char *group, const char *resource, const char *ns);
/* The same, as it was at revision rv; NULL when rv < floor (410). */
json_t *dv_store_list_at(dv_store *s, const char *group, const char *resource, const char *ns,
                         uint64_t rv);
/* The same, only the objects whose "ns/name" sorts after `after` (NULL or
 * "": all): the rest of a paginated list, found by binary search. */
json_t *dv_store_list_after(dv_store *s, const char *group, const char *resource, const char *ns,
                            uint64_t rv, const char *after);
/* A list's items as the store holds them: each one's compact JSON without
 * decoding anything (a list without selectors is a concatenation), its
 * tree on demand. From dv_store_items_after (same arguments and order as
 * dv_store_list_after; NULL when rv < floor). Items stay valid, whatever
 * is written meanwhile, until dv_store_items_free. */
typedef struct dv_store_items dv_store_items;
dv_store_items *dv_store_items_after(dv_store *s, const char *group, const char *resource, const char *ns,
                                     uint64_t rv, const char *after);
size_t dv_store_items_count(const dv_store_items *l);
/* Item i's "ns/name" ("/name" at cluster scope). */
const char *dv_store_items_key(const dv_store_items *l, size_t i);
/* Item i's object, decoded on first use; borrowed from the list. NULL only
 * if the stored text failed to parse (logged). */
const json_t *dv_store_items_obj(dv_store *s, dv_store_items *l, size_t i);
/* For a label selector: a new {"metadata":{"labels":...}} with item i's
 * labels, read from its text without decoding the rest (a list with a
 * selector decoded every object of the bucket: ~9 % of the server's CPU in
 * the operator bench). NULL when the tree is at hand or cheaper to trust
 * (then use dv_store_items_obj). */
json_t *dv_store_items_labels(dv_store_items *l, size_t i);
/* Let item i's decoded object go (it decodes again if asked): a long
 * list then holds one tree at a time. */
void dv_store_items_drop(dv_store_items *l, size_t i);
/* Item i's compact JSON (what dv_store_json gives for its object; for a
 * snapshot's older version, what it was) with its apiVersion and kind
 * (NULL when it has none). Borrowed. */
const char *dv_store_items_text(const dv_store_items *l, size_t i, size_t *len, const char **av,
                                const char **kind);
void dv_store_items_free(dv_store_items *l);

/* Every stored object of every resource as a new array of
 * {"group","resource","object"} records (used by garbage collection).
 * Decodes the whole store (trees cached until the next dv_store_trim):
 * as much memory as every object's tree; dv_store_each walks without. */
json_t *dv_store_all(dv_store *s);

/* Every stored object, one at a time: decoded for the call only (not
 * cached), so a walk of the whole store holds one tree at a time. The
 * callback must not write to the store. ns "" at cluster scope. */
typedef void (*dv_store_each_cb)(void *ud, const char *group, const char *resource, const char *ns,
                                 const json_t *obj);
void dv_store_each(dv_store *s, dv_store_each_cb cb, void *ud);

/* The compact JSON (json_dumps JSON_COMPACT) of obj when obj is an object
 * the store holds now (from dv_store_get/list since the last dv_store_trim,
 * or an event's obj while it is delivered), else NULL (callers serialize
 * it themselves). Borrowed: valid until obj leaves the store. */
const char *dv_store_json(dv_store *s, const json_t *obj, size_t *len);

/* Create or replace. Stamps metadata.resourceVersion with the new revision
 * and emits ADDED/MODIFIED. obj is stolen. Returns the new revision, or 0
 * when persisting failed (the write is then not applied). */
uint64_t dv_store_put(dv_store *s, const char *group, const char *resource, const char *ns,
                      const char *name, json_t *obj);
/* Remove; emits DELETED with the last state stamped with the new revision.
 * Returns the new revision, 0 if absent or persisting failed. */
uint64_t dv_store_delete(dv_store *s, const char *group, const char *resource, const char *ns,
                         const char *name);

/* Let decoded trees beyond the cache's size go, least recently used first.
 * The server calls it between requests: borrowed objects stay valid
 * through a request, whatever it reads. */
void dv_store_trim(dv_store *s);

/* fsync the log when writes are pending (no-op without a data dir). 0, or
 * -1 (logged): the pending writes may not be durable. dv_store_free syncs. */
int dv_store_sync(dv_store *s);
/* 1 when writes are not yet fsync'ed. */
int dv_store_unsynced(const dv_store *s);

/* Subscribe to events; returns an id > 0 for dv_store_unsubscribe. */
int dv_store_subscribe(dv_store *s, dv_store_cb cb, void *ud);
void dv_store_unsubscribe(dv_store *s, int id);

/* Deliver retained events with rv > since, in order. -1 when since < floor. */
int dv_store_replay(dv_store *s, uint64_t since, dv_store_cb cb, void *ud);

#endif
