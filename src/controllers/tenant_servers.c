/*
 * tenant_servers.c - one admin connection manager per `server`-layout
 * tenant, built from the tenant's cloud outputs (see tenant_servers.h).
 */
#include "controllers/tenant_servers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/cloud.h"
#include "controllers/operator.h"
#include "controllers/tenantspec.h"
#include "provision/tenantdb.h"
#include "util/json.h"
#include "util/log.h"
#include "util/secret.h"

typedef struct tsrv_entry {
    char tenant[128];
    char key[PB_SHA256_HEX_LEN]; /* sha256 of the conninfo it was made from */
    char endpoint[300];
    struct pb_tdb *tdb;
    struct tsrv_entry *next;
} tsrv_entry;

struct tsrv_registry {
    pthread_mutex_t mu;
    tsrv_entry *live, *retired;
};

int tsrv_new(tsrv_registry **out, pb_err *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return pb_err_oom(err);
    pthread_mutex_init(&(*out)->mu, NULL);
    return 0;
}

static void free_list(tsrv_entry *e)
{
    while (e) {
        tsrv_entry *n = e->next;
        pb_tdb_free(e->tdb);
        free(e);
        e = n;
    }
}

void tsrv_free(tsrv_registry *r)
{
    if (!r)
        return;
    free_list(r->live);
    free_list(r->retired);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* An object of the tenant namespace: the cache, then the API. */
static int get_output(operator_ctx *op, int child, const char *ns, json_t **out, pb_err *err)
{
    char key[300];
    snprintf(key, sizeof key, "%s/%s", ns, CLOUD_OUTPUTS_NAME);
    *out = op->children[child] ? store_get(op->children[child], key) : NULL;
    if (*out)
        return 0;
    int rc = kube_get(op->client, operator_child_gvr(child), ns, CLOUD_OUTPUTS_NAME, NULL, out, err);
    if (rc == PB_ENOTFOUND) {
        pb_err_clear(err);
        *out = NULL;
        return 0;
    }
    return rc;
}

int tsrv_cloud_output(operator_ctx *op, const char *tenant, const char *key, char *out, size_t n, pb_err *err)
{
    char ns[128];
    tenantspec_namespace(tenant, ns, sizeof ns);
    json_t *cm = NULL;
    int rc = get_output(op, OP_CHILD_CONFIGMAPS, ns, &cm, err);
    if (rc != 0)
        return rc;
    const char *v = json_string_value(json_object_get(json_object_get(cm, "data"), key));
    int found = v && *v && (size_t)snprintf(out, n, "%s", v) < n;
    json_decref(cm);
    return found;
}

/* libpq key='value': ' and \ escaped. */
static void kv(char *buf, size_t n, size_t *k, const char *key, const char *v)
{
    *k += (size_t)snprintf(buf + *k, *k < n ? n - *k : 0, " %s='", key);
    for (; *v && *k + 3 < n; v++) {
        if (*v == '\'' || *v == '\\')
            buf[(*k)++] = '\\';
        buf[(*k)++] = *v;
    }
    if (*k + 2 < n) {
        buf[(*k)++] = '\'';
        buf[*k] = 0;
    }
}

static void server_name(const char *tenant, char out[64])
{
    snprintf(out, 64, "tenant-%.56s", tenant);
}

int tsrv_get(operator_ctx *op, const char *tenant, struct pb_tdb **tdb, char name[64], char endpoint[300],
             char *missing, size_t missing_n, pb_err *err)
{
    *tdb = NULL;
    missing[0] = 0;
    char ns[128];
    tenantspec_namespace(tenant, ns, sizeof ns);
    json_t *cm = NULL, *sec = NULL;
    int rc = get_output(op, OP_CHILD_CONFIGMAPS, ns, &cm, err);
    if (rc == 0)
        rc = get_output(op, OP_CHILD_SECRETS, ns, &sec, err);
    if (rc != 0) {
        json_decref(cm);
        json_decref(sec);
        return pb_err_wrap(err, "reading the cloud outputs of tenant %s", tenant);
    }
    const json_t *d = json_object_get(cm, "data");
    const char *host = json_string_value(json_object_get(d, "db_host"));
    const char *port = json_string_value(json_object_get(d, "db_port"));
    const char *user = json_string_value(json_object_get(d, "db_admin_user"));
    const char *sslmode = json_string_value(json_object_get(d, "db_sslmode"));
    const char *b64 = json_string_value(json_object_get(json_object_get(sec, "data"), "db_admin_password"));
    char *pw = NULL;
    if (b64) {
        unsigned char *raw = NULL;
        size_t n = 0;
        pb_err e;
        if (pb_secret_b64_decode(b64, strlen(b64), &raw, &n, &e) == 0)
            pw = strndup((const char *)raw, n);
        if (raw)
            pb_secret_wipe(raw, n);
        free(raw);
    }
    char *endp = NULL;
    long p = port ? strtol(port, &endp, 10) : 0;
    int port_ok = port && endp && !*endp && p > 0 && p < 65536;
    snprintf(missing, missing_n, "%s%s%s%s", host && *host ? "" : " db_host", port_ok ? "" : " db_port",
             user && *user ? "" : " db_admin_user", pw && *pw ? "" : " db_admin_password");
    if (missing[0]) {
        memmove(missing, missing + 1, strlen(missing));
        json_decref(cm);
        json_decref(sec);
        if (pw) {
            pb_secret_wipe(pw, strlen(pw));
            free(pw);
        }
        return 0;
    }
    char ci[2048];
    size_t k = (size_t)snprintf(ci, sizeof ci, "dbname='postgres' port=%ld", p);
    kv(ci, sizeof ci, &k, "host", host);
    kv(ci, sizeof ci, &k, "user", user);
    kv(ci, sizeof ci, &k, "password", pw);
    kv(ci, sizeof ci, &k, "sslmode", sslmode && *sslmode ? sslmode : "prefer");
    char key[PB_SHA256_HEX_LEN];
    pb_err e;
    pb_secret_sha256_hex(ci, strlen(ci), key, &e);
    server_name(tenant, name);
    snprintf(endpoint, 300, "%s:%ld", host, p);

    tsrv_registry *r = op->tenant_servers;
    pthread_mutex_lock(&r->mu);
    tsrv_entry **pp = &r->live, *cur = NULL;
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->tenant, tenant) == 0) {
            cur = *pp;
            break;
        }
    if (cur && strcmp(cur->key, key) != 0) {
        /* The outputs changed (a new password, another address). */
        *pp = cur->next;
        cur->next = r->retired;
        r->retired = cur;
        cur = NULL;
        pb_log_info("tenant server outputs changed: reconnecting", "tenant", tenant, NULL);
    }
    if (!cur) {
        struct pb_tdb *t = NULL;
        pb_tdb_config tc = {.admin_conninfo = ci,
                            .server_name = name,
                            .role = PB_TDB_DEDICATED,
                            .tenant_host = host,
                            .tenant_port = (int)p,
                            .sslmode = sslmode && *sslmode ? sslmode : "prefer",
                            .snapshot_dir = op->snapshot_dir,
                            .connect_timeout_s = 5,
                            .max_idle_conns = 1,
                            .cutoff = operator_db_cutoff,
                            .cutoff_ud = op};
        rc = pb_tdb_new(&tc, &t, err);
        if (rc == 0 && (cur = calloc(1, sizeof *cur)) == NULL) {
            pb_tdb_free(t);
            rc = pb_err_oom(err);
        }
        if (rc == 0) {
            snprintf(cur->tenant, sizeof cur->tenant, "%s", tenant);
            snprintf(cur->key, sizeof cur->key, "%s", key);
            snprintf(cur->endpoint, sizeof cur->endpoint, "%s", endpoint);
            cur->tdb = t;
            cur->next = r->live;
            r->live = cur;
            pb_log_info("tenant server connected", "tenant", tenant, "server", endpoint, NULL);
        }
    }
    if (cur)
        *tdb = cur->tdb;
    pthread_mutex_unlock(&r->mu);
    pb_secret_wipe(ci, strlen(ci));
    pb_secret_wipe(pw, strlen(pw));
    free(pw);
    json_decref(cm);
    json_decref(sec);
    if (rc != 0)
        return pb_err_wrap(err, "tenant %s's server %s", tenant, endpoint);
    return 1;
}

void tsrv_forget(operator_ctx *op, const char *tenant)
{
    tsrv_registry *r = op->tenant_servers;
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    for (tsrv_entry **pp = &r->live; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->tenant, tenant) == 0) {
            tsrv_entry *e = *pp;
            *pp = e->next;
            e->next = r->retired;
            r->retired = e;
            break;
        }
    pthread_mutex_unlock(&r->mu);
}
