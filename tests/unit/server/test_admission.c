/* Unit tests for server/admission: a real AdmissionReview v1 request
 * decodes with every field; each malformed variant (wrong apiVersion or
 * kind, no request, no uid, no userInfo.username, wrongly typed fields) is
 * refused, so that a webhook never judges an identity it could not read;
 * responses carry the uid, status, a base64 JSONPatch and warnings. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "server/admission.h"
#include "util/secret.h"

static const char *GOOD =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\","
    "\"kind\":{\"group\":\"paybill.dev\",\"version\":\"v1alpha1\",\"kind\":\"Workflow\"},"
    "\"resource\":{\"group\":\"paybill.dev\",\"version\":\"v1alpha1\",\"resource\":\"workflows\"},"
    "\"requestKind\":{\"group\":\"paybill.dev\",\"version\":\"v1alpha1\",\"kind\":\"Workflow\"},"
    "\"namespace\":\"tenant-acme\",\"name\":\"wf1\",\"operation\":\"UPDATE\","
    "\"userInfo\":{\"username\":\"system:serviceaccount:tenant-acme:paybill-agent\","
    "\"uid\":\"0b5c\",\"groups\":[\"system:serviceaccounts\",\"system:authenticated\"],"
    "\"extra\":{\"authentication.kubernetes.io/pod-name\":[\"p\"]}},"
    "\"object\":{\"apiVersion\":\"paybill.dev/v1alpha1\",\"kind\":\"Workflow\",\"spec\":{\"a\":1}},"
    "\"oldObject\":{\"apiVersion\":\"paybill.dev/v1alpha1\",\"kind\":\"Workflow\",\"spec\":{}},"
    "\"dryRun\":true,\"options\":{}}}";

static void test_decode_good(void **state)
{
    (void)state;
    pb_adm_request *rq;
    pb_err e = {0};
    assert_int_equal(pb_adm_decode(GOOD, strlen(GOOD), &rq, &e), 0);
    assert_string_equal(pb_adm_uid(rq), "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_string_equal(pb_adm_operation(rq), "UPDATE");
    assert_string_equal(pb_adm_kind_group(rq), "paybill.dev");
    assert_string_equal(pb_adm_kind_version(rq), "v1alpha1");
    assert_string_equal(pb_adm_kind(rq), "Workflow");
    assert_string_equal(pb_adm_resource_group(rq), "paybill.dev");
    assert_string_equal(pb_adm_resource(rq), "workflows");
    assert_string_equal(pb_adm_subresource(rq), "");
    assert_string_equal(pb_adm_namespace(rq), "tenant-acme");
    assert_string_equal(pb_adm_name(rq), "wf1");
    const pb_adm_user *u = pb_adm_userinfo(rq);
    assert_string_equal(u->username, "system:serviceaccount:tenant-acme:paybill-agent");
    assert_string_equal(u->uid, "0b5c");
    assert_int_equal(json_array_size(u->groups), 2);
    assert_string_equal(json_string_value(json_array_get(u->groups, 1)), "system:authenticated");
    assert_int_equal(json_object_size(u->extra), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(pb_adm_object(rq), "spec"), "a")),
                     1);
    assert_non_null(pb_adm_old_object(rq));
    assert_int_equal(pb_adm_dry_run(rq), 1);
    pb_adm_request_free(rq);
    pb_adm_request_free(NULL);
}

static void test_decode_minimal_create(void **state)
{
    (void)state;
    const char *b = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                    "\"request\":{\"uid\":\"u\",\"operation\":\"CREATE\","
                    "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
                    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
                    "\"userInfo\":{\"username\":\"alice\"},\"object\":{},\"oldObject\":null}}";
    pb_adm_request *rq;
    pb_err e = {0};
    assert_int_equal(pb_adm_decode(b, strlen(b), &rq, &e), 0);
    const pb_adm_user *u = pb_adm_userinfo(rq);
    assert_string_equal(u->uid, "");
    assert_int_equal(json_array_size(u->groups), 0);
    assert_int_equal(json_object_size(u->extra), 0);
    assert_null(pb_adm_old_object(rq));
    assert_string_equal(pb_adm_name(rq), "");
    assert_int_equal(pb_adm_dry_run(rq), 0);
    pb_adm_request_free(rq);
}

/* GOOD with one substring replaced. */
static char *variant(const char *from, const char *to)
{
    const char *p = strstr(GOOD, from);
    assert_non_null(p);
    size_t n = strlen(GOOD) - strlen(from) + strlen(to) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%.*s%s%s", (int)(p - GOOD), GOOD, to, p + strlen(from));
    return s;
}

static void test_decode_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *from, *to, *msg;
    } cases[] = {
        {"admission.k8s.io/v1\"", "admission.k8s.io/v1beta1\"", "admissionReviewVersions"},
        {"\"kind\":\"AdmissionReview\"", "\"kind\":\"AdmissionResponse\"", "is not AdmissionReview"},
        {"\"kind\":\"AdmissionReview\",", "", "kind is required"},
        {"\"apiVersion\":\"admission.k8s.io/v1\",", "", "apiVersion is required"},
        {"\"request\":{", "\"reques\":{", "request is required"},
        {"\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\",", "", "request.uid is required"},
        {"\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\"", "\"uid\":\"\"", "uid must not be empty"},
        {"\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\"", "\"uid\":7", "uid must be a string"},
        {"\"operation\":\"UPDATE\"", "\"operation\":\"PATCH\"", "unknown request.operation"},
        {"\"operation\":\"UPDATE\",", "", "operation is required"},
        {"\"username\":\"system:serviceaccount:tenant-acme:paybill-agent\"", "\"username\":\"\"",
         "username must not be empty"},
        {"\"username\":\"system:serviceaccount:tenant-acme:paybill-agent\",", "",
         "username is required"},
        {"\"userInfo\":", "\"userinfo\":", "userInfo is required"},
        {"[\"system:serviceaccounts\",\"system:authenticated\"]", "\"system:masters\"",
         "groups must be an array"},
        {"[\"system:serviceaccounts\",\"system:authenticated\"]", "[\"a\",1]",
         "groups must be an array"},
        {"[\"p\"]", "\"p\"", "extra values"},
        {"\"dryRun\":true", "\"dryRun\":\"true\"", "dryRun must be a boolean"},
        {"\"object\":{\"apiVersion\"", "\"object\":[{\"apiVersion\"", NULL},
        {"\"oldObject\":", "\"oldObjec\":", "UPDATE without request.oldObject"},
        {"\"kind\":{\"group\":\"paybill.dev\",\"version\":\"v1alpha1\",\"kind\":\"Workflow\"},\"resource\"",
         "\"kind\":\"Workflow\",\"resource\"", "request.kind and request.resource"},
        {"\"uid\":\"0b5c\"", "\"uid\":\"0b5c\",\"uid\":\"x\"", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b = variant(cases[i].from, cases[i].to);
        pb_adm_request *rq = (pb_adm_request *)1;
        pb_err e = {0};
        int rc = pb_adm_decode(b, strlen(b), &rq, &e);
        if (rc == 0 || (cases[i].msg && !strstr(e.msg, cases[i].msg)))
            fail_msg("case %zu: rc=%d msg=%s", i, rc, e.msg);
        assert_true(rc == PB_EINVAL || rc == PB_EPARSE);
        assert_null(rq);
        free(b);
    }
    const char *junk[] = {"", "null", "[]", "\"x\"", "{", "{\"apiVersion\":1}", NULL};
    for (int i = 0; junk[i]; i++) {
        pb_adm_request *rq;
        pb_err e = {0};
        assert_true(pb_adm_decode(junk[i], strlen(junk[i]), &rq, &e) < 0);
        assert_null(rq);
    }
    /* A body with an embedded NUL is not silently truncated. */
    pb_adm_request *rq;
    assert_true(pb_adm_decode(GOOD, strlen(GOOD) + 1, &rq, NULL) < 0);
}

static json_t *response_of(const json_t *review)
{
    assert_string_equal(json_string_value(json_object_get(review, "apiVersion")),
                        "admission.k8s.io/v1");
    assert_string_equal(json_string_value(json_object_get(review, "kind")), "AdmissionReview");
    json_t *r = json_object_get(review, "response");
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "uid")),
                        "705ab4f5-6393-11e8-b7cc-42010a800002");
    return r;
}

static void test_responses(void **state)
{
    (void)state;
    pb_adm_request *rq;
    pb_err e = {0};
    assert_int_equal(pb_adm_decode(GOOD, strlen(GOOD), &rq, &e), 0);

    /* Denial: 403 Forbidden by default, with the message. */
    pb_adm_result deny = {.allowed = 0, .message = "spec.submitter is set by the server"};
    json_t *rv;
    assert_int_equal(pb_adm_response_build(rq, &deny, &rv, &e), 0);
    json_t *r = response_of(rv);
    assert_true(json_is_false(json_object_get(r, "allowed")));
    json_t *st = json_object_get(r, "status");
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 403);
    assert_string_equal(json_string_value(json_object_get(st, "reason")), "Forbidden");
    assert_string_equal(json_string_value(json_object_get(st, "message")),
                        "spec.submitter is set by the server");
    assert_null(json_object_get(r, "patch"));
    json_decref(rv);

    /* Denial with its own code and reason. */
    pb_adm_result bad = {.code = 422, .reason = "Invalid", .message = "m"};
    assert_int_equal(pb_adm_response_build(rq, &bad, &rv, &e), 0);
    st = json_object_get(response_of(rv), "status");
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 422);
    assert_string_equal(json_string_value(json_object_get(st, "reason")), "Invalid");
    json_decref(rv);

    /* Allowed with a patch and warnings: the patch is base64 JSON. */
    json_t *patch = json_pack("[{s:s,s:s,s:{s:s}}]", "op", "add", "path", "/spec/submitter",
                              "value", "username", "alice");
    pb_adm_result ok = {.allowed = 1, .patch = patch, .warnings = {"w1", "w2"}};
    assert_int_equal(pb_adm_response_build(rq, &ok, &rv, &e), 0);
    r = response_of(rv);
    assert_true(json_is_true(json_object_get(r, "allowed")));
    assert_null(json_object_get(r, "status"));
    assert_string_equal(json_string_value(json_object_get(r, "patchType")), "JSONPatch");
    const char *b64 = json_string_value(json_object_get(r, "patch"));
    unsigned char *raw;
    size_t rawlen;
    assert_int_equal(pb_secret_b64_decode(b64, strlen(b64), &raw, &rawlen, &e), 0);
    json_t *back = json_loadb((const char *)raw, rawlen, 0, NULL);
    assert_true(json_equal(back, patch));
    json_decref(back);
    free(raw);
    json_t *w = json_object_get(r, "warnings");
    assert_int_equal(json_array_size(w), 2);
    assert_string_equal(json_string_value(json_array_get(w, 1)), "w2");
    json_decref(rv);

    /* A patch on a denial, or a patch that is not an array: refused. */
    pb_adm_result pd = {.allowed = 0, .patch = patch};
    assert_int_equal(pb_adm_response_build(rq, &pd, &rv, &e), PB_EINVAL);
    assert_null(rv);
    json_t *notarr = json_object();
    pb_adm_result pn = {.allowed = 1, .patch = notarr};
    assert_int_equal(pb_adm_response_build(rq, &pn, &rv, &e), PB_EINVAL);
    json_decref(notarr);
    json_decref(patch);
    assert_int_equal(pb_adm_response_build(NULL, &ok, &rv, &e), PB_EINVAL);
    pb_adm_request_free(rq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_good),
        cmocka_unit_test(test_decode_minimal_create),
        cmocka_unit_test(test_decode_refuses),
        cmocka_unit_test(test_responses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
