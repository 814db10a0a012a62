/*
 * controller.c - watches feed a workqueue, workers call reconcile and apply
 * its result (see controller.h).
 */
#include "kube/controller.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/kmetrics.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/timeutil.h"

typedef enum { WATCH_FOR, WATCH_OWNS, WATCH_MAP } watch_kind;

/* The ud of one informer handler registration. */
typedef struct watch {
    controller *c;
    watch_kind kind;
    controller_map_fn map;
    void *map_ud;
    controller_update_predicate pred; /* NULL: every update counts */
    controller_add_predicate add_pred; /* NULL: every add counts */
    void *pred_ud;
} watch;

typedef struct worker_arg {
    controller *c;
    int index;
} worker_arg;

struct controller {
    char *name;
    int nworkers;
    controller_reconcile_fn reconcile;
    void *user;
    workqueue *queue;

    char *for_api_version;
    char *for_kind;
    int for_namespaced;

    watch **watches;
    size_t nwatches;

    pthread_t *threads;
    worker_arg *args;
    int started;
    int joined;
    atomic_int stopping;
    atomic_int active;
};

controller_result controller_ok(void)
{
    controller_result r = {CONTROLLER_SUCCESS, 0};
    return r;
}

controller_result controller_requeue(void)
{
    controller_result r = {CONTROLLER_REQUEUE, 0};
    return r;
}

controller_result controller_requeue_after(double seconds)
{
    controller_result r = {CONTROLLER_REQUEUE_AFTER, seconds};
    return r;
}

controller_result controller_error(void)
{
    controller_result r = {CONTROLLER_ERROR, 0};
    return r;
}

int controller_new(const controller_options *o, controller **out, pb_err *err)
{
    if (!o || !o->name || !*o->name || !o->reconcile || !out)
        return pb_err_set(err, PB_EINVAL, "controller_new: name and reconcile are required");
    if (o->workers < 0)
        return pb_err_set(err, PB_EINVAL, "controller %s: negative worker count", o->name);
    controller *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(o->name))) {
        free(c);
        return pb_err_set(err, PB_ENOMEM, "controller: out of memory");
    }
    c->nworkers = o->workers > 0 ? o->workers : 1;
    c->reconcile = o->reconcile;
    c->user = o->user;
    workqueue_options qo = {0};
    if (o->queue)
        qo = *o->queue;
    qo.name = c->name;
    int rc = workqueue_new(&qo, &c->queue, err);
    if (rc) {
        free(c->name);
        free(c);
        return pb_err_wrap(err, "controller %s", o->name);
    }
    atomic_init(&c->stopping, 0);
    atomic_init(&c->active, 0);
    *out = c;
    return 0;
}

/* --- event -> key mapping -------------------------------------------------- */

/* "paybill.dev/v1alpha1" -> "paybill.dev"; "v1" -> "" (core). */
static size_t group_len(const char *api_version)
{
    const char *slash = strchr(api_version, '/');
    return slash ? (size_t)(slash - api_version) : 0;
}

int controller_owner_key(json_t *obj, const char *api_version, const char *kind, int namespaced,
                         char *key, size_t n)
{
    if (!obj || !api_version || !kind || !key || n == 0)
        return 0;
    json_t *md = json_object_get(obj, "metadata");
    json_t *refs = json_object_get(md, "ownerReferences");
    size_t glen = group_len(api_version);
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r) {
        if (!json_is_true(json_object_get(r, "controller")))
            continue;
        const char *av = json_string_value(json_object_get(r, "apiVersion"));
        const char *k = json_string_value(json_object_get(r, "kind"));
        const char *name = json_string_value(json_object_get(r, "name"));
        if (!av || !k || !name || strcmp(k, kind) != 0)
            continue;
        if (group_len(av) != glen || strncmp(av, api_version, glen) != 0)
            continue;
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        int w = namespaced && ns && *ns ? snprintf(key, n, "%s/%s", ns, name) : snprintf(key, n, "%s", name);
        return w > 0 && (size_t)w < n;
    }
    return 0;
}

static void enqueue_for(watch *w, json_t *obj)
{
    controller *c = w->c;
    char key[512];
    switch (w->kind) {
    case WATCH_FOR:
        if (store_key_of(obj, key, sizeof key, NULL) == 0)
            workqueue_add(c->queue, key);
        break;
    case WATCH_OWNS:
        if (controller_owner_key(obj, c->for_api_version, c->for_kind, c->for_namespaced, key, sizeof key))
            workqueue_add(c->queue, key);
        break;
    case WATCH_MAP: {
        json_t *keys = w->map(obj, w->map_ud);
        size_t i;
        json_t *k;
        json_array_foreach(keys, i, k)
            if (json_string_value(k))
                workqueue_add(c->queue, json_string_value(k));
        json_decref(keys);
        break;
    }
    }
}

static void on_add(void *ud, json_t *obj)
{
    watch *w = ud;
    if (w->add_pred && !w->add_pred(obj, w->pred_ud))
        return;
    enqueue_for(w, obj);
}

static void on_update(void *ud, json_t *old_obj, json_t *new_obj)
{
    watch *w = ud;
    if (w->pred && !w->pred(old_obj, new_obj, w->pred_ud))
        return;
    /* An owner or mapped key may have changed: both sides need a look. The
     * primary's key cannot change, so For needs only the new object. */
    if (w->kind != WATCH_FOR && old_obj != new_obj)
        enqueue_for(w, old_obj);
    enqueue_for(w, new_obj);
}

static void on_delete(void *ud, json_t *obj)
{
    enqueue_for(ud, obj);
}

static int add_watch(controller *c, informer *inf, watch_kind kind, controller_map_fn fn, void *ud,
                     controller_add_predicate add_pred, controller_update_predicate pred, void *pred_ud,
                     pb_err *err)
{
    if (!c || !inf)
        return pb_err_set(err, PB_EINVAL, "controller: watch needs a controller and an informer");
    watch *w = calloc(1, sizeof *w);
    watch **grown = w ? realloc(c->watches, (c->nwatches + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(w);
        return pb_err_set(err, PB_ENOMEM, "controller: out of memory");
    }
    c->watches = grown;
    w->c = c;
    w->kind = kind;
    w->map = fn;
    w->map_ud = ud;
    w->pred = pred;
    w->add_pred = add_pred;
    w->pred_ud = pred_ud;
    c->watches[c->nwatches++] = w;
    informer_handler h = {on_add, on_update, on_delete, w};
    int rc = informer_add_handler(inf, &h, err);
    if (rc)
        return pb_err_wrap(err, "controller %s", c->name);
    return 0;
}

int controller_for(controller *c, informer *inf, const char *api_version, const char *kind,
                   int namespaced, pb_err *err)
{
    return controller_for_filtered(c, inf, api_version, kind, namespaced, NULL, NULL, err);
}

int controller_for_filtered(controller *c, informer *inf, const char *api_version, const char *kind,
                            int namespaced, controller_update_predicate pred, void *pred_ud, pb_err *err)
{
    return controller_for_predicates(c, inf, api_version, kind, namespaced, NULL, pred, pred_ud, err);
}

int controller_for_predicates(controller *c, informer *inf, const char *api_version, const char *kind,
                              int namespaced, controller_add_predicate add_pred,
                              controller_update_predicate pred, void *pred_ud, pb_err *err)
{
    if (!c || !api_version || !*api_version || !kind || !*kind)
        return pb_err_set(err, PB_EINVAL, "controller_for: apiVersion and kind are required");
    if (c->for_kind)
        return pb_err_set(err, PB_EINVAL, "controller %s: For() called twice", c->name);
    c->for_api_version = strdup(api_version);
    c->for_kind = strdup(kind);
    c->for_namespaced = namespaced;
    if (!c->for_api_version || !c->for_kind)
        return pb_err_set(err, PB_ENOMEM, "controller: out of memory");
    return add_watch(c, inf, WATCH_FOR, NULL, NULL, add_pred, pred, pred_ud, err);
}

int controller_owns(controller *c, informer *inf, pb_err *err)
{
    if (c && !c->for_kind)
        return pb_err_set(err, PB_EINVAL, "controller %s: Owns() needs For() first", c->name);
    return add_watch(c, inf, WATCH_OWNS, NULL, NULL, NULL, NULL, NULL, err);
}

int controller_watches(controller *c, informer *inf, controller_map_fn fn, void *ud, pb_err *err)
{
    if (!fn)
        return pb_err_set(err, PB_EINVAL, "controller_watches: map function is required");
    return add_watch(c, inf, WATCH_MAP, fn, ud, NULL, NULL, NULL, err);
}

int controller_watches_filtered(controller *c, informer *inf, controller_map_fn fn, void *ud,
                                controller_update_predicate pred, void *pred_ud, pb_err *err)
{
    return controller_watches_predicates(c, inf, fn, ud, NULL, pred, pred_ud, err);
}

int controller_watches_predicates(controller *c, informer *inf, controller_map_fn fn, void *ud,
                                  controller_add_predicate add_pred, controller_update_predicate pred,
                                  void *pred_ud, pb_err *err)
{
    if (!fn)
        return pb_err_set(err, PB_EINVAL, "controller_watches: map function is required");
    return add_watch(c, inf, WATCH_MAP, fn, ud, add_pred, pred, pred_ud, err);
}

int controller_generation_changed(json_t *old_obj, json_t *new_obj, void *ud)
{
    (void)ud;
    json_t *a = json_object_get(json_object_get(old_obj, "metadata"), "generation");
    json_t *b = json_object_get(json_object_get(new_obj, "metadata"), "generation");
    /* Without a generation every change may matter. */
    return !json_is_integer(a) || !json_is_integer(b) || json_integer_value(a) != json_integer_value(b);
}

void controller_enqueue(controller *c, const char *key)
{
    if (c)
        workqueue_add(c->queue, key);
}

/* --- workers --------------------------------------------------------------- */

static const char *result_label(controller_result_kind k)
{
    switch (k) {
    case CONTROLLER_SUCCESS: return "success";
    case CONTROLLER_REQUEUE: return "requeue";
    case CONTROLLER_REQUEUE_AFTER: return "requeue_after";
    default: return "error";
    }
}

static void reconcile_one(controller *c, controller_ctx *ctx, const char *key)
{
    pb_err e;
    pb_err_clear(&e);
    double t0 = pb_time_mono_s();
    controller_result r = c->reconcile(ctx, key, &e);
    double took = pb_time_mono_s() - t0;
    if (r.kind == CONTROLLER_REQUEUE_AFTER && !(r.after_s > 0))
        r.kind = CONTROLLER_REQUEUE; /* "after 0" means "again, rate limited" */
    kmetrics_reconcile(c->name, result_label(r.kind), took);
    switch (r.kind) {
    case CONTROLLER_SUCCESS:
        workqueue_forget(c->queue, key);
        break;
    case CONTROLLER_REQUEUE:
        workqueue_add_rate_limited(c->queue, key);
        break;
    case CONTROLLER_REQUEUE_AFTER:
        workqueue_forget(c->queue, key);
        workqueue_add_after(c->queue, key, r.after_s);
        break;
    default:
        kmetrics_reconcile_error(c->name);
        pb_log_error("Reconciler error", "controller", c->name, "key", key, "error",
                     e.code ? pb_err_msg(&e) : "reconcile failed (no message)", NULL);
        workqueue_add_rate_limited(c->queue, key);
        break;
    }
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    controller *c = wa->c;
    controller_ctx ctx = {c->name, c->user, &c->stopping, wa->index};
    char *key;
    pb_thread_name("w:", c->name);
    while (workqueue_get(c->queue, &key) == 0) {
        kmetrics_controller_workers(c->name, c->nworkers, atomic_fetch_add(&c->active, 1) + 1);
        reconcile_one(c, &ctx, key);
        workqueue_done(c->queue, key);
        kmetrics_controller_workers(c->name, c->nworkers, atomic_fetch_sub(&c->active, 1) - 1);
        free(key);
    }
    return NULL;
}

int controller_start(controller *c, pb_err *err)
{
    if (!c || c->started)
        return pb_err_set(err, PB_EINVAL, "controller_start: missing or already started");
    c->threads = calloc((size_t)c->nworkers, sizeof *c->threads);
    c->args = calloc((size_t)c->nworkers, sizeof *c->args);
    if (!c->threads || !c->args)
        return pb_err_set(err, PB_ENOMEM, "controller: out of memory");
    for (int i = 0; i < c->nworkers; i++) {
        c->args[i].c = c;
        c->args[i].index = i;
        if (pthread_create(&c->threads[i], NULL, worker_main, &c->args[i]) != 0) {
            /* Keep the ones that started; stop() joins exactly those. */
            c->nworkers = i;
            c->started = 1;
            return pb_err_set(err, PB_EIO, "controller %s: cannot create worker %d", c->name, i);
        }
    }
    c->started = 1;
    kmetrics_controller_workers(c->name, c->nworkers, 0);
    pb_log_info("Starting workers", "controller", c->name, NULL);
    return 0;
}

static void join_workers(controller *c)
{
    if (!c->started || c->joined)
        return;
    for (int i = 0; i < c->nworkers; i++)
        pthread_join(c->threads[i], NULL);
    c->joined = 1;
}

int controller_stop(controller *c, double timeout_s)
{
    if (!c)
        return PB_EINVAL;
    atomic_store(&c->stopping, 1);
    int rc = workqueue_shutdown_drain(c->queue, timeout_s);
    if (rc == 0)
        join_workers(c);
    else
        pb_log_warn("controller: reconciles still running at the shutdown deadline", "controller",
                    c->name, NULL);
    return rc;
}

void controller_free(controller *c)
{
    if (!c)
        return;
    atomic_store(&c->stopping, 1);
    workqueue_shutdown(c->queue);
    join_workers(c);
    workqueue_free(c->queue);
    for (size_t i = 0; i < c->nwatches; i++)
        free(c->watches[i]);
    free(c->watches);
    free(c->threads);
    free(c->args);
    free(c->for_api_version);
    free(c->for_kind);
    free(c->name);
    free(c);
}

const char *controller_name(controller *c)
{
    return c ? c->name : "";
}

workqueue *controller_queue(controller *c)
{
    return c ? c->queue : NULL;
}
