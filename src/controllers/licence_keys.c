/*
 * licence_keys.c - the licence signing key ring (see licence_keys.h).
 */
#include "controllers/licence_keys.h"

#include <stdlib.h>
#include <string.h>

#include "util/secret.h"

typedef struct ring_key {
    pb_jws_key *key;
    long long created, retired; /* retired 0: not retired */
} ring_key;

struct lickeys {
    ring_key k[LICKEYS_MAX];
    size_t n;
};

lickeys *lickeys_new(void) { return calloc(1, sizeof(lickeys)); }

void lickeys_free(lickeys *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        pb_jws_key_free(r->k[i].key);
    free(r);
}

size_t lickeys_count(const lickeys *r) { return r ? r->n : 0; }

int lickeys_parse(const char *text, size_t n, lickeys **out, pb_err *err)
{
    *out = NULL;
    json_error_t je;
    json_t *doc = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        json_decref(doc);
        /* je.text may quote the input: never repeat it. */
        return pb_err_set(err, PB_EINVAL, "%s: not a JSON object with a keys list", LICKEYS_SECRET_KEY);
    }
    if (json_array_size(keys) > LICKEYS_MAX) {
        json_decref(doc);
        return pb_err_set(err, PB_EINVAL, "%s: more than %d keys", LICKEYS_SECRET_KEY, LICKEYS_MAX);
    }
    lickeys *r = lickeys_new();
    int rc = r ? 0 : pb_err_oom(err);
    size_t i;
    json_t *e;
    json_array_foreach(keys, i, e) {
        if (rc != 0)
            break;
        const char *kid = json_string_value(json_object_get(e, "kid"));
        const char *pem = json_string_value(json_object_get(e, "privateKey"));
        json_t *created = json_object_get(e, "createdAt"), *retired = json_object_get(e, "retiredAt");
        if (!kid || !pem || !json_is_integer(created) || (retired && !json_is_integer(retired))) {
            rc = pb_err_set(err, PB_EINVAL, "%s: keys[%zu]: needs kid, privateKey, createdAt", LICKEYS_SECRET_KEY, i);
            break;
        }
        pb_jws_key *k = NULL;
        if ((rc = pb_jws_key_from_pem(pem, &k, err)) != 0) {
            pb_err_wrap(err, "%s: keys[%zu]", LICKEYS_SECRET_KEY, i);
            break;
        }
        if (strcmp(pb_jws_key_kid(k), kid) != 0) {
            pb_jws_key_free(k);
            rc = pb_err_set(err, PB_EINVAL, "%s: keys[%zu]: kid %.64s is not its key's thumbprint",
                            LICKEYS_SECRET_KEY, i, kid);
            break;
        }
        if (lickeys_has(r, kid)) {
            pb_jws_key_free(k);
            rc = pb_err_set(err, PB_EINVAL, "%s: keys[%zu]: kid %.64s twice", LICKEYS_SECRET_KEY, i, kid);
            break;
        }
        r->k[r->n++] = (ring_key){k, json_integer_value(created), retired ? json_integer_value(retired) : 0};
    }
    json_decref(doc);
    if (rc != 0) {
        lickeys_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int lickeys_serialize(const lickeys *r, char **out, pb_err *err)
{
    *out = NULL;
    json_t *arr = json_array();
    int rc = arr ? 0 : pb_err_oom(err);
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        char *pem = NULL;
        if ((rc = pb_jws_key_private_pem(r->k[i].key, &pem, err)) != 0)
            break;
        json_t *e = json_pack("{s:s, s:s, s:I}", "kid", pb_jws_key_kid(r->k[i].key), "privateKey", pem,
                              "createdAt", (json_int_t)r->k[i].created);
        pb_secret_wipe(pem, strlen(pem));
        free(pem);
        if (e && r->k[i].retired)
            json_object_set_new(e, "retiredAt", json_integer(r->k[i].retired));
        if (!e || json_array_append_new(arr, e) != 0)
            rc = pb_err_oom(err);
    }
    if (rc == 0) {
        json_t *doc = json_pack("{s:O}", "keys", arr);
        *out = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(doc);
        if (!*out)
            rc = pb_err_oom(err);
    }
    /* jansson's copies of the PEM strings die with the tree; their memory
     * is not wiped (jansson offers no hook), as for every Secret we read. */
    json_decref(arr);
    return rc;
}

const pb_jws_key *lickeys_active(const lickeys *r)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (!r->k[i].retired)
            return r->k[i].key;
    return NULL;
}

int lickeys_has(const lickeys *r, const char *kid)
{
    for (size_t i = 0; r && kid && i < r->n; i++)
        if (strcmp(pb_jws_key_kid(r->k[i].key), kid) == 0)
            return 1;
    return 0;
}

json_t *lickeys_jwks(const lickeys *r)
{
    json_t *keys = json_array();
    for (size_t i = 0; keys && r && i < r->n; i++)
        json_array_append_new(keys, pb_jws_key_public_jwk(r->k[i].key));
    return keys ? json_pack("{s:o}", "keys", keys) : NULL;
}

static void consider(time_t *next, long long t)
{
    if (*next == 0 || t < (long long)*next)
        *next = (time_t)t;
}

int lickeys_plan(lickeys *r, time_t now, const lickeys_policy *p, lickeys_in_use_fn in_use,
                 void *ud, int *changes, time_t *next_s, pb_err *err)
{
    *changes = 0;
    time_t next = 0;
    if (p->rotation_s <= 0 || p->overlap_s < 0)
        return pb_err_set(err, PB_EINVAL, "licence keys: rotation period must be positive");
    /* Prune first: it frees a slot for a rotation. */
    for (size_t i = 0; i < r->n;) {
        ring_key *k = &r->k[i];
        if (k->retired && now >= k->retired + p->overlap_s &&
            !(in_use && in_use(ud, pb_jws_key_kid(k->key)))) {
            pb_jws_key_free(k->key);
            memmove(&r->k[i], &r->k[i + 1], (r->n - i - 1) * sizeof r->k[0]);
            r->n--;
            *changes |= LICKEYS_PRUNED;
            continue;
        }
        if (k->retired)
            /* Still in use after the overlap: look again soon. */
            consider(&next, now >= k->retired + p->overlap_s ? (long long)now + 30 : k->retired + p->overlap_s);
        i++;
    }
    ring_key *active = NULL;
    for (size_t i = 0; i < r->n && !active; i++)
        if (!r->k[i].retired)
            active = &r->k[i];
    int rotate = active && now >= active->created + p->rotation_s;
    if (!active || rotate) {
        if (r->n >= LICKEYS_MAX)
            return pb_err_set(err, PB_ETOOLARGE,
                              "licence keys: %d keys still published (retired keys in use); not rotating",
                              LICKEYS_MAX);
        pb_jws_key *k = NULL;
        int rc = pb_jws_key_generate(&k, err);
        if (rc != 0)
            return rc;
        if (active)
            active->retired = now;
        memmove(&r->k[1], &r->k[0], r->n * sizeof r->k[0]);
        r->k[0] = (ring_key){k, now, 0};
        r->n++;
        *changes |= active ? LICKEYS_ROTATED : LICKEYS_CREATED;
        if (active)
            consider(&next, (long long)now + p->overlap_s);
        active = &r->k[0];
    }
    consider(&next, active->created + p->rotation_s);
    if (next_s)
        *next_s = next;
    return 0;
}
