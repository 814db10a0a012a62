/* Unit tests for agent/policy, agent/subject and agent/polset: compiling
 * AgentPolicy specs (every malformed or mistyped field gives a broken policy
 * whose reason names the field, never a silent default), warnings, status,
 * limits (the lower of policy and plan), subjects and approvers, and the
 * namespace + subject index. */
#include "testutil.h"

#include <string.h>

#include "agent_fixture.h"

#define RULE_C "{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\",\"name\"]}"

typedef struct {
    const char *spec;
    const char *msg; /* NULL: compiles; else a substring of the reason */
} pol_case;

static const pol_case CASES[] = {
    {"{\"rules\":[" RULE_C "]}", NULL},
    {"{\"dataModel\":\"crm\",\"enforcement\":\"Audit\",\"rules\":[" RULE_C "]}", NULL},
    {"{\"rules\":[{\"table\":\"invoices\",\"operations\":[\"select\",\"update\"],\"readableColumns\":[\"id\",\"amount\"],"
     "\"writableColumns\":[\"paid\"],\"rowConstraints\":[{\"column\":\"amount\",\"op\":\"lt\",\"value\":\"1000.00\"}],"
     "\"maxRows\":50,\"requireWhere\":true,\"approval\":{\"operations\":[\"update\"],\"rowsAbove\":10}}],"
     "\"deny\":[{\"table\":\"*\",\"operations\":[\"delete\"]},{\"name\":\"no-email\",\"table\":\"customers\","
     "\"columns\":[\"email\"]}],"
     "\"limits\":{\"workflowsPerHour\":10,\"stepsPerWorkflow\":5,\"rowsPerStep\":100,\"rowsPerHour\":1000,"
     "\"stepTimeout\":\"5s\",\"workflowTimeout\":\"1m\"},"
     "\"approvers\":[{\"kind\":\"User\",\"name\":\"alice\"}],"
     "\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"bot\"},{\"kind\":\"Group\",\"name\":\"bots\"}]}",
     NULL},
    /* shape errors */
    {"[]", "spec: expected an object"},
    {"{}", "spec.rules: expected a non-empty list"},
    {"{\"rules\":[]}", "spec.rules: expected a non-empty list"},
    {"{\"rules\":{}}", "spec.rules"},
    {"{\"rule\":[" RULE_C "]}", "spec: unknown field \"rule\""},
    {"{\"rules\":[" RULE_C "],\"enforcement\":\"enforce\"}", "spec.enforcement: expected Enforce or Audit"},
    {"{\"rules\":[" RULE_C "],\"dataModel\":\"shop\"}", "written for DataModel \"shop\" but the tenant's is \"crm\""},
    {"{\"rules\":[" RULE_C "],\"dataModel\":5}", "spec.dataModel"},
    {"{\"rules\":[5]}", "spec.rules[0]: expected an object"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"readableColums\":[\"id\"]}]}",
     "spec.rules[0]: unknown field \"readableColums\""},
    {"{\"rules\":[{\"table\":\"customer\",\"operations\":[\"select\"]}]}",
     "spec.rules[0].table: DataModel crm (version 3) has no table \"customer\", did you mean \"customers\"?"},
    {"{\"rules\":[{\"operations\":[\"select\"]}]}", "spec.rules[0].table: expected a table name"},
    {"{\"rules\":[{\"table\":\"customers\"}]}", "spec.rules[0].operations"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[]}]}", "spec.rules[0].operations"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"truncate\"]}]}", "spec.rules[0].operations[0]"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\",\"select\"]}]}", "select is listed twice"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"emial\"]}]}",
     "spec.rules[0].columns[0]: table customers has no column \"emial\", did you mean \"email\"?"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"readableColumns\":\"id\"}]}",
     "spec.rules[0].readableColumns: expected a list"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"update\"],\"writableColumns\":[7]}]}",
     "spec.rules[0].writableColumns[0]: expected a column name"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"maxRows\":0}]}", "spec.rules[0].maxRows"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"maxRows\":\"5\"}]}", "spec.rules[0].maxRows"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"requireWhere\":\"yes\"}]}",
     "spec.rules[0].requireWhere"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"rowConstraints\":[{\"column\":\"segment\","
     "\"op\":\"in\",\"value\":[\"smb\",\"gold\"]}]}]}",
     "spec.rules[0].rowConstraints[0].value[1]: \"gold\" is not a valid value for column customers.segment"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"rowConstraints\":[{\"column\":\"score\","
     "\"op\":\"eq\",\"value\":\"5\"}]}]}",
     "spec.rules[0].rowConstraints[0].value"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"rowConstraints\":[{\"column\":\"sgment\","
     "\"op\":\"eq\",\"value\":\"smb\"}]}]}",
     "did you mean \"segment\""},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"rowConstraints\":[{\"column\":\"id\","
     "\"op\":\"in\",\"fromStep\":\"a\",\"field\":\"id\"}]}]}",
     "unknown field \"fromStep\""},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"rowConstraints\":{}}]}",
     "spec.rules[0].rowConstraints"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"approval\":{\"rowsAbove\":-1}}]}",
     "spec.rules[0].approval.rowsAbove"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"approval\":{\"when\":1}}]}",
     "spec.rules[0].approval: unknown field \"when\""},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"approval\":true}]}",
     "spec.rules[0].approval"},
    {"{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"name\":\"a\\\"b\"}]}", "spec.rules[0].name"},
    {"{\"rules\":[" RULE_C "],\"deny\":[{\"table\":\"*\",\"columns\":[\"id\"]}]}",
     "spec.deny[0].columns: columns need a specific table"},
    {"{\"rules\":[" RULE_C "],\"deny\":[{\"table\":\"customers\",\"columns\":[]}]}",
     "spec.deny[0].columns: empty"},
    {"{\"rules\":[" RULE_C "],\"deny\":[{\"table\":\"nope\"}]}", "spec.deny[0].table"},
    {"{\"rules\":[" RULE_C "],\"deny\":[{\"table\":\"customers\",\"operation\":[\"delete\"]}]}",
     "spec.deny[0]: unknown field \"operation\""},
    {"{\"rules\":[" RULE_C "],\"deny\":{}}", "spec.deny"},
    {"{\"rules\":[" RULE_C "],\"limits\":{\"rowsPerStep\":0}}", "spec.limits.rowsPerStep"},
    {"{\"rules\":[" RULE_C "],\"limits\":{\"stepTimeout\":\"5 seconds\"}}", "spec.limits.stepTimeout"},
    {"{\"rules\":[" RULE_C "],\"limits\":{\"stepTimeout\":\"-5s\"}}", "spec.limits.stepTimeout"},
    {"{\"rules\":[" RULE_C "],\"limits\":{\"rowsPerMinute\":5}}", "spec.limits: unknown field \"rowsPerMinute\""},
    {"{\"rules\":[" RULE_C "],\"limits\":[]}", "spec.limits: expected an object"},
    {"{\"rules\":[" RULE_C "],\"subjects\":[{\"kind\":\"Robot\",\"name\":\"x\"}]}", "spec.subjects[0].kind"},
    {"{\"rules\":[" RULE_C "],\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"Bad_Name\"}]}",
     "is not a valid ServiceAccount"},
    {"{\"rules\":[" RULE_C "],\"subjects\":[{\"kind\":\"User\",\"name\":\"a\",\"namespace\":\"x\"}]}",
     "only ServiceAccount subjects have one"},
    {"{\"rules\":[" RULE_C "],\"subjects\":[{\"kind\":\"User\",\"name\":\"\"}]}", "spec.subjects[0].name"},
    {"{\"rules\":[" RULE_C "],\"subjects\":[{\"kind\":\"User\",\"name\":\"a\",\"apiGroup\":\"x\"}]}",
     "unknown field \"apiGroup\""},
    {"{\"rules\":[" RULE_C "],\"subjects\":\"bot\"}", "spec.subjects: expected a list"},
    {"{\"rules\":[" RULE_C "],\"approvers\":[{\"kind\":\"User\"}]}", "spec.approvers[0].name"},
};

static void test_case_table(void **state)
{
    pb_dm_model *m = fx_model();
    size_t n = sizeof CASES / sizeof CASES[0], failed = 0;
    for (size_t i = 0; i < n; i++) {
        pb_err e;
        pb_err_clear(&e);
        int rc = 0;
        pb_pol *p = fx_policy(m, CASES[i].spec, &rc, &e);
        int ok;
        if (!CASES[i].msg)
            ok = rc == 0 && p && !pb_pol_broken(p) && pb_pol_rule_count(p) > 0;
        else
            ok = rc == PB_EINVAL && p && pb_pol_broken(p) && strstr(pb_pol_reason(p), CASES[i].msg) &&
                 strcmp(pb_pol_reason(p), e.msg) == 0 && pb_pol_rule_count(p) == 0;
        if (!ok) {
            fprintf(stderr, "case %zu: %s\n  rc %d broken %d reason: %s\n  want: %s\n", i, CASES[i].spec, rc,
                    pb_pol_broken(p), pb_pol_reason(p), CASES[i].msg ? CASES[i].msg : "(compiles)");
            failed++;
        }
        pb_pol_free(p);
    }
    printf("policy cases: %zu, failed: %zu\n", n, failed);
    assert_int_equal(failed, 0);
    pb_dm_free(m);
}

static int has_warning(const pb_pol *p, const char *s)
{
    for (size_t i = 0; i < pb_pol_warning_count(p); i++)
        if (strstr(pb_pol_warning(p, i), s))
            return 1;
    return 0;
}

static void test_warnings(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    int rc;
    pb_pol *p = fx_policy(
        m,
        "{\"rules\":["
        "{\"table\":\"customers\",\"operations\":[\"delete\"]},"                                            /* 0 */
        "{\"table\":\"customers\",\"operations\":[\"select\",\"delete\"],\"columns\":[\"id\",\"email\"]}," /* 1 */
        "{\"table\":\"customers\",\"operations\":[\"select\"],\"readableColumns\":[]},"                   /* 2 */
        "{\"table\":\"customers\",\"operations\":[\"update\"],\"writableColumns\":[],\"readableColumns\":[\"id\"]}," /* 3 */
        "{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\"],\"rowConstraints\":["
        "{\"column\":\"segment\",\"op\":\"eq\",\"value\":\"smb\"},{\"column\":\"segment\",\"op\":\"eq\",\"value\":"
        "\"enterprise\"}]}," /* 4 */
        "{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\"],\"rowConstraints\":["
        "{\"column\":\"email\",\"op\":\"isNull\"}]}," /* 5 */
        "{\"table\":\"invoices\",\"operations\":[\"select\"],\"columns\":[\"id\"],\"maxRows\":500}," /* 6 */
        "{\"table\":\"invoices\",\"operations\":[\"delete\"],\"approval\":{\"operations\":[\"update\"]}}," /* 7 */
        "{\"table\":\"invoices\",\"operations\":[\"select\"],\"columns\":[\"id\",\"amount\"]}" /* 8 */
        "],"
        "\"deny\":[{\"table\":\"*\",\"operations\":[\"delete\"]},{\"table\":\"customers\",\"columns\":[\"email\"]}],"
        "\"limits\":{\"rowsPerStep\":100},"
        "\"subjects\":[{\"kind\":\"Group\",\"name\":\"system:authenticated\"}]}",
        &rc, &e);
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < pb_pol_warning_count(p); i++)
        printf("  warning: %s\n", pb_pol_warning(p, i));
    assert_true(has_warning(p, "spec.rules[0] can never match: every operation it allows is denied by spec.deny[0]"));
    assert_true(has_warning(p, "spec.rules[1]: delete shadowed by spec.deny[0]"));
    assert_true(has_warning(p, "spec.rules[1]: columns email are denied by spec.deny[1] for select"));
    assert_true(has_warning(p, "spec.rules[2] can never match a select: no column is readable"));
    assert_true(has_warning(p, "spec.rules[3] can never match an insert or update: no column is writable"));
    assert_true(has_warning(p, "spec.rules[4] can never match: no row satisfies its rowConstraints"));
    assert_true(has_warning(p, "spec.rules[5] can never match: no row satisfies"));
    assert_true(has_warning(p, "spec.rules[6].maxRows 500 is above rowsPerStep 100"));
    assert_true(has_warning(p, "spec.rules[7].approval lists operations the rule does not allow"));
    assert_true(has_warning(p, "spec.rules[6] and spec.rules[8] both allow operations on invoices"));
    assert_true(has_warning(p, "group system:authenticated matches every authenticated user"));
    pb_pol_free(p);

    p = fx_policy(m,
                  "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"]},"
                  "{\"table\":\"invoices\",\"operations\":[\"update\"],\"columns\":[\"paid\"],\"approval\":{}}],"
                  "\"subjects\":[]}",
                  &rc, &e);
    assert_int_equal(rc, 0);
    assert_true(has_warning(p, "spec.rules[0] (table customers) lists no columns: every column is readable and "
                               "writable, including columns a later DataModel version adds"));
    assert_true(has_warning(p, "spec.rules[1] needs approval but spec.approvers is empty"));
    assert_true(has_warning(p, "spec.subjects is empty: the policy applies to nobody"));
    pb_pol_free(p);

    /* a clean policy has no warnings */
    p = fx_policy(m, "{\"rules\":[" RULE_C "]}", &rc, &e);
    assert_int_equal(pb_pol_warning_count(p), 0);
    pb_pol_free(p);
    pb_dm_free(m);
}

static void test_status_and_accessors(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    int rc;
    pb_pol *p = fx_policy_named(m, "billing",
                                "{\"rules\":[{\"name\":\"read\",\"table\":\"customers\",\"operations\":[\"select\"],"
                                "\"columns\":[\"id\"]}],\"deny\":[{\"table\":\"*\",\"operations\":[\"delete\"]}]}",
                                &rc, &e);
    assert_int_equal(rc, 0);
    assert_string_equal(pb_pol_namespace(p), FX_NS);
    assert_string_equal(pb_pol_name(p), "billing");
    assert_int_equal(pb_pol_generation(p), 1);
    assert_string_equal(pb_pol_model_name(p), "crm");
    assert_int_equal(pb_pol_model_version(p), 3);
    assert_int_equal(pb_pol_rule_count(p), 1);
    assert_int_equal(pb_pol_deny_count(p), 1);
    assert_string_equal(pb_pol_rule_name(p, 0), "read");
    assert_null(pb_pol_rule_name(p, 1));
    assert_false(pb_pol_audit(p));
    json_t *st = pb_pol_status_json(p);
    char *txt = json_dumps(st, JSON_SORT_KEYS);
    assert_string_equal(txt, "{\"dataModel\": \"crm\", \"dataModelVersion\": 3, \"denyRules\": 1, \"enforcement\": "
                             "\"Enforce\", \"message\": \"compiled\", \"phase\": \"Ready\", \"reason\": \"Compiled\", "
                             "\"rules\": 1, \"warnings\": []}");
    free(txt);
    json_decref(st);
    pb_pol_free(p);

    /* no DataModel: broken, NoDataModel, still a policy to deny with */
    json_t *spec = fx_json("{\"rules\":[" RULE_C "]}");
    pb_pol_opts o = {.ns = FX_NS, .name = "x"};
    assert_int_equal(pb_pol_compile(spec, NULL, &o, &p, &e), PB_EINVAL);
    assert_non_null(p);
    assert_true(pb_pol_broken(p));
    assert_non_null(strstr(e.msg, "no DataModel"));
    st = pb_pol_status_json(p);
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Invalid");
    assert_string_equal(json_string_value(json_object_get(st, "reason")), "NoDataModel");
    assert_int_equal(json_integer_value(json_object_get(st, "dataModelVersion")), -1);
    json_decref(st);
    pb_pol_free(p);
    /* NULL spec */
    assert_int_equal(pb_pol_compile(NULL, m, &o, &p, &e), PB_EINVAL);
    assert_true(pb_pol_broken(p));
    pb_pol_free(p);
    /* NULL opts */
    assert_int_equal(pb_pol_compile(spec, m, NULL, &p, &e), 0);
    pb_pol_free(p);
    json_decref(spec);
    assert_true(pb_pol_broken(NULL));
    pb_dm_free(m);
}

static void test_limits_lower_of_plan(void **state)
{
    pb_dm_model *m = fx_model();
    json_t *spec = fx_json("{\"rules\":[" RULE_C "],\"limits\":{\"rowsPerStep\":500,\"stepsPerWorkflow\":3,"
                           "\"stepTimeout\":\"2m\"}}");
    pb_pol_limits plan = {.workflows_per_hour = 60, .steps_per_workflow = 20, .rows_per_step = 100,
                          .rows_per_hour = -1, .step_timeout_ms = 30000, .workflow_timeout_ms = -1};
    pb_pol_opts o = {.ns = FX_NS, .name = "x", .plan = &plan};
    pb_pol *p;
    pb_err e;
    assert_int_equal(pb_pol_compile(spec, m, &o, &p, &e), 0);
    const pb_pol_limits *l = pb_pol_get_limits(p);
    assert_int_equal(l->workflows_per_hour, 60);
    assert_int_equal(l->steps_per_workflow, 3);
    assert_int_equal(l->rows_per_step, 100);
    assert_int_equal(l->rows_per_hour, -1);
    assert_int_equal(l->step_timeout_ms, 30000);
    assert_int_equal(l->workflow_timeout_ms, -1);
    pb_pol_free(p);
    json_decref(spec);
    pb_dm_free(m);
}

static void test_subjects(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    int rc;
    pb_pol *p = fx_policy(m,
                          "{\"rules\":[" RULE_C "],\"subjects\":["
                          "{\"kind\":\"ServiceAccount\",\"name\":\"bot\"},"
                          "{\"kind\":\"ServiceAccount\",\"name\":\"other\",\"namespace\":\"tools\"},"
                          "{\"kind\":\"User\",\"name\":\"carol@example.com\"},"
                          "{\"kind\":\"Group\",\"name\":\"bots\"}]}",
                          &rc, &e);
    assert_int_equal(rc, 0);
    pb_subj_user u = fx_user("system:serviceaccount:tenant-acme:bot");
    assert_true(pb_pol_subjects_match(p, &u));
    u = fx_user("system:serviceaccount:tools:other");
    assert_true(pb_pol_subjects_match(p, &u));
    u = fx_user("system:serviceaccount:tools:bot");
    assert_false(pb_pol_subjects_match(p, &u));
    u = fx_user("carol@example.com");
    assert_true(pb_pol_subjects_match(p, &u));
    u = fx_user("Carol@example.com");
    assert_false(pb_pol_subjects_match(p, &u));
    u = fx_user("dave");
    u.groups[0] = "bots";
    u.n_groups = 1;
    assert_true(pb_pol_subjects_match(p, &u));
    /* anonymous never matches, even in a matching group */
    u = fx_user("system:anonymous");
    u.groups[0] = "bots";
    u.n_groups = 1;
    assert_false(pb_pol_subjects_match(p, &u));
    u = fx_user("dave");
    u.groups[0] = "bots";
    u.groups[1] = "system:unauthenticated";
    u.n_groups = 2;
    assert_false(pb_pol_subjects_match(p, &u));
    u = fx_user("");
    assert_false(pb_pol_subjects_match(p, &u));
    const pb_subj_list *l = pb_pol_subjects(p);
    assert_int_equal(pb_subj_count(l), 4);
    int g;
    assert_string_equal(pb_subj_key_at(l, 0, &g), "system:serviceaccount:tenant-acme:bot");
    assert_false(g);
    assert_string_equal(pb_subj_name_at(l, 0), "bot");
    assert_int_equal(pb_subj_kind_at(l, 3), PB_SUBJ_GROUP);
    assert_string_equal(pb_subj_kind_name(PB_SUBJ_GROUP), "Group");
    pb_pol_free(p);

    /* default subject: the namespace's paybill-agent */
    p = fx_policy(m, "{\"rules\":[" RULE_C "]}", &rc, &e);
    u = fx_user(FX_AGENT);
    assert_true(pb_pol_subjects_match(p, &u));
    pb_pol_free(p);

    /* userInfo from an AdmissionReview */
    json_t *ui = fx_json("{\"username\":\"system:serviceaccount:tenant-acme:bot\",\"uid\":\"u-1\","
                         "\"groups\":[\"system:serviceaccounts\",\"system:authenticated\"],\"extra\":{}}");
    assert_int_equal(pb_subj_user_from_json(ui, &u, &e), 0);
    assert_string_equal(u.uid, "u-1");
    assert_int_equal(u.n_groups, 2);
    json_decref(ui);
    static const char *const bad[] = {"{}", "{\"username\":\"\"}", "{\"username\":5}", "{\"username\":\"a\",\"groups\":\"x\"}",
                                      "{\"username\":\"a\",\"groups\":[1]}", "{\"username\":\"a\",\"uid\":1}", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ui = fx_json(bad[i]);
        assert_int_equal(pb_subj_user_from_json(ui, &u, &e), PB_EINVAL);
        json_decref(ui);
    }
    json_t *gs = json_array();
    for (int i = 0; i < PB_SUBJ_MAX_GROUPS + 1; i++)
        json_array_append_new(gs, json_string("g"));
    ui = json_pack("{s:s,s:o}", "username", "a", "groups", gs);
    assert_int_equal(pb_subj_user_from_json(ui, &u, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "65 groups"));
    json_decref(ui);
    pb_dm_free(m);
}

static void test_approvers(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    int rc;
    pb_pol *p = fx_policy(m,
                          "{\"rules\":[" RULE_C "],\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"bot\"},"
                          "{\"kind\":\"User\",\"name\":\"alice\"}],"
                          "\"approvers\":[{\"kind\":\"User\",\"name\":\"alice\"},{\"kind\":\"Group\",\"name\":\"leads\"},"
                          "{\"kind\":\"ServiceAccount\",\"name\":\"bot\"}]}",
                          &rc, &e);
    assert_int_equal(rc, 0);
    pb_subj_user bot = fx_user("system:serviceaccount:tenant-acme:bot"), alice = fx_user("alice"),
                 bob = fx_user("bob"), lead = fx_user("erin"), anon = fx_user("system:anonymous");
    lead.groups[0] = "leads";
    lead.n_groups = 1;
    assert_int_equal(pb_pol_may_approve(p, &alice, &bot, &e), 0);
    assert_int_equal(pb_pol_may_approve(p, &lead, &bot, &e), 0);
    /* an agent approving its own workflow: refused, even though listed */
    assert_int_equal(pb_pol_may_approve(p, &bot, &bot, &e), PB_EFORBIDDEN);
    assert_non_null(strstr(e.msg, "submitted this workflow and cannot approve it"));
    assert_int_equal(pb_pol_may_approve(p, &alice, &alice, &e), PB_EFORBIDDEN);
    /* same uid under another name is the same principal */
    pb_subj_user a2 = fx_user("alice"), s2 = fx_user("alice-alias");
    a2.uid = "uid-7";
    s2.uid = "uid-7";
    assert_int_equal(pb_pol_may_approve(p, &a2, &s2, &e), PB_EFORBIDDEN);
    assert_int_equal(pb_pol_may_approve(p, &bob, &bot, &e), PB_EFORBIDDEN);
    assert_non_null(strstr(e.msg, "bob is not an approver"));
    assert_int_equal(pb_pol_may_approve(p, &anon, &bot, &e), PB_EFORBIDDEN);
    assert_int_equal(pb_pol_may_approve(p, &alice, NULL, &e), PB_EFORBIDDEN);
    pb_pol_free(p);
    /* broken policy: nobody approves */
    p = fx_policy(m, "{\"rules\":[],\"approvers\":[{\"kind\":\"User\",\"name\":\"alice\"}]}", &rc, &e);
    assert_int_equal(pb_pol_may_approve(p, &alice, &bot, &e), PB_EFORBIDDEN);
    assert_non_null(strstr(e.msg, "is invalid"));
    pb_pol_free(p);
    /* no approvers: nobody */
    p = fx_policy(m, "{\"rules\":[" RULE_C "]}", &rc, &e);
    assert_int_equal(pb_pol_may_approve(p, &alice, &bot, &e), PB_EFORBIDDEN);
    pb_pol_free(p);
    pb_dm_free(m);
}

static void test_polset_index(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    int rc;
    pb_pol *pols[6];
    pols[0] = fx_policy_named(m, "a", "{\"rules\":[" RULE_C "]}", &rc, &e); /* default SA */
    pols[1] = fx_policy_named(m, "b", "{\"rules\":[" RULE_C "],\"subjects\":[{\"kind\":\"Group\",\"name\":\"bots\"}]}",
                              &rc, &e);
    pols[2] = fx_policy_named(m, "c",
                              "{\"rules\":[" RULE_C "],\"subjects\":[{\"kind\":\"User\",\"name\":\"" FX_AGENT "\"},"
                              "{\"kind\":\"Group\",\"name\":\"bots\"}]}",
                              &rc, &e);
    /* broken in its subjects: applies to everyone in its namespace */
    pols[3] = fx_policy_named(m, "d", "{\"rules\":[" RULE_C "],\"subjects\":[{\"kind\":\"Robot\"}]}", &rc, &e);
    assert_true(pb_pol_broken(pols[3]));
    /* another namespace */
    json_t *spec = fx_json("{\"rules\":[" RULE_C "]}");
    pb_pol_opts o = {.ns = "tenant-other", .name = "e"};
    pb_pol_compile(spec, m, &o, &pols[4], &e);
    json_decref(spec);
    pols[5] = fx_policy_named(m, "f", "{\"rules\":[" RULE_C "],\"subjects\":[{\"kind\":\"User\",\"name\":\"zed\"}]}", &rc, &e);
    pb_polset *s;
    assert_int_equal(pb_polset_build((const pb_pol *const *)pols, 6, &s, &e), 0);
    assert_int_equal(pb_polset_count(s), 6);
    size_t idx[8];
    pb_subj_user u = fx_user(FX_AGENT);
    u.groups[0] = "bots";
    u.groups[1] = "system:authenticated";
    u.n_groups = 2;
    assert_int_equal(pb_polset_lookup(s, FX_NS, &u, idx, 8), 4);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 1);
    assert_int_equal(idx[2], 2);
    assert_int_equal(idx[3], 3);
    /* a cap smaller than the count: the count still says so */
    assert_int_equal(pb_polset_lookup(s, FX_NS, &u, idx, 2), 4);
    u = fx_user("zed");
    assert_int_equal(pb_polset_lookup(s, FX_NS, &u, idx, 8), 2); /* f and the broken d */
    assert_int_equal(idx[0], 3);
    assert_int_equal(idx[1], 5);
    u = fx_user("system:serviceaccount:tenant-other:paybill-agent");
    assert_int_equal(pb_polset_lookup(s, "tenant-other", &u, idx, 8), 1);
    assert_int_equal(idx[0], 4);
    assert_int_equal(pb_polset_lookup(s, "tenant-none", &u, idx, 8), 0);
    u = fx_user("system:anonymous");
    assert_int_equal(pb_polset_lookup(s, FX_NS, &u, idx, 8), 0);
    pb_polset_free(s);
    const pb_pol *withnull[2] = {pols[0], NULL};
    assert_int_equal(pb_polset_build(withnull, 2, &s, &e), PB_EINVAL);
    for (int i = 0; i < 6; i++)
        pb_pol_free(pols[i]);
    pb_dm_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_table),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_status_and_accessors),
        cmocka_unit_test(test_limits_lower_of_plan),
        cmocka_unit_test(test_subjects),
        cmocka_unit_test(test_approvers),
        cmocka_unit_test(test_polset_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
