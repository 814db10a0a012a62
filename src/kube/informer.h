/*
 * informer.h - list-then-watch cache of one resource type, shared by every
 * controller interested in it (client-go's SharedIndexInformer with its
 * Reflector).
 *
 * One informer per GVR (+ namespace/selector) keeps a store (store.h) in
 * sync with the API server and tells any number of handlers about changes:
 *
 *   list      -> store rebuilt page by page (the whole list is never held
 *                in memory); handlers get add/update/delete for the
 *                difference with what the store held (a relist after a 410
 *                only reports real changes: an object whose resourceVersion
 *                did not change produces no event, one that vanished while
 *                we were disconnected produces a delete, once the last page
 *                is in);
 *   watch     -> from the list's resourceVersion, one event per change;
 *                BOOKMARK events only advance the resourceVersion; when the
 *                stream ends normally the watch resumes from the last one;
 *   PB_EGONE  -> the resourceVersion is too old: relist;
 *   errors    -> retried with exponential backoff (0.8 s doubling to 30 s);
 *   resync    -> every resync period, an update(old == new) for every cached
 *                object so level-based controllers re-check (0 = off).
 *
 * Threads: the reflector runs in one thread per informer, started by
 * informer_start(). Handlers are called from that thread, one event at a
 * time, in order, and must be quick (enqueue a key and return) and must not
 * call informer_* functions on the same informer.
 *
 * Where the events come from is an informer_source: two callbacks (list and
 * watch). informer_source_kube() builds one on a kube_client; tests script
 * their own.
 *
 * Ownership: objects passed to handlers are borrowed for the duration of the
 * call (json_incref to keep one) and read-only, like everything in the store.
 */
#ifndef PAYBILL_KUBE_INFORMER_H
#define PAYBILL_KUBE_INFORMER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "kube/client.h"
#include "kube/store.h"
#include "util/err.h"

typedef struct informer informer;

/* Same contract as kube_watch_fn: type is ADDED|MODIFIED|DELETED|BOOKMARK,
 * object borrowed; return non-zero to stop the watch. */
typedef int (*informer_watch_fn)(void *ud, const char *type, json_t *object);

/* Same contract as kube_page_fn: a page of a List (items +
 * metadata.resourceVersion, borrowed); first = 1 starts a pass (a list
 * that starts over must say so); returns non-zero to stop listing. */
typedef int (*informer_page_fn)(void *ud, json_t *page, int first);

typedef struct informer_source {
    /* List every object, handing fn each page in order (a source with the
     * whole list at once calls it once, first = 1). 0 when the list is
     * complete; non-zero otherwise (PB_ECANCELED when fn stopped it). */
    int (*list)(void *ud, informer_page_fn fn, void *fn_ud, pb_err *err);
    /* Watch changes after resource_version, calling fn for each event,
     * until the stream ends (return 0), fn returns non-zero (return 0),
     * *stop becomes non-zero (see wake; return 0), the
     * version is too old (PB_EGONE) or an error. timeout_s asks for the
     * stream to end after that long (the kube adapter rounds up to whole
     * seconds, at least 1). */
    int (*watch)(void *ud, const char *resource_version, double timeout_s,
                 informer_watch_fn fn, void *fn_ud, const atomic_int *stop, pb_err *err);
    /* Frees ud; may be NULL. */
    void (*free)(void *ud);
    void *ud;
    /* Interrupts a watch blocked in this source: informer_stop calls it
     * from its own thread after setting *stop. May be NULL; the watch must
     * then read *stop at least every 200 ms. */
    void (*wake)(void *ud);
} informer_source;

typedef struct informer_handler {
    void (*on_add)(void *ud, json_t *obj);                       /* may be NULL */
    void (*on_update)(void *ud, json_t *old_obj, json_t *new_obj); /* may be NULL */
    void (*on_delete)(void *ud, json_t *obj);                    /* last known state; may be NULL */
    void *ud;
} informer_handler;

typedef struct informer_options {
    const char *name;          /* for logs and metrics, e.g. "tenants.paybill.dev"; copied */
    double resync_s;           /* 0 = no periodic resync */
    double backoff_initial_s;  /* 0 = 0.8 */
    double backoff_max_s;      /* 0 = 30 */
    double watch_timeout_s;    /* per watch request; 0 = 5..10 min, varying per request */
} informer_options;

/* The informer takes ownership of src->ud (src->free is called by
 * informer_free, or right away if informer_new fails). o may be NULL. */
int informer_new(const informer_source *src, const informer_options *o,
                 informer **out, pb_err *err);

/* Register a handler (copied). Allowed before or after start: a handler
 * added to a running informer first gets an add for every cached object. */
int informer_add_handler(informer *inf, const informer_handler *h, pb_err *err);

/* Start the reflector thread. PB_EINVAL if already started. */
int informer_start(informer *inf, pb_err *err);

/* Stop the reflector and wait for its thread (at most ~200 ms plus the
 * running handler). Idempotent. */
void informer_stop(informer *inf);

/* Stops if needed, then frees the informer, its store and the source. */
void informer_free(informer *inf);

/* 1 once the first list has been stored. */
int informer_has_synced(informer *inf);
/* Wait for has_synced: 0, PB_ETIMEOUT, or PB_ECANCELED if stopped first. */
int informer_wait_for_sync(informer *inf, double timeout_s);

/* The cache (borrowed; lives as long as the informer). */
store *informer_store(informer *inf);
const char *informer_name(informer *inf);
/* Copy the last seen resourceVersion ("" before the first list). */
void informer_resource_version(informer *inf, char *buf, size_t n);
/* Lists done so far (1 after the first sync; more after 410s). */
int informer_list_count(informer *inf);

/* An informer_source on the REST client (informer_kube.c): list with
 * kube_list_pages (pages of 500), watch with bookmarks. ns NULL = all
 * namespaces; label_selector may be NULL. gvr strings, ns and selector are
 * copied; c is borrowed and must outlive the informer. */
int informer_source_kube(kube_client *c, const kube_gvr *gvr, const char *ns,
                         const char *label_selector, informer_source *out, pb_err *err);

#endif
