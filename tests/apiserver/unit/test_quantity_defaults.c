/*
 * test_quantity_defaults.c - the dev API server rewrites resource
 * quantities as a real kube-apiserver does (ResourceQuota spec and status,
 * LimitRange limits, container resources of pods and pod templates) on
 * create, update, patch and status writes, refuses one that does not parse
 * with the real 400, and a negative one with the real 422. Driven through
 * dv_api_handle, without HTTP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "handlers.h"

#define TOKEN "unit-admin-token"
#define RQ "/api/v1/namespaces/default/resourcequotas"
#define LR "/api/v1/namespaces/default/limitranges"
#define PODS "/api/v1/namespaces/default/pods"
#define DEPLOY "/apis/apps/v1/namespaces/default/deployments"
#define REGEX_MSG "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

static int setup(void **state)
{
    dv_api *api = NULL;
    dv_api_config cfg = {0};
    cfg.watch_window = 50;
    cfg.admin_token = TOKEN;
    char msg[256] = "";
    if (dv_api_new(&cfg, &api, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "dv_api_new: %s\n", msg);
        return -1;
    }
    *state = api;
    return 0;
}

static int teardown(void **state)
{
    dv_api_free(*state);
    return 0;
}

/* One request; the parsed body (new ref) and the status. */
static json_t *call(dv_api *api, const char *method, const char *path, const char *ctype, const char *body,
                    int *status)
{
    dv_request req = {method, path, NULL, "application/json", ctype ? ctype : "application/json",
                      "Bearer " TOKEN, "unit-test/1.0", NULL, NULL, body, body ? strlen(body) : 0, NULL};
    dv_response resp;
    dv_api_handle(api, &req, &resp);
    *status = resp.status;
    json_t *out = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    dv_response_clear(&resp);
    return out;
}

/* The string at a dotted path ("spec.hard.pods" style keys given apart). */
static const char *at(const json_t *o, const char *const *keys)
{
    for (; *keys && o; keys++)
        o = json_is_array(o) ? json_array_get(o, (size_t)atoi(*keys)) : json_object_get(o, *keys);
    return json_string_value(o);
}
#define AT(o, ...) at(o, (const char *const[]){__VA_ARGS__, NULL})

static void expect_bad_request(dv_api *api, const char *method, const char *path, const char *ctype,
                               const char *body, const char *kind, const char *why)
{
    int st;
    json_t *r = call(api, method, path, ctype, body, &st);
    assert_int_equal(st, 400);
    assert_string_equal(AT(r, "reason"), "BadRequest");
    char want[512];
    snprintf(want, sizeof want, "%s in version \"v1\" cannot be handled as a %s: %s", kind, kind, why);
    assert_string_equal(AT(r, "message"), want);
    json_decref(r);
}

static void test_resourcequota_canonical(void **state)
{
    dv_api *api = *state;
    int st;
    json_t *r = call(api, "POST", RQ, NULL,
                     "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":\"q\"},"
                     "\"spec\":{\"hard\":{\"requests.cpu\":\"1000m\",\"requests.memory\":\"2048Mi\","
                     "\"limits.cpu\":\" 0.5 \",\"pods\":10,\"limits.memory\":\"1.5Gi\",\"services\":\"+1\","
                     "\"requests.storage\":1.5,\"count/secrets\":1e3,\"limits.ephemeral-storage\":2.5e-05}}}",
                     &st);
    assert_int_equal(st, 201);
    assert_string_equal(AT(r, "spec", "hard", "requests.cpu"), "1");
    assert_string_equal(AT(r, "spec", "hard", "requests.memory"), "2Gi");
    assert_string_equal(AT(r, "spec", "hard", "limits.cpu"), "500m");
    assert_string_equal(AT(r, "spec", "hard", "pods"), "10");
    assert_string_equal(AT(r, "spec", "hard", "limits.memory"), "1536Mi");
    assert_string_equal(AT(r, "spec", "hard", "services"), "+1"); /* kept as written, as the real server does */
    assert_string_equal(AT(r, "spec", "hard", "requests.storage"), "1500m");
    assert_string_equal(AT(r, "spec", "hard", "count/secrets"), "1e3"); /* JSON numbers read as their text */
    assert_string_equal(AT(r, "spec", "hard", "limits.ephemeral-storage"), "2.5e-5"); /* kept, as Go keeps the text */
    char rv[32];
    snprintf(rv, sizeof rv, "%s", AT(r, "metadata", "resourceVersion"));
    json_decref(r);

    r = call(api, "GET", RQ "/q", NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(AT(r, "spec", "hard", "requests.memory"), "2Gi");
    json_decref(r);

    /* Writing the same values in another form is a no-op: no new resourceVersion. */
    r = call(api, "PATCH", RQ "/q", "application/merge-patch+json",
             "{\"spec\":{\"hard\":{\"requests.cpu\":\"1\",\"requests.memory\":\"2097152Ki\"}}}", &st);
    assert_int_equal(st, 200);
    assert_string_equal(AT(r, "spec", "hard", "requests.memory"), "2Gi");
    assert_string_equal(AT(r, "metadata", "resourceVersion"), rv);
    json_decref(r);

    /* A real change through a patch is canonical too. */
    r = call(api, "PATCH", RQ "/q", "application/merge-patch+json",
             "{\"spec\":{\"hard\":{\"requests.cpu\":\"2000m\"}}}", &st);
    assert_int_equal(st, 200);
    assert_string_equal(AT(r, "spec", "hard", "requests.cpu"), "2");
    assert_string_not_equal(AT(r, "metadata", "resourceVersion"), rv);
    json_decref(r);

    /* Status writes: status.hard and status.used. */
    r = call(api, "GET", RQ "/q", NULL, NULL, &st);
    json_object_set_new(r, "status", json_pack("{s:{s:s}, s:{s:s, s:s}}", "hard", "requests.cpu", "2000m", "used",
                                               "requests.cpu", "0.25", "requests.memory", "1024Ki"));
    char *body = json_dumps(r, 0);
    json_decref(r);
    r = call(api, "PUT", RQ "/q/status", NULL, body, &st);
    free(body);
    assert_int_equal(st, 200);
    assert_string_equal(AT(r, "status", "hard", "requests.cpu"), "2");
    assert_string_equal(AT(r, "status", "used", "requests.cpu"), "250m");
    assert_string_equal(AT(r, "status", "used", "requests.memory"), "1Mi");
    json_decref(r);
}

static void test_resourcequota_refused(void **state)
{
    dv_api *api = *state;
    int st;
    expect_bad_request(api, "POST", RQ, NULL,
                       "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":\"bad\"},"
                       "\"spec\":{\"hard\":{\"requests.cpu\":\"1Qi\"}}}",
                       "ResourceQuota", REGEX_MSG);
    expect_bad_request(api, "POST", RQ, NULL,
                       "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":\"bad\"},"
                       "\"spec\":{\"hard\":{\"requests.cpu\":\"1i\"}}}",
                       "ResourceQuota", "unable to parse quantity's suffix");
    expect_bad_request(api, "POST", RQ, NULL,
                       "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":\"bad\"},"
                       "\"spec\":{\"hard\":{\"pods\":true}}}",
                       "ResourceQuota", REGEX_MSG);
    json_t *r = call(api, "GET", RQ "/bad", NULL, NULL, &st);
    assert_int_equal(st, 404); /* nothing stored */
    json_decref(r);

    /* Negative: a validation error naming the field. */
    r = call(api, "POST", RQ, NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":\"neg\"},"
             "\"spec\":{\"hard\":{\"requests.cpu\":\"-1000m\"}}}",
             &st);
    assert_int_equal(st, 422);
    assert_string_equal(AT(r, "reason"), "Invalid");
    assert_string_equal(AT(r, "message"),
                        "ResourceQuota \"neg\" is invalid: spec.hard[requests.cpu]: Invalid value: \"-1\": "
                        "must be greater than or equal to 0");
    assert_string_equal(AT(r, "details", "causes", "0", "field"), "spec.hard[requests.cpu]");
    assert_string_equal(AT(r, "details", "causes", "0", "reason"), "FieldValueInvalid");
    json_decref(r);

    /* Object counts are whole numbers. */
    r = call(api, "POST", RQ, NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":\"frac\"},"
             "\"spec\":{\"hard\":{\"pods\":\"1500m\",\"count/secrets\":\"2\",\"cpu\":\"1500m\"}}}",
             &st);
    assert_int_equal(st, 422);
    assert_string_equal(AT(r, "message"),
                        "ResourceQuota \"frac\" is invalid: spec.hard[pods]: Invalid value: \"1500m\": must be an integer");
    json_decref(r);
    r = call(api, "POST", RQ, NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":\"frac\"},"
             "\"spec\":{\"hard\":{\"count/secrets\":\"0.5\"}}}",
             &st);
    assert_int_equal(st, 422);
    assert_string_equal(AT(r, "details", "causes", "0", "field"), "spec.hard[count/secrets]");
    json_decref(r);
    r = call(api, "POST", RQ, NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":\"frac\"},"
             "\"spec\":{\"hard\":{\"pods\":\"2000m\",\"requests.cpu\":\"0.5\"}}}",
             &st);
    assert_int_equal(st, 201);
    assert_string_equal(AT(r, "spec", "hard", "pods"), "2");
    json_decref(r);

    /* An update with a bad quantity leaves the stored object alone. */
    r = call(api, "POST", RQ, NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"ResourceQuota\",\"metadata\":{\"name\":\"keep\"},"
             "\"spec\":{\"hard\":{\"pods\":\"5\"}}}",
             &st);
    assert_int_equal(st, 201);
    json_decref(r);
    expect_bad_request(api, "PATCH", RQ "/keep", "application/merge-patch+json",
                       "{\"spec\":{\"hard\":{\"pods\":\"1 Gi\"}}}", "ResourceQuota", REGEX_MSG);
    r = call(api, "GET", RQ "/keep", NULL, NULL, &st);
    assert_string_equal(AT(r, "spec", "hard", "pods"), "5");
    json_decref(r);
}

static void test_limitrange_canonical(void **state)
{
    dv_api *api = *state;
    int st;
    json_t *r = call(api, "POST", LR, NULL,
                     "{\"apiVersion\":\"v1\",\"kind\":\"LimitRange\",\"metadata\":{\"name\":\"l\"},"
                     "\"spec\":{\"limits\":[{\"type\":\"Container\",\"default\":{\"cpu\":\"0.5\",\"memory\":\"0.5Gi\"},"
                     "\"defaultRequest\":{\"cpu\":\"100m\",\"memory\":\"131072Ki\"},\"max\":{\"cpu\":\"2000m\"},"
                     "\"min\":{\"memory\":\"1e6\"},\"maxLimitRequestRatio\":{\"cpu\":4}},"
                     "{\"type\":\"Pod\",\"max\":{\"memory\":\"4096Mi\"}}]}}",
                     &st);
    assert_int_equal(st, 201);
    assert_string_equal(AT(r, "spec", "limits", "0", "type"), "Container");
    assert_string_equal(AT(r, "spec", "limits", "0", "default", "cpu"), "500m");
    assert_string_equal(AT(r, "spec", "limits", "0", "default", "memory"), "512Mi");
    assert_string_equal(AT(r, "spec", "limits", "0", "defaultRequest", "cpu"), "100m");
    assert_string_equal(AT(r, "spec", "limits", "0", "defaultRequest", "memory"), "128Mi");
    assert_string_equal(AT(r, "spec", "limits", "0", "max", "cpu"), "2");
    assert_string_equal(AT(r, "spec", "limits", "0", "min", "memory"), "1e6");
    assert_string_equal(AT(r, "spec", "limits", "0", "maxLimitRequestRatio", "cpu"), "4");
    assert_string_equal(AT(r, "spec", "limits", "1", "max", "memory"), "4Gi");
    json_decref(r);
    expect_bad_request(api, "POST", LR, NULL,
                       "{\"apiVersion\":\"v1\",\"kind\":\"LimitRange\",\"metadata\":{\"name\":\"bad\"},"
                       "\"spec\":{\"limits\":[{\"type\":\"Container\",\"max\":{\"cpu\":\"1.2.3\"}}]}}",
                       "LimitRange", REGEX_MSG);
}

static void test_container_resources(void **state)
{
    dv_api *api = *state;
    int st;
    json_t *r = call(api, "POST", DEPLOY, NULL,
                     "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},"
                     "\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"template\":{\"metadata\":{\"labels\":"
                     "{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x:1\",\"resources\":"
                     "{\"limits\":{\"cpu\":\"1000m\",\"memory\":\"1024Mi\"},\"requests\":{\"cpu\":\"0.1\"}}}],"
                     "\"initContainers\":[{\"name\":\"i\",\"image\":\"x:1\",\"resources\":{\"requests\":"
                     "{\"memory\":\"1048576\"}}}]}}}}",
                     &st);
    assert_int_equal(st, 201);
    assert_string_equal(AT(r, "spec", "template", "spec", "containers", "0", "resources", "limits", "cpu"), "1");
    assert_string_equal(AT(r, "spec", "template", "spec", "containers", "0", "resources", "limits", "memory"), "1Gi");
    assert_string_equal(AT(r, "spec", "template", "spec", "containers", "0", "resources", "requests", "cpu"),
                        "100m");
    assert_string_equal(AT(r, "spec", "template", "spec", "initContainers", "0", "resources", "requests", "memory"),
                        "1048576"); /* decimal text stays decimal */
    json_decref(r);

    r = call(api, "POST", PODS, NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":"
             "[{\"name\":\"c\",\"image\":\"x:1\",\"resources\":{\"requests\":{\"cpu\":\"-0.5\"}}}]}}",
             &st);
    assert_int_equal(st, 422);
    assert_string_equal(AT(r, "details", "causes", "0", "field"), "spec.containers[0].resources.requests[cpu]");
    assert_string_equal(AT(r, "details", "causes", "0", "message"),
                        "Invalid value: \"-500m\": must be greater than or equal to 0");
    json_decref(r);
    expect_bad_request(api, "POST", PODS, NULL,
                       "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":"
                       "[{\"name\":\"c\",\"image\":\"x:1\",\"resources\":{\"limits\":{\"memory\":\"1GB\"}}}]}}",
                       "Pod", REGEX_MSG);

    /* Other kinds keep quantity-looking strings as written. */
    r = call(api, "POST", "/api/v1/namespaces/default/configmaps", NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm\"},"
             "\"data\":{\"cpu\":\"1000m\"}}",
             &st);
    assert_int_equal(st, 201);
    assert_string_equal(AT(r, "data", "cpu"), "1000m");
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resourcequota_canonical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resourcequota_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limitrange_canonical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_resources, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
