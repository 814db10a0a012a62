/*
 * test_billing_sig.c - webhook signature schemes (server/billing_sig.c).
 *
 * Each guarantee has a test that fails without it: the right secret and
 * body only, every v1 and every live secret looked at, tolerance in both
 * directions, full-length comparison, fail closed without secrets, and
 * malformed headers refused. Then the judge: Stripe's own library
 * (stripesign, hack/tools/stripe, built by hack/stripe.sh from stripe-go)
 * signs payloads we must accept, and on 3,000 random and mutated
 * deliveries our verdict is compared with stripe-go's: we never accept
 * what it refuses, and refuse what it accepts only in the documented
 * stricter cases (a timestamp in the future, "t=+N", a repeated t).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <glob.h>
#include <libgen.h>

#include "testutil.h"

#include "server/billing_sig.h"
#include "util/secret.h"

typedef struct hdrs {
    const char *names[4];
    const char *values[4];
} hdrs;

static int get_hdr(const void *ud, const char *name, char *buf, size_t n)
{
    const hdrs *h = ud;
    for (int i = 0; i < 4 && h->names[i]; i++) {
        if (strcasecmp(h->names[i], name) == 0) {
            size_t l = strlen(h->values[i]);
            if (l + 1 > n)
                return -1;
            memcpy(buf, h->values[i], l + 1);
            return (int)l;
        }
    }
    return -1;
}

static pb_bsig_key key(const char *s) { return (pb_bsig_key){(const unsigned char *)s, strlen(s)}; }

static int verify_stripe(const char *body, const char *header, const pb_bsig_key *keys, size_t nkeys,
                         int64_t now, pb_bsig_reason *reason)
{
    hdrs h = {{"Stripe-Signature"}, {header}};
    pb_bsig_input in = {.body = body, .body_len = strlen(body), .header = get_hdr, .header_ud = &h,
                        .keys = keys, .nkeys = nkeys, .now = now};
    pb_err err;
    pb_err_clear(&err);
    pb_bsig_reason r = PB_BSIG_OK;
    int rc = pb_bsig_verify_stripe(&in, NULL, &r, &err);
    if (reason)
        *reason = r;
    return rc;
}

static char *sign(const char *scheme, const char *secret, int64_t t, const char *body)
{
    pb_bsig_key k = key(secret);
    char *out = NULL;
    pb_err err;
    assert_int_equal(pb_bsig_sign(scheme, &k, t, body, strlen(body), &out, &err), 0);
    return out;
}

static const char *BODY = "{\"id\":\"evt_1\",\"type\":\"customer.subscription.updated\"}";
static const int64_t NOW = 1700000000;

static void test_stripe_accepts_right_secret_and_body(void **st)
{
    (void)st;
    pb_bsig_key k = key("whsec_a");
    char *h = sign("stripe", "whsec_a", NOW, BODY);
    pb_bsig_reason r;
    assert_int_equal(verify_stripe(BODY, h, &k, 1, NOW, &r), 0);
    assert_int_equal(r, PB_BSIG_OK);
    /* One byte of the body changed, or another secret: refused. */
    char *tampered = strdup(BODY);
    tampered[8] ^= 1;
    assert_int_equal(verify_stripe(tampered, h, &k, 1, NOW, &r), PB_EUNAUTHORIZED);
    assert_int_equal(r, PB_BSIG_MISMATCH);
    pb_bsig_key other = key("whsec_b");
    assert_int_equal(verify_stripe(BODY, h, &other, 1, NOW, &r), PB_EUNAUTHORIZED);
    /* The timestamp is signed: the same v1 with another t is refused. */
    char moved[256];
    snprintf(moved, sizeof moved, "t=%lld,%s", (long long)NOW - 1, strchr(h, ',') + 1);
    assert_int_equal(verify_stripe(BODY, moved, &k, 1, NOW, &r), PB_EUNAUTHORIZED);
    free(tampered);
    free(h);
}

static void test_stripe_full_length_compare(void **st)
{
    (void)st;
    pb_bsig_key k = key("whsec_a");
    char *h = sign("stripe", "whsec_a", NOW, BODY);
    char *v1 = strstr(h, "v1=") + 3;
    pb_bsig_reason r;
    /* Last hex digit changed: a prefix compare would accept. */
    char *last = strdup(h);
    char *lv = strstr(last, "v1=") + 3;
    lv[63] = lv[63] == '0' ? '1' : '0';
    assert_int_equal(verify_stripe(BODY, last, &k, 1, NOW, &r), PB_EUNAUTHORIZED);
    /* Truncated (a 16-byte prefix of the right MAC): a compare over the
     * shorter length would accept. */
    char trunc[128];
    snprintf(trunc, sizeof trunc, "t=%lld,v1=%.32s", (long long)NOW, v1);
    assert_int_equal(verify_stripe(BODY, trunc, &k, 1, NOW, &r), PB_EUNAUTHORIZED);
    /* Upper-case hex of the right MAC is the same bytes: accepted (raw
     * bytes are compared, not strings). */
    char *upper = strdup(h);
    for (char *p = strstr(upper, "v1=") + 3; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(verify_stripe(BODY, upper, &k, 1, NOW, &r), 0);
    free(upper);
    free(last);
    free(h);
}

static void test_stripe_any_v1_any_secret(void **st)
{
    (void)st;
    char *a = sign("stripe", "whsec_old", NOW, BODY), *b = sign("stripe", "whsec_new", NOW, BODY);
    char both[512];
    /* Stripe sends one v1 per live secret while one is rolled. */
    snprintf(both, sizeof both, "%s,v1=%s,v0=deadbeef", a, strstr(b, "v1=") + 3);
    pb_bsig_key only_new = key("whsec_new"), only_old = key("whsec_old"), none = key("whsec_x");
    assert_int_equal(verify_stripe(BODY, both, &only_new, 1, NOW, NULL), 0); /* second v1 */
    assert_int_equal(verify_stripe(BODY, both, &only_old, 1, NOW, NULL), 0); /* first v1 */
    assert_int_equal(verify_stripe(BODY, both, &none, 1, NOW, NULL), PB_EUNAUTHORIZED);
    /* We hold two secrets (rotation on our side): a delivery signed with
     * either one is accepted, whichever position the secret is in. */
    pb_bsig_key two[2] = {key("whsec_x"), key("whsec_new")};
    assert_int_equal(verify_stripe(BODY, b, two, 2, NOW, NULL), 0);
    pb_bsig_key two_rev[2] = {key("whsec_new"), key("whsec_x")};
    assert_int_equal(verify_stripe(BODY, b, two_rev, 2, NOW, NULL), 0);
    /* After the old secret is dropped, its signature is refused. */
    assert_int_equal(verify_stripe(BODY, a, &only_new, 1, NOW, NULL), PB_EUNAUTHORIZED);
    free(a);
    free(b);
}

static void test_stripe_tolerance(void **st)
{
    (void)st;
    pb_bsig_key k = key("whsec_a");
    pb_bsig_reason r;
    char *old = sign("stripe", "whsec_a", NOW - 301, BODY);
    assert_int_equal(verify_stripe(BODY, old, &k, 1, NOW, &r), PB_EUNAUTHORIZED);
    assert_int_equal(r, PB_BSIG_OUTSIDE_TOLERANCE);
    char *edge = sign("stripe", "whsec_a", NOW - 300, BODY);
    assert_int_equal(verify_stripe(BODY, edge, &k, 1, NOW, &r), 0);
    char *future = sign("stripe", "whsec_a", NOW + 301, BODY);
    assert_int_equal(verify_stripe(BODY, future, &k, 1, NOW, &r), PB_EUNAUTHORIZED);
    assert_int_equal(r, PB_BSIG_OUTSIDE_TOLERANCE);
    /* A configured tolerance replaces the default. */
    hdrs h = {{"Stripe-Signature"}, {old}};
    pb_bsig_input in = {.body = BODY, .body_len = strlen(BODY), .header = get_hdr, .header_ud = &h,
                        .keys = &k, .nkeys = 1, .now = NOW, .tolerance_s = 600};
    pb_err err;
    int64_t ts = 0;
    assert_int_equal(pb_bsig_verify_stripe(&in, &ts, &r, &err), 0);
    assert_int_equal(ts, NOW - 301);
    in.tolerance_s = 60;
    assert_int_equal(pb_bsig_verify_stripe(&in, &ts, &r, &err), PB_EUNAUTHORIZED);
    free(old);
    free(edge);
    free(future);
}

static void test_stripe_malformed_and_missing(void **st)
{
    (void)st;
    pb_bsig_key k = key("whsec_a");
    char *good = sign("stripe", "whsec_a", NOW, BODY);
    const char *v1 = strstr(good, "v1=");
    char buf[1024];
    pb_bsig_reason r;
    struct { const char *fmt; pb_bsig_reason want; } cases[] = {
        {"", PB_BSIG_MISSING_HEADER},
        {"%s", PB_BSIG_MALFORMED_HEADER},                  /* no t */
        {"t=abc,%s", PB_BSIG_MALFORMED_HEADER},
        {"t=+1700000000,%s", PB_BSIG_MALFORMED_HEADER},
        {"t=1700000000,t=1700000000,%s", PB_BSIG_MALFORMED_HEADER},
        {"t=1700000000", PB_BSIG_MALFORMED_HEADER},        /* no v1 */
        {"t=1700000000,v0=%s", PB_BSIG_MALFORMED_HEADER},
        {"t=1700000000,%s=x", PB_BSIG_MALFORMED_HEADER},   /* a=b=c */
        {"t=1700000000,%s,", PB_BSIG_MALFORMED_HEADER},    /* empty pair */
        {"t=1700000000, %s", PB_BSIG_MALFORMED_HEADER},    /* " v1" is not v1 */
        {"t=1700000000,v1=zz", PB_BSIG_MISMATCH},          /* bad hex: skipped */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(buf, sizeof buf, cases[i].fmt, v1);
        int rc = buf[0] ? verify_stripe(BODY, buf, &k, 1, NOW, &r) : -999;
        if (!buf[0]) {
            hdrs none = {{NULL}, {NULL}};
            pb_bsig_input in = {.body = BODY, .body_len = strlen(BODY), .header = get_hdr,
                                .header_ud = &none, .keys = &k, .nkeys = 1, .now = NOW};
            pb_err err;
            rc = pb_bsig_verify_stripe(&in, NULL, &r, &err);
        }
        if (rc == 0 || r != cases[i].want)
            fail_msg("case %zu \"%s\": rc %d reason %s, want %s", i, buf, rc, pb_bsig_reason_name(r),
                     pb_bsig_reason_name(cases[i].want));
    }
    /* Nine v1 values: more than we look at, refused. */
    size_t n = (size_t)snprintf(buf, sizeof buf, "t=%lld", (long long)NOW);
    for (int i = 0; i < 9; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",v1=%064d", i);
    assert_int_equal(verify_stripe(BODY, buf, &k, 1, NOW, &r), PB_EINVAL);
    free(good);
}

static void test_fail_closed_without_secret(void **st)
{
    (void)st;
    char *h = sign("stripe", "whsec_a", NOW, BODY);
    pb_bsig_reason r;
    assert_int_equal(verify_stripe(BODY, h, NULL, 0, NOW, &r), PB_EUNAVAILABLE);
    assert_int_equal(r, PB_BSIG_NO_SECRET);
    assert_int_equal(pb_bsig_reason_status(r), 503);
    /* An empty secret among good ones: the whole set is refused (an
     * empty key would make HMAC a public function). */
    pb_bsig_key ks[2] = {key("whsec_a"), key("")};
    assert_int_equal(verify_stripe(BODY, h, ks, 2, NOW, &r), PB_EUNAVAILABLE);
    free(h);
}

static int verify_hmac(const char *body, const char *ts, const char *sig, const pb_bsig_key *keys,
                       size_t nkeys, pb_bsig_reason *r)
{
    hdrs h = {{"Paybill-Webhook-Timestamp", "Paybill-Webhook-Signature"}, {ts, sig}};
    if (!ts) {
        h.names[0] = "Paybill-Webhook-Signature";
        h.values[0] = sig;
        h.names[1] = NULL;
    }
    pb_bsig_input in = {.body = body, .body_len = strlen(body), .header = get_hdr, .header_ud = &h,
                        .keys = keys, .nkeys = nkeys, .now = NOW};
    pb_err err;
    return pb_bsig_verify_hmac(&in, NULL, r, &err);
}

static void test_hmac_scheme(void **st)
{
    (void)st;
    const pb_bsig_scheme *s = pb_bsig_scheme_find("hmac-sha256");
    assert_non_null(s);
    assert_ptr_equal(pb_bsig_scheme_find("stripe")->verify, pb_bsig_verify_stripe);
    assert_null(pb_bsig_scheme_find("lago"));
    pb_bsig_key k = key("in-house-secret");
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)NOW);
    char *sig = sign("hmac-sha256", "in-house-secret", NOW, BODY);
    pb_bsig_reason r;
    assert_int_equal(verify_hmac(BODY, ts, sig, &k, 1, &r), 0);
    /* The timestamp header is bound into the MAC. */
    char ts2[32];
    snprintf(ts2, sizeof ts2, "%lld", (long long)NOW + 1);
    assert_int_equal(verify_hmac(BODY, ts2, sig, &k, 1, &r), PB_EUNAUTHORIZED);
    assert_int_equal(verify_hmac(BODY, NULL, sig, &k, 1, &r), PB_EINVAL);
    assert_int_equal(r, PB_BSIG_MISSING_HEADER);
    /* Several signatures, one good. */
    char *other = sign("hmac-sha256", "wrong", NOW, BODY);
    char two[256];
    snprintf(two, sizeof two, "%s %s", other, sig);
    assert_int_equal(verify_hmac(BODY, ts, two, &k, 1, &r), 0);
    assert_int_equal(verify_hmac(BODY, ts, other, &k, 1, &r), PB_EUNAUTHORIZED);
    assert_int_equal(verify_hmac(BODY, ts, "v1=notbase64!", &k, 1, &r), PB_EINVAL);
    assert_int_equal(verify_hmac(BODY, ts, "sha256=abc", &k, 1, &r), PB_EINVAL);
    char old[32];
    snprintf(old, sizeof old, "%lld", (long long)NOW - 400);
    char *oldsig = sign("hmac-sha256", "in-house-secret", NOW - 400, BODY);
    assert_int_equal(verify_hmac(BODY, old, oldsig, &k, 1, &r), PB_EUNAUTHORIZED);
    assert_int_equal(r, PB_BSIG_OUTSIDE_TOLERANCE);
    free(oldsig);
    free(other);
    free(sig);
}

/* ---- the judge: stripe-go ------------------------------------------------ */

static char *stripesign_path(void)
{
    const char *env = getenv("PAYBILL_STRIPESIGN");
    if (env && *env)
        return strdup(env);
    char src[4096];
    snprintf(src, sizeof src, "%s", __FILE__);
    char *root = dirname(dirname(dirname(dirname(src)))); /* tests/unit/server/x.c */
    char pat[4200];
    snprintf(pat, sizeof pat, "%s/.cache/stripe/*/bin/stripesign", root);
    glob_t g;
    char *out = NULL;
    if (glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0)
        out = strdup(g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);
    if (!out)
        fail_msg("stripesign not found (%s): run hack/stripe.sh build, or set PAYBILL_STRIPESIGN", pat);
    return out;
}

static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = tu_slurp(p);
    assert_int_equal(pclose(p), 0);
    return out;
}

static void test_stripe_go_signed_accepted(void **st)
{
    (void)st;
    char *bin = stripesign_path();
    char dir_tmpl[] = "/tmp/bsigXXXXXX";
    char *dir = mkdtemp(dir_tmpl);
    char *payload = tu_write_file(dir, "p.json", BODY);
    long long now = (long long)time(NULL);
    char cmd[8192];
    /* One secret: webhook.GenerateTestSignedPayload. */
    snprintf(cmd, sizeof cmd, "'%s' sign -secret whsec_test1 -t %lld < '%s'", bin, now, payload);
    char *h = run(cmd);
    h[strcspn(h, "\n")] = '\0';
    pb_bsig_key k1 = key("whsec_test1"), k2 = key("whsec_test2");
    assert_int_equal(verify_stripe(BODY, h, &k1, 1, now, NULL), 0);
    assert_int_equal(verify_stripe(BODY, h, &k2, 1, now, NULL), PB_EUNAUTHORIZED);
    /* Two secrets (a rolled secret): either is enough. */
    snprintf(cmd, sizeof cmd, "'%s' sign -secret whsec_test1 -secret whsec_test2 -t %lld < '%s'", bin, now,
             payload);
    char *h2 = run(cmd);
    h2[strcspn(h2, "\n")] = '\0';
    assert_int_equal(verify_stripe(BODY, h2, &k2, 1, now, NULL), 0);
    assert_int_equal(verify_stripe(BODY, h2, &k1, 1, now, NULL), 0);
    /* And stripe-go accepts what we sign. */
    char *ours = sign("stripe", "whsec_test1", now, BODY);
    snprintf(cmd, sizeof cmd, "'%s' verify -secret whsec_test1 -header '%s' < '%s'", bin, ours, payload);
    free(run(cmd));
    free(ours);
    free(h);
    free(h2);
    free(payload);
    tu_rmtree(dir);
    free(bin);
}

typedef enum { STRICT_NONE, STRICT_FUTURE, STRICT_PLUS_T, STRICT_DUP_T } strict_kind;

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void test_differential_vs_stripe_go(void **st)
{
    (void)st;
    enum { N = 3000 };
    char *bin = stripesign_path();
    unsigned seed = getenv("BSIG_SEED") ? (unsigned)atoi(getenv("BSIG_SEED")) : (unsigned)time(NULL);
    print_message("seed %u (BSIG_SEED replays)\n", seed);
    srand(seed);
    char dir_tmpl[] = "/tmp/bsigXXXXXX";
    char *dir = mkdtemp(dir_tmpl);
    char cases_path[256];
    snprintf(cases_path, sizeof cases_path, "%s/cases.jsonl", dir);
    FILE *f = fopen(cases_path, "w");
    assert_non_null(f);
    static char bodies[N][96], headers[N][640], secrets[N][32];
    static int ours[N];
    static strict_kind strict[N];
    int64_t now = (int64_t)time(NULL);
    for (int i = 0; i < N; i++) {
        snprintf(bodies[i], sizeof bodies[i], "{\"id\":\"evt_%d\",\"n\":%d,\"s\":\"%c\"}", i, rand(),
                 'a' + rand() % 26);
        snprintf(secrets[i], sizeof secrets[i], "whsec_%08x", (unsigned)rand());
        int64_t t = now - rand() % 200;
        int m = rand() % 16;
        strict[i] = STRICT_NONE;
        if (m == 1)
            t = now - 1000 - rand() % 5000; /* too old */
        if (m == 2) {
            t = now + 1000 + rand() % 5000; /* future */
            strict[i] = STRICT_FUTURE;
        }
        char *h = sign("stripe", m == 3 ? "whsec_other" : secrets[i], t, bodies[i]);
        char *v1 = strstr(h, "v1=") + 3;
        switch (m) {
        case 4: bodies[i][2] ^= 0x20; snprintf(headers[i], sizeof headers[i], "%s", h); break; /* body */
        case 5: v1[rand() % 64] ^= 0x01; snprintf(headers[i], sizeof headers[i], "%s", h); break; /* sig */
        case 6: snprintf(headers[i], sizeof headers[i], "t=%lld,v1=%.62s,v1=%s", (long long)t, v1, v1); break;
        case 7: snprintf(headers[i], sizeof headers[i], "v0=abc,t=%lld,v1=zz,v1=%s,x=y", (long long)t, v1); break;
        case 8: snprintf(headers[i], sizeof headers[i], "v1=%s", v1); break;                     /* no t */
        case 9: snprintf(headers[i], sizeof headers[i], "t=%lld", (long long)t); break;          /* no v1 */
        case 10: snprintf(headers[i], sizeof headers[i], "%s,", h); break;                       /* trailing , */
        case 11: snprintf(headers[i], sizeof headers[i], "t=%lld,v1=%s=", (long long)t, v1); break;
        case 12:
            snprintf(headers[i], sizeof headers[i], "t=+%lld,v1=%s", (long long)t, v1);
            strict[i] = STRICT_PLUS_T;
            break;
        case 13:
            snprintf(headers[i], sizeof headers[i], "t=%lld,t=%lld,v1=%s", (long long)(t - 7), (long long)t, v1);
            strict[i] = STRICT_DUP_T;
            break;
        case 14: v1[rand() % 64] = 'G'; snprintf(headers[i], sizeof headers[i], "%s", h); break; /* bad hex */
        default: snprintf(headers[i], sizeof headers[i], "%s", h); break;
        }
        free(h);
        pb_bsig_key k = key(secrets[i]);
        ours[i] = verify_stripe(bodies[i], headers[i], &k, 1, now, NULL) == 0;
        fputs("{\"payload\":", f);
        json_str(f, bodies[i]);
        fputs(",\"header\":", f);
        json_str(f, headers[i]);
        fputs(",\"secret\":", f);
        json_str(f, secrets[i]);
        fputs(",\"tolerance\":300}\n", f);
    }
    fclose(f);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' batch < '%s'", bin, cases_path);
    char *out = run(cmd);
    char *save = NULL, *line = strtok_r(out, "\n", &save);
    int agree = 0, stricter = 0, accepted = 0;
    for (int i = 0; i < N; i++, line = strtok_r(NULL, "\n", &save)) {
        assert_non_null(line);
        int theirs = strcmp(line, "ok") == 0;
        accepted += theirs && ours[i];
        if (theirs == ours[i]) {
            agree++;
            continue;
        }
        if (ours[i] && !theirs)
            fail_msg("case %d: we accept what stripe-go refuses (%s): header \"%s\" body %s", i, line,
                     headers[i], bodies[i]);
        if (strict[i] == STRICT_NONE)
            fail_msg("case %d: we refuse what stripe-go accepts: header \"%s\"", i, headers[i]);
        stricter++;
    }
    print_message("%d cases: %d verdicts equal (%d accepted by both), %d refused only by us "
                  "(future t, t=+N, repeated t)\n", N, agree, accepted, stricter);
    assert_true(accepted > N / 6);
    free(out);
    tu_rmtree(dir);
    free(bin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stripe_accepts_right_secret_and_body),
        cmocka_unit_test(test_stripe_full_length_compare),
        cmocka_unit_test(test_stripe_any_v1_any_secret),
        cmocka_unit_test(test_stripe_tolerance),
        cmocka_unit_test(test_stripe_malformed_and_missing),
        cmocka_unit_test(test_fail_closed_without_secret),
        cmocka_unit_test(test_hmac_scheme),
        cmocka_unit_test(test_stripe_go_signed_accepted),
        cmocka_unit_test(test_differential_vs_stripe_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
