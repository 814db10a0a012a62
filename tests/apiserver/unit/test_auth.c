/* Unit tests for devapi authn.c: static token file parsing, ServiceAccount
 * tokens (issue, verify, tamper, expiry, deleted or recreated SA) and
 * impersonation (allowed, denied with the real message, SA groups). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "fakestore.h"
#include "util/log.h"

/* ---- fake store (fakestore.h) ---------------------------------------------- */

static void add_sa(json_t *store, const char *ns, const char *name, const char *uid)
{
    char buf[256];
    snprintf(buf, sizeof buf, "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"uid\":\"%s\"}}",
             ns, name, uid);
    add_obj(store, "", "serviceaccounts", buf);
}

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef";

static dv_auth *new_auth(const char *token_file, json_t *store)
{
    dv_auth *a = NULL;
    char msg[512] = "";
    int rc = dv_auth_new(token_file, KEY, sizeof KEY - 1, fake_list, store, &a, msg, sizeof msg);
    if (rc != 0)
        fail_msg("dv_auth_new: %s", msg);
    return a;
}

static char *token_file(char **dir, const char *content)
{
    *dir = tu_tmpdir();
    return tu_write_file(*dir, "tokens.csv", content);
}

/* ---- token file ------------------------------------------------------------- */

static void test_token_file_users(void **state)
{
    char *dir, *path = token_file(&dir,
                                  "admintoken,admin,uid-admin,\"system:masters,ops\"\n"
                                  "\n"
                                  "alicetoken,alice,uid-alice\n"
                                  "bobtoken,bob,uid-bob,dev\r\n"
                                  ",nobody,uid-x\n"
                                  "quoted,\"carol, the \"\"admin\"\"\",uid-c,\n");
    pb_log_configure(PB_LOG_OFF, PB_LOG_TEXT, NULL);
    dv_auth *a = new_auth(path, NULL);
    pb_log_configure(PB_LOG_INFO, PB_LOG_JSON, NULL);
    dv_user u = {0};

    assert_int_equal(dv_authenticate(a, "Bearer admintoken", &u), 0);
    assert_string_equal(u.name, "admin");
    assert_string_equal(u.uid, "uid-admin");
    assert_int_equal(u.ngroups, 3);
    assert_string_equal(u.groups[0], "system:masters");
    assert_string_equal(u.groups[1], "ops");
    assert_string_equal(u.groups[2], "system:authenticated");
    assert_null(u.groups[3]);
    dv_user_clear(&u);

    assert_int_equal(dv_authenticate(a, "Bearer alicetoken", &u), 0);
    assert_string_equal(u.name, "alice");
    assert_int_equal(u.ngroups, 1);
    assert_string_equal(u.groups[0], "system:authenticated");
    dv_user_clear(&u);

    /* CRLF line ending, case-insensitive scheme, surrounding blanks */
    assert_int_equal(dv_authenticate(a, "bearer   bobtoken ", &u), 0);
    assert_string_equal(u.name, "bob");
    assert_true(dv_user_in_group(&u, "dev"));
    assert_true(dv_user_in_group(&u, "system:authenticated"));
    dv_user_clear(&u);

    assert_int_equal(dv_authenticate(a, "Bearer quoted", &u), 0);
    assert_string_equal(u.name, "carol, the \"admin\"");
    assert_int_equal(u.ngroups, 1);
    dv_user_clear(&u);

    /* unknown, empty, wrong scheme, missing header */
    assert_int_equal(dv_authenticate(a, "Bearer nope", &u), -1);
    assert_int_equal(dv_authenticate(a, "Bearer ", &u), -1);
    assert_int_equal(dv_authenticate(a, "Basic YWRtaW46YWRtaW4=", &u), -1);
    assert_int_equal(dv_authenticate(a, "admintoken", &u), -1);
    assert_int_equal(dv_authenticate(a, NULL, &u), -1);
    /* the record with an empty token was skipped, not turned into "" */
    assert_int_equal(dv_authenticate(a, "Bearer ,nobody", &u), -1);
    assert_null(u.name);

    dv_auth_free(a);
    tu_rmtree(dir);
    free(dir);
    free(path);
}

static void test_token_file_malformed(void **state)
{
    struct {
        const char *content, *want;
    } cases[] = {
        {"good,alice,uid\nshort,bob\n", "line 2: must have at least 3 columns (token, user name, user uid), found 2"},
        {"\n\nonly\n", "line 3: must have at least 3 columns"},
        {"tok,\"alice,uid\n", "line 1: malformed CSV"},
        {"tok,al\"ice,uid\n", "line 1: malformed CSV"},
        {"tok,\"alice\"x,uid\n", "line 1: malformed CSV"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir, *path = token_file(&dir, cases[i].content);
        dv_auth *a = (dv_auth *)1;
        char msg[512] = "";
        assert_int_equal(dv_auth_new(path, KEY, 32, fake_list, NULL, &a, msg, sizeof msg), -1);
        assert_null(a);
        if (!strstr(msg, cases[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, msg, cases[i].want);
        assert_non_null(strstr(msg, "tokens.csv"));
        tu_rmtree(dir);
        free(dir);
        free(path);
    }
    dv_auth *a = NULL;
    char msg[512] = "";
    assert_int_equal(dv_auth_new("/nonexistent/tokens.csv", NULL, 0, NULL, NULL, &a, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "No such file"));
}

static void test_duplicate_token_last_wins(void **state)
{
    char *dir, *path = token_file(&dir, "t,first,1\nt,second,2\n");
    dv_auth *a = new_auth(path, NULL);
    dv_user u = {0};
    assert_int_equal(dv_authenticate(a, "Bearer t", &u), 0);
    assert_string_equal(u.name, "second");
    dv_user_clear(&u);
    dv_auth_free(a);
    tu_rmtree(dir);
    free(dir);
    free(path);
}

/* ---- ServiceAccount tokens ------------------------------------------------ */

static char *bearer(const char *tok)
{
    char *h = malloc(strlen(tok) + 8);
    sprintf(h, "Bearer %s", tok);
    return h;
}

static void test_sa_token_roundtrip(void **state)
{
    json_t *store = json_object();
    add_sa(store, "tenant-a", "builder", "uid-1");
    dv_auth *a = new_auth(NULL, store);
    char *tok = dv_issue_sa_token(a, "tenant-a", "builder", "uid-1");
    assert_non_null(tok);
    /* JWT shape: three base64url parts, no padding */
    char *d1 = strchr(tok, '.');
    assert_non_null(d1);
    assert_non_null(strchr(d1 + 1, '.'));
    assert_null(strchr(tok, '='));

    char *h = bearer(tok);
    dv_user u = {0};
    assert_int_equal(dv_authenticate(a, h, &u), 0);
    assert_string_equal(u.name, "system:serviceaccount:tenant-a:builder");
    assert_string_equal(u.uid, "uid-1");
    assert_int_equal(u.ngroups, 3);
    assert_string_equal(u.groups[0], "system:serviceaccounts");
    assert_string_equal(u.groups[1], "system:serviceaccounts:tenant-a");
    assert_string_equal(u.groups[2], "system:authenticated");
    dv_user_clear(&u);

    /* another server key does not accept it */
    dv_auth *b = NULL;
    const unsigned char other[] = "another-key";
    assert_int_equal(dv_auth_new(NULL, other, sizeof other - 1, fake_list, store, &b, NULL, 0), 0);
    assert_int_equal(dv_authenticate(b, h, &u), -1);
    dv_auth_free(b);

    free(h);
    free(tok);
    dv_auth_free(a);
    json_decref(store);
}

static void test_sa_token_tampered(void **state)
{
    json_t *store = json_object();
    add_sa(store, "ns1", "sa", "u1");
    add_sa(store, "ns2", "admin", "u2");
    dv_auth *a = new_auth(NULL, store);
    char *tok = dv_issue_sa_token(a, "ns1", "sa", "u1");
    char *other = dv_issue_sa_token(a, "ns2", "admin", "u2");
    dv_user u = {0};

    /* flip one character of the signature */
    char *t = strdup(tok);
    size_t len = strlen(t);
    t[len - 2] = t[len - 2] == 'A' ? 'B' : 'A';
    char *h = bearer(t);
    assert_int_equal(dv_authenticate(a, h, &u), -1);
    free(h);
    free(t);

    /* payload of one token, signature of another */
    char *mix = malloc(strlen(tok) + strlen(other) + 1);
    const char *sig_other = strrchr(other, '.');
    snprintf(mix, strlen(tok) + strlen(other) + 1, "%.*s%s", (int)(strrchr(tok, '.') - tok), tok,
             sig_other);
    h = bearer(mix);
    assert_int_equal(dv_authenticate(a, h, &u), -1);
    free(h);
    free(mix);

    /* truncated, extra part, garbage */
    const char *bad[] = {"Bearer a.b", "Bearer a.b.c.d", "Bearer ...", "Bearer !!.??.**", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(dv_authenticate(a, bad[i], &u), -1);
    h = bearer(tok);
    h[strlen(h) - 1] = '\0'; /* drop last signature char */
    assert_int_equal(dv_authenticate(a, h, &u), -1);
    free(h);
    assert_null(u.name);

    free(tok);
    free(other);
    dv_auth_free(a);
    json_decref(store);
}

static void test_sa_token_needs_live_sa(void **state)
{
    json_t *store = json_object();
    add_sa(store, "ns1", "sa", "uid-old");
    dv_auth *a = new_auth(NULL, store);
    char *tok = dv_issue_sa_token(a, "ns1", "sa", "uid-old");
    char *h = bearer(tok);
    dv_user u = {0};
    assert_int_equal(dv_authenticate(a, h, &u), 0);
    dv_user_clear(&u);

    /* recreated with a new uid: the old token is dead */
    json_object_set_new(store, "/serviceaccounts", json_array());
    add_sa(store, "ns1", "sa", "uid-new");
    assert_int_equal(dv_authenticate(a, h, &u), -1);

    /* deleted: dead too */
    json_object_set_new(store, "/serviceaccounts", json_array());
    assert_int_equal(dv_authenticate(a, h, &u), -1);
    /* same name in another namespace does not count */
    add_sa(store, "ns2", "sa", "uid-old");
    assert_int_equal(dv_authenticate(a, h, &u), -1);

    free(h);
    free(tok);
    dv_auth_free(a);
    json_decref(store);
}

static void test_sa_token_expiry(void **state)
{
    json_t *store = json_object();
    add_sa(store, "ns1", "sa", "u");
    dv_auth *a = new_auth(NULL, store);
    long long now = (long long)time(NULL);
    dv_user u = {0};

    char *fresh = dv_issue_sa_token_ex(a, "ns1", "sa", "u", now, 3600);
    char *h = bearer(fresh);
    assert_int_equal(dv_authenticate(a, h, &u), 0);
    dv_user_clear(&u);
    free(h);

    char *expired = dv_issue_sa_token_ex(a, "ns1", "sa", "u", now - 7200, 3600);
    h = bearer(expired);
    assert_int_equal(dv_authenticate(a, h, &u), -1);
    free(h);

    char *future = dv_issue_sa_token_ex(a, "ns1", "sa", "u", now + 3600, 3600);
    h = bearer(future);
    assert_int_equal(dv_authenticate(a, h, &u), -1);
    free(h);

    assert_null(dv_issue_sa_token(a, "", "sa", "u"));
    assert_null(dv_issue_sa_token(a, "ns1", NULL, "u"));

    free(fresh);
    free(expired);
    free(future);
    dv_auth_free(a);
    json_decref(store);
}

/* kubectl v1.32 `create token builder --duration=20m --audience=<api>
 * --audience=vault`, as captured with -v=9. */
static const char TOKEN_REQUEST_HEX[] =
    "6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e52657175657374"
    "12520a100a0012001a0022002a0032003800420012380a2c68747470733a2f2f6b756265726e657465732e646566"
    "61756c742e7376632e636c75737465722e6c6f63616c0a057661756c7420b0091a040a0012001a002200";

static void test_token_request(void **state)
{
    json_t *store = json_object();
    add_sa(store, "default", "builder", "uid-b");
    dv_auth *a = new_auth(NULL, store);
    json_t *sa = json_array_get(json_object_get(store, "/serviceaccounts"), 0);
    long long now = (long long)time(NULL);
    char msg[512] = "";
    dv_user u = {0};

    /* the protobuf body kubectl sends, decoded */
    size_t len = strlen(TOKEN_REQUEST_HEX) / 2;
    unsigned char *bin = malloc(len);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        sscanf(TOKEN_REQUEST_HEX + 2 * i, "%2x", &v);
        bin[i] = (unsigned char)v;
    }
    json_t *req = dv_auth_protobuf_to_json(bin, len);
    free(bin);
    assert_non_null(req);
    json_t *spec = json_object_get(req, "spec");
    assert_int_equal(json_integer_value(json_object_get(spec, "expirationSeconds")), 1200);
    assert_int_equal(json_array_size(json_object_get(spec, "audiences")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(spec, "audiences"), 1)), "vault");

    json_t *tr = dv_token_request(a, sa, req, now, msg, sizeof msg);
    json_decref(req);
    assert_non_null(tr);
    assert_string_equal(json_string_value(json_object_get(tr, "kind")), "TokenRequest");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(tr, "spec"), "expirationSeconds")), 1200);
    json_t *st = json_object_get(tr, "status");
    char want_ts[32];
    time_t t = (time_t)(now + 1200);
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(want_ts, sizeof want_ts, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    assert_string_equal(json_string_value(json_object_get(st, "expirationTimestamp")), want_ts);
    char *h = bearer(json_string_value(json_object_get(st, "token")));
    assert_int_equal(dv_authenticate(a, h, &u), 0);
    assert_string_equal(u.name, "system:serviceaccount:default:builder");
    dv_user_clear(&u);
    free(h);
    json_decref(tr);

    /* defaults: one hour, for the API server */
    tr = dv_token_request(a, sa, NULL, now, msg, sizeof msg);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(tr, "spec"), "expirationSeconds")), 3600);
    json_decref(tr);

    /* a token for another audience only is not accepted here */
    req = json_pack("{s:{s:[s]}}", "spec", "audiences", "vault");
    tr = dv_token_request(a, sa, req, now, msg, sizeof msg);
    h = bearer(json_string_value(json_object_get(json_object_get(tr, "status"), "token")));
    assert_int_equal(dv_authenticate(a, h, &u), -1);
    free(h);
    json_decref(tr);
    json_decref(req);

    /* too short and too long, worded like the real 422 */
    req = json_pack("{s:{s:i}}", "spec", "expirationSeconds", 60);
    assert_null(dv_token_request(a, sa, req, now, msg, sizeof msg));
    assert_string_equal(msg, "TokenRequest.authentication.k8s.io \"builder\" is invalid: spec.expirationSeconds: "
                             "Invalid value: 60: may not specify a duration less than 10 minutes");
    json_decref(req);
    req = json_pack("{s:{s:I}}", "spec", "expirationSeconds", (json_int_t)5000000000LL);
    assert_null(dv_token_request(a, sa, req, now, msg, sizeof msg));
    assert_non_null(strstr(msg, "larger than 2^32 seconds"));
    json_decref(req);
    req = json_pack("{s:{s:s}}", "spec", "expirationSeconds", "soon");
    assert_null(dv_token_request(a, sa, req, now, msg, sizeof msg));
    json_decref(req);

    dv_auth_free(a);
    json_decref(store);
}

/* ---- impersonation ----------------------------------------------------------- */

static json_t *impersonation_store(void)
{
    json_t *s = json_object();
    add_obj(s, "rbac.authorization.k8s.io", "clusterroles",
            "{\"metadata\":{\"name\":\"impersonate-bob\"},\"rules\":[{\"apiGroups\":[\"\"],"
            "\"resources\":[\"users\"],\"verbs\":[\"impersonate\"],\"resourceNames\":[\"bob\"]},"
            "{\"apiGroups\":[\"\"],\"resources\":[\"groups\"],\"verbs\":[\"impersonate\"],"
            "\"resourceNames\":[\"devs\"]}]}");
    add_obj(s, "rbac.authorization.k8s.io", "clusterrolebindings",
            "{\"metadata\":{\"name\":\"alice-imp\"},\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\","
            "\"kind\":\"ClusterRole\",\"name\":\"impersonate-bob\"},\"subjects\":[{\"kind\":\"User\","
            "\"name\":\"alice\"}]}");
    add_obj(s, "rbac.authorization.k8s.io", "roles",
            "{\"metadata\":{\"name\":\"imp-sa\",\"namespace\":\"ci\"},\"rules\":[{\"apiGroups\":[\"\"],"
            "\"resources\":[\"serviceaccounts\"],\"verbs\":[\"impersonate\"]}]}");
    add_obj(s, "rbac.authorization.k8s.io", "rolebindings",
            "{\"metadata\":{\"name\":\"alice-imp-sa\",\"namespace\":\"ci\"},\"roleRef\":{\"kind\":\"Role\","
            "\"name\":\"imp-sa\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"alice\"}]}");
    return s;
}

static void set_user(dv_user *u, const char *name)
{
    assert_int_equal(dv_user_set(u, name, "uid-1", NULL), 0);
}

static void test_impersonate_user(void **state)
{
    json_t *store = impersonation_store();
    dv_auth *a = new_auth(NULL, store);
    dv_user u = {0};
    char msg[1024];

    set_user(&u, "alice");
    assert_int_equal(dv_impersonate(a, &u, NULL, NULL, NULL, msg, sizeof msg), 0);
    assert_string_equal(u.name, "alice"); /* no headers: unchanged */

    const char *groups[] = {"devs", NULL};
    assert_int_equal(dv_impersonate(a, &u, "bob", groups, NULL, msg, sizeof msg), 0);
    assert_string_equal(u.name, "bob");
    assert_string_equal(u.uid, "");
    assert_int_equal(u.ngroups, 2);
    assert_string_equal(u.groups[0], "devs");
    assert_string_equal(u.groups[1], "system:authenticated");

    set_user(&u, "alice");
    assert_int_equal(dv_impersonate(a, &u, "bob", NULL, NULL, msg, sizeof msg), 0);
    assert_int_equal(u.ngroups, 1);

    set_user(&u, "alice");
    assert_int_equal(dv_impersonate(a, &u, "carol", NULL, NULL, msg, sizeof msg), -1);
    assert_string_equal(msg, "users \"carol\" is forbidden: User \"alice\" cannot impersonate "
                             "resource \"users\" in API group \"\" at the cluster scope");
    assert_string_equal(u.name, "alice"); /* untouched on failure */

    const char *admins[] = {"devs", "system:masters", NULL};
    assert_int_equal(dv_impersonate(a, &u, "bob", admins, NULL, msg, sizeof msg), -1);
    assert_string_equal(msg, "groups \"system:masters\" is forbidden: User \"alice\" cannot "
                             "impersonate resource \"groups\" in API group \"\" at the cluster scope");

    /* groups or a uid without a user: kube-apiserver's 400 */
    assert_int_equal(dv_impersonate(a, &u, NULL, groups, NULL, msg, sizeof msg), -2);
    assert_string_equal(msg, "requested &user.DefaultInfo{Name:\"\", UID:\"\", Groups:[]string{\"devs\"}, "
                             "Extra:map[string][]string(nil)} without impersonating a user name");
    assert_int_equal(dv_impersonate(a, &u, NULL, NULL, "u-9", msg, sizeof msg), -2);
    assert_string_equal(msg, "requested &user.DefaultInfo{Name:\"\", UID:\"u-9\", Groups:[]string(nil), "
                             "Extra:map[string][]string(nil)} without impersonating a user name");
    assert_int_equal(dv_impersonate(a, &u, NULL, admins, NULL, msg, sizeof msg), -2);
    assert_string_equal(msg, "requested &user.DefaultInfo{Name:\"\", UID:\"\", Groups:[]string{\"devs\", "
                             "\"system:masters\"}, Extra:map[string][]string(nil)} without impersonating a user name");

    /* Impersonate-Uid: impersonate on uids in authentication.k8s.io */
    set_user(&u, "alice");
    assert_int_equal(dv_impersonate(a, &u, "bob", NULL, "u-9", msg, sizeof msg), -1);
    assert_string_equal(msg, "uids.authentication.k8s.io \"u-9\" is forbidden: User \"alice\" cannot "
                             "impersonate resource \"uids\" in API group \"authentication.k8s.io\" at the cluster "
                             "scope");
    assert_string_equal(u.name, "alice");
    const char *masters[] = {"system:masters", NULL};
    assert_int_equal(dv_user_set(&u, "root", NULL, masters), 0);
    assert_int_equal(dv_impersonate(a, &u, "bob", NULL, "u-9", msg, sizeof msg), 0);
    assert_string_equal(u.name, "bob");
    assert_string_equal(u.uid, "u-9");

    set_user(&u, "mallory");
    assert_int_equal(dv_impersonate(a, &u, "bob", NULL, NULL, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "User \"mallory\" cannot impersonate"));

    dv_user_clear(&u);
    dv_auth_free(a);
    json_decref(store);
}

static void test_impersonate_serviceaccount(void **state)
{
    json_t *store = impersonation_store();
    dv_auth *a = new_auth(NULL, store);
    dv_user u = {0};
    char msg[1024];

    set_user(&u, "alice");
    assert_int_equal(dv_impersonate(a, &u, "system:serviceaccount:ci:deployer", NULL, NULL, msg, sizeof msg), 0);
    assert_string_equal(u.name, "system:serviceaccount:ci:deployer");
    assert_int_equal(u.ngroups, 3);
    assert_string_equal(u.groups[0], "system:serviceaccounts");
    assert_string_equal(u.groups[1], "system:serviceaccounts:ci");
    assert_string_equal(u.groups[2], "system:authenticated");

    set_user(&u, "alice");
    assert_int_equal(dv_impersonate(a, &u, "system:serviceaccount:prod:deployer", NULL, NULL, msg, sizeof msg), -1);
    assert_string_equal(msg, "serviceaccounts \"deployer\" is forbidden: User \"alice\" cannot "
                             "impersonate resource \"serviceaccounts\" in API group \"\" in the "
                             "namespace \"prod\"");

    /* system:masters may impersonate anyone; anonymous gets unauthenticated */
    const char *masters[] = {"system:masters", NULL};
    assert_int_equal(dv_user_set(&u, "root", NULL, masters), 0);
    assert_int_equal(dv_impersonate(a, &u, "system:anonymous", NULL, NULL, msg, sizeof msg), 0);
    assert_int_equal(u.ngroups, 1);
    assert_string_equal(u.groups[0], "system:unauthenticated");

    dv_user_clear(&u);
    dv_auth_free(a);
    json_decref(store);
}

static void test_user_helpers(void **state)
{
    dv_user u = {0}, c = {0};
    const char *g[] = {"a", "a", "system:unauthenticated", NULL};
    assert_int_equal(dv_user_set(&u, "x", NULL, g), 0);
    assert_int_equal(u.ngroups, 2); /* duplicate dropped, no system:authenticated */
    assert_int_equal(dv_user_copy(&c, &u), 0);
    assert_string_equal(c.name, "x");
    assert_string_equal(c.uid, "");
    assert_int_equal(c.ngroups, 2);
    assert_false(dv_user_in_group(&c, "system:authenticated"));
    dv_user_clear(&u);
    dv_user_clear(&c);
    dv_user_clear(&c); /* idempotent */
    dv_user_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_file_users),
        cmocka_unit_test(test_token_file_malformed),
        cmocka_unit_test(test_duplicate_token_last_wins),
        cmocka_unit_test(test_sa_token_roundtrip),
        cmocka_unit_test(test_sa_token_tampered),
        cmocka_unit_test(test_sa_token_needs_live_sa),
        cmocka_unit_test(test_sa_token_expiry),
        cmocka_unit_test(test_token_request),
        cmocka_unit_test(test_impersonate_user),
        cmocka_unit_test(test_impersonate_serviceaccount),
        cmocka_unit_test(test_user_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
