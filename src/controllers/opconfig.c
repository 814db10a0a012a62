/*
 * opconfig.c - the operator's settings file (see opconfig.h).
 */
#include "controllers/opconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/timeutil.h"
#include "util/yaml.h"

static int check_keys(const json_t *obj, const char *const *allowed, const char *origin,
                      const char *where, pb_err *err)
{
    const char *k = pb_json_unknown_key(obj, allowed);
    return k ? pb_err_set(err, PB_EINVAL, "%s: %s%s: unknown field", origin, where, k) : 0;
}

static int opt_str(const json_t *obj, const char *path, const char *def, char **out,
                   const char *origin, const char *where, pb_err *err)
{
    const char *s = NULL;
    if (pb_json_opt_string(obj, path, def, &s, err) != 0)
        return pb_err_wrap(err, "%s: %s", origin, where);
    *out = s ? strdup(s) : NULL;
    return 0;
}

/* A Go duration ("5m", "90s"; the number 0 too, as YAML reads "0") into
 * milliseconds, def when absent; negative ones are refused. */
static int opt_duration_ms(const json_t *obj, const char *key, long long def, long long *out, const char *origin,
                           const char *where, pb_err *err)
{
    const json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) == 0) {
        *out = 0;
        return 0;
    }
    pb_duration d = 0;
    pb_err pe;
    pb_err_clear(&pe);
    if (!json_is_string(v) || pb_time_parse_duration(json_string_value(v), &d, &pe) != 0)
        return pb_err_set(err, PB_EINVAL, "%s: %s%s: expected a duration such as \"5m\" or \"90s\"%s%s", origin,
                          where, key, pe.msg[0] ? ": " : "", pe.msg);
    if (d < 0)
        return pb_err_set(err, PB_EINVAL, "%s: %s%s: must not be negative", origin, where, key);
    *out = d / PB_MILLISECOND;
    return 0;
}

static void licence_defaults(opconfig_licence *l)
{
    l->validity_ms = OPCONFIG_DEFAULT_LICENCE_VALIDITY_MS;
    l->renew_before_ms = OPCONFIG_DEFAULT_LICENCE_RENEW_BEFORE_MS;
    l->key_rotation_ms = OPCONFIG_DEFAULT_LICENCE_KEY_ROTATION_MS;
    l->key_overlap_ms = OPCONFIG_DEFAULT_LICENCE_KEY_OVERLAP_MS;
}

/* A string setting into a fixed buffer: empty or too long is refused. */
static int fixed_str(const json_t *obj, const char *key, const char *def, char *buf, size_t n,
                     const char *origin, pb_err *err)
{
    const char *s = NULL;
    if (pb_json_opt_string(obj, key, def, &s, err) != 0)
        return pb_err_wrap(err, "%s: licence", origin);
    if (!*s || strlen(s) >= n)
        return pb_err_set(err, PB_EINVAL, "%s: licence.%s: must be 1 to %zu characters", origin, key, n - 1);
    snprintf(buf, n, "%s", s);
    return 0;
}

/* The licence: section (all optional; defaults in opconfig.h). */
static int parse_licence(const json_t *l, const char *origin, opconfig_licence *out, pb_err *err)
{
    static const char *const keys[] = {"issuer", "audience", "validity", "renewBefore",
                                       "keyRotationPeriod", "keyOverlap", NULL};
    int rc;
    if (l && !json_is_object(l))
        return pb_err_set(err, PB_EINVAL, "%s: licence: expected a mapping", origin);
    if ((l && (rc = check_keys(l, keys, origin, "licence.", err)) != 0) ||
        (rc = fixed_str(l, "issuer", "paybill", out->issuer, sizeof out->issuer, origin, err)) != 0 ||
        (rc = fixed_str(l, "audience", "paybill-tenant", out->audience, sizeof out->audience, origin, err)) != 0 ||
        (rc = opt_duration_ms(l, "validity", out->validity_ms, &out->validity_ms, origin, "licence.", err)) != 0 ||
        (rc = opt_duration_ms(l, "renewBefore", out->renew_before_ms, &out->renew_before_ms, origin, "licence.", err)) != 0 ||
        (rc = opt_duration_ms(l, "keyRotationPeriod", out->key_rotation_ms, &out->key_rotation_ms, origin, "licence.", err)) != 0 ||
        (rc = opt_duration_ms(l, "keyOverlap", out->key_overlap_ms, &out->key_overlap_ms, origin, "licence.", err)) != 0)
        return rc;
    if (out->validity_ms < 2000)
        return pb_err_set(err, PB_EINVAL, "%s: licence.validity: must be at least 2s", origin);
    if (out->renew_before_ms <= 0 || out->renew_before_ms >= out->validity_ms)
        return pb_err_set(err, PB_EINVAL, "%s: licence.renewBefore: must be positive and shorter than licence.validity",
                          origin);
    if (out->key_rotation_ms < 1000)
        return pb_err_set(err, PB_EINVAL, "%s: licence.keyRotationPeriod: must be at least 1s", origin);
    return 0;
}

int opconfig_parse(const char *yaml, const char *origin, opconfig *out, pb_err *err)
{
    static const char *const top[] = {"systemNamespace", "snapshotDir", "rotationGracePeriod", "databaseServers",
                                      "licence", "billing", "cloud", NULL};
    static const char *const srv[] = {"name", "role", "host", "port", "sslmode", "database",
                                      "tenantHost", "adminSecret", "rotationGracePeriod", NULL};
    memset(out, 0, sizeof *out);
    out->rotation_grace_ms = OPCONFIG_DEFAULT_ROTATION_GRACE_MS;
    licence_defaults(&out->licence);
    json_t *docs = NULL;
    int rc = pb_yaml_parse_stream(yaml, strlen(yaml), &docs, err);
    if (rc != 0)
        return pb_err_wrap(err, "%s", origin);
    json_t *doc = json_array_get(docs, 0);
    if (!doc || json_is_null(doc)) {
        json_decref(docs);
        if ((rc = parse_licence(NULL, origin, &out->licence, err)) != 0)
            opconfig_free(out);
        return rc;
    }
    if (!json_is_object(doc)) {
        json_decref(docs);
        return pb_err_set(err, PB_EINVAL, "%s: expected a mapping at the top level", origin);
    }
    if ((rc = check_keys(doc, top, origin, "", err)) != 0 ||
        (rc = opt_str(doc, "systemNamespace", NULL, &out->system_namespace, origin, "", err)) != 0 ||
        (rc = opt_str(doc, "snapshotDir", NULL, &out->snapshot_dir, origin, "", err)) != 0 ||
        (rc = opt_duration_ms(doc, "rotationGracePeriod", OPCONFIG_DEFAULT_ROTATION_GRACE_MS,
                              &out->rotation_grace_ms, origin, "", err)) != 0)
        goto fail;
    if ((rc = parse_licence(json_object_get(doc, "licence"), origin, &out->licence, err)) != 0)
        goto fail;
    out->billing = json_incref(json_object_get(doc, "billing"));
    out->cloud = json_incref(json_object_get(doc, "cloud"));
    json_t *servers = json_object_get(doc, "databaseServers");
    if (servers && !json_is_array(servers)) {
        rc = pb_err_set(err, PB_EINVAL, "%s: databaseServers: expected a list", origin);
        goto fail;
    }
    out->servers = calloc(json_array_size(servers) + 1, sizeof *out->servers);
    size_t i;
    json_t *s;
    json_array_foreach(servers, i, s) {
        char where[64];
        snprintf(where, sizeof where, "databaseServers[%zu].", i);
        opconfig_db_server *d = &out->servers[i];
        out->nservers = i + 1;
        long long port = 5432;
        if (!json_is_object(s)) {
            rc = pb_err_set(err, PB_EINVAL, "%s: %s: expected a mapping", origin, where);
            goto fail;
        }
        if ((rc = check_keys(s, srv, origin, where, err)) != 0 ||
            (rc = opt_str(s, "name", NULL, &d->name, origin, where, err)) != 0 ||
            (rc = opt_str(s, "role", "shared", &d->role, origin, where, err)) != 0 ||
            (rc = opt_str(s, "host", NULL, &d->host, origin, where, err)) != 0 ||
            (rc = opt_str(s, "sslmode", "prefer", &d->sslmode, origin, where, err)) != 0 ||
            (rc = opt_str(s, "database", "paybill", &d->database, origin, where, err)) != 0 ||
            (rc = opt_str(s, "tenantHost", NULL, &d->tenant_host, origin, where, err)) != 0 ||
            (rc = opt_str(s, "adminSecret.name", NULL, &d->admin_secret_name, origin, where, err)) != 0 ||
            (rc = opt_str(s, "adminSecret.namespace", NULL, &d->admin_secret_namespace, origin, where, err)) != 0 ||
            (rc = opt_duration_ms(s, "rotationGracePeriod", out->rotation_grace_ms, &d->rotation_grace_ms, origin,
                                  where, err)) != 0)
            goto fail;
        if (pb_json_opt_int(s, "port", 5432, &port, err) != 0) {
            rc = pb_err_wrap(err, "%s: %s", origin, where);
            goto fail;
        }
        d->port = (int)port;
        const char *missing = !d->name ? "name" : !d->host ? "host" : !d->admin_secret_name ? "adminSecret.name" : NULL;
        if (missing) {
            rc = pb_err_set(err, PB_EINVAL, "%s: %s%s: required", origin, where, missing);
            goto fail;
        }
        if (strcmp(d->role, "shared") != 0 && strcmp(d->role, "dedicated") != 0) {
            rc = pb_err_set(err, PB_EINVAL, "%s: %srole: unsupported value \"%s\" (shared, dedicated)",
                            origin, where, d->role);
            goto fail;
        }
        if (port < 1 || port > 65535) {
            rc = pb_err_set(err, PB_EINVAL, "%s: %sport: %lld is not a TCP port", origin, where, port);
            goto fail;
        }
    }
    json_decref(docs);
    return 0;
fail:
    json_decref(docs);
    opconfig_free(out);
    return rc;
}

int opconfig_load(const char *path, opconfig *out, pb_err *err)
{
    memset(out, 0, sizeof *out);
    out->rotation_grace_ms = OPCONFIG_DEFAULT_ROTATION_GRACE_MS;
    if (!path)
        return opconfig_parse("", "(defaults)", out, err);
    FILE *f = fopen(path, "r");
    if (!f)
        return pb_err_set(err, PB_EIO, "%s: cannot open: %m", path);
    enum { LIMIT = 1 << 20 };
    char *buf = malloc(LIMIT + 1);
    if (!buf) {
        fclose(f);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    /* Read at most LIMIT + 1 bytes: one more than allowed tells "too big". */
    size_t len = fread(buf, 1, LIMIT + 1, f);
    fclose(f);
    int rc;
    if (len > LIMIT) {
        rc = pb_err_set(err, PB_ETOOLARGE, "%s: larger than 1 MiB", path);
    } else {
        buf[len] = '\0';
        rc = opconfig_parse(buf, path, out, err);
    }
    free(buf);
    return rc;
}

void opconfig_free(opconfig *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nservers; i++) {
        opconfig_db_server *d = &c->servers[i];
        free(d->name);
        free(d->role);
        free(d->host);
        free(d->sslmode);
        free(d->database);
        free(d->tenant_host);
        free(d->admin_secret_name);
        free(d->admin_secret_namespace);
    }
    free(c->servers);
    json_decref(c->billing);
    json_decref(c->cloud);
    free(c->system_namespace);
    free(c->snapshot_dir);
    memset(c, 0, sizeof *c);
}
