/*
 * licence_memo.c - the Licence controller's memo of each tenant's licence
 * objects and of their verification (see licence_memo.h).
 */
#include "controllers/licence_memo.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jload.h"
#include "util/jws.h"
#include "util/secret.h"

struct licmemo {
    pthread_mutex_t mu;
    /* tenant -> {"token", "jwks", "claims", "at"} and "kid" when the token
     * was verified (or signed) with the claims as its payload; or
     * {"empty": true, "at"} */
    json_t *entries;
    time_t swept;
};

licmemo *licmemo_new(void)
{
    licmemo *m = calloc(1, sizeof *m);
    if (!m || !(m->entries = json_object())) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

/* The claims text as a tree, repeated keys refused (as a verified payload
 * is decoded); NULL when it is not a string or not JSON. */
static json_t *load_claims(const json_t *claims)
{
    const char *s = json_string_value(claims);
    return s ? pb_jload(s, strlen(s), JSON_REJECT_DUPLICATES, NULL) : NULL;
}

static void wipe(json_t *entry)
{
    json_t *t = json_object_get(entry, "token");
    if (json_is_string(t)) /* a licence is a bearer credential */
        pb_secret_wipe((char *)json_string_value(t), json_string_length(t));
}

void licmemo_free(licmemo *m)
{
    if (!m)
        return;
    const char *k;
    json_t *v;
    json_object_foreach(m->entries, k, v)
        wipe(v);
    json_decref(m->entries);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void licmemo_drop(licmemo *m, const char *tenant, int keep_empty)
{
    pthread_mutex_lock(&m->mu);
    json_t *e = json_object_get(m->entries, tenant);
    if (e && !(keep_empty && json_is_true(json_object_get(e, "empty")))) {
        wipe(e);
        json_object_del(m->entries, tenant);
    }
    pthread_mutex_unlock(&m->mu);
}

/* Whether entry e, written at its "at", is still to be trusted at now. */
static int fresh(const json_t *e, time_t now)
{
    time_t at = (time_t)json_integer_value(json_object_get(e, "at"));
    time_t ttl = json_is_true(json_object_get(e, "empty")) ? LICMEMO_EMPTY_TTL_S : LICMEMO_TTL_S;
    return e && now >= at && now - at < ttl;
}

/* Put entry e (owned; NULL: out of memory) for the tenant, replacing what
 * was there, and drop expired entries at most once per window. */
static void set(licmemo *m, const char *tenant, json_t *e, time_t now)
{
    pthread_mutex_lock(&m->mu);
    json_t *old = json_object_get(m->entries, tenant);
    if (old)
        wipe(old);
    if (!e || json_object_set_new(m->entries, tenant, e) != 0)
        json_object_del(m->entries, tenant); /* out of memory: forget rather than keep a stale entry */
    if (now - m->swept >= LICMEMO_TTL_S) {
        const char *k;
        json_t *v, *tmp;
        json_object_foreach_safe(m->entries, tmp, k, v) {
            if (!fresh(v, now)) {
                wipe(v);
                json_object_del(m->entries, k);
            }
        }
        m->swept = now;
    }
    pthread_mutex_unlock(&m->mu);
}

void licmemo_put(licmemo *m, const char *tenant, const char *token, const char *jwks, const char *claims,
                 const json_t *payload, const char *kid, time_t now)
{
    if (!token || !jwks || !claims) {
        licmemo_drop(m, tenant, 0);
        return;
    }
    json_t *e = json_pack("{s:s, s:s, s:s, s:I}", "token", token, "jwks", jwks, "claims", claims, "at",
                          (json_int_t)now);
    /* The verification is kept as the kid alone: get hands out the claims
     * text decoded, so it must be the payload itself (a tree of it would
     * cost ~2.5 kB per tenant, 25 MB at the peak of 10,000 new tenants). */
    json_t *c = json_is_object(payload) && kid ? load_claims(json_object_get(e, "claims")) : NULL;
    if (e && c && json_equal(c, payload))
        json_object_set_new(e, "kid", json_string(kid));
    json_decref(c);
    set(m, tenant, e, now);
}

void licmemo_put_empty(licmemo *m, const char *tenant, time_t now)
{
    set(m, tenant, json_pack("{s:b, s:I}", "empty", 1, "at", (json_int_t)now), now);
}

int licmemo_get(licmemo *m, const char *tenant, time_t now, const char *jwks, char **token, json_t **cm,
                json_t **payload, char *kid)
{
    int hit = 0;
    *token = NULL;
    *cm = NULL;
    *payload = NULL;
    pthread_mutex_lock(&m->mu);
    json_t *e = json_object_get(m->entries, tenant);
    int ok = fresh(e, now);
    if (ok && json_is_true(json_object_get(e, "empty"))) {
        hit = 1;
    } else if (ok) {
        *token = strdup(json_string_value(json_object_get(e, "token")));
        *cm = json_pack("{s:{s:O, s:O}}", "data", "jwks.json", json_object_get(e, "jwks"), "claims.json",
                        json_object_get(e, "claims"));
        hit = *token && *cm;
        const char *verified_with = json_string_value(json_object_get(e, "jwks"));
        const char *vkid = json_string_value(json_object_get(e, "kid"));
        if (hit && jwks && verified_with && vkid && strcmp(verified_with, jwks) == 0) {
            *payload = load_claims(json_object_get(e, "claims"));
            if (*payload)
                snprintf(kid, PB_JWS_KID_MAX, "%s", vkid);
        }
        if (!hit) {
            free(*token);
            json_decref(*cm);
            *token = NULL;
            *cm = NULL;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return hit;
}
