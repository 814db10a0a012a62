/*
 * tenant_database.c - PostgreSQL for a Tenant (see tenant_database.h).
 *
 * Rotation revokes the previous login after the server's
 * rotationGracePeriod (opconfig.h): the tenant is requeued for the moment
 * it is due, and status.database says when it will be / was revoked.
 */
#include "controllers/tenant_database.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controllers/cloud.h"
#include "controllers/conditions.h"
#include "controllers/opconfig.h"
#include "controllers/opmetrics.h"
#include "controllers/tenant_servers.h"
#include "controllers/tenantspec.h"
#include "provision/tenantdb.h"
#include "util/json.h"
#include "util/log.h"
#include "util/secret.h"
#include "util/timeutil.h"

/* Tenant names allow '-', PostgreSQL identifiers of ours use '_'. */
static void db_id(const char *tenant, char *id, size_t n)
{
    snprintf(id, n, "%s", tenant);
    for (char *p = id; *p; p++)
        if (*p == '-')
            *p = '_';
}

static const char *tenant_name(const json_t *tenant)
{
    return json_string_value(json_object_get(json_object_get(tenant, "metadata"), "name"));
}

/* The model tenants are provisioned from: DataModel `name` as last
 * applied by the DataModel controller (status.appliedModel), never an
 * unapplied spec. *out NULL and the condition set when there is none. */
static void load_model(operator_ctx *op, const char *name, json_t *status, long long gen,
                       const char *now, pb_dm_model **out)
{
    *out = NULL;
    char msg[1100];
    json_t *dm = op->datamodels ? store_get(op->datamodels, name) : NULL;
    if (!dm) {
        snprintf(msg, sizeof msg, "DataModel \"%s\" does not exist", name);
        cond_set(status, "DatabaseReady", "False", "DataModelNotFound", msg, gen, now);
        return;
    }
    json_t *applied = json_object_get(json_object_get(dm, "status"), "appliedModel");
    if (!json_is_object(applied)) {
        const char *why = json_string_value(json_object_get(
            cond_find(json_object_get(dm, "status"), "Ready"), "message"));
        snprintf(msg, sizeof msg, "DataModel \"%s\" has not been applied yet%s%s", name, why ? ": " : "",
                 why ? why : "");
        cond_set(status, "DatabaseReady", "False", "DataModelNotApplied", msg, gen, now);
        json_decref(dm);
        return;
    }
    pb_err e;
    pb_err_clear(&e);
    if (pb_dm_parse_json(name, applied, out, &e) != 0) {
        snprintf(msg, sizeof msg, "DataModel \"%s\" is invalid: %s", name, e.msg);
        cond_set(status, "DatabaseReady", "False", "DataModelInvalid", msg, gen, now);
    }
    json_decref(dm);
}

json_t *tenant_database_secret_data(const pb_tdb_creds *c)
{
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    const char *kv[][2] = {{"host", c->host},       {"port", port},           {"dbname", c->dbname},
                           {"user", c->user},       {"password", c->password}, {"sslmode", c->sslmode},
                           {"schema", c->schema},   {"uri", c->uri}};
    json_t *data = json_object();
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        char *b64 = NULL;
        const char *v = kv[i][1] ? kv[i][1] : "";
        if (pb_secret_b64_encode(v, strlen(v), &b64, NULL) == 0)
            json_object_set_new(data, kv[i][0], json_string(b64));
        free(b64);
    }
    return data;
}

/* The tenant's credentials Secret from the cache (new reference) or NULL. */
static json_t *cached_secret(operator_ctx *op, const char *ns)
{
    char key[256];
    snprintf(key, sizeof key, "%s/%s", ns, TENANT_DB_SECRET);
    return op->children[OP_CHILD_SECRETS] ? store_get(op->children[OP_CHILD_SECRETS], key) : NULL;
}

char *tenant_database_secret_password(const json_t *secret)
{
    const char *b64 = json_string_value(json_object_get(json_object_get(secret, "data"), "password"));
    char *pw = NULL;
    unsigned char *raw = NULL;
    size_t n = 0;
    if (b64 && pb_secret_b64_decode(b64, strlen(b64), &raw, &n, NULL) == 0) {
        pw = strndup((const char *)raw, n);
        pb_secret_wipe(raw, n);
    }
    free(raw);
    return pw;
}

/* The password currently in the Secret, or NULL. Caller frees. */
static char *current_password(operator_ctx *op, const char *ns)
{
    json_t *sec = cached_secret(op, ns);
    char *pw = tenant_database_secret_password(sec);
    json_decref(sec);
    return pw;
}

/* The rotation token the credentials Secret was written for ("" if none).
 * It travels in the same write as the new credentials, so a reconcile that
 * sees the new Secret never rotates twice for one request, even while its
 * copy of the Tenant's status is behind. */
static char *secret_rotation(operator_ctx *op, const char *ns)
{
    json_t *sec = cached_secret(op, ns);
    const char *v = json_string_value(json_object_get(
        json_object_get(json_object_get(sec, "metadata"), "annotations"), TENANT_DB_ROTATE_ANNOTATION));
    char *out = strdup(v ? v : "");
    json_decref(sec);
    return out;
}

static int write_secret(operator_ctx *op, const json_t *tenant, const char *ns,
                        const pb_tdb_creds *c, const char *rotation, pb_err *err)
{
    json_t *data = tenant_database_secret_data(c);
    json_t *live = cached_secret(op, ns);
    const char *live_rot = json_string_value(json_object_get(
        json_object_get(json_object_get(live, "metadata"), "annotations"), TENANT_DB_ROTATE_ANNOTATION));
    int same = live && json_equal(json_object_get(live, "data"), data) &&
               strcmp(live_rot ? live_rot : "", rotation ? rotation : "") == 0;
    json_decref(live);
    if (same) {
        json_decref(data);
        return 0;
    }
    json_t *sec = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:o}", "apiVersion", "v1",
                            "kind", "Secret", "type", "Opaque", "metadata", "name", TENANT_DB_SECRET,
                            "namespace", ns, "labels", TENANTSPEC_LABEL_TENANT, tenant_name(tenant),
                            TENANTSPEC_LABEL_MANAGED, TENANTSPEC_MANAGER, "data", data);
    if (rotation && *rotation)
        json_object_set_new(json_object_get(sec, "metadata"), "annotations",
                            json_pack("{s:s}", TENANT_DB_ROTATE_ANNOTATION, rotation));
    int rc = operator_apply(op, operator_child_gvr(OP_CHILD_SECRETS), ns, sec, OPERATOR_FIELD_MANAGER, err);
    json_decref(sec);
    return rc;
}

/* Connect every configured server (caller holds db_mu): where a tenant
 * lives can only be known by asking all of them. */
static int connect_all(operator_ctx *op, pb_err *err)
{
    for (int w = 0; w < OP_DB_COUNT; w++) {
        int rc = op->dbs[w].server ? operator_db_connect(op, w, err) : 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int server_index(const operator_ctx *op, const char *name)
{
    for (int w = 0; w < OP_DB_COUNT; w++)
        if (op->dbs[w].server && strcmp(op->dbs[w].server->name, name) == 0)
            return w;
    return -1;
}

/* Reconcile the tenant again in `seconds` (when the previous login's
 * grace period ends: nothing else would bring it back then). */
static void requeue_at(operator_ctx *op, const char *name, double seconds)
{
    if (op->tenant_ctrl && seconds >= 0)
        workqueue_add_after(controller_queue(op->tenant_ctrl), name, seconds + 0.5);
}

/* Where tenant `id` lives: *where is OP_DB_SHARED or OP_DB_DEDICATED with
 * *info from that server, or -1 for a new tenant. An unfinished move
 * between servers (a crash mid-move) is finished first, towards where it
 * was going; `layout` is the layout wanted on a shared destination. */
static int locate(operator_ctx *op, const char *id, pb_dm_layout layout, const pb_dm_model *m,
                  int *where, pb_tdb_info *info, pb_err *err)
{
    for (int pass = 0; pass < 3; pass++) {
        int settled = 1;
        *where = -1;
        for (int w = 0; w < OP_DB_COUNT && settled; w++) {
            if (!op->dbs[w].tdb)
                continue;
            pb_tdb_info i;
            pb_err e;
            pb_err_clear(&e);
            int rc = pb_tdb_info_get(op->dbs[w].tdb, id, &i, &e);
            if (rc == PB_ENOTFOUND)
                continue;
            if (rc != 0) {
                *err = e;
                return rc;
            }
            const char *other = i.move_server[0] ? i.move_server : i.arriving_from[0] ? i.arriving_from
                                : i.moving && i.moved_to[0]                    ? i.moved_to
                                                                               : NULL;
            if (other) {
                int o = server_index(op, other);
                if (o < 0)
                    return pb_err_set(err, PB_EINVAL,
                                      "an unfinished move of %s involves server \"%s\", which is not configured",
                                      id, other);
                int from = i.arriving_from[0] ? o : w, to = i.arriving_from[0] ? w : o;
                pb_dm_layout dest = to == OP_DB_DEDICATED ? PB_DM_LAYOUT_DATABASE : layout;
                if ((rc = pb_tdb_move_across(op->dbs[from].tdb, op->dbs[to].tdb, id, dest, m, err)) != 0)
                    return pb_err_wrap(err, "finishing the move of %s to server %s", id,
                                       op->dbs[to].server->name);
                settled = 0; /* look again */
                continue;
            }
            if (i.moved_to[0])
                continue; /* a record of where it went; it lives on the other server */
            *where = w;
            *info = i;
            break;
        }
        if (settled)
            return 0;
    }
    return pb_err_set(err, PB_EINTERNAL, "tenant %s: could not settle which server it lives on", id);
}

int operator_tenant_db(operator_ctx *op, const json_t *tenant, pb_tdb **tdb, char *id, size_t id_n, char schema[64],
                       pb_err *err)
{
    *tdb = NULL;
    const char *server = NULL;
    pb_json_opt_string(tenant, "status.database.server", NULL, &server, NULL);
    if (!server)
        return pb_err_set(err, PB_ENOTFOUND, "tenant %s has no database yet", tenant_name(tenant));
    db_id(tenant_name(tenant), id, id_n);
    const char *layout_name = NULL;
    pb_json_opt_string(tenant, "status.database.layout", NULL, &layout_name, NULL);
    if (layout_name && strcmp(layout_name, "server") == 0) {
        char sname[64], endpoint[300], missing[200];
        int got = tsrv_get(op, tenant_name(tenant), tdb, sname, endpoint, missing, sizeof missing, err);
        if (got <= 0)
            return got < 0 ? got
                           : pb_err_set(err, PB_ENOTFOUND, "tenant %s's own server is not there (cloud outputs lack %s)",
                                        tenant_name(tenant), missing);
        snprintf(schema, 64, "app");
        return 0;
    }
    int w = server_index(op, server);
    if (w < 0)
        return pb_err_set(err, PB_ENOTFOUND, "tenant %s lives on server \"%s\", which is not configured",
                          tenant_name(tenant), server);
    pthread_mutex_lock(&op->db_mu);
    int rc = operator_db_connect(op, w, err);
    pb_tdb *t = op->dbs[w].tdb;
    pthread_mutex_unlock(&op->db_mu);
    if (rc != 0)
        return rc;
    pb_tdb_info info;
    if ((rc = pb_tdb_info_get(t, id, &info, err)) != 0)
        return rc;
    if (info.moving || info.moved_to[0] || info.move_server[0] || info.arriving_from[0])
        return pb_err_set(err, PB_ECONFLICT, "tenant %s is being moved", id);
    snprintf(schema, 64, "%s", info.layout == PB_DM_LAYOUT_DATABASE ? "app" : info.location);
    *tdb = t;
    return 0;
}

int tenant_database_reconcile(operator_ctx *op, const json_t *tenant, const json_t *plan,
                              const planspec_isolation *iso, int suspended, json_t *status,
                              const char *now, pb_err *err)
{
    long long gen = 0;
    pb_json_opt_int(tenant, "metadata.generation", 0, &gen, NULL);
    const char *model_name = NULL;
    pb_json_opt_string(plan, "spec.database.dataModel", NULL, &model_name, NULL);
    if (!model_name) {
        cond_set(status, "DatabaseReady", "True", "NotRequired", "the plan has no database", gen, now);
        json_object_del(status, "database");
        return 1;
    }
    /* The `server` layout: a database on the tenant's own server, which its
     * cloud run starts (tenant_servers.h). Moving data into or out of it is
     * not done here: refused, with the data left where it is. */
    int own_server = strcmp(iso->data, "server") == 0;
    const char *had = NULL;
    pb_json_opt_string(status, "database.layout", NULL, &had, NULL);
    if (had && (strcmp(had, "server") == 0) != own_server) {
        char m[400];
        snprintf(m, sizeof m,
                 "moving data from the %s layout to the %s layout is not supported: the data stays where it "
                 "is; put the tenant back on a plan with data \"%s\", or export and re-import it",
                 had, iso->data, had);
        cond_set(status, "DatabaseReady", "False", "MoveNotSupported", m, gen, now);
        return 0;
    }
    if (!own_server && !op->dbs[OP_DB_SHARED].server) {
        cond_set(status, "DatabaseReady", "False", "NoDatabaseServer",
                 "no PostgreSQL server is configured (operator --config: databaseServers)", gen, now);
        return 0;
    }
    pb_dm_layout layout;
    pb_dm_layout_parse(own_server ? "database" : iso->data, &layout);

    pb_dm_model *model = NULL;
    load_model(op, model_name, status, gen, now, &model);
    if (!model)
        return 0;

    const char *name = tenant_name(tenant);
    char id[64], ns[128];
    db_id(name, id, sizeof id);
    tenantspec_namespace(name, ns, sizeof ns);
    long long conn_limit = 10;
    pb_json_opt_int(plan, "spec.database.connectionLimit", 10, &conn_limit, NULL);

    /* Silo tenants go to the dedicated server when there is one. */
    int target = layout == PB_DM_LAYOUT_DATABASE && op->dbs[OP_DB_DEDICATED].server ? OP_DB_DEDICATED
                                                                                      : OP_DB_SHARED;
    pthread_mutex_lock(&op->db_mu);
    int rc = 0;
    char msg[1200];
    pb_tdb *tdb = NULL;
    const char *server = NULL;
    char own_name[64], own_endpoint[300];
    long long grace_ms = op->dbs[OP_DB_SHARED].server ? op->dbs[OP_DB_SHARED].server->rotation_grace_ms
                                                      : 5LL * 60 * 1000;
    if (own_server) {
        char missing[200];
        rc = tsrv_get(op, name, &tdb, own_name, own_endpoint, missing, sizeof missing, err);
        if (rc == 0) {
            snprintf(msg, sizeof msg,
                     "waiting for the tenant's own server: its cloud outputs lack %s (ConfigMap and Secret %s "
                     "in %s; see CloudReady)",
                     missing, CLOUD_OUTPUTS_NAME, ns);
            cond_set(status, "DatabaseReady", "False", "WaitingForServer", msg, gen, now);
            goto out;
        }
        if (rc < 0) {
            snprintf(msg, sizeof msg, "%s", pb_err_msg(err));
            cond_set(status, "DatabaseReady", "False", "ServerUnavailable", msg, gen, now);
            rc = 0; /* a condition, retried with backoff by the next pass */
            requeue_at(op, name, 10);
            goto out;
        }
        rc = 0;
        server = own_name;
        goto provision;
    }
    if ((rc = connect_all(op, err)) != 0) {
        snprintf(msg, sizeof msg, "%s", pb_err_msg(err));
        cond_set(status, "DatabaseReady", "False", "ServerUnavailable", msg, gen, now);
        goto out;
    }
    tdb = op->dbs[target].tdb;
    server = op->dbs[target].server->name;
    grace_ms = op->dbs[target].server->rotation_grace_ms;
    pb_tdb_info info;
    int where = -1;
    if ((rc = locate(op, id, layout, model, &where, &info, err)) != 0) {
        int down = rc == PB_EUNAVAILABLE || rc == PB_EIO || rc == PB_ETIMEOUT;
        snprintf(msg, sizeof msg, "locating the tenant's data: %s", pb_err_msg(err));
        cond_set(status, "DatabaseReady", "False", down ? "ServerUnavailable" : "MoveFailed", msg, gen, now);
        goto out;
    }
    /* A previous login whose grace is over goes first, whatever happens
     * next (a move that keeps failing must not keep a leaked password
     * alive); one still in its grace brings the tenant back when due. */
    if (where >= 0) {
        double next_due = -1;
        pb_err rerr;
        pb_err_clear(&rerr);
        if (pb_tdb_revoke_due(op->dbs[where].tdb, id, &next_due, &rerr) != 0)
            pb_log_warn("revoking the previous login", "tenant", name, "error", rerr.msg, NULL);
        requeue_at(op, name, next_due);
    }
    int retained = where >= 0 && strcmp(info.state, "retained") == 0;
    if (where >= 0 && !retained && (where != target || info.moving || info.layout != layout)) {
        const char *from = pb_dm_layout_name(info.layout);
        const char *from_server = op->dbs[where].server->name;
        rc = where != target ? pb_tdb_move_across(op->dbs[where].tdb, tdb, id, layout, model, err)
                             : pb_tdb_move(tdb, id, layout, model, err);
        opmetrics_tier_move(from, iso->data, rc);
        opmetrics_database_op(iso->data, "move", rc);
        if (rc != 0) {
            snprintf(msg, sizeof msg, "moving data %s on %s -> %s on %s failed, the %s copy keeps serving: %s",
                     from, from_server, iso->data, server, from, pb_err_msg(err));
            cond_set(status, "DatabaseReady", "False", "MoveFailed", msg, gen, now);
            operator_event(op, tenant, "Warning", "MoveFailed", "%s", msg);
            goto out;
        }
        operator_event(op, tenant, "Normal", "DataMoved", "tenant data moved %s on %s -> %s on %s, rows verified",
                       from, from_server, iso->data, server);
    }

provision:;
    char *password = current_password(op, ns);
    pb_tdb_tenant spec = {.id = id, .layout = layout, .connection_limit = (int)conn_limit,
                          .dedicated_server = own_server || target == OP_DB_DEDICATED, .password = password};
    pb_tdb_creds creds = {0};
    rc = pb_tdb_ensure(tdb, &spec, model, &creds, err);
    opmetrics_database_op(iso->data, "ensure", rc);
    if (password) {
        pb_secret_wipe(password, strlen(password));
        free(password);
    }
    if (rc != 0) {
        snprintf(msg, sizeof msg, "provisioning %s layout: %s", iso->data, pb_err_msg(err));
        cond_set(status, "DatabaseReady", "False", "ProvisionFailed", msg, gen, now);
        goto out;
    }

    const char *rotate = json_string_value(json_object_get(
        json_object_get(json_object_get(tenant, "metadata"), "annotations"), TENANT_DB_ROTATE_ANNOTATION));
    char *rotated = secret_rotation(op, ns);
    int do_rotate = rotate && *rotate && strcmp(rotate, rotated) != 0;
    free(rotated);
    if (do_rotate) {
        pb_tdb_creds_clear(&creds);
        rc = pb_tdb_rotate(tdb, id, grace_ms, &creds, err);
        opmetrics_database_op(iso->data, "rotate", rc);
        if (rc != 0) {
            snprintf(msg, sizeof msg, "rotating credentials: %s", pb_err_msg(err));
            cond_set(status, "DatabaseReady", "False", "RotationFailed", msg, gen, now);
            goto out;
        }
    }
    rc = write_secret(op, tenant, ns, &creds, rotate, err);
    if (rc != 0) {
        pb_err_wrap(err, "writing Secret %s/%s", ns, TENANT_DB_SECRET);
        pb_tdb_creds_clear(&creds);
        goto out;
    }
    if (do_rotate) {
        char grace[PB_TIME_BUF];
        pb_time_format_duration(grace_ms * PB_MILLISECOND, grace, sizeof grace);
        operator_event(op, tenant, "Normal", "CredentialsRotated",
                       "database password rotated (%s); the previous login is revoked after %s", rotate, grace);
    }

    pb_err ierr;
    pb_err_clear(&ierr);
    int info_ok = pb_tdb_info_get(tdb, id, &info, &ierr) == 0;
    if (info_ok) {
        int is_suspended = strcmp(info.state, "suspended") == 0;
        if (suspended && !is_suspended) {
            rc = pb_tdb_suspend(tdb, id, err);
            opmetrics_database_op(iso->data, "suspend", rc);
        } else if (!suspended && is_suspended) {
            rc = pb_tdb_resume(tdb, id, err);
            opmetrics_database_op(iso->data, "resume", rc);
        }
        if (rc != 0) {
            pb_tdb_creds_clear(&creds);
            goto out;
        }
    }

    char endpoint[300];
    snprintf(endpoint, sizeof endpoint, "%s:%d", creds.host, creds.port);
    json_t *db = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:I}", "layout", iso->data, "server",
                           server, "endpoint", endpoint, "name", creds.dbname, "schema", creds.schema,
                           "secretName", TENANT_DB_SECRET, "dataModel", model_name, "dataModelVersion",
                           (json_int_t)pb_dm_version(model));
    if (rotate && *rotate)
        json_object_set_new(db, "rotation", json_string(rotate));
    /* The previous login: when it will be revoked, or when it was. */
    const char *was = NULL;
    pb_json_opt_string(status, "database.previousLoginRevokedAt", NULL, &was, NULL);
    if (info_ok && info.revoke_at[0]) {
        json_object_set_new(db, "previousLoginRevokeAt", json_string(info.revoke_at));
        requeue_at(op, name, info.revoke_in_s);
    }
    if (info_ok && info.revoked_at[0]) {
        json_object_set_new(db, "previousLoginRevokedAt", json_string(info.revoked_at));
        if (!was || strcmp(was, info.revoked_at) != 0)
            operator_event(op, tenant, "Normal", "PreviousLoginRevoked",
                           "the database login handed out before the last rotation was revoked at %s",
                           info.revoked_at);
    }
    json_object_set_new(status, "database", db);
    snprintf(msg, sizeof msg, "%s layout ready: database %s%s%s, credentials in Secret %s", iso->data,
             creds.dbname, creds.schema ? " schema " : "", creds.schema ? creds.schema : "",
             TENANT_DB_SECRET);
    cond_set(status, "DatabaseReady", "True", "Provisioned", msg, gen, now);
    pb_tdb_creds_clear(&creds);
    rc = 1;
out:
    pthread_mutex_unlock(&op->db_mu);
    pb_dm_free(model);
    return rc;
}

/* Copy src to dst (0600), then remove src: 0 or a negative code. */
static int move_file(const char *src, const char *dst, pb_err *err)
{
    if (rename(src, dst) == 0)
        return 0;
    FILE *in = fopen(src, "rb");
    int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
    FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
    int rc = in && out ? 0 : pb_err_set(err, PB_EIO, "%s -> %s: %s", src, dst, strerror(errno));
    char buf[65536];
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = pb_err_set(err, PB_EIO, "writing %s: %s", dst, strerror(errno));
    if (rc == 0 && ferror(in))
        rc = pb_err_set(err, PB_EIO, "reading %s", src);
    if (in)
        fclose(in);
    if (out && fclose(out) != 0 && rc == 0)
        rc = pb_err_set(err, PB_EIO, "writing %s: %s", dst, strerror(errno));
    else if (!out && fd >= 0)
        close(fd);
    if (rc == 0)
        unlink(src);
    else if (fd >= 0)
        unlink(dst);
    return rc;
}

/* A Snapshot deletion's archive goes to the tenant's bucket when its cloud
 * run offers a directory for it (output snapshot_dir: the local target;
 * the cloud modules' buckets would need an object-store client), so it
 * outlives the tenant with the rest of what the tenant kept. Otherwise, or
 * when the move fails, it stays in the operator's snapshotDir. */
static void snapshot_to_bucket(operator_ctx *op, const char *tenant, pb_tdb_snapshot *snap)
{
    char dir[600], dst[900];
    pb_err e;
    pb_err_clear(&e);
    if (tsrv_cloud_output(op, tenant, "snapshot_dir", dir, sizeof dir, &e) != 1 || dir[0] != '/')
        return;
    const char *base = strrchr(snap->path, '/');
    snprintf(dst, sizeof dst, "%s/%s", dir, base ? base + 1 : snap->path);
    char *copy = strdup(dst);
    if (!copy || (mkdir(dir, 0700) != 0 && errno != EEXIST) || move_file(snap->path, dst, &e) != 0) {
        pb_log_warn("snapshot kept in the operator's snapshotDir, not the tenant's bucket", "tenant", tenant,
                    "error", e.msg[0] ? e.msg : strerror(errno), NULL);
        free(copy);
        return;
    }
    free(snap->path);
    snap->path = copy;
}

int tenant_database_delete(operator_ctx *op, const json_t *tenant, json_t *status,
                           const char *policy, pb_err *err)
{
    const char *model_name = NULL, *layout_name = NULL;
    pb_json_opt_string(status, "database.dataModel", NULL, &model_name, NULL);
    pb_json_opt_string(status, "database.layout", NULL, &layout_name, NULL);
    int own_server = layout_name && strcmp(layout_name, "server") == 0;
    if ((!own_server && !op->dbs[OP_DB_SHARED].server) || !model_name)
        return 0; /* nothing was provisioned */
    /* Done on an earlier pass (the finalizer then waits for the destroy,
     * which stops the tenant's server: no connecting to it again). */
    if (own_server && json_object_get(json_object_get(status, "database"), "deletedAt"))
        return 0;
    pb_dm_model *model = NULL;
    json_t *scratch = json_object(); /* load_model reports into a status; not ours to keep */
    load_model(op, model_name, scratch, 0, "", &model);
    json_decref(scratch);
    if (!model)
        return pb_err_set(err, PB_EINVAL,
                          "DataModel \"%s\" is gone or invalid; cannot find the tenant's rows to %s",
                          model_name, policy);
    pb_tdb_delete_policy p = strcmp(policy, "Delete") == 0     ? PB_TDB_DELETE
                             : strcmp(policy, "Snapshot") == 0 ? PB_TDB_SNAPSHOT
                                                               : PB_TDB_RETAIN;
    char id[64];
    db_id(tenant_name(tenant), id, sizeof id);
    pb_tdb_snapshot snap = {0};
    pthread_mutex_lock(&op->db_mu);
    int rc = 0;
    if (own_server) {
        /* The tenant's own server (still up: the cloud resources go after
         * the data). Outputs gone means the server is gone too. */
        pb_tdb *tdb = NULL;
        char sname[64], endpoint[300], missing[200];
        int got = tsrv_get(op, tenant_name(tenant), &tdb, sname, endpoint, missing, sizeof missing, err);
        pb_tdb_info info;
        if (got < 0)
            rc = got;
        else if (got == 0)
            pb_log_warn("the tenant's own server is gone: no data to delete there", "tenant", tenant_name(tenant),
                        "missing", missing, NULL);
        else if (pb_tdb_info_get(tdb, id, &info, NULL) == 0) {
            rc = pb_tdb_delete(tdb, id, p, model, p == PB_TDB_SNAPSHOT ? &snap : NULL, err);
            opmetrics_database_op("server", "delete", rc);
        }
        if (rc == 0 && p != PB_TDB_RETAIN) {
            char ts[64];
            json_object_set_new(json_object_get(status, "database"), "deletedAt",
                                json_string(operator_now_str(op, ts, sizeof ts)));
            tsrv_forget(op, tenant_name(tenant));
        }
    } else
        rc = connect_all(op, err);
    /* The policy applies where the tenant lives; on a server it moved away
     * from, delete only removes the record of where it went. */
    for (int w = 0; w < OP_DB_COUNT && rc == 0 && !own_server; w++) {
        pb_tdb_info info;
        if (!op->dbs[w].tdb || pb_tdb_info_get(op->dbs[w].tdb, id, &info, NULL) != 0)
            continue;
        int here = !info.moved_to[0];
        rc = pb_tdb_delete(op->dbs[w].tdb, id, here ? p : PB_TDB_DELETE, model,
                           here && p == PB_TDB_SNAPSHOT ? &snap : NULL, err);
        opmetrics_database_op(pb_dm_layout_name(info.layout), "delete", rc);
    }
    pthread_mutex_unlock(&op->db_mu);
    pb_dm_free(model);
    if (rc != 0)
        return pb_err_wrap(err, "database (%s)", policy);
    json_t *db = json_object_get(status, "database");
    if (p == PB_TDB_SNAPSHOT && snap.path)
        snapshot_to_bucket(op, tenant_name(tenant), &snap);
    if (p == PB_TDB_SNAPSHOT && snap.path) {
        json_object_set_new(db, "snapshot", json_pack("{s:s, s:s}", "path", snap.path, "sha256", snap.sha256));
        operator_event(op, tenant, "Normal", "Snapshotted", "data archived to %s (sha256 %s)", snap.path, snap.sha256);
    } else if (p == PB_TDB_RETAIN) {
        char now[64];
        json_object_set_new(db, "retainedAt", json_string(operator_now_str(op, now, sizeof now)));
        operator_event(op, tenant, "Normal", "Retained", "data kept in %s, login locked",
                       json_string_value(json_object_get(db, "name")));
    }
    pb_tdb_snapshot_clear(&snap);
    return 0;
}
