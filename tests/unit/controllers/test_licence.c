/* Unit tests for licences: claims and re-sign decisions (licencespec), the
 * signing key ring (licence_keys), feature gates (planspec) and the
 * licence: settings (opconfig). */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/licence_keys.h"
#include "controllers/licencespec.h"
#include "controllers/opconfig.h"
#include "controllers/planspec.h"
#include "util/jws.h"

static const time_t T0 = 1780000000;
static const licencespec_settings S = {.issuer = "paybill", .audience = "paybill-tenant",
                                       .validity_s = 86400, .renew_before_s = 8 * 3600};

static json_t *tenant(const char *phase, const char *plan)
{
    return json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}}", "metadata", "name", "acme",
                     "uid", "u-1", "status", "phase", phase, "plan", plan, "tier", plan, "subscription",
                     "acme-sub", "isolation", "model", "bridge", "compute", "shared", "data", "schema");
}

static json_t *plan(void)
{
    return json_pack("{s:{s:s}, s:{s:s, s:[s, s, s], s:{s:i}, s:{s:i, s:s}}}", "metadata", "name", "pro", "spec",
                     "tier", "pro", "features", "exports", "agents", "api-access", "quotas", "pods", 5, "limits",
                     "workflowsPerHour", 100, "stepTimeout", "30s");
}

static json_t *sub(const char *state)
{
    return json_pack("{s:{s:s}, s:{s:s}}", "metadata", "name", "acme-sub", "status", "state", state);
}

static void test_entitlements(void **state)
{
    (void)state;
    json_t *t = tenant("Active", "pro"), *p = plan(), *s = sub("active");
    json_t *e = licencespec_entitlements(t, p, s);
    assert_string_equal(json_string_value(json_object_get(e, "plan")), "pro");
    assert_string_equal(json_string_value(json_object_get(e, "status")), "active");
    /* Features sorted: the same set always gives the same licence. */
    char *f = json_dumps(json_object_get(e, "features"), JSON_COMPACT);
    assert_string_equal(f, "[\"agents\",\"api-access\",\"exports\"]");
    free(f);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "quotas"), "pods")), 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "agents"), "workflowsPerHour")), 100);
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "isolation"), "data")), "schema");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "subscription"), "state")), "active");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "tenant"), "uid")), "u-1");
    json_decref(e);
    /* Suspended and canceled say so. */
    json_decref(t);
    t = tenant("Suspended", "pro");
    e = licencespec_entitlements(t, p, s);
    assert_string_equal(json_string_value(json_object_get(e, "status")), "suspended");
    json_decref(e);
    json_decref(s);
    s = sub("canceled");
    e = licencespec_entitlements(t, p, s);
    assert_string_equal(json_string_value(json_object_get(e, "status")), "canceled");
    json_decref(e);
    /* No plan or subscription cached: empty, never a crash. */
    e = licencespec_entitlements(t, NULL, NULL);
    assert_int_equal(json_array_size(json_object_get(e, "features")), 0);
    json_decref(e);
    json_decref(t);
    json_decref(p);
    json_decref(s);
}

static json_t *ent_for(const char *phase, const char *planname)
{
    json_t *t = tenant(phase, planname), *p = plan(), *s = sub("active");
    json_t *e = licencespec_entitlements(t, p, s);
    json_decref(t);
    json_decref(p);
    json_decref(s);
    return e;
}

static void test_claims_and_decisions(void **state)
{
    (void)state;
    json_t *ent = ent_for("Active", "pro");
    json_t *c = licencespec_claims(&S, "acme", ent, 3, T0, "j1");
    assert_string_equal(json_string_value(json_object_get(c, "iss")), "paybill");
    assert_string_equal(json_string_value(json_object_get(c, "sub")), "acme");
    assert_string_equal(json_string_value(json_object_get(c, "aud")), "paybill-tenant");
    assert_int_equal(json_integer_value(json_object_get(c, "iat")), T0);
    assert_int_equal(json_integer_value(json_object_get(c, "nbf")), T0);
    assert_int_equal(json_integer_value(json_object_get(c, "exp")), T0 + 86400);
    assert_string_equal(json_string_value(json_object_get(c, "jti")), "j1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "paybill"), "generation")), 3);
    time_t at = 0;

    assert_int_equal(licencespec_decide(&S, "acme", NULL, NULL, "k1", ent, T0, &at), LICENCE_NEW);
    /* Fresh, same entitlements, same key: kept (no re-sign per reconcile). */
    assert_int_equal(licencespec_decide(&S, "acme", c, "k1", "k1", ent, T0 + 60, &at), LICENCE_KEEP);
    assert_int_equal(at, T0 + 86400 - 8 * 3600);
    assert_int_equal(licencespec_decide(&S, "acme", c, "k1", "k1", ent, T0 + 16 * 3600 - 1, NULL), LICENCE_KEEP);
    /* Due for renewal. */
    assert_int_equal(licencespec_decide(&S, "acme", c, "k1", "k1", ent, T0 + 16 * 3600, NULL), LICENCE_RENEW);
    /* A rotated key. */
    assert_int_equal(licencespec_decide(&S, "acme", c, "k1", "k2", ent, T0 + 60, NULL), LICENCE_REKEY);
    /* Entitlements changed: plan, suspension. */
    json_t *e2 = ent_for("Active", "enterprise"), *e3 = ent_for("Suspended", "pro");
    assert_int_equal(licencespec_decide(&S, "acme", c, "k1", "k1", e2, T0 + 60, NULL), LICENCE_ENTITLEMENTS);
    assert_int_equal(licencespec_decide(&S, "acme", c, "k1", "k1", e3, T0 + 60, NULL), LICENCE_ENTITLEMENTS);
    /* Another audience, subject or issuer: not ours as configured. */
    licencespec_settings s2 = S;
    s2.audience = "other";
    assert_int_equal(licencespec_decide(&s2, "acme", c, "k1", "k1", ent, T0 + 60, NULL), LICENCE_REPAIR);
    assert_int_equal(licencespec_decide(&S, "globex", c, "k1", "k1", ent, T0 + 60, NULL), LICENCE_REPAIR);
    /* Validity shortened in the config: the long licence is replaced. */
    s2 = S;
    s2.validity_s = 3600;
    s2.renew_before_s = 600;
    assert_int_equal(licencespec_decide(&s2, "acme", c, "k1", "k1", ent, T0 + 60, NULL), LICENCE_RENEW);
    /* Issued in the future (clock jump). */
    assert_int_equal(licencespec_decide(&S, "acme", c, "k1", "k1", ent, T0 - 3600, NULL), LICENCE_RENEW);

    /* Generations: entitlements count, renewals and rekeys do not. */
    assert_int_equal(licencespec_next_generation(LICENCE_NEW, NULL, 0), 1);
    assert_int_equal(licencespec_next_generation(LICENCE_RENEW, c, 0), 3);
    assert_int_equal(licencespec_next_generation(LICENCE_REKEY, c, 2), 3);
    assert_int_equal(licencespec_next_generation(LICENCE_ENTITLEMENTS, c, 0), 4);
    /* A deleted Secret does not reset it: the status remembers. */
    assert_int_equal(licencespec_next_generation(LICENCE_REPAIR, NULL, 7), 8);
    assert_string_equal(licencespec_action_name(LICENCE_REKEY), "rekey");

    json_decref(e2);
    json_decref(e3);
    json_decref(c);
    json_decref(ent);
    pb_err e;
    s2 = S;
    s2.renew_before_s = S.validity_s;
    assert_int_equal(licencespec_check_settings(&s2, &e), PB_EINVAL);
    assert_int_equal(licencespec_check_settings(&S, NULL), 0);
}

typedef struct use {
    const char *kid;
} use;

static int in_use(void *ud, const char *kid)
{
    use *u = ud;
    return u->kid && strcmp(u->kid, kid) == 0;
}

static int all_in_use(void *ud, const char *kid)
{
    (void)ud, (void)kid;
    return 1;
}

static char *sign_with(const lickeys *r)
{
    json_t *c = json_pack("{s:s}", "sub", "acme");
    char *tok = NULL;
    assert_int_equal(pb_jws_sign(lickeys_active(r), c, &tok, NULL), 0);
    json_decref(c);
    return tok;
}

static int verifies(const lickeys *r, const char *tok)
{
    json_t *jwks = lickeys_jwks(r);
    int rc = pb_jws_verify(tok, jwks, NULL, NULL, NULL);
    json_decref(jwks);
    return rc == 0;
}

static void test_key_ring_rotation(void **state)
{
    (void)state;
    lickeys_policy p = {.rotation_s = 1000, .overlap_s = 100};
    lickeys *r = lickeys_new();
    int ch = 0;
    time_t next = 0;
    use u = {NULL};
    assert_null(lickeys_active(r));
    assert_int_equal(lickeys_plan(r, T0, &p, in_use, &u, &ch, &next, NULL), 0);
    assert_int_equal(ch, LICKEYS_CREATED);
    assert_int_equal(lickeys_count(r), 1);
    assert_int_equal(next, T0 + 1000);
    char k1[PB_JWS_KID_MAX];
    snprintf(k1, sizeof k1, "%s", pb_jws_key_kid(lickeys_active(r)));
    char *tok1 = sign_with(r);
    assert_true(verifies(r, tok1));
    /* Nothing due: nothing changes. */
    assert_int_equal(lickeys_plan(r, T0 + 999, &p, in_use, &u, &ch, &next, NULL), 0);
    assert_int_equal(ch, 0);

    /* Rotation: a new active key, the old one still published. */
    assert_int_equal(lickeys_plan(r, T0 + 1000, &p, in_use, &u, &ch, &next, NULL), 0);
    assert_int_equal(ch, LICKEYS_ROTATED);
    assert_int_equal(lickeys_count(r), 2);
    assert_string_not_equal(pb_jws_key_kid(lickeys_active(r)), k1);
    assert_true(lickeys_has(r, k1));
    assert_true(verifies(r, tok1));
    json_t *jwks = lickeys_jwks(r);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 0), "kid")),
                        pb_jws_key_kid(lickeys_active(r)));
    json_decref(jwks);

    /* Survives a trip through the Secret. */
    char *text = NULL;
    assert_int_equal(lickeys_serialize(r, &text, NULL), 0);
    lickeys *r2 = NULL;
    assert_int_equal(lickeys_parse(text, strlen(text), &r2, NULL), 0);
    assert_int_equal(lickeys_count(r2), 2);
    assert_string_equal(pb_jws_key_kid(lickeys_active(r2)), pb_jws_key_kid(lickeys_active(r)));
    lickeys_free(r);
    r = r2;

    /* Overlap not over: stays. Over, but a live licence still uses it: stays. */
    assert_int_equal(lickeys_plan(r, T0 + 1099, &p, in_use, &u, &ch, &next, NULL), 0);
    assert_int_equal(ch, 0);
    assert_int_equal(next, T0 + 1100);
    u.kid = k1;
    assert_int_equal(lickeys_plan(r, T0 + 1200, &p, in_use, &u, &ch, &next, NULL), 0);
    assert_int_equal(ch, 0);
    assert_true(lickeys_has(r, k1));
    assert_true(verifies(r, tok1));
    /* Every licence re-signed: the old key goes, and its tokens fail. */
    u.kid = NULL;
    assert_int_equal(lickeys_plan(r, T0 + 1200, &p, in_use, &u, &ch, &next, NULL), 0);
    assert_int_equal(ch, LICKEYS_PRUNED);
    assert_int_equal(lickeys_count(r), 1);
    assert_false(lickeys_has(r, k1));
    assert_false(verifies(r, tok1));
    char *tok2 = sign_with(r);
    assert_true(verifies(r, tok2));
    free(tok1);
    free(tok2);
    free(text);
    lickeys_free(r);
}

static void test_key_ring_fails_closed(void **state)
{
    (void)state;
    lickeys *r = lickeys_new(), *bad = NULL;
    lickeys_policy p = {.rotation_s = 1000, .overlap_s = 100};
    int ch;
    assert_int_equal(lickeys_plan(r, T0, &p, NULL, NULL, &ch, NULL, NULL), 0);
    char *text = NULL;
    assert_int_equal(lickeys_serialize(r, &text, NULL), 0);
    pb_err e;
    /* A kid that is not the key's thumbprint (swapped or edited). */
    json_t *doc = json_loads(text, 0, NULL);
    json_t *k0 = json_array_get(json_object_get(doc, "keys"), 0);
    json_object_set_new(k0, "kid", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    char *edited = json_dumps(doc, 0);
    assert_int_equal(lickeys_parse(edited, strlen(edited), &bad, &e), PB_EINVAL);
    assert_null(bad);
    assert_null(strstr(e.msg, "PRIVATE")); /* errors never carry key material */
    free(edited);
    /* A broken PEM. */
    json_object_set_new(k0, "privateKey", json_string("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
    edited = json_dumps(doc, 0);
    assert_int_equal(lickeys_parse(edited, strlen(edited), &bad, &e), PB_EINVAL);
    assert_null(strstr(e.msg, "BEGIN"));
    free(edited);
    json_decref(doc);
    /* Not JSON at all: the error does not quote it. */
    assert_int_equal(lickeys_parse("secret-stuff", 12, &bad, &e), PB_EINVAL);
    assert_null(strstr(e.msg, "secret-stuff"));
    /* Rotation cannot outrun pruning forever: bounded, and said so. */
    for (int i = 1; i < LICKEYS_MAX; i++) {
        assert_int_equal(lickeys_plan(r, T0 + 1000 * i, &p, all_in_use, NULL, &ch, NULL, NULL), 0);
        assert_int_equal(ch, LICKEYS_ROTATED);
    }
    assert_int_equal(lickeys_count(r), LICKEYS_MAX);
    assert_int_equal(lickeys_plan(r, T0 + 1000 * LICKEYS_MAX, &p, all_in_use, NULL, &ch, NULL, &e), PB_ETOOLARGE);
    /* Once nothing uses them the retired keys go and rotation resumes. */
    assert_int_equal(lickeys_plan(r, T0 + 1000 * LICKEYS_MAX, &p, NULL, NULL, &ch, NULL, NULL), 0);
    assert_int_equal(ch, LICKEYS_PRUNED | LICKEYS_ROTATED);
    assert_int_equal(lickeys_count(r), 2);
    free(text);
    lickeys_free(r);
}

static void test_feature_gate(void **state)
{
    (void)state;
    json_t *p = plan();
    assert_true(planspec_has_feature(p, "agents"));
    assert_true(planspec_has_feature(p, "exports"));
    assert_false(planspec_has_feature(p, "cloud"));
    assert_false(planspec_has_feature(p, NULL));
    assert_false(planspec_has_feature(NULL, "agents"));
    json_decref(p);
}

static void test_licence_settings(void **state)
{
    (void)state;
    opconfig c;
    assert_int_equal(opconfig_parse("", "cfg.yaml", &c, NULL), 0);
    assert_string_equal(c.licence.issuer, "paybill");
    assert_string_equal(c.licence.audience, "paybill-tenant");
    assert_int_equal(c.licence.validity_ms, 24 * 3600 * 1000LL);
    assert_int_equal(c.licence.renew_before_ms, 8 * 3600 * 1000LL);
    assert_int_equal(c.licence.key_rotation_ms, 720 * 3600 * 1000LL);
    assert_int_equal(c.licence.key_overlap_ms, 24 * 3600 * 1000LL);
    opconfig_free(&c);
    assert_int_equal(opconfig_parse("licence:\n  issuer: https://paybill.example\n  audience: apps\n"
                                    "  validity: 1h\n  renewBefore: 10m\n  keyRotationPeriod: 48h\n  keyOverlap: 2h\n",
                                    "cfg.yaml", &c, NULL),
                     0);
    assert_string_equal(c.licence.issuer, "https://paybill.example");
    assert_int_equal(c.licence.validity_ms, 3600 * 1000LL);
    assert_int_equal(c.licence.key_overlap_ms, 2 * 3600 * 1000LL);
    opconfig_free(&c);
    pb_err e;
    assert_int_equal(opconfig_parse("licence:\n  validity: 1h\n  renewBefore: 1h\n", "cfg.yaml", &c, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "licence.renewBefore"));
    assert_int_equal(opconfig_parse("licence:\n  validty: 1h\n", "cfg.yaml", &c, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "licence.validty: unknown field"));
    assert_int_equal(opconfig_parse("licence:\n  issuer: \"\"\n", "cfg.yaml", &c, &e), PB_EINVAL);
    assert_int_equal(opconfig_parse("licence: 3\n", "cfg.yaml", &c, &e), PB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entitlements),
        cmocka_unit_test(test_claims_and_decisions),
        cmocka_unit_test(test_key_ring_rotation),
        cmocka_unit_test(test_key_ring_fails_closed),
        cmocka_unit_test(test_feature_gate),
        cmocka_unit_test(test_licence_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
