/*
 * leader_kube.c - leader_lease_api on the REST client: reads and writes the
 * coordination.k8s.io/v1 Lease. Kept apart from leader.c so the election
 * logic's unit tests link without the HTTP client.
 */
#include "kube/leader.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

static const kube_gvr LEASES = {"coordination.k8s.io", "v1", "leases"};

typedef struct lease_ref {
    kube_client *client;
    char *ns;
    char *name;
} lease_ref;

static void lease_ref_free(void *ud)
{
    lease_ref *l = ud;
    if (!l)
        return;
    free(l->ns);
    free(l->name);
    free(l);
}

static double parse_time(json_t *v)
{
    struct timespec ts;
    const char *s = json_string_value(v);
    if (!s || pb_time_parse_rfc3339(s, &ts, NULL) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *format_time(double t)
{
    if (t <= 0)
        return json_null();
    struct timespec ts;
    ts.tv_sec = (time_t)floor(t);
    ts.tv_nsec = (long)((t - floor(t)) * 1e9);
    char buf[PB_TIME_BUF];
    return json_string(pb_time_format_rfc3339_micro(ts, buf, sizeof buf));
}

static void record_from(json_t *lease, leader_record *out)
{
    memset(out, 0, sizeof *out);
    json_t *spec = json_object_get(lease, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    const char *rv = json_string_value(json_object_get(json_object_get(lease, "metadata"), "resourceVersion"));
    snprintf(out->holder, sizeof out->holder, "%s", holder ? holder : "");
    snprintf(out->resource_version, sizeof out->resource_version, "%s", rv ? rv : "");
    out->lease_duration_s = (int)json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    out->transitions = (int)json_integer_value(json_object_get(spec, "leaseTransitions"));
    out->acquire_time = parse_time(json_object_get(spec, "acquireTime"));
    out->renew_time = parse_time(json_object_get(spec, "renewTime"));
}

static json_t *lease_from(const lease_ref *l, const leader_record *r)
{
    json_t *md = json_pack("{s:s, s:s}", "name", l->name, "namespace", l->ns);
    if (r->resource_version[0])
        json_object_set_new(md, "resourceVersion", json_string(r->resource_version));
    json_t *spec = json_pack("{s:s, s:i, s:i}", "holderIdentity", r->holder,
                             "leaseDurationSeconds", r->lease_duration_s, "leaseTransitions", r->transitions);
    json_object_set_new(spec, "acquireTime", format_time(r->acquire_time));
    json_object_set_new(spec, "renewTime", format_time(r->renew_time));
    return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "coordination.k8s.io/v1", "kind", "Lease",
                     "metadata", md, "spec", spec);
}

/* Request options bounding the whole request (retries too) by timeout_s. */
static kube_request_opts within(double timeout_s)
{
    long ms = (long)ceil(timeout_s * 1000.0);
    return (kube_request_opts){.timeout_ms = ms > 0 ? ms : 1};
}

static int lease_get(void *ud, double timeout_s, leader_record *out, pb_err *err)
{
    lease_ref *l = ud;
    json_t *obj = NULL;
    kube_request_opts o = within(timeout_s);
    int rc = kube_get(l->client, &LEASES, l->ns, l->name, &o, &obj, err);
    if (rc == 0)
        record_from(obj, out);
    json_decref(obj);
    return rc;
}

static int lease_write(lease_ref *l, double timeout_s, leader_record *rec, int create, pb_err *err)
{
    json_t *body = lease_from(l, rec);
    if (!body)
        return pb_err_set(err, PB_ENOMEM, "lease: out of memory");
    json_t *out = NULL;
    kube_request_opts o = within(timeout_s);
    int rc = create ? kube_create(l->client, &LEASES, l->ns, body, &o, &out, err)
                    : kube_update(l->client, &LEASES, l->ns, body, &o, &out, err);
    if (rc == 0) {
        const char *rv = json_string_value(json_object_get(json_object_get(out, "metadata"), "resourceVersion"));
        snprintf(rec->resource_version, sizeof rec->resource_version, "%s", rv ? rv : "");
    }
    json_decref(out);
    json_decref(body);
    return rc;
}

static int lease_create(void *ud, double timeout_s, leader_record *rec, pb_err *err)
{
    return lease_write(ud, timeout_s, rec, 1, err);
}

static int lease_update(void *ud, double timeout_s, leader_record *rec, pb_err *err)
{
    return lease_write(ud, timeout_s, rec, 0, err);
}

int leader_lease_api_kube(kube_client *c, const char *ns, const char *name, leader_lease_api *out, pb_err *err)
{
    if (!c || !ns || !*ns || !name || !*name || !out)
        return pb_err_set(err, PB_EINVAL, "leader election: client, namespace and lease name are required");
    lease_ref *l = calloc(1, sizeof *l);
    if (!l || !(l->ns = strdup(ns)) || !(l->name = strdup(name))) {
        lease_ref_free(l);
        return pb_err_set(err, PB_ENOMEM, "lease: out of memory");
    }
    l->client = c;
    out->get = lease_get;
    out->create = lease_create;
    out->update = lease_update;
    out->free = lease_ref_free;
    out->ud = l;
    return 0;
}
