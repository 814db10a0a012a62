/*
 * tlscert.h - the operator's own serving certificates for its HTTPS
 * endpoints (admission webhooks): a self-signed CA and a leaf it signs,
 * both EC P-256, made with OpenSSL and exchanged as PEM text.
 *
 * The CA exists only so that the API server can be given a caBundle that
 * outlives one leaf: the CA's key is kept beside the leaf (in the
 * operator's Secret) so that a new leaf can be issued under the same CA.
 *
 *     pb_tlscert_pair ca, leaf;
 *     pb_tlscert_new_ca("paybill-webhook-ca", 3650 * 86400, now, &ca, &err);
 *     const char *dns[] = {"paybill-webhooks.paybill-system.svc", NULL};
 *     pb_tlscert_new_leaf(&ca, "paybill-webhooks", dns, ips, 365 * 86400, now, &leaf, &err);
 *     ...
 *     pb_tlscert_pair_clear(&ca); pb_tlscert_pair_clear(&leaf);
 *
 * Ownership: a pb_tlscert_pair holds two malloc'd NUL-terminated PEM
 * strings owned by the pair; pb_tlscert_pair_clear frees them (the key is
 * wiped first). Input PEM strings are only read.
 */
#ifndef PAYBILL_SERVER_TLSCERT_H
#define PAYBILL_SERVER_TLSCERT_H

#include <stddef.h>
#include <time.h>

#include "util/err.h"

typedef struct pb_tlscert_pair {
    char *cert_pem; /* one certificate, PEM */
    char *key_pem;  /* its private key, PKCS#8 PEM */
} pb_tlscert_pair;

/* A self-signed CA valid from now-5min (clock skew) for valid_s seconds.
 * cn: the subject CN (1..64 bytes). */
int pb_tlscert_new_ca(const char *cn, long valid_s, time_t now, pb_tlscert_pair *out,
                      pb_err *err);

/* A serving leaf signed by ca (serverAuth, not a CA) with subjectAltNames
 * for every DNS name and IP literal given (NULL-terminated arrays, either
 * may be NULL; at least one name overall). The leaf never outlives ca. */
int pb_tlscert_new_leaf(const pb_tlscert_pair *ca, const char *cn, const char *const *dns,
                        const char *const *ips, long valid_s, time_t now, pb_tlscert_pair *out,
                        pb_err *err);

/* Free and zero a pair; NULL and an empty pair are fine. */
void pb_tlscert_pair_clear(pb_tlscert_pair *p);

/* Whether the first certificate of pem must be replaced: 1 when it expires
 * within before_s seconds of now (or already has, or is not yet valid),
 * 0 when not, negative PB_EPARSE when pem holds no certificate. Callers
 * fail closed by treating an error as "rotate". */
int pb_tlscert_needs_rotation(const char *pem, time_t now, long before_s, pb_err *err);

/* Check that leaf (cert and key) belongs together and chains to ca_pem,
 * and names every DNS name in dns (NULL-terminated, may be NULL). 0 when
 * it does, PB_EPARSE for unreadable PEM, PB_EINVAL otherwise. Used to
 * decide whether a stored Secret can be served as is. */
int pb_tlscert_check(const char *ca_pem, const pb_tlscert_pair *leaf, const char *const *dns,
                     time_t now, pb_err *err);

#endif
