/*
 * licencespec.h - what a tenant's licence says and when it must be signed
 * again, as pure functions (the I/O is licence_controller.c).
 *
 * A licence is a JWT (compact JWS, EdDSA) whose claims are
 *   iss, sub (the tenant's name), aud, iat, nbf, exp, jti, and
 *   "paybill": {generation, tenant {name, uid}, plan, tier, isolation
 *               {model, compute, data}, features [sorted], quotas {...},
 *               agents {...}, subscription {name, state},
 *               status: active | suspended | canceled}
 * Everything under "paybill" but generation is the tenant's entitlements;
 * generation counts the licences whose entitlements differ from the one
 * before (renewals and re-signing with a new key keep it).
 *
 * A licence is signed again only when: there is none (or it no longer
 * verifies, or names another issuer, audience or subject), its
 * entitlements changed, it was signed by a key other than the active one
 * (after a rotation), or it expires within renew_before_s (or outlives the
 * configured validity). Otherwise it is kept, whatever else happened.
 *
 * Ownership: returned JSON values are new references.
 */
#ifndef PAYBILL_CONTROLLERS_LICENCESPEC_H
#define PAYBILL_CONTROLLERS_LICENCESPEC_H

#include <jansson.h>
#include <time.h>

#include "util/err.h"

#define LICENCE_CLAIM "paybill"

typedef struct licencespec_settings {
    const char *issuer;
    const char *audience;
    long long validity_s;     /* exp - iat */
    long long renew_before_s; /* re-sign when exp is this close */
} licencespec_settings;

typedef enum {
    LICENCE_KEEP = 0,
    LICENCE_NEW,          /* none yet */
    LICENCE_REPAIR,       /* gone, unverifiable or another iss/aud/sub */
    LICENCE_ENTITLEMENTS, /* plan, subscription or suspension changed */
    LICENCE_REKEY,        /* signed by a key that is no longer active */
    LICENCE_RENEW         /* expiry near */
} licencespec_action;

/* "keep", "new", "repair", "entitlements", "rekey", "renew" (static). */
const char *licencespec_action_name(licencespec_action a);

/* The entitlements of a tenant from its (cached) Tenant, its Plan and its
 * Subscription (both may be NULL: then those claims are absent or empty).
 * A new object, NULL when out of memory. */
json_t *licencespec_entitlements(const json_t *tenant, const json_t *plan, const json_t *sub);

/* The full claims of a licence (jti: a fresh random id). */
json_t *licencespec_claims(const licencespec_settings *s, const char *tenant, const json_t *ent,
                           long long generation, time_t now, const char *jti);

/* What to do, given the verified claims of the live licence (NULL when
 * there is none or it does not verify) and the kid that verified it.
 * *renew_at (may be NULL) receives when the kept licence is due. */
licencespec_action licencespec_decide(const licencespec_settings *s, const char *tenant,
                                      const json_t *current, const char *current_kid,
                                      const char *active_kid, const json_t *ent, time_t now,
                                      time_t *renew_at);

/* The generation the next licence carries: the highest known (from the
 * live licence and from the Tenant's status), plus one when its
 * entitlements are new (new, repair, entitlements). */
long long licencespec_next_generation(licencespec_action a, const json_t *current,
                                      long long status_generation);

/* Check a settings block: validity positive, renew_before in (0, validity).
 * PB_EINVAL naming the field. */
int licencespec_check_settings(const licencespec_settings *s, pb_err *err);

#endif
