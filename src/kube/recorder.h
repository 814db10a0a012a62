/*
 * recorder.h - Kubernetes Event recorder (client-go's record.EventRecorder
 * with its EventCorrelator's aggregation): what `kubectl describe` shows
 * under "Events:".
 *
 *     recorder_event(rec, tenant, RECORDER_WARNING, "ProvisioningFailed",
 *                    "database %s: %s", db, pb_err_msg(&err));
 *
 * Asynchronous: recorder_event() formats the Event and puts it on a bounded
 * queue served by one worker thread, so a reconcile never waits for the API
 * server. When the queue is full the Event is dropped and counted
 * (recorder_dropped(), paybill_events_dropped_total): losing an Event is
 * better than stalling a controller.
 *
 * Aggregation: an Event for the same involved object, type, reason and
 * message as one recorded less than `window` ago (default 10 minutes) is not
 * created again; the existing one is patched with count+1 and a new
 * lastTimestamp. The recorder remembers the last `cache_size` distinct
 * Events (LRU). If the Event was deleted meanwhile, a new one is created.
 *
 * Events are core/v1 (involvedObject, reason, message, type, source.component,
 * firstTimestamp, lastTimestamp, count, reportingComponent,
 * reportingInstance), named "<object name>.<hex nanoseconds>", in the
 * object's namespace ("default" for cluster-scoped objects, as client-go).
 *
 * Where Events go is a recorder_sink (create + patch); recorder_sink_kube()
 * writes them through the REST client.
 */
#ifndef PAYBILL_KUBE_RECORDER_H
#define PAYBILL_KUBE_RECORDER_H

#include <jansson.h>

#include "kube/client.h"
#include "util/err.h"

#define RECORDER_NORMAL "Normal"
#define RECORDER_WARNING "Warning"

typedef struct recorder recorder;

typedef struct recorder_sink {
    /* Create the Event (borrowed) in namespace ns. */
    int (*create)(void *ud, const char *ns, json_t *event, pb_err *err);
    /* Merge-patch Event ns/name; PB_ENOTFOUND when it no longer exists. */
    int (*patch)(void *ud, const char *ns, const char *name, json_t *patch, pb_err *err);
    /* Optional: create n (<= 8) Events at once, as n calls of create
     * would (events borrowed); rc[i] and err[i] say how each went. NULL:
     * create is called for each. */
    void (*create_many)(void *ud, const char *const *ns, json_t *const *events, int *rc, pb_err *err,
                        size_t n);
    void (*free)(void *ud); /* may be NULL */
    void *ud;
} recorder_sink;

typedef struct recorder_options {
    const char *component;   /* source.component / reportingComponent; required */
    const char *instance;    /* reportingInstance (pod name); NULL = component */
    int queue_size;          /* pending Events before dropping; 0 = 1000 */
    int cache_size;          /* distinct Events remembered; 0 = 256 */
    double window_s;         /* aggregation window; 0 = 600 */
    double (*now)(void *ud); /* wall clock, seconds; NULL = the real one */
    void *now_ud;
} recorder_options;

/* Starts the worker thread. Takes ownership of sink->ud (freed by
 * recorder_free, or at once on failure). */
int recorder_new(const recorder_sink *sink, const recorder_options *o, recorder **out, pb_err *err);

/* Queue an Event about obj (borrowed; its apiVersion, kind, metadata.name,
 * namespace, uid and resourceVersion are copied now). type is
 * RECORDER_NORMAL or RECORDER_WARNING. Returns 0 when queued, PB_EINVAL on
 * bad arguments, PB_ETOOLARGE when dropped because the queue is full,
 * PB_ECANCELED after recorder_stop. Messages over 1024 bytes are cut. */
int recorder_event(recorder *r, json_t *obj, const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Wait until every queued Event has been written: 0 or PB_ETIMEOUT. */
int recorder_flush(recorder *r, double timeout_s);

/* Flush for up to timeout_s, then stop the worker (Events still queued are
 * dropped). Idempotent. Returns what recorder_flush returned. */
int recorder_stop(recorder *r, double timeout_s);

/* Stops (without waiting for the queue) and frees. */
void recorder_free(recorder *r);

unsigned long recorder_dropped(recorder *r);

/* A sink on the REST client (recorder_kube.c); c is borrowed and must
 * outlive the recorder. */
int recorder_sink_kube(kube_client *c, recorder_sink *out, pb_err *err);

#endif
