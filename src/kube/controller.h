/*
 * controller.h - a named reconcile loop: watches -> workqueue -> N workers
 * calling reconcile(ctx, key) (controller-runtime's Controller and its
 * builder's For / Owns / Watches).
 *
 * Watches turn informer events into keys ("namespace/name" of the primary
 * object, or "name" for a cluster-scoped primary):
 *   controller_for()     the primary resource: its own key;
 *   controller_owns()    a child resource: the key of the child's
 *                        controller owner (the ownerReferences entry with
 *                        controller: true whose kind and API group match
 *                        the primary; the version may differ);
 *   controller_watches() anything else, through a map function returning
 *                        the keys to reconcile.
 * Adds, updates and deletes all enqueue (level-based: reconcile reads the
 * current state from the cache, it never sees the event).
 *
 * reconcile returns a controller_result:
 *   SUCCESS          forget the key's backoff;
 *   REQUEUE          queue again through the rate limiter;
 *   REQUEUE_AFTER    forget the backoff, queue again after `after_s`;
 *   ERROR            queue again through the rate limiter (exponential
 *                    backoff per key), log the pb_err and count it in
 *                    controller_runtime_reconcile_errors_total.
 * A key is never reconciled by two workers at once.
 *
 * Metrics: controller_runtime_reconcile_total{controller,result},
 * controller_runtime_reconcile_errors_total{controller},
 * controller_runtime_reconcile_time_seconds{controller}, and the queue's
 * workqueue_*{name=<controller name>}.
 *
 * Lifetime: informers keep a pointer to the controller for their handlers,
 * so stop (or free) the informers before controller_free().
 */
#ifndef PAYBILL_KUBE_CONTROLLER_H
#define PAYBILL_KUBE_CONTROLLER_H

#include <jansson.h>
#include <stdatomic.h>

#include "kube/informer.h"
#include "kube/workqueue.h"
#include "util/err.h"

typedef struct controller controller;

typedef enum {
    CONTROLLER_SUCCESS = 0,
    CONTROLLER_REQUEUE,
    CONTROLLER_REQUEUE_AFTER,
    CONTROLLER_ERROR
} controller_result_kind;

typedef struct controller_result {
    controller_result_kind kind;
    double after_s; /* for CONTROLLER_REQUEUE_AFTER */
} controller_result;

controller_result controller_ok(void);
controller_result controller_requeue(void);
controller_result controller_requeue_after(double seconds);
controller_result controller_error(void);

/* What a reconcile call gets besides its key. */
typedef struct controller_ctx {
    const char *controller;     /* the controller's name */
    void *user;                 /* controller_options.user */
    const atomic_int *stopping; /* non-zero once shutdown began: wrap up early */
    int worker;                 /* 0 .. workers-1, for logs */
} controller_ctx;

/* Reconcile the object named by key. On CONTROLLER_ERROR, fill err. */
typedef controller_result (*controller_reconcile_fn)(controller_ctx *ctx, const char *key, pb_err *err);

/* Map an event's object (borrowed) to the keys to reconcile: a new JSON
 * array of strings, or NULL for none. */
typedef json_t *(*controller_map_fn)(json_t *obj, void *ud);

typedef struct controller_options {
    const char *name;                  /* required; copied */
    int workers;                       /* MaxConcurrentReconciles; 0 = 1 */
    controller_reconcile_fn reconcile; /* required */
    void *user;                        /* passed in ctx->user; not owned */
    const workqueue_options *queue;    /* NULL = defaults; its name is replaced by the controller's */
} controller_options;

int controller_new(const controller_options *o, controller **out, pb_err *err);

/* The primary resource. api_version ("paybill.dev/v1alpha1") and kind
 * ("Tenant") identify it for controller_owns(); namespaced says how owner
 * keys are formed. Call once, before controller_owns(). */
int controller_for(controller *c, informer *inf, const char *api_version, const char *kind,
                   int namespaced, pb_err *err);
int controller_owns(controller *c, informer *inf, pb_err *err);
/* ud is passed to fn and not owned. */
int controller_watches(controller *c, informer *inf, controller_map_fn fn, void *ud, pb_err *err);

/* Predicates (controller-runtime's): decide whether an update event is
 * worth mapping at all, from the old and new objects (borrowed). Adds
 * (unless controller_watches_predicates says otherwise) and deletes always
 * pass. Return non-zero to enqueue. */
typedef int (*controller_update_predicate)(json_t *old_obj, json_t *new_obj, void *ud);

/* controller_watches with a predicate on updates (pred_ud not owned). */
int controller_watches_filtered(controller *c, informer *inf, controller_map_fn fn, void *ud,
                                controller_update_predicate pred, void *pred_ud, pb_err *err);

/* A predicate on adds (controller-runtime's CreateFunc), obj borrowed:
 * non-zero to enqueue. */
typedef int (*controller_add_predicate)(json_t *obj, void *ud);

/* controller_watches_filtered whose adds also pass add_pred first (called
 * with pred_ud, as pred is). Deletes always pass. */
int controller_watches_predicates(controller *c, informer *inf, controller_map_fn fn, void *ud,
                                  controller_add_predicate add_pred, controller_update_predicate pred,
                                  void *pred_ud, pb_err *err);

/* controller_for whose updates pass pred first (For(obj, WithPredicates)). */
int controller_for_filtered(controller *c, informer *inf, const char *api_version, const char *kind,
                            int namespaced, controller_update_predicate pred, void *pred_ud, pb_err *err);

/* controller_for_filtered whose adds also pass add_pred first (called with
 * pred_ud). Deletes always pass. */
int controller_for_predicates(controller *c, informer *inf, const char *api_version, const char *kind,
                              int namespaced, controller_add_predicate add_pred,
                              controller_update_predicate pred, void *pred_ud, pb_err *err);

/* GenerationChangedPredicate: only spec changes (metadata.generation)
 * pass; status and metadata-only writes do not. */
int controller_generation_changed(json_t *old_obj, json_t *new_obj, void *ud);

/* Enqueue a key by hand (e.g. from a timer or another controller). */
void controller_enqueue(controller *c, const char *key);

/* Start the workers. PB_EINVAL if already started. */
int controller_start(controller *c, pb_err *err);

/* Stop taking work and wait up to timeout_s for in-flight reconciles; the
 * workers are joined when they finished in time. 0, or PB_ETIMEOUT when a
 * reconcile was still running (its worker is then joined by
 * controller_free). Idempotent. */
int controller_stop(controller *c, double timeout_s);

/* Stops (waiting as long as it takes) and frees. */
void controller_free(controller *c);

const char *controller_name(controller *c);
workqueue *controller_queue(controller *c); /* borrowed */

/* The key of obj's controller owner if it is of the given group/kind:
 * 1 and key written, 0 if none. Exposed for tests and custom watches. */
int controller_owner_key(json_t *obj, const char *api_version, const char *kind, int namespaced,
                         char *key, size_t n);

#endif
