/* Unit tests for the agent framework's admission webhooks
 * (controllers/workflow_admission, approval_admission, policy_admission):
 * the submitter and approver are stamped from userInfo and any
 * client-supplied one is refused; every Workflow step is checked against
 * the tenant's DataModel and AgentPolicies from the caches (unknown
 * columns, wrong types, policy denials, the Plan's step limit, policyRef
 * typos) and nothing the engine denies is admitted; Approvals are bound to
 * one Workflow's uid, spec hash and step, and self-approval or approval by
 * a non-approver is refused; AgentPolicies that do not compile are
 * refused. Everything fails closed: no tenant, no DataModel, no cache. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "controllers/agent_policies.h"
#include "controllers/workflow_admission.h"
#include "util/secret.h"

#define AGENT "{\"username\":\"system:serviceaccount:tenant-acme:paybill-agent\",\"uid\":\"u-1\"," \
              "\"groups\":[\"system:serviceaccounts\",\"system:authenticated\"]}"
#define ALICE "{\"username\":\"alice\",\"uid\":\"u-alice\",\"groups\":[\"system:authenticated\"]}"
#define BOB "{\"username\":\"bob\",\"uid\":\"u-bob\",\"groups\":[\"system:authenticated\"]}"
#define SUB_OK AGENT
#define SELECT_STEP \
    "{\"name\":\"a\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\",\"amount\"]," \
    "\"where\":[{\"column\":\"paid\",\"op\":\"eq\",\"value\":false}],\"limit\":10}"
#define SPEC(extra) "{\"policyRef\":{\"name\":\"p\"},\"steps\":[" SELECT_STEP "]" extra "}"

#define MODEL                                                                                                \
    "{\"version\":2,\"tables\":["                                                                            \
    "{\"name\":\"customers\",\"columns\":[{\"name\":\"id\",\"type\":\"uuid\",\"nullable\":false},"           \
    "{\"name\":\"email\",\"type\":\"text\",\"nullable\":false},{\"name\":\"name\",\"type\":\"text\"},"       \
    "{\"name\":\"segment\",\"type\":\"enum\",\"values\":[\"smb\",\"midmarket\",\"enterprise\"]}],"         \
    "\"primaryKey\":[\"id\"]},"                                                                              \
    "{\"name\":\"invoices\",\"columns\":[{\"name\":\"id\",\"type\":\"uuid\",\"nullable\":false},"            \
    "{\"name\":\"customer_id\",\"type\":\"uuid\",\"nullable\":false},"                                       \
    "{\"name\":\"amount\",\"type\":\"numeric(12,2)\",\"nullable\":false},"                                  \
    "{\"name\":\"paid\",\"type\":\"boolean\",\"nullable\":false},{\"name\":\"note\",\"type\":\"text\"}],"   \
    "\"primaryKey\":[\"id\"]}]}"

#define POLICY_SPEC                                                                                          \
    "{\"rules\":[{\"name\":\"inv\",\"table\":\"invoices\",\"operations\":[\"select\",\"update\",\"delete\"]," \
    "\"readableColumns\":[\"id\",\"amount\",\"paid\",\"note\"],\"writableColumns\":[\"paid\",\"note\"],"    \
    "\"maxRows\":50,\"approval\":{\"operations\":[\"delete\"]}},"                                             \
    "{\"name\":\"cust\",\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\",\"name\"]}]," \
    "\"approvers\":[{\"kind\":\"User\",\"name\":\"alice\"}]}"

typedef struct fx {
    store *policies, *tenants, *plans, *dms, *workflows;
    agentpol_cache *cache;
    wf_adm_ctx ctx;
} fx;

static fx F;
static time_t fixed_now(void) { return 1800000000; } /* 2027-01-15 */

static void put(store *s, const char *text)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!o)
        fail_msg("fixture JSON: %s: %s", je.text, text);
    /* Every write gets a new resourceVersion, as from the API server. */
    static int rv;
    char rvs[16];
    snprintf(rvs, sizeof rvs, "%d", ++rv);
    json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string(rvs));
    assert_int_equal(store_upsert(s, o, NULL, NULL, NULL), 0);
    json_decref(o);
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    F.policies = store_new();
    F.tenants = store_new();
    F.plans = store_new();
    F.dms = store_new();
    F.workflows = store_new();
    put(F.tenants, "{\"metadata\":{\"name\":\"acme\",\"uid\":\"t-1\"},\"status\":{\"namespace\":\"tenant-acme\","
                   "\"plan\":\"pro\",\"database\":{\"dataModel\":\"crm\"}}}");
    put(F.plans, "{\"metadata\":{\"name\":\"pro\",\"uid\":\"p-1\",\"generation\":1},"
                 "\"spec\":{\"features\":[\"agents\"],\"limits\":{\"stepsPerWorkflow\":3,\"rowsPerStep\":100}}}");
    put(F.dms, "{\"metadata\":{\"name\":\"crm\"},\"status\":{\"appliedModel\":" MODEL "}}");
    put(F.policies, "{\"metadata\":{\"name\":\"p\",\"namespace\":\"tenant-acme\",\"uid\":\"ap-1\",\"generation\":1},"
                    "\"spec\":" POLICY_SPEC "}");
    agentpol_sources src = {F.policies, F.tenants, F.plans, F.dms};
    assert_int_equal(agentpol_cache_new(&src, &F.cache, NULL), 0);
    F.ctx = (wf_adm_ctx){.policies = F.cache, .workflows = F.workflows, .now = fixed_now};
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    agentpol_cache_free(F.cache);
    store_free(F.policies);
    store_free(F.tenants);
    store_free(F.plans);
    store_free(F.dms);
    store_free(F.workflows);
    return 0;
}

static pb_adm_request *req_as(const char *user, const char *op, const char *kind, const char *ns,
                              const char *object, const char *old)
{
    char *b = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&b, &n);
    fprintf(f,
            "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
            "\"uid\":\"r-1\",\"operation\":\"%s\",\"name\":\"w\","
            "\"kind\":{\"group\":\"paybill.dev\",\"version\":\"v1alpha1\",\"kind\":\"%s\"},"
            "\"resource\":{\"group\":\"paybill.dev\",\"version\":\"v1alpha1\",\"resource\":\"x\"},"
            "\"namespace\":\"%s\",\"userInfo\":%s,\"object\":%s,\"oldObject\":%s}}",
            op, kind, ns, user, object, old ? old : "null");
    fclose(f);
    pb_adm_request *rq;
    pb_err e = {0};
    if (pb_adm_decode(b, n, &rq, &e) != 0)
        fail_msg("decode: %s\n%s", e.msg, b);
    free(b);
    return rq;
}

static pb_adm_request *req(const char *op, const char *kind, const char *object, const char *old)
{
    return req_as(AGENT, op, kind, "tenant-acme", object, old);
}

typedef int (*adm_fn)(const wf_adm_ctx *, const pb_adm_request *, json_t **, pb_err *);

/* allowed; message into msg (or ""), warnings joined into msg after "|" */
static int run(adm_fn fn, pb_adm_request *rq, char *msg, size_t n, json_t **patch)
{
    json_t *rv;
    pb_err e = {0};
    if (fn(&F.ctx, rq, &rv, &e) != 0)
        fail_msg("admission call failed: %s", e.msg);
    json_t *r = json_object_get(rv, "response");
    assert_string_equal(json_string_value(json_object_get(r, "uid")), "r-1");
    const char *m = json_string_value(json_object_get(json_object_get(r, "status"), "message"));
    size_t len = (size_t)snprintf(msg, n, "%s", m ? m : "");
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(r, "warnings"), i, w) if (len < n)
        len += (size_t)snprintf(msg + len, n - len, "|%s", json_string_value(w));
    int allowed = json_is_true(json_object_get(r, "allowed"));
    if (patch) {
        *patch = NULL;
        const char *b64 = json_string_value(json_object_get(r, "patch"));
        if (b64) {
            unsigned char *raw;
            size_t rlen;
            assert_int_equal(pb_secret_b64_decode(b64, strlen(b64), &raw, &rlen, NULL), 0);
            *patch = json_loadb((const char *)raw, rlen, 0, NULL);
            free(raw);
        }
    }
    json_decref(rv);
    pb_adm_request_free(rq);
    return allowed;
}

static int decide(int mutate, pb_adm_request *rq, char *msg, size_t n, json_t **patch)
{
    return run(mutate ? wf_adm_mutate : wf_adm_validate, rq, msg, n, patch);
}

/* A Workflow object as the mutating webhook leaves it: spec (without
 * submitter) + the submitter + the spec-hash annotation. */
static char *stamped(const char *name, const char *spec_text, const char *submitter)
{
    json_t *spec = json_loads(spec_text, 0, NULL), *sub = json_loads(submitter, 0, NULL);
    assert_non_null(spec);
    json_object_set_new(spec, "submitter", sub);
    char hash[65];
    assert_int_equal(wf_adm_spec_hash(spec, hash, NULL), 0);
    json_t *o = json_pack("{s:{s:s,s:s,s:s,s:{s:s}},s:o}", "metadata", "name", name, "namespace", "tenant-acme",
                          "uid", "wf-uid-1", "annotations", WF_ADM_SPEC_HASH_ANNOTATION, hash, "spec", spec);
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return t;
}

/* Validate CREATE of a stamped workflow with these steps (JSON array). */
static int validate_steps(const char *steps, char *msg, size_t n)
{
    char spec[8192];
    snprintf(spec, sizeof spec, "{\"steps\":%s}", steps);
    char *obj = stamped("w", spec, SUB_OK);
    int ok = decide(0, req("CREATE", "Workflow", obj, NULL), msg, n, NULL);
    free(obj);
    return ok;
}

static void test_mutate_stamps_submitter_and_hash(void **state)
{
    (void)state;
    char msg[2048];
    json_t *patch;
    assert_true(decide(1, req("CREATE", "Workflow", "{\"metadata\":{\"name\":\"w\"},\"spec\":" SPEC("") "}", NULL),
                       msg, sizeof msg, &patch));
    assert_int_equal(json_array_size(patch), 2);
    json_t *want = json_loads("{\"op\":\"add\",\"path\":\"/spec/submitter\",\"value\":" SUB_OK "}", 0, NULL);
    assert_true(json_equal(json_array_get(patch, 0), want));
    json_decref(want);
    /* The annotation is the hash of the spec as stored (submitter in). */
    json_t *spec = json_loads(SPEC(",\"submitter\":" SUB_OK), 0, NULL);
    char hash[65];
    assert_int_equal(wf_adm_spec_hash(spec, hash, NULL), 0);
    json_decref(spec);
    json_t *ann = json_array_get(patch, 1);
    assert_string_equal(json_string_value(json_object_get(ann, "path")), "/metadata/annotations");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ann, "value"), "paybill.dev/spec-hash")),
                        hash);
    json_decref(patch);
    /* Existing annotations: the key is added beside them (escaped path). */
    assert_true(decide(1, req("CREATE", "Workflow",
                              "{\"metadata\":{\"name\":\"w\",\"annotations\":{\"a\":\"b\"}},\"spec\":" SPEC("") "}",
                              NULL),
                       msg, sizeof msg, &patch));
    assert_string_equal(json_string_value(json_object_get(json_array_get(patch, 1), "path")),
                        "/metadata/annotations/paybill.dev~1spec-hash");
    json_decref(patch);
    /* No spec at all: the patch adds one. */
    assert_true(decide(1, req("CREATE", "Workflow", "{\"metadata\":{}}", NULL), msg, sizeof msg, &patch));
    assert_string_equal(json_string_value(json_object_get(json_array_get(patch, 0), "path")), "/spec");
    json_decref(patch);
    /* UPDATE: nothing stamped. */
    assert_true(decide(1, req("UPDATE", "Workflow", "{\"spec\":{}}", "{\"spec\":{}}"), msg, sizeof msg, &patch));
    assert_null(patch);
}

static void test_mutate_refuses_forged(void **state)
{
    (void)state;
    char msg[2048];
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
    const char *anns[] = {"paybill.dev/submitted-by", "paybill.dev/spec-hash"};
    for (size_t i = 0; i < 2; i++) {
        char obj[1024];
        snprintf(obj, sizeof obj, "{\"metadata\":{\"annotations\":{\"%s\":\"x\"}},\"spec\":" SPEC("") "}", anns[i]);
        assert_false(decide(1, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, &patch));
        assert_non_null(strstr(msg, anns[i]));
    }
    /* Another kind sent here by a misconfiguration: denied. */
    assert_false(decide(1, req("CREATE", "AgentPolicy", "{}", NULL), msg, sizeof msg, NULL));
}

static void test_validate_identity(void **state)
{
    (void)state;
    char msg[2048];
    char *ok = stamped("w", SPEC(""), SUB_OK);
    assert_true(decide(0, req("CREATE", "Workflow", ok, NULL), msg, sizeof msg, NULL));
    free(ok);
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
    /* The spec-hash annotation must be the spec's. */
    char *obj = stamped("w", SPEC(""), SUB_OK);
    char *p = strstr(obj, "\"paybill.dev/spec-hash\":\"") + strlen("\"paybill.dev/spec-hash\":\"");
    *p = *p == '0' ? '1' : '0';
    assert_false(decide(0, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, NULL));
    assert_non_null(strstr(msg, "does not match the spec"));
    free(obj);
}

static void test_validate_static_checks(void **state)
{
    (void)state;
    char msg[4096];
    static const struct {
        const char *steps, *want; /* want NULL: admitted */
    } cases[] = {
        {"[" SELECT_STEP "]", NULL},
        /* Injection strings are data: a text value like any other. */
        {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"],\"where\":[{\"column\":"
         "\"note\",\"op\":\"eq\",\"value\":\"'; DROP TABLE invoices; --\"}],\"limit\":5}]",
         NULL},
        {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"invoice\",\"limit\":5}]", "spec.steps[0].table"},
        {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"amout\"],\"limit\":5}]",
         "amout"},
        {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"],\"where\":[{\"column\":"
         "\"amount\",\"op\":\"lt\",\"value\":\"ten\"}],\"limit\":5}]",
         "spec.steps[0].where[0].value"},
        {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"],\"where\":[{\"column\":"
         "\"paid\",\"op\":\"like\",\"value\":\"x%\"}],\"limit\":5}]",
         "spec.steps[0].where[0]"},
        /* Policy: customer email is not readable. */
        {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"email\"],\"limit\":5}]",
         "AgentPolicy tenant-acme/p"},
        /* No rule allows insert. */
        {"[{\"name\":\"a\",\"operation\":\"insert\",\"table\":\"invoices\",\"values\":{\"id\":"
         "\"9b2f7a51-4c43-4f8e-9d7b-3c1f4e5a6b7c\",\"customer_id\":\"9b2f7a51-4c43-4f8e-9d7b-3c1f4e5a6b7c\","
         "\"amount\":\"1.00\",\"paid\":false}}]",
         "insert"},
        /* Update without where (requireWhere defaults to true). */
        {"[{\"name\":\"a\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},\"limit\":5}]",
         "where"},
        /* Above maxRows. */
        {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"],\"limit\":500}]",
         "limit"},
        /* A column that is readable but not writable. */
        {"[{\"name\":\"a\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"amount\":\"1.00\"},"
         "\"where\":[{\"column\":\"paid\",\"op\":\"eq\",\"value\":false}],\"limit\":5}]",
         "amount"},
        /* More steps than the Plan's stepsPerWorkflow (3). */
        {"[" SELECT_STEP ",{\"name\":\"b\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"],"
         "\"limit\":1},{\"name\":\"c\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"],"
         "\"limit\":1},{\"name\":\"d\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"],"
         "\"limit\":1}]",
         "stepsPerWorkflow"},
        /* A reference to a later step. */
        {"[{\"name\":\"a\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},\"where\":"
         "[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"b\",\"field\":\"id\"}],\"limit\":5},"
         "{\"name\":\"b\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"],\"limit\":5}]",
         "fromStep"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int ok = validate_steps(cases[i].steps, msg, sizeof msg);
        if (cases[i].want == NULL && !ok)
            fail_msg("case %zu should pass: %s", i, msg);
        if (cases[i].want && (ok || !strstr(msg, cases[i].want)))
            fail_msg("case %zu should be denied naming \"%s\": %s (%s)", i, cases[i].want, ok ? "admitted" : "denied",
                     msg);
    }
    /* A step that needs approval is admitted, with a warning. */
    assert_true(validate_steps("[{\"name\":\"del\",\"operation\":\"delete\",\"table\":\"invoices\",\"where\":"
                               "[{\"column\":\"paid\",\"op\":\"eq\",\"value\":true}],\"limit\":5}]",
                               msg, sizeof msg));
    assert_non_null(strstr(msg, "|step \"del\" (delete on invoices) needs approval"));
}

static void test_validate_policy_ref_and_subjects(void **state)
{
    (void)state;
    char msg[4096];
    char *obj = stamped("w", "{\"policyRef\":{\"name\":\"typo\"},\"steps\":[" SELECT_STEP "]}", SUB_OK);
    assert_false(decide(0, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, NULL));
    assert_non_null(strstr(msg, "spec.policyRef.name: no AgentPolicy \"typo\""));
    free(obj);
    /* Bob is no subject of any policy: default deny. */
    obj = stamped("w", SPEC(""), BOB);
    assert_false(decide(0, req_as(BOB, "CREATE", "Workflow", "tenant-acme", obj, NULL), msg, sizeof msg, NULL));
    assert_non_null(strstr(msg, "does not list bob"));
    free(obj);
    obj = stamped("w", "{\"steps\":[" SELECT_STEP "]}", BOB);
    assert_false(decide(0, req_as(BOB, "CREATE", "Workflow", "tenant-acme", obj, NULL), msg, sizeof msg, NULL));
    assert_non_null(strstr(msg, "no enforcing AgentPolicy in namespace tenant-acme applies to bob"));
    free(obj);
}

/* A policyRef naming an Audit policy: decided by that policy alone and
 * admitted as a dry run; a step it would deny is still refused. */
static void test_validate_audit_policy_ref(void **state)
{
    (void)state;
    char msg[4096];
    put(F.policies, "{\"metadata\":{\"name\":\"trial\",\"namespace\":\"tenant-acme\",\"uid\":\"ap-2\",\"generation\":1},"
                    "\"spec\":{\"enforcement\":\"Audit\",\"rules\":[{\"table\":\"invoices\",\"operations\":[\"select\"],"
                    "\"columns\":[\"id\",\"amount\",\"paid\"]}]}}");
    char *obj = stamped("w", "{\"policyRef\":{\"name\":\"trial\"},\"steps\":[" SELECT_STEP "]}", SUB_OK);
    assert_true(decide(0, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, NULL));
    assert_non_null(strstr(msg, "is in Audit: this Workflow runs as a dry run"));
    free(obj);
    obj = stamped("w", "{\"policyRef\":{\"name\":\"trial\"},\"steps\":[{\"name\":\"a\",\"operation\":\"select\","
                       "\"table\":\"invoices\",\"columns\":[\"note\"],\"limit\":1}]}",
                  SUB_OK);
    assert_false(decide(0, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, NULL));
    assert_non_null(strstr(msg, "tenant-acme/trial"));
    free(obj);
}

static void test_validate_fails_closed(void **state)
{
    (void)state;
    char msg[4096];
    /* Not a tenant namespace. */
    char *obj = stamped("w", SPEC(""), SUB_OK);
    assert_false(decide(0, req_as(AGENT, "CREATE", "Workflow", "default", obj, NULL), msg, sizeof msg, NULL));
    assert_non_null(strstr(msg, "not the namespace of a provisioned Paybill tenant"));
    /* No cache: refused. */
    agentpol_cache *c = F.ctx.policies;
    F.ctx.policies = NULL;
    assert_false(decide(0, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, NULL));
    F.ctx.policies = c;
    /* The DataModel not applied: refused, and admitted again once it is. */
    put(F.dms, "{\"metadata\":{\"name\":\"crm\"},\"status\":{}}");
    assert_false(decide(0, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, NULL));
    assert_non_null(strstr(msg, "DataModel crm has not been applied yet"));
    put(F.dms, "{\"metadata\":{\"name\":\"crm\"},\"status\":{\"appliedModel\":" MODEL "}}");
    assert_true(decide(0, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, NULL));
    /* A plan without the "agents" feature: refused (the licence gate). */
    put(F.plans, "{\"metadata\":{\"name\":\"pro\",\"uid\":\"p-1\",\"generation\":2},"
                 "\"spec\":{\"features\":[\"exports\"]}}");
    assert_false(decide(0, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, NULL));
    assert_non_null(strstr(msg, "does not include the \"agents\" feature"));
    put(F.plans, "{\"metadata\":{\"name\":\"pro\",\"uid\":\"p-1\",\"generation\":3},"
                 "\"spec\":{\"features\":[\"agents\"]}}");
    assert_true(decide(0, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, NULL));
    /* A policy that breaks (a column dropped from the model) denies. */
    put(F.policies, "{\"metadata\":{\"name\":\"p\",\"namespace\":\"tenant-acme\",\"uid\":\"ap-1\",\"generation\":2},"
                    "\"spec\":{\"rules\":[{\"table\":\"invoices\",\"operations\":[\"select\"],\"columns\":[\"nope\"]}]}}");
    assert_false(decide(0, req("CREATE", "Workflow", obj, NULL), msg, sizeof msg, NULL));
    assert_non_null(strstr(msg, "invalid and denies every step"));
    free(obj);
}

static void test_validate_update(void **state)
{
    (void)state;
    char msg[2048];
    const char *old = "{\"metadata\":{\"name\":\"w\"},\"spec\":" SPEC(",\"submitter\":" SUB_OK) "}";
    assert_true(decide(0, req("UPDATE", "Workflow",
                              "{\"metadata\":{\"name\":\"w\",\"labels\":{\"a\":\"b\"}},\"spec\":" SPEC(",\"submitter\":" SUB_OK) ",\"status\":{\"phase\":\"Done\"}}",
                              old),
                       msg, sizeof msg, NULL));
    static const struct {
        const char *spec, *field;
    } edits[] = {
        {SPEC(",\"submitter\":{\"username\":\"alice\"}"), "spec.submitter"},
        {SPEC(""), "spec.submitter"},
        {"{\"policyRef\":{\"name\":\"q\"},\"steps\":[" SELECT_STEP "],\"submitter\":" SUB_OK "}", "spec.policyRef.name"},
        {"{\"policyRef\":{\"name\":\"p\"},\"steps\":[" SELECT_STEP ",{}],\"submitter\":" SUB_OK "}", "spec.steps[1]"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char obj[4096];
        snprintf(obj, sizeof obj, "{\"metadata\":{\"name\":\"w\"},\"spec\":%s}", edits[i].spec);
        assert_false(decide(0, req("UPDATE", "Workflow", obj, old), msg, sizeof msg, NULL));
        char want[128];
        snprintf(want, sizeof want, "immutable once created (%s", edits[i].field);
        if (!strstr(msg, want))
            fail_msg("case %zu: %s", i, msg);
    }
    const char *anns[] = {"paybill.dev/submitted-by", "paybill.dev/spec-hash"};
    for (size_t i = 0; i < 2; i++) {
        char obj[4096];
        snprintf(obj, sizeof obj, "{\"metadata\":{\"name\":\"w\",\"annotations\":{\"%s\":\"x\"}},\"spec\":" SPEC(",\"submitter\":" SUB_OK) "}",
                 anns[i]);
        assert_false(decide(0, req("UPDATE", "Workflow", obj, old), msg, sizeof msg, NULL));
        assert_non_null(strstr(msg, anns[i]));
    }
    assert_true(decide(0, req("DELETE", "Workflow", "null", old), msg, sizeof msg, NULL));
}

/* ---- Approvals ---------------------------------------------------------- */

#define DELETE_STEP \
    "{\"name\":\"del\",\"operation\":\"delete\",\"table\":\"invoices\",\"where\":[{\"column\":\"paid\",\"op\":\"eq\",\"value\":true}],\"limit\":5}"

static char HASH[65];

/* Put the workflow (a select step "a" and a delete step "del") into the
 * cache; its hash into HASH. */
static void put_workflow(void)
{
    char *obj = stamped("w", "{\"steps\":[" SELECT_STEP "," DELETE_STEP "]}", SUB_OK);
    json_t *o = json_loads(obj, 0, NULL);
    snprintf(HASH, sizeof HASH, "%s",
             json_string_value(json_object_get(json_object_get(json_object_get(o, "metadata"), "annotations"),
                                               WF_ADM_SPEC_HASH_ANNOTATION)));
    assert_int_equal(store_upsert(F.workflows, o, NULL, NULL, NULL), 0);
    json_decref(o);
    free(obj);
}

static int approve(const char *user, const char *uid, const char *hash, const char *step, const char *expires,
                   char *msg, size_t n)
{
    char obj[2048];
    snprintf(obj, sizeof obj,
             "{\"metadata\":{\"name\":\"ap\"},\"spec\":{\"workflowRef\":{\"name\":\"w\",\"uid\":\"%s\"},"
             "\"specHash\":\"%s\",\"step\":\"%s\",\"decision\":\"Approve\",\"expiresAt\":\"%s\",\"approver\":%s}}",
             uid, hash, step, expires, user);
    return run(wf_adm_approval_validate, req_as(user, "CREATE", "Approval", "tenant-acme", obj, NULL), msg, n, NULL);
}

static void test_approval_mutate(void **state)
{
    (void)state;
    char msg[2048];
    json_t *patch;
    assert_true(run(wf_adm_approval_mutate,
                    req_as(ALICE, "CREATE", "Approval", "tenant-acme", "{\"spec\":{\"step\":\"del\"}}", NULL), msg,
                    sizeof msg, &patch));
    json_t *want = json_loads("[{\"op\":\"add\",\"path\":\"/spec/approver\",\"value\":" ALICE "},"
                              "{\"op\":\"add\",\"path\":\"/spec/expiresAt\",\"value\":\"2027-01-15T09:00:00Z\"}]",
                              0, NULL);
    if (!json_equal(patch, want))
        fail_msg("patch: %s", json_dumps(patch, 0));
    json_decref(want);
    json_decref(patch);
    assert_false(run(wf_adm_approval_mutate,
                     req_as(AGENT, "CREATE", "Approval", "tenant-acme",
                            "{\"spec\":{\"step\":\"del\",\"approver\":" ALICE "}}", NULL),
                     msg, sizeof msg, &patch));
    assert_non_null(strstr(msg, "spec.approver is set by the API server"));
}

static void test_approval_validate(void **state)
{
    (void)state;
    char msg[4096];
    put_workflow();
    const char *later = "2027-01-15T10:00:00Z";
    assert_true(approve(ALICE, "wf-uid-1", HASH, "del", later, msg, sizeof msg));
    /* The agent approving its own workflow. */
    assert_false(approve(AGENT, "wf-uid-1", HASH, "del", later, msg, sizeof msg));
    assert_non_null(strstr(msg, "may not approve"));
    /* Bob is not among the approvers. */
    assert_false(approve(BOB, "wf-uid-1", HASH, "del", later, msg, sizeof msg));
    assert_non_null(strstr(msg, "bob may not approve"));
    /* Another uid (a re-created Workflow), another hash, an unknown step, a
     * step that needs no approval, expired or too far ahead. */
    assert_false(approve(ALICE, "wf-uid-2", HASH, "del", later, msg, sizeof msg));
    assert_non_null(strstr(msg, "spec.workflowRef"));
    char other[65];
    snprintf(other, sizeof other, "%s", HASH);
    other[0] = other[0] == 'a' ? 'b' : 'a';
    assert_false(approve(ALICE, "wf-uid-1", other, "del", later, msg, sizeof msg));
    assert_non_null(strstr(msg, "spec.specHash"));
    assert_false(approve(ALICE, "wf-uid-1", HASH, "nope", later, msg, sizeof msg));
    assert_non_null(strstr(msg, "no step \"nope\""));
    assert_false(approve(ALICE, "wf-uid-1", HASH, "a", later, msg, sizeof msg));
    assert_non_null(strstr(msg, "does not need approval"));
    assert_false(approve(ALICE, "wf-uid-1", HASH, "del", "2027-01-15T07:00:00Z", msg, sizeof msg));
    assert_non_null(strstr(msg, "spec.expiresAt"));
    assert_false(approve(ALICE, "wf-uid-1", HASH, "del", "2027-02-15T07:00:00Z", msg, sizeof msg));
    /* A forged approver field (mutating webhook bypassed). */
    char obj[2048];
    snprintf(obj, sizeof obj,
             "{\"spec\":{\"workflowRef\":{\"name\":\"w\",\"uid\":\"wf-uid-1\"},\"specHash\":\"%s\",\"step\":\"del\","
             "\"expiresAt\":\"%s\",\"approver\":" ALICE "}}",
             HASH, later);
    assert_false(run(wf_adm_approval_validate, req_as(AGENT, "CREATE", "Approval", "tenant-acme", obj, NULL), msg,
                     sizeof msg, NULL));
    assert_non_null(strstr(msg, "does not match the authenticated user"));
    /* The spec never changes. */
    char changed[2048];
    snprintf(changed, sizeof changed, "%s", obj);
    char *s = strstr(changed, "\"del\"");
    memcpy(s, "\"a\"  ", 5);
    assert_false(run(wf_adm_approval_validate, req_as(ALICE, "UPDATE", "Approval", "tenant-acme", changed, obj), msg,
                     sizeof msg, NULL));
    assert_non_null(strstr(msg, "immutable (spec.step differs)"));
}

/* ---- Approvals of cloud plans ------------------------------------------- */

#define PLAN_HASH "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"

static int approve_plan(const char *user, const char *ns, const char *tenant, const char *uid, const char *hash,
                        const char *extra, char *msg, size_t n)
{
    char obj[2048];
    snprintf(obj, sizeof obj,
             "{\"metadata\":{\"name\":\"ap\"},\"spec\":{\"tenantRef\":{\"name\":\"%s\",\"uid\":\"%s\"},"
             "\"planHash\":\"%s\",\"expiresAt\":\"2027-01-15T10:00:00Z\",\"approver\":%s%s}}",
             tenant, uid, hash, user, extra);
    return run(wf_adm_approval_validate, req_as(user, "CREATE", "Approval", ns, obj, NULL), msg, n, NULL);
}

static void test_approval_cloud_plan(void **state)
{
    (void)state;
    char msg[4096];
    put(F.tenants, "{\"metadata\":{\"name\":\"globex\",\"uid\":\"t-2\"},"
                   "\"status\":{\"cloud\":{\"plan\":{\"hash\":\"" PLAN_HASH "\"}}}}");
    F.ctx.tenants = F.tenants;
    /* Without a known operator namespace nothing is admitted (fail closed). */
    assert_false(approve_plan(ALICE, "paybill-system", "globex", "t-2", PLAN_HASH, "", msg, sizeof msg));
    assert_non_null(strstr(msg, "operator's namespace"));
    F.ctx.system_ns = "paybill-system";
    assert_true(approve_plan(ALICE, "paybill-system", "globex", "t-2", PLAN_HASH, "", msg, sizeof msg));
    /* In a tenant's namespace: refused (the tenant's RBAC does not approve spending). */
    assert_false(approve_plan(ALICE, "tenant-globex", "globex", "t-2", PLAN_HASH, "", msg, sizeof msg));
    assert_non_null(strstr(msg, "not tenant-globex"));
    /* A re-created tenant, an unknown one, another plan. */
    assert_false(approve_plan(ALICE, "paybill-system", "globex", "t-9", PLAN_HASH, "", msg, sizeof msg));
    assert_non_null(strstr(msg, "spec.tenantRef"));
    assert_false(approve_plan(ALICE, "paybill-system", "nobody", "t-2", PLAN_HASH, "", msg, sizeof msg));
    assert_non_null(strstr(msg, "no Tenant nobody"));
    char other[65] = PLAN_HASH;
    other[0] = 'd';
    assert_false(approve_plan(ALICE, "paybill-system", "globex", "t-2", other, "", msg, sizeof msg));
    assert_non_null(strstr(msg, "not the plan awaiting approval"));
    /* A tenant with no plan pending. */
    assert_false(approve_plan(ALICE, "paybill-system", "acme", "t-1", PLAN_HASH, "", msg, sizeof msg));
    assert_non_null(strstr(msg, "none pending"));
    /* Both kinds of target in one Approval. */
    assert_false(approve_plan(ALICE, "paybill-system", "globex", "t-2", PLAN_HASH, ",\"step\":\"del\"", msg,
                              sizeof msg));
    assert_non_null(strstr(msg, "not both"));
    /* A forged approver. */
    char obj[2048];
    snprintf(obj, sizeof obj,
             "{\"spec\":{\"tenantRef\":{\"name\":\"globex\",\"uid\":\"t-2\"},\"planHash\":\"" PLAN_HASH "\","
             "\"expiresAt\":\"2027-01-15T10:00:00Z\",\"approver\":" ALICE "}}");
    assert_false(run(wf_adm_approval_validate, req_as(BOB, "CREATE", "Approval", "paybill-system", obj, NULL), msg,
                     sizeof msg, NULL));
    assert_non_null(strstr(msg, "does not match the authenticated user"));
}

/* ---- AgentPolicies ------------------------------------------------------ */

static int policy(const char *ns, const char *spec, char *msg, size_t n)
{
    char obj[4096];
    snprintf(obj, sizeof obj, "{\"metadata\":{\"name\":\"q\",\"namespace\":\"%s\",\"generation\":1},\"spec\":%s}", ns,
             spec);
    return run(wf_adm_policy_validate, req_as(ALICE, "CREATE", "AgentPolicy", ns, obj, NULL), msg, n, NULL);
}

static void test_policy_validate(void **state)
{
    (void)state;
    char msg[4096];
    assert_true(policy("tenant-acme", POLICY_SPEC, msg, sizeof msg));
    /* A typo in a column: refused, with a suggestion. */
    assert_false(policy("tenant-acme",
                        "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"emial\"]}]}",
                        msg, sizeof msg));
    assert_non_null(strstr(msg, "emial"));
    /* A row constraint of the wrong type. */
    assert_false(policy("tenant-acme",
                        "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"rowConstraints\":"
                        "[{\"column\":\"segment\",\"op\":\"in\",\"value\":[\"smb\",\"galactic\"]}]}]}",
                        msg, sizeof msg));
    assert_non_null(strstr(msg, "galactic"));
    /* Outside a tenant namespace. */
    assert_false(policy("default", POLICY_SPEC, msg, sizeof msg));
    assert_non_null(strstr(msg, "tenant"));
    /* Warnings are passed on (a column shadowed by a deny). */
    assert_true(policy("tenant-acme",
                       "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\",\"email\"]}],"
                       "\"deny\":[{\"table\":\"customers\",\"columns\":[\"email\"]}]}",
                       msg, sizeof msg));
    assert_non_null(strchr(msg, '|'));
    /* No DataModel yet: admitted with a warning (it denies until then). */
    put(F.tenants, "{\"metadata\":{\"name\":\"acme\",\"uid\":\"t-1\"},\"status\":{\"namespace\":\"tenant-acme\","
                   "\"plan\":\"pro\"}}");
    assert_true(policy("tenant-acme", POLICY_SPEC, msg, sizeof msg));
    assert_non_null(strstr(msg, "cannot be checked yet"));
    /* Metadata-only updates always pass, even of a now-broken policy. */
    const char *o = "{\"metadata\":{\"name\":\"q\"},\"spec\":{\"rules\":[{\"table\":\"x\",\"operations\":[\"select\"]}]}}";
    assert_true(run(wf_adm_policy_validate, req_as(ALICE, "UPDATE", "AgentPolicy", "tenant-acme", o, o), msg,
                    sizeof msg, NULL));
}

/* The view is cached and rebuilt only when an input changes. */
static void test_view_cache(void **state)
{
    (void)state;
    agentpol_view *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(agentpol_get(F.cache, "tenant-acme", &a, NULL), 0);
    assert_int_equal(agentpol_get(F.cache, "tenant-acme", &b, NULL), 0);
    assert_ptr_equal(a, b);
    assert_int_equal(agentpol_view_count(a), 1);
    assert_false(pb_pol_broken(agentpol_view_at(a, 0)));
    assert_int_equal(agentpol_view_plan_limits(a)->steps_per_workflow, 3);
    put(F.plans, "{\"metadata\":{\"name\":\"pro\",\"uid\":\"p-1\",\"generation\":2},"
                 "\"spec\":{\"limits\":{\"stepsPerWorkflow\":7}}}");
    assert_int_equal(agentpol_get(F.cache, "tenant-acme", &c, NULL), 0);
    assert_ptr_not_equal(a, c);
    assert_int_equal(agentpol_view_plan_limits(c)->steps_per_workflow, 7);
    /* The old view stays valid for whoever holds it. */
    assert_int_equal(agentpol_view_plan_limits(a)->steps_per_workflow, 3);
    agentpol_put(a);
    agentpol_put(b);
    agentpol_put(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mutate_stamps_submitter_and_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutate_refuses_forged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_static_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_policy_ref_and_subjects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_audit_policy_ref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_fails_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approval_mutate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approval_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approval_cloud_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_cache, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
