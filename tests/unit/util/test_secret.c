/* Unit tests for util/secret: randomness, base64, SHA-256/HMAC vectors, compare. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/secret.h"

static void test_random_tokens(void **state)
{
    char *a, *b;
    assert_int_equal(pb_secret_token_hex(16, &a, NULL), 0);
    assert_int_equal(pb_secret_token_hex(16, &b, NULL), 0);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    assert_int_equal(pb_secret_token_urlsafe(32, &a, NULL), 0);
    assert_int_equal(strlen(a), 43);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    free(a);
    pb_err e;
    assert_int_equal(pb_secret_token_hex(0, &a, &e), PB_EINVAL);
    unsigned char buf[4];
    assert_int_equal(pb_secret_random_bytes(buf, sizeof buf, &e), 0);
}

static void test_password(void **state)
{
    char *pw;
    pb_err e;
    int seen[256] = {0};
    /* 20 passwords of 64: every symbol of the 66-symbol alphabet should show
     * up (probability of a miss is about 66 * (65/66)^1280, ~1e-7). */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(pb_secret_password(64, &pw, &e), 0);
        assert_int_equal(strlen(pw), 64);
        assert_int_equal(strspn(pw, PB_SECRET_PASSWORD_ALPHABET), 64);
        for (char *p = pw; *p; p++)
            seen[(unsigned char)*p] = 1;
        free(pw);
    }
    for (const char *p = PB_SECRET_PASSWORD_ALPHABET; *p; p++)
        assert_true(seen[(unsigned char)*p]);
    assert_int_equal(pb_secret_password(7, &pw, &e), PB_EINVAL);
}

static void roundtrip(const char *plain, const char *enc)
{
    char *s;
    unsigned char *d;
    size_t n;
    assert_int_equal(pb_secret_b64_encode(plain, strlen(plain), &s, NULL), 0);
    assert_string_equal(s, enc);
    assert_int_equal(pb_secret_b64_decode(s, strlen(s), &d, &n, NULL), 0);
    assert_int_equal(n, strlen(plain));
    assert_memory_equal(d, plain, n);
    free(s);
    free(d);
}

static void test_base64_std(void **state)
{
    roundtrip("", "");
    roundtrip("f", "Zg==");
    roundtrip("fo", "Zm8=");
    roundtrip("foo", "Zm9v");
    roundtrip("foobar", "Zm9vYmFy");
    const char *bad[] = {"Zg=", "Zm9v\n", " Zm9v", "Zm9v====", "Z===", "Zm$v", "Zg==Zg==", "=Zg=",
                         "Zm-_"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *d = NULL;
        size_t n;
        pb_err e;
        int rc = pb_secret_b64_decode(bad[i], strlen(bad[i]), &d, &n, &e);
        if (rc != PB_EINVAL)
            fail_msg("'%s' decoded (rc %d)", bad[i], rc);
        assert_null(d);
    }
}

static void test_base64_url(void **state)
{
    const unsigned char raw[] = {0xfb, 0xff};
    char *s;
    unsigned char *d;
    size_t n;
    assert_int_equal(pb_secret_b64url_encode(raw, 2, &s, NULL), 0);
    assert_string_equal(s, "-_8");
    assert_int_equal(pb_secret_b64url_decode(s, strlen(s), &d, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(d, raw, 2);
    free(d);
    free(s);
    assert_int_equal(pb_secret_b64url_decode("-_8=", 4, &d, &n, NULL), 0);
    assert_int_equal(n, 2);
    free(d);
    pb_err e;
    assert_int_equal(pb_secret_b64url_decode("+/8", 3, &d, &n, &e), PB_EINVAL);
    assert_int_equal(pb_secret_b64url_decode("abcde", 5, &d, &n, &e), PB_EINVAL);
}

static void test_digests(void **state)
{
    char hex[PB_SHA256_HEX_LEN];
    assert_int_equal(pb_secret_sha256_hex("abc", 3, hex, NULL), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(pb_secret_sha256_hex("", 0, hex, NULL), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* RFC 4231 test case 2 */
    const char *msg = "what do ya want for nothing?";
    assert_int_equal(pb_secret_hmac_sha256_hex("Jefe", 4, msg, strlen(msg), hex, NULL), 0);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    unsigned char mac[PB_SHA256_LEN];
    assert_int_equal(pb_secret_hmac_sha256("Jefe", 4, msg, strlen(msg), mac, NULL), 0);
    assert_int_equal(mac[0], 0x5b);
    assert_int_equal(mac[31], 0x43);
    /* empty key and message are valid */
    assert_int_equal(pb_secret_hmac_sha256_hex(NULL, 0, NULL, 0, hex, NULL), 0);
    assert_string_equal(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void test_equal(void **state)
{
    assert_true(pb_secret_equal("abc", 3, "abc", 3));
    assert_false(pb_secret_equal("abc", 3, "abd", 3));
    assert_false(pb_secret_equal("abc", 3, "abcd", 4));
    assert_true(pb_secret_equal("", 0, "", 0));
    char buf[4] = "xyz";
    pb_secret_wipe(buf, 3);
    assert_int_equal(buf[0], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_tokens), cmocka_unit_test(test_password),
        cmocka_unit_test(test_base64_std),    cmocka_unit_test(test_base64_url),
        cmocka_unit_test(test_digests),       cmocka_unit_test(test_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
