/*
 * tlscert.c - self-signed CA and serving leaf certificates (EC P-256) with
 * OpenSSL, PEM in and out, and the expiry check behind rotation.
 *
 * Every OpenSSL failure becomes a pb_err with the library's own reason, so
 * that "why could the webhook not start" is answerable from the log.
 */
#include "server/tlscert.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define SKEW_S 300 /* backdate notBefore: the API server's clock may lag ours */

static int ossl_err(pb_err *err, int code, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown OpenSSL error";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return pb_err_set(err, code, "%s: %s", what, buf);
}

static char *bio_to_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

static int pem_out(X509 *x, EVP_PKEY *k, pb_tlscert_pair *out, pb_err *err)
{
    BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
    int rc = 0;
    if (!bc || !bk || !PEM_write_bio_X509(bc, x) ||
        !PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL)) {
        rc = ossl_err(err, PB_EINTERNAL, "writing PEM");
        goto done;
    }
    out->cert_pem = bio_to_string(bc);
    out->key_pem = bio_to_string(bk);
    if (!out->cert_pem || !out->key_pem) {
        pb_tlscert_pair_clear(out);
        rc = pb_err_set(err, PB_ENOMEM, "writing PEM: out of memory");
    }
done:
    BIO_free(bc);
    BIO_free_all(bk);
    return rc;
}

static X509 *read_cert(const char *pem)
{
    if (!pem)
        return NULL;
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static EVP_PKEY *read_key(const char *pem)
{
    if (!pem)
        return NULL;
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

static int add_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!e)
        return -1;
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* A fresh certificate skeleton: v3, random positive 127-bit serial,
 * subject CN, validity [now - skew, now + valid_s]. */
static X509 *skeleton(const char *cn, time_t now, long valid_s, EVP_PKEY *key)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    if (!x || RAND_bytes(serial, sizeof serial) != 1)
        goto fail;
    serial[0] &= 0x7f;
    serial[0] |= 0x01; /* never zero, never negative */
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (!bn)
        goto fail;
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    if (!ai || !X509_set_version(x, 2) ||
        !X509_time_adj_ex(X509_getm_notBefore(x), 0, -SKEW_S, &now) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), 0, valid_s, &now) || !X509_set_pubkey(x, key))
        goto fail;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0))
        goto fail;
    return x;
fail:
    X509_free(x);
    return NULL;
}

static int check_cn(const char *cn, pb_err *err)
{
    if (!cn || !*cn || strlen(cn) > 64)
        return pb_err_set(err, PB_EINVAL, "certificate common name must be 1..64 bytes");
    return 0;
}

int pb_tlscert_new_ca(const char *cn, long valid_s, time_t now, pb_tlscert_pair *out, pb_err *err)
{
    int rc;
    if (!out)
        return pb_err_set(err, PB_EINVAL, "pb_tlscert_new_ca: out is NULL");
    memset(out, 0, sizeof *out);
    if ((rc = check_cn(cn, err)))
        return rc;
    if (valid_s <= 0)
        return pb_err_set(err, PB_EINVAL, "CA validity must be positive");
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key)
        return ossl_err(err, PB_EINTERNAL, "generating CA key");
    X509 *x = skeleton(cn, now, valid_s, key);
    if (!x) {
        rc = ossl_err(err, PB_EINTERNAL, "building CA certificate");
        goto done;
    }
    if (!X509_set_issuer_name(x, X509_get_subject_name(x)) ||
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") ||
        add_ext(x, x, NID_subject_key_identifier, "hash") || !X509_sign(x, key, EVP_sha256())) {
        rc = ossl_err(err, PB_EINTERNAL, "signing CA certificate");
        goto done;
    }
    rc = pem_out(x, key, out, err);
done:
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int pb_tlscert_new_leaf(const pb_tlscert_pair *ca, const char *cn, const char *const *dns,
                        const char *const *ips, long valid_s, time_t now, pb_tlscert_pair *out,
                        pb_err *err)
{
    int rc;
    if (!out || !ca)
        return pb_err_set(err, PB_EINVAL, "pb_tlscert_new_leaf: NULL argument");
    memset(out, 0, sizeof *out);
    if ((rc = check_cn(cn, err)))
        return rc;
    if (valid_s <= 0)
        return pb_err_set(err, PB_EINVAL, "leaf validity must be positive");
    size_t san_len = 1, count = 0;
    for (const char *const *p = dns; p && *p; p++, count++) {
        if (!**p || strpbrk(*p, ",: \t\r\n"))
            return pb_err_set(err, PB_EINVAL, "invalid DNS name for a certificate: '%s'", *p);
        san_len += strlen(*p) + 6;
    }
    for (const char *const *p = ips; p && *p; p++, count++) {
        if (!**p || strpbrk(*p, ", \t\r\n"))
            return pb_err_set(err, PB_EINVAL, "invalid IP address for a certificate: '%s'", *p);
        san_len += strlen(*p) + 6;
    }
    if (!count)
        return pb_err_set(err, PB_EINVAL, "a serving certificate needs at least one name");

    X509 *cax = read_cert(ca->cert_pem);
    EVP_PKEY *cak = read_key(ca->key_pem);
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    char *san = NULL;
    if (!cax || !cak) {
        rc = ossl_err(err, PB_EPARSE, "reading the CA certificate and key");
        goto done;
    }
    if (X509_check_private_key(cax, cak) != 1) {
        rc = ossl_err(err, PB_EINVAL, "the CA key does not match the CA certificate");
        goto done;
    }
    /* Never outlive the CA: a chain with an expired CA fails anyway, and
     * rotation looks only at the leaf. */
    time_t ca_end;
    {
        struct tm tm;
        if (!ASN1_TIME_to_tm(X509_get0_notAfter(cax), &tm)) {
            rc = ossl_err(err, PB_EPARSE, "reading the CA's notAfter");
            goto done;
        }
        ca_end = timegm(&tm);
    }
    if (ca_end <= now) {
        rc = pb_err_set(err, PB_EINVAL, "the CA has expired");
        goto done;
    }
    if ((long)(ca_end - now) < valid_s)
        valid_s = (long)(ca_end - now);

    san = malloc(san_len);
    if (!san) {
        rc = pb_err_set(err, PB_ENOMEM, "out of memory");
        goto done;
    }
    san[0] = '\0';
    for (const char *const *p = dns; p && *p; p++) {
        strcat(san, san[0] ? ",DNS:" : "DNS:");
        strcat(san, *p);
    }
    for (const char *const *p = ips; p && *p; p++) {
        strcat(san, san[0] ? ",IP:" : "IP:");
        strcat(san, *p);
    }

    key = EVP_EC_gen("P-256");
    if (!key) {
        rc = ossl_err(err, PB_EINTERNAL, "generating leaf key");
        goto done;
    }
    x = skeleton(cn, now, valid_s, key);
    if (!x || !X509_set_issuer_name(x, X509_get_subject_name(cax))) {
        rc = ossl_err(err, PB_EINTERNAL, "building leaf certificate");
        goto done;
    }
    if (add_ext(cax, x, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(cax, x, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        add_ext(cax, x, NID_ext_key_usage, "serverAuth") ||
        add_ext(cax, x, NID_authority_key_identifier, "keyid:always")) {
        rc = ossl_err(err, PB_EINTERNAL, "leaf extensions");
        goto done;
    }
    if (add_ext(cax, x, NID_subject_alt_name, san)) {
        rc = ossl_err(err, PB_EINVAL, "leaf subjectAltName (bad DNS name or IP?)");
        goto done;
    }
    if (!X509_sign(x, cak, EVP_sha256())) {
        rc = ossl_err(err, PB_EINTERNAL, "signing leaf certificate");
        goto done;
    }
    rc = pem_out(x, key, out, err);
done:
    free(san);
    X509_free(x);
    X509_free(cax);
    EVP_PKEY_free(key);
    EVP_PKEY_free(cak);
    return rc;
}

void pb_tlscert_pair_clear(pb_tlscert_pair *p)
{
    if (!p)
        return;
    if (p->key_pem)
        OPENSSL_cleanse(p->key_pem, strlen(p->key_pem));
    free(p->key_pem);
    free(p->cert_pem);
    p->key_pem = p->cert_pem = NULL;
}

int pb_tlscert_needs_rotation(const char *pem, time_t now, long before_s, pb_err *err)
{
    X509 *x = read_cert(pem);
    if (!x) {
        ERR_clear_error();
        return pb_err_set(err, PB_EPARSE, "no PEM certificate found");
    }
    int rotate = 0;
    time_t limit = now + before_s;
    /* Not yet valid (our clock jumped back, or a forged Secret): rotate. */
    if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0)
        rotate = 1;
    /* X509_cmp_time: -1 when notAfter is before limit, i.e. it expires
     * within before_s; 0 means a parse error, which we treat as rotate. */
    else if (X509_cmp_time(X509_get0_notAfter(x), &limit) <= 0)
        rotate = 1;
    X509_free(x);
    return rotate;
}

int pb_tlscert_check(const char *ca_pem, const pb_tlscert_pair *leaf, const char *const *dns,
                     time_t now, pb_err *err)
{
    int rc = 0;
    X509 *ca = read_cert(ca_pem), *x = leaf ? read_cert(leaf->cert_pem) : NULL;
    EVP_PKEY *k = leaf ? read_key(leaf->key_pem) : NULL;
    X509_STORE *st = NULL;
    X509_STORE_CTX *ctx = NULL;
    if (!ca || !x || !k) {
        ERR_clear_error();
        rc = pb_err_set(err, PB_EPARSE, "unreadable %s", !ca ? "CA certificate"
                                                         : !x ? "leaf certificate"
                                                              : "leaf key");
        goto done;
    }
    if (X509_check_private_key(x, k) != 1) {
        ERR_clear_error();
        rc = pb_err_set(err, PB_EINVAL, "the leaf key does not match its certificate");
        goto done;
    }
    st = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    if (!st || !ctx || !X509_STORE_add_cert(st, ca) || !X509_STORE_CTX_init(ctx, st, x, NULL)) {
        rc = ossl_err(err, PB_EINTERNAL, "preparing chain verification");
        goto done;
    }
    X509_STORE_CTX_set_time(ctx, 0, now);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(ctx) != 1) {
        rc = pb_err_set(err, PB_EINVAL, "the leaf does not chain to the CA: %s",
                        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        ERR_clear_error();
        goto done;
    }
    for (const char *const *p = dns; p && *p; p++)
        if (X509_check_host(x, *p, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1) {
            rc = pb_err_set(err, PB_EINVAL, "the leaf does not name %s", *p);
            goto done;
        }
done:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    EVP_PKEY_free(k);
    X509_free(x);
    X509_free(ca);
    return rc;
}
