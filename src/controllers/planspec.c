/*
 * planspec.c - Plan semantics beyond the CRD schema (see planspec.h).
 */
#include "controllers/planspec.h"

#include <stdio.h>
#include <string.h>

#include "util/json.h"
#include "util/strset.h"

int planspec_isolation_of(const json_t *plan, planspec_isolation *out, pb_err *err)
{
    static const char *const models[] = {"pooled", "bridge", "silo", NULL};
    static const char *const computes[] = {"shared", "dedicated", NULL};
    static const char *const datas[] = {"rls", "schema", "database", "server", NULL};
    const char *model = NULL;
    if (pb_json_get_string(plan, "spec.isolation.model", &model, err) != 0)
        return pb_err_wrap(err, "plan");
    if (!pb_strset_has(models, model))
        return pb_err_set(err, PB_EINVAL,
                          "spec.isolation.model: unsupported value \"%s\" (pooled, bridge, silo)", model);
    const char *compute = strcmp(model, "silo") == 0 ? "dedicated" : "shared";
    const char *data = strcmp(model, "pooled") == 0   ? "rls"
                       : strcmp(model, "bridge") == 0 ? "schema"
                                                      : "database";
    if (pb_json_opt_string(plan, "spec.isolation.compute", compute, &compute, err) != 0 ||
        pb_json_opt_string(plan, "spec.isolation.data", data, &data, err) != 0)
        return err ? err->code : PB_EINVAL;
    if (!pb_strset_has(computes, compute))
        return pb_err_set(err, PB_EINVAL,
                          "spec.isolation.compute: unsupported value \"%s\" (shared, dedicated)", compute);
    if (!pb_strset_has(datas, data))
        return pb_err_set(err, PB_EINVAL,
                          "spec.isolation.data: unsupported value \"%s\" (rls, schema, database, server)", data);
    snprintf(out->model, sizeof out->model, "%s", model);
    snprintf(out->compute, sizeof out->compute, "%s", compute);
    snprintf(out->data, sizeof out->data, "%s", data);
    return 0;
}

static int check_duration(const json_t *plan, const char *path, pb_err *err)
{
    const char *s = NULL;
    if (pb_json_opt_string(plan, path, NULL, &s, err) != 0)
        return err ? err->code : PB_EINVAL;
    if (!s)
        return 0;
    pb_duration d;
    if (pb_time_parse_duration(s, &d, err) != 0)
        return pb_err_wrap(err, "%s", path);
    if (d <= 0)
        return pb_err_set(err, PB_EINVAL, "%s: must be positive, got \"%s\"", path, s);
    return 0;
}

/* Pod Security levels a plan may ask for. "privileged" is not one: the CRD
 * enum refuses it, and so do we for a plan stored before that enum or
 * written by a server that does not validate. */
static const char *const pod_security_levels[] = {"restricted", "baseline", NULL};

static int check_count(const json_t *plan, const char *path, pb_err *err)
{
    json_t *v = NULL;
    if (pb_json_get(plan, path, &v, NULL) != 0 || !v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return pb_err_set(err, PB_EINVAL, "%s: must be a whole number >= 0", path);
    return 0;
}

int planspec_validate(const json_t *plan, pb_err *err)
{
    planspec_isolation iso;
    int rc = planspec_isolation_of(plan, &iso, err);
    if (rc != 0)
        return rc;
    /* A shared pool cannot host a tenant that owns a database server of its own. */
    if (strcmp(iso.compute, "shared") == 0 && strcmp(iso.data, "server") == 0)
        return pb_err_set(err, PB_EINVAL,
                          "spec.isolation: data \"server\" needs compute \"dedicated\"");
    if ((rc = check_duration(plan, "spec.billing.gracePeriod", err)) != 0 ||
        (rc = check_duration(plan, "spec.limits.stepTimeout", err)) != 0)
        return rc;
    const char *pss = NULL;
    if (pb_json_opt_string(plan, "spec.podSecurity", NULL, &pss, err) != 0)
        return err ? err->code : PB_EINVAL;
    if (pss && !pb_strset_has(pod_security_levels, pss))
        return pb_err_set(err, PB_EINVAL,
                          "spec.podSecurity: unsupported value \"%s\" (restricted, baseline)", pss);
    if ((rc = check_count(plan, "spec.quotas.nodePorts", err)) != 0 ||
        (rc = check_count(plan, "spec.quotas.loadBalancers", err)) != 0)
        return rc;
    const char *provider = NULL;
    if (pb_json_opt_string(plan, "spec.cloud.provider", "none", &provider, err) != 0)
        return err ? err->code : PB_EINVAL;
    const char *module = NULL;
    pb_json_opt_string(plan, "spec.cloud.module", NULL, &module, NULL);
    if (strcmp(provider, "none") != 0 && !module)
        return pb_err_set(err, PB_EINVAL, "spec.cloud.module: required when provider is \"%s\"", provider);
    return 0;
}

const char *planspec_pod_security(const json_t *plan)
{
    const char *s = NULL;
    pb_json_opt_string(plan, "spec.podSecurity", NULL, &s, NULL);
    return s && strcmp(s, "baseline") == 0 ? "baseline" : "restricted";
}

static long long count_at(const json_t *plan, const char *path)
{
    long long v = 0;
    pb_json_opt_int(plan, path, 0, &v, NULL);
    return v < 0 ? 0 : v;
}

long long planspec_node_ports(const json_t *plan)
{
    return count_at(plan, "spec.quotas.nodePorts");
}

long long planspec_load_balancers(const json_t *plan)
{
    return count_at(plan, "spec.quotas.loadBalancers");
}

pb_duration planspec_grace_period(const json_t *plan)
{
    const char *s = NULL;
    pb_duration d = 72 * PB_HOUR;
    if (pb_json_opt_string(plan, "spec.billing.gracePeriod", NULL, &s, NULL) == 0 && s)
        pb_time_parse_duration(s, &d, NULL);
    return d;
}

pb_duration planspec_retention_period(const json_t *plan)
{
    const char *s = NULL;
    pb_duration d = 720 * PB_HOUR;
    if (pb_json_opt_string(plan, "spec.billing.retentionPeriod", NULL, &s, NULL) == 0 && s)
        pb_time_parse_duration(s, &d, NULL);
    return d;
}

long long planspec_trial_days(const json_t *plan)
{
    long long v = 0;
    pb_json_opt_int(plan, "spec.billing.trialDays", 0, &v, NULL);
    return v < 0 ? 0 : v;
}

const char *planspec_interval(const json_t *plan)
{
    const char *s = "month";
    pb_json_opt_string(plan, "spec.billing.interval", "month", &s, NULL);
    return strcmp(s, "year") == 0 ? "year" : "month";
}

int planspec_has_feature(const json_t *plan, const char *feature)
{
    json_t *features = json_object_get(json_object_get(plan, "spec"), "features");
    size_t i;
    json_t *f;
    if (!feature)
        return 0;
    json_array_foreach(features, i, f) {
        if (json_is_string(f) && strcmp(json_string_value(f), feature) == 0)
            return 1;
    }
    return 0;
}
