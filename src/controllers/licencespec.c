/*
 * licencespec.c - licence claims and the re-sign decision (see
 * licencespec.h).
 */
#include "controllers/licencespec.h"

#include <string.h>

#include "util/json.h"

const char *licencespec_action_name(licencespec_action a)
{
    switch (a) {
    case LICENCE_KEEP: return "keep";
    case LICENCE_NEW: return "new";
    case LICENCE_REPAIR: return "repair";
    case LICENCE_ENTITLEMENTS: return "entitlements";
    case LICENCE_REKEY: return "rekey";
    case LICENCE_RENEW: return "renew";
    }
    return "unknown";
}

static json_t *copy_or_empty(const json_t *v)
{
    return json_is_object(v) ? json_deep_copy(v) : json_object();
}

static const char *str_or(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* spec.features as a sorted list of distinct strings. */
static json_t *features_of(const json_t *plan)
{
    json_t *in = json_object_get(json_object_get(plan, "spec"), "features");
    size_t n = json_array_size(in), k = 0;
    const char *v[64];
    size_t i;
    json_t *f;
    json_array_foreach(in, i, f) {
        if (json_is_string(f) && k < 64)
            v[k++] = json_string_value(f);
    }
    qsort(v, k, sizeof v[0], cmp_str);
    json_t *out = json_array();
    for (i = 0; out && i < k; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
            json_array_append_new(out, json_string(v[i]));
    (void)n;
    return out;
}

json_t *licencespec_entitlements(const json_t *tenant, const json_t *plan, const json_t *sub)
{
    const json_t *meta = json_object_get(tenant, "metadata"), *st = json_object_get(tenant, "status");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *uid = json_string_value(json_object_get(meta, "uid"));
    const char *phase = json_string_value(json_object_get(st, "phase"));
    const char *sub_state = NULL;
    pb_json_opt_string(sub, "status.state", NULL, &sub_state, NULL);
    const char *status = sub_state && strcmp(sub_state, "canceled") == 0 ? "canceled"
                         : phase && strcmp(phase, "Suspended") == 0    ? "suspended"
                                                                       : "active";
    const json_t *spec = json_object_get(plan, "spec");
    const json_t *iso = json_object_get(st, "isolation");
    json_t *e = json_object();
    if (!e)
        return NULL;
    json_object_set_new(e, "tenant", json_pack("{s:s, s:s}", "name", name ? name : "", "uid", uid ? uid : ""));
    json_object_set_new(e, "plan", json_string(str_or(json_object_get(st, "plan"))));
    json_object_set_new(e, "tier", json_string(str_or(json_object_get(st, "tier"))));
    json_object_set_new(e, "isolation", copy_or_empty(iso));
    json_object_set_new(e, "features", features_of(plan));
    json_object_set_new(e, "quotas", copy_or_empty(json_object_get(spec, "quotas")));
    json_object_set_new(e, "agents", copy_or_empty(json_object_get(spec, "limits")));
    const char *sub_name = json_string_value(json_object_get(json_object_get(sub, "metadata"), "name"));
    json_object_set_new(e, "subscription", json_pack("{s:s, s:s}", "name", sub_name ? sub_name : "",
                                                     "state", sub_state ? sub_state : ""));
    json_object_set_new(e, "status", json_string(status));
    return e;
}

json_t *licencespec_claims(const licencespec_settings *s, const char *tenant, const json_t *ent,
                           long long generation, time_t now, const char *jti)
{
    json_t *pb = json_deep_copy(ent);
    if (!pb)
        return NULL;
    json_object_set_new(pb, "generation", json_integer(generation));
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o}", "iss", s->issuer, "sub", tenant,
                     "aud", s->audience, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                     (json_int_t)(now + s->validity_s), "jti", jti, LICENCE_CLAIM, pb);
}

static int str_is(const json_t *claims, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(claims, key));
    return v && want && strcmp(v, want) == 0;
}

licencespec_action licencespec_decide(const licencespec_settings *s, const char *tenant,
                                      const json_t *current, const char *current_kid,
                                      const char *active_kid, const json_t *ent, time_t now,
                                      time_t *renew_at)
{
    if (renew_at)
        *renew_at = 0;
    if (!current)
        return LICENCE_NEW;
    json_t *exp = json_object_get(current, "exp"), *iat = json_object_get(current, "iat");
    if (!str_is(current, "iss", s->issuer) || !str_is(current, "aud", s->audience) ||
        !str_is(current, "sub", tenant) || !json_is_integer(exp) || !json_is_integer(iat))
        return LICENCE_REPAIR;
    json_t *have = json_deep_copy(json_object_get(current, LICENCE_CLAIM));
    json_object_del(have, "generation");
    int same = json_equal(have, ent);
    json_decref(have);
    if (!same)
        return LICENCE_ENTITLEMENTS;
    if (!current_kid || !active_kid || strcmp(current_kid, active_kid) != 0)
        return LICENCE_REKEY;
    long long e = json_integer_value(exp), i = json_integer_value(iat);
    /* Due: expiry near; or the licence outlives what is configured now, or
     * was issued in the future (a clock that jumped). */
    if (e - s->renew_before_s <= (long long)now || e > (long long)now + s->validity_s ||
        i > (long long)now + 60)
        return LICENCE_RENEW;
    if (renew_at)
        *renew_at = (time_t)(e - s->renew_before_s);
    return LICENCE_KEEP;
}

long long licencespec_next_generation(licencespec_action a, const json_t *current,
                                      long long status_generation)
{
    long long g = 0;
    pb_json_opt_int(current, LICENCE_CLAIM ".generation", 0, &g, NULL);
    if (status_generation > g)
        g = status_generation;
    if (a == LICENCE_NEW || a == LICENCE_REPAIR || a == LICENCE_ENTITLEMENTS || g == 0)
        g++;
    return g;
}

int licencespec_check_settings(const licencespec_settings *s, pb_err *err)
{
    if (!s->issuer || !*s->issuer)
        return pb_err_set(err, PB_EINVAL, "licence.issuer: must not be empty");
    if (!s->audience || !*s->audience)
        return pb_err_set(err, PB_EINVAL, "licence.audience: must not be empty");
    if (s->validity_s < 2)
        return pb_err_set(err, PB_EINVAL, "licence.validity: must be at least 2s");
    if (s->renew_before_s <= 0 || s->renew_before_s >= s->validity_s)
        return pb_err_set(err, PB_EINVAL, "licence.renewBefore: must be positive and shorter than licence.validity");
    return 0;
}
