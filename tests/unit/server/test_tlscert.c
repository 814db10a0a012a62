/* Unit tests for server/tlscert: the CA and leaf chain verify with OpenSSL's
 * own X509_verify_cert, the leaf names what it was asked to, expiry and
 * rotation windows, and garbage or mismatched PEM is a clean error (never a
 * crash, never "no rotation needed"). */
#include "testutil.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "server/tlscert.h"

static const time_t NOW = 1800000000; /* 2027-01-15 */
#define DAY 86400L

static X509 *cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    return x;
}

static int verify(const char *ca_pem, const char *leaf_pem, time_t at)
{
    X509 *ca = cert(ca_pem), *leaf = cert(leaf_pem);
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_add_cert(st, ca);
    X509_STORE_CTX_init(ctx, st, leaf, NULL);
    X509_STORE_CTX_set_time(ctx, 0, at);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    int ok = X509_verify_cert(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    X509_free(ca);
    X509_free(leaf);
    return ok;
}

static const char *const DNS[] = {"paybill-webhooks.paybill-system.svc",
                                  "paybill-webhooks.paybill-system.svc.cluster.local", NULL};
static const char *const IPS[] = {"127.0.0.1", "::1", NULL};

static void make(pb_tlscert_pair *ca, pb_tlscert_pair *leaf, long leaf_valid)
{
    pb_err e = {0};
    assert_int_equal(pb_tlscert_new_ca("paybill-webhook-ca", 3650 * DAY, NOW, ca, &e), 0);
    assert_int_equal(
        pb_tlscert_new_leaf(ca, "paybill-webhooks", DNS, IPS, leaf_valid, NOW, leaf, &e), 0);
    assert_non_null(strstr(ca->cert_pem, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(leaf->key_pem, "PRIVATE KEY"));
}

static void test_chain_verifies(void **state)
{
    (void)state;
    pb_tlscert_pair ca, leaf;
    make(&ca, &leaf, 365 * DAY);
    assert_int_equal(verify(ca.cert_pem, leaf.cert_pem, NOW), 1);
    /* Before the CA (beyond the skew allowance) and after the leaf: no. */
    assert_int_equal(verify(ca.cert_pem, leaf.cert_pem, NOW - DAY), 0);
    assert_int_equal(verify(ca.cert_pem, leaf.cert_pem, NOW + 366 * DAY), 0);
    /* Another CA does not vouch for it. */
    pb_tlscert_pair other;
    pb_err e = {0};
    assert_int_equal(pb_tlscert_new_ca("other", 10 * DAY, NOW, &other, &e), 0);
    assert_int_equal(verify(other.cert_pem, leaf.cert_pem, NOW), 0);
    assert_int_equal(pb_tlscert_check(other.cert_pem, &leaf, DNS, NOW, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "does not chain"));
    assert_int_equal(pb_tlscert_check(ca.cert_pem, &leaf, DNS, NOW, &e), 0);
    /* The CA is a CA, the leaf is not (it cannot sign further certs). */
    X509 *c = cert(ca.cert_pem), *l = cert(leaf.cert_pem);
    assert_int_equal(X509_check_ca(c) > 0, 1);
    assert_int_equal(X509_check_ca(l), 0);
    EVP_PKEY *pk = X509_get0_pubkey(l);
    assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_EC);
    assert_int_equal(EVP_PKEY_get_bits(pk), 256);
    X509_free(c);
    X509_free(l);
    pb_tlscert_pair_clear(&other);
    pb_tlscert_pair_clear(&ca);
    pb_tlscert_pair_clear(&leaf);
    pb_tlscert_pair_clear(&leaf); /* idempotent */
}

static void test_sans(void **state)
{
    (void)state;
    pb_tlscert_pair ca, leaf;
    make(&ca, &leaf, 30 * DAY);
    X509 *l = cert(leaf.cert_pem);
    for (int i = 0; DNS[i]; i++)
        assert_int_equal(X509_check_host(l, DNS[i], 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(l, "evil.example.com", 0, 0, NULL), 0);
    assert_int_equal(X509_check_ip_asc(l, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(l, "::1", 0), 1);
    assert_int_equal(X509_check_ip_asc(l, "10.0.0.1", 0), 0);
    X509_free(l);
    pb_err e = {0};
    const char *const want[] = {"not-named.svc", NULL};
    assert_int_equal(pb_tlscert_check(ca.cert_pem, &leaf, want, NOW, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "not-named.svc"));
    pb_tlscert_pair_clear(&ca);
    pb_tlscert_pair_clear(&leaf);
}

static void test_leaf_never_outlives_ca(void **state)
{
    (void)state;
    pb_tlscert_pair ca, leaf;
    pb_err e = {0};
    assert_int_equal(pb_tlscert_new_ca("short-ca", 10 * DAY, NOW, &ca, &e), 0);
    assert_int_equal(pb_tlscert_new_leaf(&ca, "x", DNS, NULL, 365 * DAY, NOW, &leaf, &e), 0);
    assert_int_equal(pb_tlscert_needs_rotation(leaf.cert_pem, NOW, 11 * DAY, &e), 1);
    assert_int_equal(pb_tlscert_needs_rotation(leaf.cert_pem, NOW, 9 * DAY, &e), 0);
    pb_tlscert_pair_clear(&leaf);
    /* An expired CA issues nothing. */
    assert_int_equal(pb_tlscert_new_leaf(&ca, "x", DNS, NULL, DAY, NOW + 11 * DAY, &leaf, &e),
                     PB_EINVAL);
    assert_null(leaf.cert_pem);
    pb_tlscert_pair_clear(&ca);
}

static void test_rotation_window(void **state)
{
    (void)state;
    pb_tlscert_pair ca, leaf;
    make(&ca, &leaf, 90 * DAY);
    pb_err e = {0};
    assert_int_equal(pb_tlscert_needs_rotation(leaf.cert_pem, NOW, 30 * DAY, &e), 0);
    assert_int_equal(pb_tlscert_needs_rotation(leaf.cert_pem, NOW + 59 * DAY, 30 * DAY, &e), 0);
    assert_int_equal(pb_tlscert_needs_rotation(leaf.cert_pem, NOW + 61 * DAY, 30 * DAY, &e), 1);
    assert_int_equal(pb_tlscert_needs_rotation(leaf.cert_pem, NOW + 91 * DAY, 30 * DAY, &e), 1);
    assert_int_equal(pb_tlscert_needs_rotation(leaf.cert_pem, NOW + 91 * DAY, 0, &e), 1);
    /* Not yet valid (clock went back): rotate. */
    assert_int_equal(pb_tlscert_needs_rotation(leaf.cert_pem, NOW - DAY, 30 * DAY, &e), 1);
    /* The CA bundle's first cert is what is checked. */
    assert_int_equal(pb_tlscert_needs_rotation(ca.cert_pem, NOW, 30 * DAY, &e), 0);
    pb_tlscert_pair_clear(&ca);
    pb_tlscert_pair_clear(&leaf);
}

static void test_garbage(void **state)
{
    (void)state;
    pb_err e = {0};
    const char *bad[] = {"", "garbage",
                         "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                         "-----BEGIN CERTIFICATE-----\n", NULL};
    for (int i = 0; bad[i]; i++) {
        pb_err_clear(&e);
        assert_int_equal(pb_tlscert_needs_rotation(bad[i], NOW, DAY, &e), PB_EPARSE);
        assert_non_null(strstr(e.msg, "no PEM certificate"));
    }
    assert_int_equal(pb_tlscert_needs_rotation(NULL, NOW, DAY, &e), PB_EPARSE);

    pb_tlscert_pair ca, leaf, junk = {.cert_pem = "garbage", .key_pem = "garbage"};
    assert_int_equal(pb_tlscert_new_leaf(&junk, "x", DNS, NULL, DAY, NOW, &leaf, &e), PB_EPARSE);
    assert_null(leaf.cert_pem);
    make(&ca, &leaf, DAY);
    /* CA cert with another key: refused. */
    pb_tlscert_pair other;
    assert_int_equal(pb_tlscert_new_ca("other", DAY, NOW, &other, &e), 0);
    pb_tlscert_pair mixed = {.cert_pem = ca.cert_pem, .key_pem = other.key_pem};
    pb_tlscert_pair l2;
    assert_int_equal(pb_tlscert_new_leaf(&mixed, "x", DNS, NULL, DAY, NOW, &l2, &e), PB_EINVAL);
    /* Leaf with another key: check refuses it. */
    pb_tlscert_pair wrongkey = {.cert_pem = leaf.cert_pem, .key_pem = other.key_pem};
    assert_int_equal(pb_tlscert_check(ca.cert_pem, &wrongkey, NULL, NOW, &e), PB_EINVAL);
    assert_int_equal(pb_tlscert_check("garbage", &leaf, NULL, NOW, &e), PB_EPARSE);
    assert_int_equal(pb_tlscert_check(ca.cert_pem, &junk, NULL, NOW, &e), PB_EPARSE);
    /* Bad inputs. */
    assert_int_equal(pb_tlscert_new_ca("", DAY, NOW, &l2, &e), PB_EINVAL);
    assert_int_equal(pb_tlscert_new_ca("x", 0, NOW, &l2, &e), PB_EINVAL);
    assert_int_equal(pb_tlscert_new_leaf(&ca, "x", NULL, NULL, DAY, NOW, &l2, &e), PB_EINVAL);
    const char *const evil[] = {"a.svc,DNS:evil.com", NULL};
    assert_int_equal(pb_tlscert_new_leaf(&ca, "x", evil, NULL, DAY, NOW, &l2, &e), PB_EINVAL);
    const char *const badip[] = {"not-an-ip", NULL};
    assert_int_equal(pb_tlscert_new_leaf(&ca, "x", NULL, badip, DAY, NOW, &l2, &e), PB_EINVAL);
    assert_null(l2.cert_pem);
    pb_tlscert_pair_clear(&other);
    pb_tlscert_pair_clear(&ca);
    pb_tlscert_pair_clear(&leaf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_verifies),     cmocka_unit_test(test_sans),
        cmocka_unit_test(test_leaf_never_outlives_ca), cmocka_unit_test(test_rotation_window),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
