/*
 * licence_bench.c - signing throughput of tenant licences (issue 17).
 *
 * Questions answered:
 *   1. licences signed per second: the whole in-process work of one
 *      licence (entitlements from a Tenant/Plan/Subscription, claims, a
 *      random jti, canonical JSON, EdDSA signature), and the verification
 *      the operator does on each reconcile (the live licence checked
 *      against the JWKS);
 *   2. time to re-sign N tenants (default 10,000) after a key rotation:
 *      the key ring rotates, then every tenant's licence is decided on
 *      (REKEY) and signed with the new key. API writes (two per tenant: a
 *      ConfigMap and a Secret) are not included: at the operator's default
 *      client limit (50 qps) they, not signing, bound a fleet re-sign
 *      (10,000 tenants = 20,000 writes = ~400 s).
 * Single thread, like one reconcile worker.
 *
 * Usage: bench_licence_bench [--quick] [--tenants N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/licence_keys.h"
#include "controllers/licencespec.h"
#include "util/jws.h"
#include "util/secret.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const licencespec_settings S = {.issuer = "paybill", .audience = "paybill-tenant",
                                       .validity_s = 86400, .renew_before_s = 8 * 3600};

static json_t *tenant(int i)
{
    char name[32];
    snprintf(name, sizeof name, "t%d", i);
    return json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}}", "metadata", "name", name, "uid",
                     "0b7c7f7e-0000-4000-8000-000000000000", "status", "phase", "Active", "plan", "pro", "tier",
                     "pro", "subscription", name, "isolation", "model", "bridge", "compute", "shared", "data",
                     "schema");
}

static int sign_one(const pb_jws_key *k, const json_t *plan, const json_t *sub, int i, char **tok)
{
    json_t *t = tenant(i);
    json_t *ent = licencespec_entitlements(t, plan, sub);
    char *jti = NULL;
    int rc = pb_secret_token_hex(16, &jti, NULL);
    json_t *claims = licencespec_claims(&S, json_string_value(json_object_get(json_object_get(t, "metadata"), "name")),
                                        ent, 1, time(NULL), jti);
    if (rc == 0)
        rc = pb_jws_sign(k, claims, tok, NULL);
    free(jti);
    json_decref(claims);
    json_decref(ent);
    json_decref(t);
    return rc;
}

int main(int argc, char **argv)
{
    int n = 10000, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--tenants") == 0 && i + 1 < argc)
            n = atoi(argv[++i]);
    }
    if (quick)
        n = 1000;
    json_t *plan = json_pack("{s:{s:s}, s:{s:s, s:[s, s, s], s:{s:s, s:s, s:i}, s:{s:i, s:i, s:i, s:s}}}",
                             "metadata", "name", "pro", "spec", "tier", "pro", "features", "exports", "agents",
                             "api-access", "quotas", "cpu", "8", "memory", "16Gi", "pods", 50, "limits",
                             "workflowsPerHour", 100, "stepsPerWorkflow", 20, "rowsPerStep", 1000, "stepTimeout",
                             "30s");
    json_t *sub = json_pack("{s:{s:s}, s:{s:s}}", "metadata", "name", "t", "status", "state", "active");
    lickeys *ring = lickeys_new();
    lickeys_policy pol = {.rotation_s = 1000, .overlap_s = 100};
    int ch;
    time_t t0 = time(NULL);
    if (lickeys_plan(ring, t0, &pol, NULL, NULL, &ch, NULL, NULL) != 0)
        return 1;

    /* 1. Sign, then verify, n licences. */
    char **toks = calloc((size_t)n, sizeof *toks);
    double a = now_s();
    for (int i = 0; i < n; i++)
        if (sign_one(lickeys_active(ring), plan, sub, i, &toks[i]) != 0)
            return 1;
    double sign_s = now_s() - a;
    json_t *jwks = lickeys_jwks(ring);
    a = now_s();
    for (int i = 0; i < n; i++)
        if (pb_jws_verify(toks[i], jwks, NULL, NULL, NULL) != 0)
            return 1;
    double verify_s = now_s() - a;
    printf("licence_bench: %d licences: %.0f signed/s (%.1f us each), %.0f verified/s (%.1f us each)\n", n,
           n / sign_s, sign_s / n * 1e6, n / verify_s, verify_s / n * 1e6);

    /* 2. Rotation, then every tenant decided on and re-signed. */
    a = now_s();
    if (lickeys_plan(ring, t0 + 1000, &pol, NULL, NULL, &ch, NULL, NULL) != 0 || !(ch & LICKEYS_ROTATED))
        return 1;
    json_t *jwks2 = lickeys_jwks(ring);
    const char *active = pb_jws_key_kid(lickeys_active(ring));
    int resigned = 0;
    for (int i = 0; i < n; i++) {
        json_t *cur = NULL, *t = tenant(i);
        char kid[PB_JWS_KID_MAX];
        if (pb_jws_verify(toks[i], jwks2, &cur, kid, NULL) != 0)
            return 1;
        json_t *ent = licencespec_entitlements(t, plan, sub);
        licencespec_action act = licencespec_decide(&S, json_string_value(json_object_get(cur, "sub")), cur, kid,
                                                    active, ent, t0 + 1000, NULL);
        json_decref(ent);
        json_decref(t);
        json_decref(cur);
        if (act != LICENCE_REKEY)
            return 1;
        char *tok = NULL;
        if (sign_one(lickeys_active(ring), plan, sub, i, &tok) != 0)
            return 1;
        free(toks[i]);
        toks[i] = tok;
        resigned++;
    }
    double rot_s = now_s() - a;
    printf("licence_bench: key rotation: %d tenants checked and re-signed in %.2f s (%.0f/s, signing only; "
           "API writes not included)\n",
           resigned, rot_s, resigned / rot_s);
    for (int i = 0; i < n; i++)
        free(toks[i]);
    free(toks);
    json_decref(jwks);
    json_decref(jwks2);
    json_decref(plan);
    json_decref(sub);
    lickeys_free(ring);
    return 0;
}
