/*
 * discovery.c - apiVersion + kind -> resource, from the API server's
 * APIResourceList documents (/api/v1, /apis/<group>/<version>).
 *
 * One document per group/version is cached. A kind missing from a cached
 * document triggers one re-fetch (a CRD may have been installed since), and
 * only then is the kind reported unknown. Names handed to callers are
 * interned in a table that only grows (by the number of distinct names the
 * server has ever shown), so they stay valid across refreshes for the life
 * of the cache.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/client.h"

struct kube_discovery {
    pthread_mutex_t mu;
    json_t *lists;    /* apiVersion -> APIResourceList.resources */
    json_t *interned; /* name -> JSON string holding the same name */
};

kube_discovery *kube_discovery_new(void)
{
    kube_discovery *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    pthread_mutex_init(&d->mu, NULL);
    d->lists = json_object();
    d->interned = json_object();
    if (!d->lists || !d->interned) {
        kube_discovery_free(d);
        return NULL;
    }
    return d;
}

void kube_discovery_free(kube_discovery *d)
{
    if (!d)
        return;
    json_decref(d->lists);
    json_decref(d->interned);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static const char *intern(kube_discovery *d, const char *s)
{
    json_t *v = json_object_get(d->interned, s);
    if (!v) {
        v = json_string(s);
        if (!v || json_object_set_new(d->interned, s, v) != 0)
            return NULL;
    }
    return json_string_value(v);
}

/* Fetch and cache the resource list of one group/version. Lock held. */
static int fetch(kube_discovery *d, kube_client *c, const char *api_version, const char *group,
                 const char *version, pb_err *err)
{
    char path[512];
    if (*group)
        snprintf(path, sizeof path, "/apis/%s/%s", group, version);
    else
        snprintf(path, sizeof path, "/api/%s", version);
    json_t *doc = NULL;
    int rc = kube_raw(c, "GET", path, NULL, NULL, &doc, NULL, err);
    if (rc == PB_ENOTFOUND)
        return pb_err_set(err, rc, "discovery: apiVersion %s is not served by the API server", api_version);
    if (rc)
        return pb_err_wrap(err, "discovery");
    json_t *res = json_object_get(doc, "resources");
    if (!json_is_array(res)) {
        json_decref(doc);
        return pb_err_set(err, PB_EPARSE, "discovery %s: response is not an APIResourceList", path);
    }
    json_object_set(d->lists, api_version, res);
    json_decref(doc);
    return 0;
}

/* Find kind in a cached list: 1 when found. Lock held. */
static int find(kube_discovery *d, const char *api_version, const char *group, const char *version,
                const char *kind, kube_gvr *out, int *namespaced)
{
    json_t *list = json_object_get(d->lists, api_version);
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) {
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *k = json_string_value(json_object_get(r, "kind"));
        /* "tenants/status" describes a subresource of the same kind. */
        if (!name || !k || strchr(name, '/') || strcmp(k, kind) != 0)
            continue;
        out->group = intern(d, group);
        out->version = intern(d, version);
        out->resource = intern(d, name);
        if (!out->group || !out->version || !out->resource)
            return 0;
        if (namespaced)
            *namespaced = json_is_true(json_object_get(r, "namespaced"));
        return 1;
    }
    return 0;
}

int kube_discovery_lookup(kube_discovery *d, kube_client *c, const char *api_version, const char *kind,
                          kube_gvr *out, int *namespaced, pb_err *err)
{
    if (!api_version || !*api_version || !kind || !*kind)
        return pb_err_set(err, PB_EINVAL, "discovery: apiVersion and kind are required");
    char group[256], version[128];
    const char *slash = strchr(api_version, '/');
    if (slash) {
        snprintf(group, sizeof group, "%.*s", (int)(slash - api_version), api_version);
        snprintf(version, sizeof version, "%s", slash + 1);
    } else {
        group[0] = '\0';
        snprintf(version, sizeof version, "%s", api_version);
    }
    if (!version[0] || strchr(version, '/') || (slash && !group[0]))
        return pb_err_set(err, PB_EINVAL, "discovery: malformed apiVersion \"%s\"", api_version);

    /* The lock is held across the fetch: concurrent lookups of a cold cache
     * then cost one request, not one each. */
    pthread_mutex_lock(&d->mu);
    int rc = 0;
    int cached = json_object_get(d->lists, api_version) != NULL;
    if (!cached)
        rc = fetch(d, c, api_version, group, version, err);
    if (rc == 0 && !find(d, api_version, group, version, kind, out, namespaced)) {
        if (cached)
            rc = fetch(d, c, api_version, group, version, err);
        if (rc == 0 && (!cached || !find(d, api_version, group, version, kind, out, namespaced)))
            rc = pb_err_set(err, PB_ENOTFOUND, "discovery: no kind \"%s\" in %s", kind, api_version);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}
