/*
 * licence_controller.c - the Licence controller: signing keys, JWKS and a
 * signed licence per tenant (see licence_controller.h).
 */
#include "controllers/licence_controller.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/conditions.h"
#include "controllers/licence_keys.h"
#include "controllers/licence_memo.h"
#include "controllers/licencespec.h"
#include "controllers/tenantspec.h"
#include "util/json.h"
#include "util/jws.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/secret.h"
#include "util/timeutil.h"

static const kube_gvr SECRETS = {"", "v1", "secrets"};
static const kube_gvr CONFIGMAPS = {"", "v1", "configmaps"};

struct licence_state {
    licencespec_settings spec;
    char issuer[256], audience[256];
    lickeys_policy policy;
    pthread_mutex_t mu;
    lickeys *ring; /* as last read from (or written to) the Secret; NULL until then */
    pb_counter *signed_total, *rotations;
    pb_gauge *keys;
    licmemo *memo; /* thread-safe on its own */
};

/* ---- small helpers ---------------------------------------------------------- */

static const char *meta_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static json_t *labels_for(const char *tenant)
{
    json_t *l = json_pack("{s:s, s:s}", TENANTSPEC_LABEL_MANAGED, TENANTSPEC_MANAGER,
                          "app.kubernetes.io/part-of", "paybill");
    if (tenant)
        json_object_set_new(l, TENANTSPEC_LABEL_TENANT, json_string(tenant));
    return l;
}

/* data[key] of a Secret, decoded (malloc'd, NUL-terminated), or NULL. */
static char *secret_value(const json_t *sec, const char *key)
{
    const char *b64 = json_string_value(json_object_get(json_object_get(sec, "data"), key));
    unsigned char *raw = NULL;
    size_t n = 0;
    if (!b64 || pb_secret_b64_decode(b64, strlen(b64), &raw, &n, NULL) != 0)
        return NULL;
    return (char *)raw;
}

static void wipe_free(char *s)
{
    if (s) {
        pb_secret_wipe(s, strlen(s));
        free(s);
    }
}

static int in_use(void *ud, const char *kid)
{
    operator_ctx *op = ud;
    json_t *all = store_list(op->tenants);
    size_t i;
    json_t *t;
    int used = 0;
    json_array_foreach(all, i, t) {
        const char *k = NULL;
        pb_json_opt_string(t, "status.licence.keyID", NULL, &k, NULL);
        if (k && strcmp(k, kid) == 0 && !json_object_get(json_object_get(t, "metadata"), "deletionTimestamp")) {
            used = 1;
            break;
        }
    }
    json_decref(all);
    return used;
}

/* A tenant a licence can be signed into: its namespace is ready, its plan
 * known, and it is not being deleted. */
static int signable(const json_t *tenant)
{
    const json_t *status = json_object_get(tenant, "status");
    return !json_object_get(json_object_get(tenant, "metadata"), "deletionTimestamp") &&
           cond_is_true(status, "NamespaceReady") && json_object_get(status, "plan");
}

json_t *licence_signable_tenants(operator_ctx *op)
{
    json_t *keys = store_list_keys(op->tenants), *out = json_array();
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        json_t *t = store_get(op->tenants, json_string_value(k));
        if (t && signable(t))
            json_array_append(out, k);
        json_decref(t);
    }
    json_decref(keys);
    return out;
}

/* At a start the keys are loaded after the caches: enqueueing every tenant
 * then ran the licence of each new one once for nothing. */
static void enqueue_signable_tenants(operator_ctx *op)
{
    json_t *keys = licence_signable_tenants(op);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
        controller_enqueue(op->licence_ctrl, json_string_value(k));
    json_decref(keys);
}

static int same_kids(const lickeys *a, const lickeys *b)
{
    json_t *ja = lickeys_jwks(a), *jb = lickeys_jwks(b);
    int same = json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    return same;
}

static controller_result requeue_at(time_t when, time_t now, double max_s)
{
    double s = difftime(when, now);
    if (s < 1)
        s = 1;
    if (s > max_s)
        s = max_s;
    return controller_requeue_after(s);
}

/* ---- the key ring ------------------------------------------------------------- */

/* Publish the JWKS ConfigMap in the system namespace when the cached one
 * differs. */
static int publish_jwks(operator_ctx *op, const json_t *jwks, pb_err *err)
{
    char *text = pb_json_dumps_canonical(jwks);
    if (!text)
        return pb_err_oom(err);
    char key[300];
    snprintf(key, sizeof key, "%s/%s", op->system_ns, LICENCE_JWKS_CONFIGMAP);
    json_t *live = op->children[OP_CHILD_CONFIGMAPS] ? store_get(op->children[OP_CHILD_CONFIGMAPS], key) : NULL;
    const char *have = json_string_value(json_object_get(json_object_get(live, "data"), "jwks.json"));
    int rc = 0;
    if (!have || strcmp(have, text) != 0) {
        json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:{s:s}}", "apiVersion", "v1", "kind",
                               "ConfigMap", "metadata", "name", LICENCE_JWKS_CONFIGMAP, "namespace",
                               op->system_ns, "labels", labels_for(NULL), "data", "jwks.json", text);
        rc = cm ? operator_apply(op, &CONFIGMAPS, op->system_ns, cm, OPERATOR_FIELD_MANAGER, err) : pb_err_oom(err);
        json_decref(cm);
        if (rc == 0)
            pb_log_info("licence JWKS published", "configmap", LICENCE_JWKS_CONFIGMAP, NULL);
    }
    json_decref(live);
    free(text);
    return rc;
}

/* Write the ring into its Secret (create when `existing` is NULL, else an
 * update carrying its resourceVersion). */
static int store_ring(operator_ctx *op, const lickeys *ring, const json_t *existing, pb_err *err)
{
    char *text = NULL, *b64 = NULL;
    int rc = lickeys_serialize(ring, &text, err);
    if (rc == 0)
        rc = pb_secret_b64_encode(text, strlen(text), &b64, err);
    wipe_free(text);
    if (rc != 0)
        return rc;
    json_t *obj = existing ? json_deep_copy(existing)
                           : json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:s}", "apiVersion", "v1", "kind",
                                       "Secret", "metadata", "name", LICKEYS_SECRET, "namespace",
                                       op->system_ns, "labels", labels_for(NULL), "type", "Opaque");
    if (!obj) {
        wipe_free(b64);
        return pb_err_oom(err);
    }
    json_object_set_new(obj, "data", json_pack("{s:s}", LICKEYS_SECRET_KEY, b64));
    json_object_del(obj, "stringData");
    wipe_free(b64);
    kube_request_opts o = {.field_manager = OPERATOR_FIELD_MANAGER};
    rc = existing ? kube_update(op->client, &SECRETS, op->system_ns, obj, &o, NULL, err)
                  : kube_create(op->client, &SECRETS, op->system_ns, obj, &o, NULL, err);
    /* The request body held the keys: wipe our copy of the value. */
    json_t *d = json_object_get(json_object_get(obj, "data"), LICKEYS_SECRET_KEY);
    if (json_is_string(d))
        pb_secret_wipe((char *)json_string_value(d), json_string_length(d));
    json_decref(obj);
    return rc;
}

static controller_result reconcile_keys(operator_ctx *op, licence_state *ls, pb_err *err)
{
    json_t *sec = NULL;
    int rc = kube_get(op->client, &SECRETS, op->system_ns, LICKEYS_SECRET, NULL, &sec, err);
    if (rc != 0 && rc != PB_ENOTFOUND) {
        pb_err_wrap(err, "licence keys: reading Secret %s/%s", op->system_ns, LICKEYS_SECRET);
        return controller_error();
    }
    pb_err_clear(err);
    lickeys *ring = NULL;
    if (!sec) {
        ring = lickeys_new();
        if (!ring) {
            pb_err_oom(err);
            return controller_error();
        }
    } else {
        char *text = secret_value(sec, LICKEYS_SECRET_KEY);
        rc = text ? lickeys_parse(text, strlen(text), &ring, err)
                  : pb_err_set(err, PB_EINVAL, "no data.%s", LICKEYS_SECRET_KEY);
        wipe_free(text);
        if (rc != 0) {
            /* Fail closed: sign nothing, replace nothing; say so. */
            json_decref(sec);
            pb_err_wrap(err, "licence keys: Secret %s/%s is unusable (nothing is signed until it is fixed or deleted)",
                        op->system_ns, LICKEYS_SECRET);
            return controller_error();
        }
    }
    time_t now = operator_now(op), next = 0;
    int changes = 0;
    rc = lickeys_plan(ring, now, &ls->policy, in_use, op, &changes, &next, err);
    if (rc == 0 && changes)
        rc = store_ring(op, ring, sec, err);
    json_decref(sec);
    if (rc == PB_ECONFLICT || rc == PB_EEXIST) {
        lickeys_free(ring);
        pb_err_clear(err);
        return controller_requeue();
    }
    json_t *jwks = rc == 0 ? lickeys_jwks(ring) : NULL;
    if (rc == 0)
        rc = jwks ? publish_jwks(op, jwks, err) : pb_err_oom(err);
    json_decref(jwks);
    if (rc != 0) {
        lickeys_free(ring);
        pb_err_wrap(err, "licence keys");
        return controller_error();
    }
    if (changes & LICKEYS_CREATED)
        pb_log_info("licence signing key created", "kid", pb_jws_key_kid(lickeys_active(ring)), NULL);
    if (changes & LICKEYS_ROTATED) {
        pb_log_info("licence signing key rotated", "kid", pb_jws_key_kid(lickeys_active(ring)), NULL);
        pb_metrics_counter_add(ls->rotations, 1, NULL);
    }
    if (changes & LICKEYS_PRUNED)
        pb_log_info("retired licence signing key unpublished", NULL);
    pb_metrics_gauge_set(ls->keys, (double)lickeys_count(ring), NULL);
    pthread_mutex_lock(&ls->mu);
    int differ = !ls->ring || !same_kids(ls->ring, ring);
    lickeys_free(ls->ring);
    ls->ring = ring;
    pthread_mutex_unlock(&ls->mu);
    /* New key to sign with, or one fewer to publish: every tenant's copy. */
    if (differ)
        enqueue_signable_tenants(op);
    return requeue_at(next, now, 300);
}

void licence_namespace_created(operator_ctx *op, const char *tenant)
{
    licence_state *ls = op->licence;
    if (ls)
        licmemo_put_empty(ls->memo, tenant, operator_now(op));
}

/* ---- one tenant ----------------------------------------------------------------- */

/* What the tenant's licence objects hold now (either may be NULL). */
static int read_live(operator_ctx *op, const char *ns, json_t **sec, json_t **cm, pb_err *err)
{
    *sec = *cm = NULL;
    int rc = kube_get(op->client, &SECRETS, ns, LICENCE_SECRET, NULL, sec, err);
    if (rc == PB_ENOTFOUND)
        rc = 0;
    if (rc == 0) {
        rc = kube_get(op->client, &CONFIGMAPS, ns, LICENCE_CONFIGMAP, NULL, cm, err);
        if (rc == PB_ENOTFOUND)
            rc = 0;
    }
    if (rc == 0)
        pb_err_clear(err);
    return rc;
}

/* The claims as the ConfigMap shows them (malloc'd; NULL: out of memory). */
static char *claims_text(const json_t *claims)
{
    return json_dumps(claims, JSON_INDENT(2) | JSON_SORT_KEYS);
}

static int apply_configmap(operator_ctx *op, const char *tenant, const char *ns, const char *pretty,
                           const char *jwks_text, pb_err *err)
{
    if (!pretty)
        return pb_err_oom(err);
    json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:{s:s, s:s}}", "apiVersion", "v1", "kind",
                           "ConfigMap", "metadata", "name", LICENCE_CONFIGMAP, "namespace", ns, "labels",
                           labels_for(tenant), "data", "claims.json", pretty, "jwks.json", jwks_text);
    int rc = cm ? operator_apply(op, &CONFIGMAPS, ns, cm, OPERATOR_FIELD_MANAGER, err) : pb_err_oom(err);
    json_decref(cm);
    return rc;
}

static int apply_secret(operator_ctx *op, const char *tenant, const char *ns, const char *token,
                        long long generation, pb_err *err)
{
    char *b64 = NULL;
    int rc = pb_secret_b64_encode(token, strlen(token), &b64, err);
    if (rc != 0)
        return rc;
    char gen[32];
    snprintf(gen, sizeof gen, "%lld", generation);
    json_t *sec = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:{s:s}}, s:s, s:{s:s}}", "apiVersion", "v1",
                            "kind", "Secret", "metadata", "name", LICENCE_SECRET, "namespace", ns,
                            "labels", labels_for(tenant), "annotations", "paybill.dev/licence-generation",
                            gen, "type", "Opaque", "data", "licence.jwt", b64);
    free(b64);
    rc = sec ? operator_apply(op, &SECRETS, ns, sec, OPERATOR_FIELD_MANAGER, err) : pb_err_oom(err);
    json_decref(sec);
    return rc;
}

static void set_status_licence(json_t *status, const json_t *claims, const char *kid)
{
    char iat[PB_TIME_BUF], exp[PB_TIME_BUF];
    struct timespec ti = {(time_t)json_integer_value(json_object_get(claims, "iat")), 0};
    struct timespec te = {(time_t)json_integer_value(json_object_get(claims, "exp")), 0};
    long long gen = 0;
    pb_json_opt_int(claims, LICENCE_CLAIM ".generation", 0, &gen, NULL);
    json_object_set_new(status, "licence",
                        json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "generation", (json_int_t)gen, "keyID", kid,
                                  "issuedAt", pb_time_format_rfc3339(ti, iat, sizeof iat), "expiresAt",
                                  pb_time_format_rfc3339(te, exp, sizeof exp), "jti",
                                  json_string_value(json_object_get(claims, "jti")) ? json_string_value(json_object_get(claims, "jti")) : "",
                                  "secretName", LICENCE_SECRET));
}

/* Sign a new licence with the active key (under ls->mu); the kid used
 * into kid. PB_EUNAVAILABLE when the active key is not the one decided
 * on (the ring moved meanwhile: decide again). */
static int sign(licence_state *ls, const char *expect_kid, const json_t *claims, char **token, char *kid,
                pb_err *err)
{
    pthread_mutex_lock(&ls->mu);
    const pb_jws_key *k = lickeys_active(ls->ring);
    int rc;
    if (!k || strcmp(pb_jws_key_kid(k), expect_kid) != 0)
        rc = pb_err_set(err, PB_EUNAVAILABLE, "the signing key changed while signing; again");
    else {
        snprintf(kid, PB_JWS_KID_MAX, "%s", pb_jws_key_kid(k));
        rc = pb_jws_sign(k, claims, token, err);
    }
    pthread_mutex_unlock(&ls->mu);
    return rc;
}

static controller_result reconcile_tenant(operator_ctx *op, licence_state *ls, const char *name, pb_err *err)
{
    /* Our last status write has not come back yet: its echo may not pass
     * tenant_changed, so look again shortly rather than wait for it. */
    if (operator_cache_behind(op, op->tenants, &OPERATOR_GVR_TENANTS, name))
        return operator_requeue_conflict();
    operator_obj o;
    if (operator_obj_begin(op, op->tenants, name, &o) != 0)
        return controller_ok(); /* gone: its namespace (and licence) go with it */
    int deleting = json_object_get(json_object_get(o.obj, "metadata"), "deletionTimestamp") != NULL;
    if (!signable(o.obj)) {
        /* Nothing to sign into yet (or any more); the Tenant's next status
         * change brings it back. */
        licmemo_drop(ls->memo, name, !deleting);
        json_decref(o.old_status);
        json_decref(o.obj);
        return controller_ok();
    }
    char ns[128];
    tenantspec_namespace(name, ns, sizeof ns);

    json_t *jwks = NULL;
    char active_kid[PB_JWS_KID_MAX] = "";
    pthread_mutex_lock(&ls->mu);
    if (ls->ring && lickeys_active(ls->ring)) {
        jwks = lickeys_jwks(ls->ring);
        snprintf(active_kid, sizeof active_kid, "%s", pb_jws_key_kid(lickeys_active(ls->ring)));
    }
    pthread_mutex_unlock(&ls->mu);
    if (!jwks) { /* keys not loaded yet (or unusable: see the @keyring errors) */
        /* A licence already issued stays valid (its Secret is untouched):
         * flipping Licensed to False and back at every operator start was
         * status churn (two writes per tenant, a new lastTransitionTime).
         * Report the missing keys only for a tenant that has no licence. */
        const char *lic = json_string_value(json_object_get(cond_find(o.status, "Licensed"), "status"));
        if (!lic || strcmp(lic, "True") != 0)
            cond_set(o.status, "Licensed", "False", "KeysUnavailable",
                     "no licence signing key is available yet", o.gen, o.now);
        return operator_obj_finish(op, &o, &OPERATOR_GVR_TENANTS, "tenant", name, controller_requeue_after(2), err);
    }
    char *jwks_text = pb_json_dumps_canonical(jwks);

    const char *plan_name = NULL, *sub_name = NULL;
    pb_json_opt_string(o.status, "plan", NULL, &plan_name, NULL);
    pb_json_opt_string(o.status, "subscription", NULL, &sub_name, NULL);
    json_t *plan = plan_name ? store_get(op->plans, plan_name) : NULL;
    json_t *sub = sub_name ? store_get(op->subscriptions, sub_name) : NULL;
    json_t *ent = licencespec_entitlements(o.obj, plan, sub);
    json_decref(plan);
    json_decref(sub);

    json_t *sec = NULL, *cm = NULL, *current = NULL, *claims = NULL;
    char cur_kid[PB_JWS_KID_MAX] = "", kid[PB_JWS_KID_MAX] = "";
    char *token = NULL;
    time_t now = operator_now(op), renew_at = 0;
    licencespec_action act = LICENCE_KEEP;
    char *live = NULL, *ctext = NULL;
    int from_memo = jwks_text && ent && licmemo_get(ls->memo, name, now, jwks_text, &live, &cm, &current, cur_kid);
    int rc = from_memo ? 0 : jwks_text && ent ? read_live(op, ns, &sec, &cm, err) : pb_err_oom(err);
    if (rc == 0) {
        if (!from_memo)
            live = secret_value(sec, "licence.jwt");
        /* Whatever does not verify against our keys is not a licence (the
         * memo answers for a token it saw verified against these keys). */
        if (live && !current && pb_jws_verify(live, jwks, &current, cur_kid, NULL) != 0)
            current = NULL;
        act = licencespec_decide(&ls->spec, name, current, cur_kid, active_kid, ent, now, &renew_at);
    }
    if (rc == 0 && act != LICENCE_KEEP) {
        long long status_gen = 0;
        pb_json_opt_int(o.status, "licence.generation", 0, &status_gen, NULL);
        long long gen = licencespec_next_generation(act, current, status_gen);
        char *jti = NULL;
        rc = pb_secret_token_hex(16, &jti, err);
        if (rc == 0) {
            claims = licencespec_claims(&ls->spec, name, ent, gen, now, jti);
            rc = claims ? sign(ls, active_kid, claims, &token, kid, err) : pb_err_oom(err);
        }
        free(jti);
        /* Its keys first, then the licence: never a token nobody can verify. */
        if (rc == 0)
            rc = apply_configmap(op, name, ns, ctext = claims_text(claims), jwks_text, err);
        if (rc == 0)
            rc = apply_secret(op, name, ns, token, gen, err);
        if (rc == 0) {
            licmemo_put(ls->memo, name, token, jwks_text, ctext, claims, kid, now);
            pb_metrics_counter_add(ls->signed_total, 1, licencespec_action_name(act), NULL);
            char g[32];
            snprintf(g, sizeof g, "%lld", gen);
            pb_log_info("licence signed", "tenant", name, "reason", licencespec_action_name(act), "generation", g,
                        "kid", kid, NULL);
            const char *st = NULL;
            pb_json_opt_string(ent, "status", "", &st, NULL);
            if (act == LICENCE_NEW)
                operator_event(op, o.obj, "Normal", "LicenceIssued", "licence generation %lld issued (plan %s, %s)",
                               gen, plan_name, st);
            else if (act == LICENCE_ENTITLEMENTS)
                operator_event(op, o.obj, "Normal", "LicenceUpdated",
                               "licence generation %lld: entitlements changed (plan %s, %s)", gen, plan_name, st);
            else if (act == LICENCE_REPAIR)
                operator_event(op, o.obj, "Warning", "LicenceRepaired",
                               "licence in %s/%s was missing or did not verify; generation %lld issued", ns,
                               LICENCE_SECRET, gen);
            renew_at = now + ls->spec.validity_s - ls->spec.renew_before_s;
        }
    } else if (rc == 0) {
        /* Kept: only the published copy of the keys and claims may lag. */
        claims = json_incref(current);
        snprintf(kid, sizeof kid, "%s", cur_kid);
        const json_t *data = json_object_get(cm, "data");
        const char *have_jwks = json_string_value(json_object_get(data, "jwks.json"));
        json_t *have_claims = NULL;
        const char *hc = json_string_value(json_object_get(data, "claims.json"));
        if (hc)
            have_claims = json_loads(hc, 0, NULL);
        if (!have_jwks || strcmp(have_jwks, jwks_text) != 0 || !json_equal(have_claims, claims)) {
            rc = apply_configmap(op, name, ns, ctext = claims_text(claims), jwks_text, err);
            if (rc == 0)
                licmemo_put(ls->memo, name, live, jwks_text, ctext, current, cur_kid, now);
        } else if (!from_memo) {
            licmemo_put(ls->memo, name, live, have_jwks, hc, current, cur_kid, now);
        }
        json_decref(have_claims);
    }
    if (rc != 0)
        licmemo_drop(ls->memo, name, 0);
    controller_result res;
    if (rc == PB_EUNAVAILABLE) {
        pb_err_clear(err);
        res = controller_requeue();
        json_decref(o.old_status);
        json_decref(o.obj);
    } else if (rc != 0) {
        pb_err_wrap(err, "tenant %s: licence", name);
        char msg[PB_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", pb_err_msg(err));
        if (cond_set(o.status, "Licensed", "False", "SigningFailed", msg, o.gen, o.now))
            operator_event(op, o.obj, "Warning", "LicenceFailed", "%s", msg);
        pb_err werr;
        pb_err_clear(&werr);
        operator_obj_finish(op, &o, &OPERATOR_GVR_TENANTS, "tenant", name, controller_ok(), &werr);
        res = controller_error();
    } else {
        set_status_licence(o.status, claims, kid);
        long long gen = 0;
        pb_json_opt_int(claims, LICENCE_CLAIM ".generation", 0, &gen, NULL);
        const char *st = NULL;
        pb_json_opt_string(ent, "status", "", &st, NULL);
        char msg[512];
        snprintf(msg, sizeof msg, "licence generation %lld in Secret %s/%s (plan %s, %s)", gen, ns, LICENCE_SECRET,
                 plan_name ? plan_name : "", st);
        cond_set(o.status, "Licensed", "True", "Valid", msg, o.gen, o.now);
        res = operator_obj_finish(op, &o, &OPERATOR_GVR_TENANTS, "tenant", name,
                                  requeue_at(renew_at, now, 3600), err);
    }
    if (token)
        pb_secret_wipe(token, strlen(token));
    free(token);
    if (live)
        pb_secret_wipe(live, strlen(live));
    free(live);
    free(ctext);
    free(jwks_text);
    json_decref(claims);
    json_decref(current);
    json_decref(sec);
    json_decref(cm);
    json_decref(ent);
    json_decref(jwks);
    return res;
}

controller_result licence_reconcile(controller_ctx *ctx, const char *key, pb_err *err)
{
    operator_ctx *op = ctx->user;
    if (strcmp(key, LICENCE_KEYRING_KEY) == 0)
        return reconcile_keys(op, op->licence, err);
    return reconcile_tenant(op, op->licence, key, err);
}

/* ---- wiring ------------------------------------------------------------------------ */

static json_t *map_tenant(json_t *t, void *ud)
{
    (void)ud;
    const char *n = meta_str(t, "name");
    return n ? json_pack("[s]", n) : NULL;
}

/* A tenant seen for the first time (at start, or just created) that has
 * no namespace yet has nothing to sign into; its status change when the
 * namespace is ready brings it (tenant_changed). */
int licence_tenant_added(json_t *obj, void *ud)
{
    (void)ud;
    return signable(obj);
}

/* A Subscription's state matters to the licence of a signable tenant only:
 * the others get theirs, with the state of that moment, when they become
 * signable. A cold start otherwise ran the licence of every new tenant
 * twice for nothing (its Subscription's add and first state). */
json_t *licence_map_subscription(json_t *sub, void *ud)
{
    operator_ctx *op = ud;
    json_t *keys = operator_map_subscription_to_tenant(sub, ud);
    const char *name = json_string_value(json_array_get(keys, 0));
    json_t *tenant = name ? store_get(op->tenants, name) : NULL;
    int keep = tenant && signable(tenant);
    json_decref(tenant);
    if (!keep) {
        json_decref(keys);
        return NULL;
    }
    return keys;
}

/* Only what a licence is made of (and whether it can be written). */
static int tenant_changed(json_t *old_obj, json_t *new_obj, void *ud)
{
    (void)ud;
    static const char *const paths[] = {"status.plan", "status.planGeneration", "status.tier",
                                        "status.phase", "status.subscription", "status.isolation",
                                        "metadata.deletionTimestamp", "metadata.uid", NULL};
    for (const char *const *p = paths; *p; p++)
        if (operator_pred_path_changed(old_obj, new_obj, (void *)*p))
            return 1;
    return cond_is_true(json_object_get(old_obj, "status"), "NamespaceReady") !=
           cond_is_true(json_object_get(new_obj, "status"), "NamespaceReady");
}

/* An update the licence acts on: what it is made of changed (tenant_changed)
 * for a tenant that is, or was until now, signable. Changes among states
 * with nothing to sign into (a new tenant's first status, before its
 * namespace is ready) ran the licence for nothing; its memo, dropped when
 * the tenant stopped being signable, stays so. */
int licence_tenant_updated(json_t *old_obj, json_t *new_obj, void *ud)
{
    return (signable(old_obj) || signable(new_obj)) && tenant_changed(old_obj, new_obj, ud);
}

static json_t *map_jwks_configmap(json_t *cm, void *ud)
{
    (void)ud;
    const char *n = meta_str(cm, "name");
    return n && strcmp(n, LICENCE_JWKS_CONFIGMAP) == 0 ? json_pack("[s]", LICENCE_KEYRING_KEY) : NULL;
}

int licence_setup(manager *m, operator_ctx *op, const opconfig_licence *cfg, informer *tenants,
                  informer *plans, informer *subs, informer *configmaps, int workers, pb_err *err)
{
    licence_state *ls = calloc(1, sizeof *ls);
    if (!ls)
        return pb_err_oom(err);
    snprintf(ls->issuer, sizeof ls->issuer, "%s", cfg->issuer);
    snprintf(ls->audience, sizeof ls->audience, "%s", cfg->audience);
    ls->spec = (licencespec_settings){.issuer = ls->issuer,
                                      .audience = ls->audience,
                                      .validity_s = cfg->validity_ms / 1000,
                                      .renew_before_s = cfg->renew_before_ms / 1000};
    ls->policy = (lickeys_policy){.rotation_s = cfg->key_rotation_ms / 1000, .overlap_s = cfg->key_overlap_ms / 1000};
    pthread_mutex_init(&ls->mu, NULL);
    ls->memo = licmemo_new();
    op->licence = ls;
    if (!ls->memo)
        return pb_err_oom(err);
    int rc = licencespec_check_settings(&ls->spec, err);
    if (rc != 0)
        return rc;
    static const char *const reason[] = {"reason", NULL};
    pb_metrics_registry *reg = pb_metrics_default();
    if ((rc = pb_metrics_counter_register(reg, "paybill_licences_signed_total",
                                          "Tenant licences signed, by reason (new, entitlements, renew, rekey, repair).",
                                          reason, &ls->signed_total, err)) != 0 ||
        (rc = pb_metrics_counter_register(reg, "paybill_licence_key_rotations_total",
                                          "Licence signing key rotations.", NULL, &ls->rotations, err)) != 0 ||
        (rc = pb_metrics_gauge_register(reg, "paybill_licence_signing_keys",
                                        "Licence signing keys published in the JWKS (the active one and retired ones still in their overlap).",
                                        NULL, &ls->keys, err)) != 0)
        return rc;
    controller_options co = {.name = "licence", .workers = workers, .reconcile = licence_reconcile, .user = op};
    if ((rc = manager_add_controller(m, &co, &op->licence_ctrl, err)) != 0 ||
        (rc = controller_watches_predicates(op->licence_ctrl, tenants, map_tenant, op, licence_tenant_added,
                                            licence_tenant_updated, NULL, err)) != 0 ||
        (rc = controller_watches_filtered(op->licence_ctrl, plans, operator_map_plan_to_tenants, op,
                                          controller_generation_changed, NULL, err)) != 0 ||
        (rc = controller_watches_filtered(op->licence_ctrl, subs, licence_map_subscription, op,
                                          operator_pred_path_changed, (void *)"status.state", err)) != 0 ||
        (configmaps && (rc = controller_watches(op->licence_ctrl, configmaps, map_jwks_configmap, op, err)) != 0))
        return rc;
    controller_enqueue(op->licence_ctrl, LICENCE_KEYRING_KEY);
    return 0;
}

void licence_state_free(licence_state *s)
{
    if (!s)
        return;
    lickeys_free(s->ring);
    licmemo_free(s->memo);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- GET /.well-known/jwks.json ------------------------------------------------------- */

static void jwks_handler(const pb_http_request *req, pb_http_response *resp, void *arg)
{
    (void)req;
    operator_ctx *op = arg;
    char key[300];
    snprintf(key, sizeof key, "%s/%s", op->system_ns, LICENCE_JWKS_CONFIGMAP);
    json_t *cm = op->children[OP_CHILD_CONFIGMAPS] ? store_get(op->children[OP_CHILD_CONFIGMAPS], key) : NULL;
    const char *text = json_string_value(json_object_get(json_object_get(cm, "data"), "jwks.json"));
    if (text) {
        pb_http_add_header(resp, "Cache-Control", "max-age=60");
        pb_http_reply(resp, 200, "application/jwk-set+json", text, strlen(text));
    } else {
        pb_http_add_header(resp, "Retry-After", "5");
        pb_http_reply(resp, 503, NULL, "no licence keys published yet\n", 30);
    }
    json_decref(cm);
}

int licence_register_routes(pb_http_server *srv, void *ud, pb_err *err)
{
    return pb_http_route(srv, "GET", LICENCE_JWKS_PATH, jwks_handler, ud, err);
}
