/*
 * Unit tests for tests/apiserver/schema_openapi.c: the shape of the OpenAPI
 * v3 documents (what kubectl explain and kubectl apply's field-validation
 * probe read), schema naming, every $ref resolvable, the /openapi/v3 index
 * and its hashes.
 */
#include "testutil.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

static json_t *J(const char *sq)
{
    char *s = strdup(sq);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t e;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("bad test JSON %s: %s", sq, e.text);
    free(s);
    return v;
}

static const char TENANT_SCHEMA[] =
    "{'type':'object','description':'A tenant of the platform.','properties':{"
    "'spec':{'type':'object','description':'Desired state.','required':['plan'],'properties':{"
    "'plan':{'type':'string','description':'Plan name.'},'replicas':{'type':'integer','default':1},"
    "'port':{'x-kubernetes-int-or-string':true},"
    "'template':{'type':'object','x-kubernetes-embedded-resource':true,'x-kubernetes-preserve-unknown-fields':true}}},"
    "'status':{'type':'object','properties':{'phase':{'type':'string'}}}}}";

static json_t *tenant_kinds(void)
{
    json_t *kinds = json_array();
    json_array_append_new(kinds, json_pack("{s:s,s:s,s:b,s:o,s:{s:{}}}", "kind", "Tenant", "plural", "tenants",
                                           "namespaced", 1, "schema", J(TENANT_SCHEMA), "subresources", "status"));
    json_array_append_new(kinds, json_pack("{s:s,s:s,s:b,s:o}", "kind", "Plan", "plural", "plans", "namespaced", 0,
                                           "schema", J("{'type':'object','properties':{'spec':{'type':'object'}}}")));
    return kinds;
}

/* Every {"$ref": "#/components/schemas/X"} must name a schema in the doc. */
static int count_refs(const json_t *v, const json_t *schemas)
{
    int n = 0;
    if (json_is_object(v)) {
        const char *k;
        const json_t *c;
        json_object_foreach((json_t *)v, k, c)
        {
            if (!strcmp(k, "$ref")) {
                const char *ref = json_string_value(c);
                assert_non_null(ref);
                const char *pfx = "#/components/schemas/";
                if (strncmp(ref, pfx, strlen(pfx)))
                    fail_msg("ref outside components.schemas: %s", ref);
                if (!json_object_get(schemas, ref + strlen(pfx)))
                    fail_msg("dangling ref %s", ref);
                n++;
            } else {
                n += count_refs(c, schemas);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *c;
        json_array_foreach(v, i, c) n += count_refs(c, schemas);
    }
    return n;
}

/* What kubectl's explain does: find the schema whose
 * x-kubernetes-group-version-kind lists the GVK. */
static const json_t *find_gvk_schema(const json_t *doc, const char *g, const char *v, const char *k)
{
    const json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas"), *s;
    const char *name;
    json_object_foreach((json_t *)schemas, name, s)
    {
        const json_t *gvks = json_object_get(s, "x-kubernetes-group-version-kind"), *e;
        size_t i;
        json_array_foreach(gvks, i, e)
        {
            if (!strcmp(json_string_value(json_object_get(e, "group")), g) &&
                !strcmp(json_string_value(json_object_get(e, "version")), v) &&
                !strcmp(json_string_value(json_object_get(e, "kind")), k))
                return s;
        }
    }
    return NULL;
}

/* What kubectl apply's QueryParamVerifierV3 does: a PATCH operation tagged
 * with the GVK must list the fieldValidation query parameter.
 * 1 supported, 0 unsupported, -1 no path for the GVK. */
static int supports_field_validation(const json_t *doc, const char *g, const char *v, const char *k)
{
    const json_t *paths = json_object_get(doc, "paths"), *item;
    const char *p;
    json_object_foreach((json_t *)paths, p, item)
    {
        const json_t *op = json_object_get(item, "patch");
        if (!op)
            continue;
        const json_t *gvk = json_object_get(op, "x-kubernetes-group-version-kind");
        if (!json_is_object(gvk) || strcmp(json_string_value(json_object_get(gvk, "group")), g) ||
            strcmp(json_string_value(json_object_get(gvk, "version")), v) ||
            strcmp(json_string_value(json_object_get(gvk, "kind")), k))
            continue;
        const json_t *params = json_object_get(op, "parameters"), *prm;
        size_t i;
        json_array_foreach(params, i, prm)
        {
            if (!strcmp(json_string_value(json_object_get(prm, "name")), "fieldValidation") &&
                !strcmp(json_string_value(json_object_get(prm, "in")), "query"))
                return 1;
        }
        return 0;
    }
    return -1;
}

static void test_document_shape(void **state)
{
    json_t *kinds = tenant_kinds();
    json_t *doc = dv_openapi_v3_document("paybill.dev", "v1alpha1", kinds);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.0.0");
    json_t *info = json_object_get(doc, "info");
    assert_string_equal(json_string_value(json_object_get(info, "title")), "Kubernetes");
    assert_string_equal(json_string_value(json_object_get(info, "version")), "v1.32.0");
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    static const char *const meta[] = {"ObjectMeta", "ListMeta", "ManagedFieldsEntry", "OwnerReference", "Status",
                                       "StatusDetails", "StatusCause", "Time", "FieldsV1", "Patch", "DeleteOptions",
                                       NULL};
    for (int i = 0; meta[i]; i++) {
        char name[128];
        snprintf(name, sizeof name, "io.k8s.apimachinery.pkg.apis.meta.v1.%s", meta[i]);
        json_t *s = json_object_get(schemas, name);
        if (!s)
            fail_msg("missing %s", name);
        assert_non_null(json_object_get(s, "description"));
    }
    assert_true(count_refs(doc, schemas) > 20);

    json_t *t = json_object_get(schemas, "dev.paybill.v1alpha1.Tenant");
    assert_non_null(t);
    assert_ptr_equal(find_gvk_schema(doc, "paybill.dev", "v1alpha1", "Tenant"), t);
    assert_string_equal(json_string_value(json_object_get(t, "description")), "A tenant of the platform.");
    json_t *props = json_object_get(t, "properties");
    assert_string_equal(json_string_value(json_object_get(json_object_get(props, "apiVersion"), "type")), "string");
    assert_non_null(json_object_get(json_object_get(props, "kind"), "description"));
    json_t *md = json_object_get(props, "metadata");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(md, "allOf"), 0), "$ref")),
                        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    /* the CRD's own schema is carried over */
    json_t *spec = json_object_get(props, "spec");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(spec, "properties"), "plan"),
                                                          "description")),
                        "Plan name.");
    assert_true(json_is_true(json_object_get(json_object_get(json_object_get(spec, "properties"), "port"),
                                             "x-kubernetes-int-or-string")));

    /* embedded resources get TypeMeta and an ObjectMeta reference */
    json_t *tpl = json_object_get(json_object_get(spec, "properties"), "template");
    assert_non_null(json_object_get(json_object_get(tpl, "properties"), "kind"));
    assert_non_null(json_object_get(json_object_get(json_object_get(tpl, "properties"), "metadata"), "allOf"));
    assert_int_equal(json_array_size(json_object_get(tpl, "required")), 2);

    json_t *list = json_object_get(schemas, "dev.paybill.v1alpha1.TenantList");
    assert_non_null(list);
    assert_ptr_equal(find_gvk_schema(doc, "paybill.dev", "v1alpha1", "TenantList"), list);
    json_t *items = json_object_get(json_object_get(list, "properties"), "items");
    assert_string_equal(json_string_value(json_object_get(items, "type")), "array");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(items, "items"), "allOf"), 0), "$ref")),
        "#/components/schemas/dev.paybill.v1alpha1.Tenant");

    assert_non_null(find_gvk_schema(doc, "paybill.dev", "v1alpha1", "Plan"));
    assert_null(find_gvk_schema(doc, "paybill.dev", "v1", "Plan"));

    /* the caller's schema was copied, not modified */
    json_t *orig = json_object_get(json_array_get(kinds, 0), "schema");
    assert_null(json_object_get(json_object_get(orig, "properties"), "metadata"));
    assert_null(json_object_get(orig, "x-kubernetes-group-version-kind"));

    /* serialisable as JSON */
    char *s = json_dumps(doc, JSON_COMPACT);
    assert_non_null(s);
    free(s);
    json_decref(doc);
    json_decref(kinds);
}

static void test_paths_namespaced(void **state)
{
    json_t *kinds = tenant_kinds();
    json_t *doc = dv_openapi_v3_document("paybill.dev", "v1alpha1", kinds);
    json_t *paths = json_object_get(doc, "paths");
    json_t *coll = json_object_get(paths, "/apis/paybill.dev/v1alpha1/namespaces/{namespace}/tenants");
    json_t *item = json_object_get(paths, "/apis/paybill.dev/v1alpha1/namespaces/{namespace}/tenants/{name}");
    json_t *stat = json_object_get(paths, "/apis/paybill.dev/v1alpha1/namespaces/{namespace}/tenants/{name}/status");
    json_t *all = json_object_get(paths, "/apis/paybill.dev/v1alpha1/tenants");
    assert_non_null(coll);
    assert_non_null(item);
    assert_non_null(stat);
    assert_non_null(all);
    assert_non_null(json_object_get(coll, "get"));
    assert_non_null(json_object_get(coll, "post"));
    assert_non_null(json_object_get(coll, "delete"));
    json_t *patch = json_object_get(item, "patch");
    assert_non_null(patch);
    assert_string_equal(json_string_value(json_object_get(patch, "operationId")),
                        "patchPaybillDevV1alpha1NamespacedTenant");
    assert_string_equal(json_string_value(json_object_get(patch, "x-kubernetes-action")), "patch");
    assert_string_equal(json_string_value(json_object_get(json_object_get(all, "get"), "operationId")),
                        "listPaybillDevV1alpha1TenantForAllNamespaces");
    assert_string_equal(json_string_value(json_object_get(json_object_get(stat, "get"), "operationId")),
                        "readPaybillDevV1alpha1NamespacedTenantStatus");
    /* CRDs have no strategic merge patch */
    json_t *content = json_object_get(json_object_get(patch, "requestBody"), "content");
    assert_non_null(json_object_get(content, "application/merge-patch+json"));
    assert_non_null(json_object_get(content, "application/apply-patch+yaml"));
    assert_null(json_object_get(content, "application/strategic-merge-patch+json"));
    /* the 200 of a GET is the kind */
    json_t *ok = json_object_get(json_object_get(json_object_get(item, "get"), "responses"), "200");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(
                            json_object_get(ok, "content"), "application/json"), "schema"), "$ref")),
                        "#/components/schemas/dev.paybill.v1alpha1.Tenant");

    assert_int_equal(supports_field_validation(doc, "paybill.dev", "v1alpha1", "Tenant"), 1);
    assert_int_equal(supports_field_validation(doc, "paybill.dev", "v1alpha1", "Plan"), 1);
    assert_int_equal(supports_field_validation(doc, "paybill.dev", "v1alpha1", "Nope"), -1);

    /* cluster-scoped kinds have no namespace segment and no status unless asked */
    assert_non_null(json_object_get(paths, "/apis/paybill.dev/v1alpha1/plans/{name}"));
    assert_null(json_object_get(paths, "/apis/paybill.dev/v1alpha1/plans/{name}/status"));
    assert_null(json_object_get(paths, "/apis/paybill.dev/v1alpha1/namespaces/{namespace}/plans"));
    json_t *plan_item = json_object_get(paths, "/apis/paybill.dev/v1alpha1/plans/{name}");
    json_t *pp = json_object_get(plan_item, "parameters"), *prm;
    size_t i;
    json_array_foreach(pp, i, prm) assert_string_not_equal(json_string_value(json_object_get(prm, "name")), "namespace");
    json_decref(doc);
    json_decref(kinds);
}

static void test_core_group_builtin(void **state)
{
    json_t *kinds = json_array();
    json_array_append_new(kinds, json_pack("{s:s,s:s,s:b}", "kind", "ConfigMap", "plural", "configmaps",
                                           "namespaced", 1));
    json_array_append_new(kinds, json_pack("{s:s,s:s,s:b,s:o}", "kind", "Namespace", "plural", "namespaces",
                                           "namespaced", 0, "schema",
                                           J("{'type':'object','x-kubernetes-preserve-unknown-fields':true}")));
    json_t *doc = dv_openapi_v3_document("", "v1", kinds);
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    json_t *cm = json_object_get(schemas, "io.k8s.api.core.v1.ConfigMap");
    assert_non_null(cm);
    assert_ptr_equal(find_gvk_schema(doc, "", "v1", "ConfigMap"), cm);
    assert_true(json_is_true(json_object_get(cm, "x-kubernetes-preserve-unknown-fields")));
    assert_string_equal(json_string_value(json_object_get(cm, "type")), "object");
    assert_non_null(json_object_get(json_object_get(cm, "properties"), "metadata"));
    assert_non_null(json_object_get(schemas, "io.k8s.api.core.v1.ConfigMapList"));
    assert_non_null(find_gvk_schema(doc, "", "v1", "Namespace"));
    json_t *paths = json_object_get(doc, "paths");
    json_t *item = json_object_get(paths, "/api/v1/namespaces/{namespace}/configmaps/{name}");
    assert_non_null(item);
    json_t *patch = json_object_get(item, "patch");
    assert_string_equal(json_string_value(json_object_get(patch, "operationId")), "patchCoreV1NamespacedConfigMap");
    assert_non_null(json_object_get(json_object_get(json_object_get(patch, "requestBody"), "content"),
                                    "application/strategic-merge-patch+json"));
    assert_non_null(json_object_get(paths, "/api/v1/namespaces/{name}"));
    assert_int_equal(supports_field_validation(doc, "", "v1", "ConfigMap"), 1);
    count_refs(doc, schemas);
    json_decref(doc);
    json_decref(kinds);
}

static void test_schema_names(void **state)
{
    static const struct {
        const char *g, *v, *k, *want;
    } cases[] = {
        {"paybill.dev", "v1alpha1", "Tenant", "dev.paybill.v1alpha1.Tenant"},
        {"a.b.example.com", "v2", "Thing", "com.example.b.a.v2.Thing"},
        {"single", "v1", "K", "single.v1.K"},
        {"", "v1", "ConfigMap", "io.k8s.api.core.v1.ConfigMap"},
        {NULL, "v1", "Pod", "io.k8s.api.core.v1.Pod"},
        {"apps", "v1", "Deployment", "io.k8s.api.apps.v1.Deployment"},
        {"rbac.authorization.k8s.io", "v1", "Role", "io.k8s.api.rbac.v1.Role"},
        {"coordination.k8s.io", "v1", "Lease", "io.k8s.api.coordination.v1.Lease"},
        {"apiextensions.k8s.io", "v1", "CustomResourceDefinition",
         "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *n = dv_openapi_schema_name(cases[i].g, cases[i].v, cases[i].k);
        assert_string_equal(n, cases[i].want);
        free(n);
    }
    char *k = dv_openapi_v3_path_key("", "v1");
    assert_string_equal(k, "api/v1");
    free(k);
    k = dv_openapi_v3_path_key("paybill.dev", "v1alpha1");
    assert_string_equal(k, "apis/paybill.dev/v1alpha1");
    free(k);
}

static void test_index_and_hash(void **state)
{
    json_t *kinds = tenant_kinds();
    json_t *d1 = dv_openapi_v3_document("paybill.dev", "v1alpha1", kinds);
    json_t *d1b = dv_openapi_v3_document("paybill.dev", "v1alpha1", kinds);
    json_t *d2 = dv_openapi_v3_document("paybill.dev", "v1", kinds);
    char *h1 = dv_openapi_v3_hash(d1), *h1b = dv_openapi_v3_hash(d1b), *h2 = dv_openapi_v3_hash(d2);
    assert_int_equal(strlen(h1), 128);
    for (const char *p = h1; *p; p++)
        assert_true(isdigit((unsigned char)*p) || (*p >= 'A' && *p <= 'F'));
    assert_string_equal(h1, h1b);
    assert_string_not_equal(h1, h2);

    json_t *docs = json_object();
    json_object_set(docs, "apis/paybill.dev/v1alpha1", d1);
    json_object_set(docs, "apis/paybill.dev/v1", d2);
    json_t *idx = dv_openapi_v3_index(docs);
    json_t *paths = json_object_get(idx, "paths");
    assert_int_equal(json_object_size(paths), 2);
    char want[256];
    snprintf(want, sizeof want, "/openapi/v3/apis/paybill.dev/v1alpha1?hash=%s", h1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(paths, "apis/paybill.dev/v1alpha1"),
                                                          "serverRelativeURL")),
                        want);
    json_decref(idx);
    json_decref(docs);
    free(h1);
    free(h1b);
    free(h2);
    json_decref(d1);
    json_decref(d1b);
    json_decref(d2);
    json_decref(kinds);
}

static void test_empty_and_bad_kinds(void **state)
{
    json_t *doc = dv_openapi_v3_document("paybill.dev", "v1", NULL);
    assert_int_equal(json_object_size(json_object_get(doc, "paths")), 0);
    json_decref(doc);
    /* entries without kind or plural are skipped, not fatal */
    json_t *kinds = J("[{'plural':'x'},{'kind':'Y'},7]");
    doc = dv_openapi_v3_document("paybill.dev", "v1", kinds);
    assert_int_equal(json_object_size(json_object_get(doc, "paths")), 0);
    json_decref(doc);
    json_decref(kinds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_shape),
        cmocka_unit_test(test_paths_namespaced),
        cmocka_unit_test(test_core_group_builtin),
        cmocka_unit_test(test_schema_names),
        cmocka_unit_test(test_index_and_hash),
        cmocka_unit_test(test_empty_and_bad_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
