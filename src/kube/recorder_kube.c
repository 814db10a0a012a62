/*
 * recorder_kube.c - recorder_sink on the REST client: core/v1 Events are
 * created with POST and aggregated with a JSON merge patch. Kept apart from
 * recorder.c so the recorder's unit tests link without the HTTP client.
 */
#include "kube/recorder.h"

#include <stdlib.h>

static const kube_gvr EVENTS = {"", "v1", "events"};

static int sink_create(void *ud, const char *ns, json_t *event, pb_err *err)
{
    return kube_create(ud, &EVENTS, ns, event, NULL, NULL, err);
}

static int sink_patch(void *ud, const char *ns, const char *name, json_t *patch, pb_err *err)
{
    return kube_patch(ud, &EVENTS, ns, name, KUBE_PATCH_MERGE, patch, NULL, NULL, err);
}

static void sink_create_many(void *ud, const char *const *ns, json_t *const *events, int *rc, pb_err *err,
                             size_t n)
{
    kube_write *w = calloc(n ? n : 1, sizeof *w);
    if (!w) {
        for (size_t i = 0; i < n; i++)
            rc[i] = pb_err_oom(&err[i]);
        return;
    }
    for (size_t i = 0; i < n; i++)
        w[i] = (kube_write){.kind = KUBE_WRITE_CREATE, .gvr = &EVENTS, .ns = ns[i], .body = events[i]};
    kube_write_many(ud, w, n);
    for (size_t i = 0; i < n; i++) {
        rc[i] = w[i].rc;
        err[i] = w[i].err;
    }
    free(w);
}

int recorder_sink_kube(kube_client *c, recorder_sink *out, pb_err *err)
{
    if (!c || !out)
        return pb_err_set(err, PB_EINVAL, "recorder_sink_kube: client is required");
    out->create = sink_create;
    out->patch = sink_patch;
    out->create_many = sink_create_many;
    out->free = NULL;
    out->ud = c;
    return 0;
}
