/*
 * informer_kube.c - informer_source backed by the REST client: what a real
 * informer lists and watches through. Kept apart from informer.c so the
 * informer's unit tests link without the HTTP client.
 */
#include "kube/informer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct kube_source {
    kube_client *client;
    char *group, *version, *resource;
    char *ns;       /* NULL = all namespaces */
    char *selector; /* NULL = everything */
    int wake_fd;    /* eventfd, readable once the informer stops; 0 = none */
} kube_source;

static void kube_source_free(void *ud)
{
    kube_source *ks = ud;
    if (!ks)
        return;
    free(ks->group);
    free(ks->version);
    free(ks->resource);
    free(ks->ns);
    free(ks->selector);
    kube_wake_fd_free(ks->wake_fd);
    free(ks);
}

static void kube_source_wake(void *ud)
{
    kube_source *ks = ud;
    kube_wake_fd_set(ks->wake_fd);
}

static kube_gvr gvr_of(const kube_source *ks)
{
    kube_gvr g = {ks->group, ks->version, ks->resource};
    return g;
}

static int kube_source_list(void *ud, informer_page_fn fn, void *fn_ud, pb_err *err)
{
    kube_source *ks = ud;
    kube_gvr g = gvr_of(ks);
    kube_request_opts o = {0};
    o.label_selector = ks->selector;
    o.limit = 500;
    o.wake_fd = ks->wake_fd; /* a stopping informer makes no more tries */
    return kube_list_pages(ks->client, &g, ks->ns, &o, fn, fn_ud, err);
}

static int kube_source_watch(void *ud, const char *rv, double timeout_s, informer_watch_fn fn,
                             void *fn_ud, const atomic_int *stop, pb_err *err)
{
    kube_source *ks = ud;
    kube_gvr g = gvr_of(ks);
    kube_request_opts o = {0};
    o.label_selector = ks->selector;
    o.resource_version = rv && *rv ? rv : NULL;
    o.allow_watch_bookmarks = 1;
    o.drop_managed_fields = 1; /* the store strips them anyway (store.h) */
    o.wake_fd = ks->wake_fd;
    o.timeout_seconds = timeout_s < 1 ? 1 : (long)ceil(timeout_s);
    return kube_watch(ks->client, &g, ks->ns, &o, fn, fn_ud, stop, err);
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

int informer_source_kube(kube_client *c, const kube_gvr *gvr, const char *ns,
                         const char *label_selector, informer_source *out, pb_err *err)
{
    if (!c || !gvr || !gvr->version || !gvr->resource || !out)
        return pb_err_set(err, PB_EINVAL, "informer_source_kube: client and GVR are required");
    kube_source *ks = calloc(1, sizeof *ks);
    if (!ks)
        return pb_err_set(err, PB_ENOMEM, "informer: out of memory");
    ks->client = c;
    ks->group = strdup(gvr->group ? gvr->group : "");
    ks->version = strdup(gvr->version);
    ks->resource = strdup(gvr->resource);
    ks->ns = dup_or_null(ns);
    ks->selector = dup_or_null(label_selector);
    if (!ks->group || !ks->version || !ks->resource || (ns && *ns && !ks->ns) ||
        (label_selector && *label_selector && !ks->selector)) {
        kube_source_free(ks);
        return pb_err_set(err, PB_ENOMEM, "informer: out of memory");
    }
    /* Set once the informer stops; with none, watches poll the stop flag. */
    ks->wake_fd = kube_wake_fd_new();
    *out = (informer_source){.list = kube_source_list, .watch = kube_source_watch, .free = kube_source_free,
                             .ud = ks, .wake = kube_source_wake};
    return 0;
}
