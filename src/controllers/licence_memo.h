/*
 * licence_memo.h - what the Licence controller last wrote to, or read from,
 * each tenant's licence Secret and ConfigMap, trusted for LICMEMO_TTL_S
 * instead of reading them again, and what verifying that licence gave.
 *
 * Why: a new tenant's licence is reconciled four or five times within a
 * second or two (its namespace becomes ready, its phase and subscription
 * state change). Each reconcile read both objects back (two GETs, the larger
 * part of the controller's cost in a cold start) and verified the token
 * again (an Ed25519 verification, 1.7 M instructions, more than signing).
 * Only this controller writes those objects; an edit by hand is still found
 * and repaired, at the first reconcile after the window.
 *
 * The verification is kept with the JWKS (canonical text) it was checked
 * against and handed out only to a caller holding the very same JWKS:
 * verifying is a pure function of the token and the keys, so that answer is
 * exact, and any change of the keys (a rotation, a key unpublished) makes
 * the caller verify again. The time claims are not part of verifying
 * (licencespec_decide judges them on every reconcile).
 *
 * Entries expire after LICMEMO_TTL_S (a new namespace's note after
 * LICMEMO_EMPTY_TTL_S) and are swept at most once per LICMEMO_TTL_S,
 * so memory follows the tenants reconciled lately. Tokens are bearer
 * credentials: every copy the memo held is wiped when dropped.
 * Thread-safe; no lock is held across a call into anything else.
 */
#ifndef PAYBILL_CONTROLLERS_LICENCE_MEMO_H
#define PAYBILL_CONTROLLERS_LICENCE_MEMO_H

#include <jansson.h>
#include <time.h>

#define LICMEMO_TTL_S 30
/* The note of a namespace just created lasts longer: on a busy server the
 * licences trail the tenants by minutes (10,000 tenants on the real control
 * plane: two GETs answered 404 for most tenants after 30 s). Until this
 * controller writes the objects nothing of ours is there, and what anyone
 * else put there under our names is overwritten by that first write
 * whether it was read or not. */
#define LICMEMO_EMPTY_TTL_S 600

typedef struct licmemo licmemo;

/* NULL: out of memory. */
licmemo *licmemo_new(void);
void licmemo_free(licmemo *m);

/* Remember what the tenant's objects hold now: what was just written or
 * read, never what came from the memo itself (or it would not expire).
 * token, jwks (canonical text) and claims (the ConfigMap's text) as they
 * are there (a NULL one forgets the tenant); payload and kid are what
 * pb_jws_verify gave for token against jwks, or what was signed, and are
 * remembered only when the claims text decodes to that very payload
 * (otherwise, or when NULL, get leaves verifying to the caller). */
void licmemo_put(licmemo *m, const char *tenant, const char *token, const char *jwks, const char *claims,
                 const json_t *payload, const char *kid, time_t now);

/* The tenant's namespace was just created: nothing is in it yet. */
void licmemo_put_empty(licmemo *m, const char *tenant, time_t now);

/* Forget the tenant; keep_empty keeps a put_empty note (a tenant whose
 * namespace is not ready yet still has nothing in it). */
void licmemo_drop(licmemo *m, const char *tenant, int keep_empty);

/* 1 when the memo is fresh for the tenant, else 0 (and nothing filled).
 * On 1: *token (malloc'd) and *cm (new reference, ConfigMap-shaped:
 * {"data":{"jwks.json","claims.json"}}), both NULL after put_empty; and,
 * only when jwks equals the JWKS the token was verified against, *payload
 * (a new copy) and kid (PB_JWS_KID_MAX bytes), else *payload is NULL and
 * the caller must verify. */
int licmemo_get(licmemo *m, const char *tenant, time_t now, const char *jwks, char **token, json_t **cm,
                json_t **payload, char *kid);

#endif
