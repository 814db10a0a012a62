/* Unit tests for controllers/workflow_admission: the submitter is stamped
 * from userInfo and any client-supplied one is refused; the validating side
 * fails closed (absent or different submitter, another kind, spec edits);
 * status and metadata updates pass. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "controllers/workflow_admission.h"
#include "util/secret.h"

#define USER "{\"username\":\"system:serviceaccount:tenant-acme:paybill-agent\",\"uid\":\"u-1\"," \
             "\"groups\":[\"system:serviceaccounts\",\"system:authenticated\"]}"
#define SUB_OK "{\"username\":\"system:serviceaccount:tenant-acme:paybill-agent\",\"uid\":\"u-1\"," \
               "\"groups\":[\"system:serviceaccounts\",\"system:authenticated\"]}"
#define SPEC(extra) \
    "{\"policyRef\":{\"name\":\"p\"},\"steps\":[{\"name\":\"a\",\"operation\":\"select\"," \
    "\"table\":\"invoices\",\"limit\":10}]" extra "}"

static pb_adm_request *req(const char *op, const char *kind, const char *object, const char *old)
{
    char *b = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&b, &n);
    fprintf(f,
            "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
            "\"uid\":\"r-1\",\"operation\":\"%s\","
            "\"kind\":{\"group\":\"paybill.dev\",\"version\":\"v1alpha1\",\"kind\":\"%s\"},"
            "\"resource\":{\"group\":\"paybill.dev\",\"version\":\"v1alpha1\",\"resource\":\"workflows\"},"
            "\"namespace\":\"tenant-acme\",\"userInfo\":" USER ",\"object\":%s,\"oldObject\":%s}}",
            op, kind, object, old ? old : "null");
    fclose(f);
    pb_adm_request *rq;
    pb_err e = {0};
    if (pb_adm_decode(b, n, &rq, &e) != 0)
        fail_msg("decode: %s\n%s", e.msg, b);
    free(b);
    return rq;
}

/* allowed; message into msg (or "") */
static int decide(int mutate, pb_adm_request *rq, char *msg, size_t n, json_t **patch)
{
    json_t *rv;
    pb_err e = {0};
    assert_int_equal((mutate ? wf_adm_mutate : wf_adm_validate)(rq, &rv, &e), 0);
    json_t *r = json_object_get(rv, "response");
    assert_string_equal(json_string_value(json_object_get(r, "uid")), "r-1");
    const char *m = json_string_value(json_object_get(json_object_get(r, "status"), "message"));
    snprintf(msg, n, "%s", m ? m : "");
    int allowed = json_is_true(json_object_get(r, "allowed"));
    if (patch) {
        *patch = NULL;
        const char *b64 = json_string_value(json_object_get(r, "patch"));
        if (b64) {
            unsigned char *raw;
            size_t len;
            assert_int_equal(pb_secret_b64_decode(b64, strlen(b64), &raw, &len, NULL), 0);
            *patch = json_loadb((const char *)raw, len, 0, NULL);
            free(raw);
        }
    }
    json_decref(rv);
    pb_adm_request_free(rq);
    return allowed;
}

static void test_mutate_stamps_submitter(void **state)
{
    (void)state;
    char msg[512];
    json_t *patch;
    assert_true(decide(1, req("CREATE", "Workflow", "{\"metadata\":{\"name\":\"w\"},\"spec\":" SPEC("") "}", NULL),
                       msg, sizeof msg, &patch));
    json_t *want = json_loads("[{\"op\":\"add\",\"path\":\"/spec/submitter\",\"value\":" SUB_OK "}]", 0, NULL);
    assert_true(json_equal(patch, want));
    json_decref(want);
    json_decref(patch);
    /* No spec at all: the patch adds one. */
    assert_true(decide(1, req("CREATE", "Workflow", "{}", NULL), msg, sizeof msg, &patch));
    assert_string_equal(json_string_value(json_object_get(json_array_get(patch, 0), "path")), "/spec");
    json_decref(patch);
    /* UPDATE: nothing stamped. */
    assert_true(decide(1, req("UPDATE", "Workflow", "{\"spec\":{}}", "{\"spec\":{}}"), msg, sizeof msg, &patch));
    assert_null(patch);
}

static void test_mutate_refuses_forged(void **state)
{
    (void)state;
    char msg[512];
    json_t *patch;
    const char *forged[] = {
        "{\"spec\":" SPEC(",\"submitter\":" SUB_OK) "}",
        "{\"spec\":" SPEC(",\"submitter\":{\"username\":\"system:admin\"}") "}",
        "{\"spec\":" SPEC(",\"submitter\":null") "}",
        "{\"spec\":" SPEC(",\"submitter\":{}") "}",
    };
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        assert_false(decide(1, req("CREATE", "Workflow", forged[i], NULL), msg, sizeof msg, &patch));
        assert_non_null(strstr(msg, "spec.submitter is set by the API server"));
        assert_null(patch);
    }
    assert_false(decide(1, req("CREATE", "Workflow",
                               "{\"metadata\":{\"annotations\":{\"paybill.dev/submitted-by\":\"x\"}},\"spec\":" SPEC("") "}",
                               NULL),
                        msg, sizeof msg, &patch));
    assert_non_null(strstr(msg, "paybill.dev/submitted-by"));
    /* Another kind sent here by a misconfiguration: denied. */
    assert_false(decide(1, req("CREATE", "AgentPolicy", "{}", NULL), msg, sizeof msg, NULL));
}

static void test_validate_create(void **state)
{
    (void)state;
    char msg[512];
    assert_true(decide(0, req("CREATE", "Workflow", "{\"spec\":" SPEC(",\"submitter\":" SUB_OK) "}", NULL),
                       msg, sizeof msg, NULL));
    /* Absent (mutating webhook not run): fail closed. */
    assert_false(decide(0, req("CREATE", "Workflow", "{\"spec\":" SPEC("") "}", NULL), msg, sizeof msg, NULL));
    assert_non_null(strstr(msg, "spec.submitter is missing"));
    /* Any difference: another user, missing uid, extra group, reordered groups. */
    const char *wrong[] = {
        "{\"username\":\"alice\",\"uid\":\"u-1\",\"groups\":[\"system:serviceaccounts\",\"system:authenticated\"]}",
        "{\"username\":\"system:serviceaccount:tenant-acme:paybill-agent\",\"groups\":[\"system:serviceaccounts\",\"system:authenticated\"]}",
        "{\"username\":\"system:serviceaccount:tenant-acme:paybill-agent\",\"uid\":\"u-1\",\"groups\":[\"system:serviceaccounts\",\"system:authenticated\",\"system:masters\"]}",
        "{\"username\":\"system:serviceaccount:tenant-acme:paybill-agent\",\"uid\":\"u-1\",\"groups\":[\"system:authenticated\",\"system:serviceaccounts\"]}",
        "\"system:serviceaccount:tenant-acme:paybill-agent\"",
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        char obj[1024];
        snprintf(obj, sizeof obj, "{\"spec\":{\"submitter\":%s}}", wrong[i]);
        assert_false(decide(0, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, NULL));
        assert_non_null(strstr(msg, "does not match the authenticated user"));
    }
    assert_false(decide(0, req("CREATE", "Workflow",
                               "{\"metadata\":{\"annotations\":{\"paybill.dev/submitted-by\":\"x\"}},\"spec\":" SPEC(",\"submitter\":" SUB_OK) "}",
                               NULL),
                        msg, sizeof msg, NULL));
}

static void test_validate_update(void **state)
{
    (void)state;
    char msg[512];
    const char *old = "{\"metadata\":{\"name\":\"w\"},\"spec\":" SPEC(",\"submitter\":" SUB_OK) "}";
    /* Status and metadata changes pass. */
    assert_true(decide(0, req("UPDATE", "Workflow",
                              "{\"metadata\":{\"name\":\"w\",\"labels\":{\"a\":\"b\"}},\"spec\":" SPEC(",\"submitter\":" SUB_OK) ",\"status\":{\"phase\":\"Done\"}}",
                              old),
                       msg, sizeof msg, NULL));
    static const struct {
        const char *spec, *field;
    } edits[] = {
        {SPEC(",\"submitter\":{\"username\":\"alice\"}"), "spec.submitter"},
        {SPEC(""), "spec.submitter"},
        {"{\"policyRef\":{\"name\":\"q\"},\"steps\":[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"invoices\",\"limit\":10}],\"submitter\":" SUB_OK "}",
         "spec.policyRef.name"},
        {"{\"policyRef\":{\"name\":\"p\"},\"steps\":[{\"name\":\"a\",\"operation\":\"delete\",\"table\":\"invoices\",\"limit\":10}],\"submitter\":" SUB_OK "}",
         "spec.steps[0].operation"},
        {"{\"policyRef\":{\"name\":\"p\"},\"steps\":[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"invoices\",\"limit\":10},{}],\"submitter\":" SUB_OK "}",
         "spec.steps[1]"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char obj[2048];
        snprintf(obj, sizeof obj, "{\"metadata\":{\"name\":\"w\"},\"spec\":%s}", edits[i].spec);
        assert_false(decide(0, req("UPDATE", "Workflow", obj, old), msg, sizeof msg, NULL));
        char want[128];
        snprintf(want, sizeof want, "immutable once created (%s", edits[i].field);
        if (!strstr(msg, want))
            fail_msg("case %zu: %s", i, msg);
    }
    /* The annotation may not appear later either. */
    assert_false(decide(0, req("UPDATE", "Workflow",
                               "{\"metadata\":{\"name\":\"w\",\"annotations\":{\"paybill.dev/submitted-by\":\"x\"}},\"spec\":" SPEC(",\"submitter\":" SUB_OK) "}",
                               old),
                        msg, sizeof msg, NULL));
    /* DELETE passes (not registered, but harmless). */
    assert_true(decide(0, req("DELETE", "Workflow", "null", old), msg, sizeof msg, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutate_stamps_submitter),
        cmocka_unit_test(test_mutate_refuses_forged),
        cmocka_unit_test(test_validate_create),
        cmocka_unit_test(test_validate_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
