/*
 * licence_keys.h - the licence signing key ring: what the Secret
 * paybill-licence-signing-key (system namespace, key keys.json) holds, and
 * the pure decisions about it (create, rotate, retire, prune).
 *
 * A ring is a list of Ed25519 keys, newest first. The newest key that is
 * not retired is the active one: every licence is signed with it. Rotation
 * (the active key is older than rotation_s) makes a new active key and
 * retires the old one at that instant; a retired key stays published in
 * the JWKS until both (a) overlap_s passed since it was retired and (b) no
 * live licence is still signed by it (the caller says, through in_use), so
 * no tenant is ever left with a licence nobody can verify.
 *
 * Fail closed: a keys.json that does not parse, a key whose PEM is not an
 * Ed25519 private key, or whose stored kid is not its thumbprint, is an
 * error: nothing is signed, and nothing is silently replaced.
 *
 * keys.json: {"keys":[{"kid":..., "privateKey": PKCS#8 PEM,
 *                      "createdAt": unix s, "retiredAt": unix s (retired)}]}
 *
 * Ownership: a lickeys is owned by its creator (lickeys_free); keys and
 * kids it hands out are borrowed from it; lickeys_serialize returns a
 * malloc'd string holding private keys (pb_secret_wipe, then free).
 */
#ifndef PAYBILL_CONTROLLERS_LICENCE_KEYS_H
#define PAYBILL_CONTROLLERS_LICENCE_KEYS_H

#include <jansson.h>
#include <time.h>

#include "util/err.h"
#include "util/jws.h"

#define LICKEYS_SECRET "paybill-licence-signing-key"
#define LICKEYS_SECRET_KEY "keys.json"
#define LICKEYS_MAX 8 /* more than this means rotation outruns pruning */

typedef struct lickeys lickeys;

typedef struct lickeys_policy {
    long long rotation_s; /* age at which the active key is replaced */
    long long overlap_s;  /* a retired key stays published at least this long */
} lickeys_policy;

/* Which changes lickeys_plan made (bits). */
enum { LICKEYS_CREATED = 1, LICKEYS_ROTATED = 2, LICKEYS_PRUNED = 4 };

/* 1 when a live licence is still signed by kid. */
typedef int (*lickeys_in_use_fn)(void *ud, const char *kid);

lickeys *lickeys_new(void); /* empty; NULL when out of memory */
/* Parse keys.json text (n bytes). Errors never quote key material. */
int lickeys_parse(const char *text, size_t n, lickeys **out, pb_err *err);
void lickeys_free(lickeys *r);
/* keys.json text (private keys in it). */
int lickeys_serialize(const lickeys *r, char **out, pb_err *err);

size_t lickeys_count(const lickeys *r);
/* The signing key, or NULL when there is none (empty or all retired). */
const pb_jws_key *lickeys_active(const lickeys *r);
/* The public keys as a JWKS {"keys":[...]}, newest first: a new object. */
json_t *lickeys_jwks(const lickeys *r);
/* 1 when the ring has a key with this kid (published). */
int lickeys_has(const lickeys *r, const char *kid);

/* Bring r up to date at `now`: create the first key, rotate, prune (see
 * above). *changes receives the LICKEYS_* bits; *next_s (may be NULL) the
 * time of the next decision (rotation due, or a retired key's overlap
 * ending). */
int lickeys_plan(lickeys *r, time_t now, const lickeys_policy *p, lickeys_in_use_fn in_use,
                 void *ud, int *changes, time_t *next_s, pb_err *err);

#endif
