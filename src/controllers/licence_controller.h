/*
 * licence_controller.h - signed licences for every tenant (issue 17).
 *
 * The Licence controller (one workqueue, keys = tenant names, plus the
 * reserved key "@keyring") maintains:
 *   - in each tenant namespace it created: the Secret paybill-licence (key
 *     licence.jwt: a compact JWS, EdDSA, see licencespec.h) and the
 *     ConfigMap paybill-licence (claims.json: the decoded claims for
 *     humans; jwks.json: the public keys to verify it offline, since the
 *     tenant's network policy keeps its workloads off the operator);
 *   - the Tenant's status.licence {generation, keyID, issuedAt, expiresAt,
 *     jti} and condition Licensed;
 *   - ("@keyring") the signing keys in the Secret paybill-licence-signing-key
 *     of the system namespace (licence_keys.h: created on first start,
 *     rotated every keyRotationPeriod with overlap), and their public
 *     halves in the ConfigMap paybill-licence-jwks there (key jwks.json),
 *     which every replica also serves at GET /.well-known/jwks.json on its
 *     HTTPS endpoint.
 * Order keeps every live licence verifiable: a new key is published (JWKS
 * ConfigMap, then each tenant's copy) before anything is signed with it; a
 * retired key is unpublished only after keyOverlap and once no tenant's
 * licence is signed with it any more.
 *
 * The private key exists only in that Secret and in the leader's memory:
 * never in a tenant namespace, a log line, an Event or a status.
 *
 * Ownership: licence_state belongs to operator.c (licence_setup creates
 * it into op->licence, licence_state_free frees it after the manager).
 */
#ifndef PAYBILL_CONTROLLERS_LICENCE_CONTROLLER_H
#define PAYBILL_CONTROLLERS_LICENCE_CONTROLLER_H

#include "controllers/opconfig.h"
#include "controllers/operator.h"
#include "kube/manager.h"
#include "server/http.h"

#define LICENCE_KEYRING_KEY "@keyring" /* never a tenant name (DNS label) */
#define LICENCE_SECRET "paybill-licence"
#define LICENCE_CONFIGMAP "paybill-licence"
#define LICENCE_JWKS_CONFIGMAP "paybill-licence-jwks"
#define LICENCE_JWKS_PATH "/.well-known/jwks.json"

typedef struct licence_state licence_state;

/* Create the state and the controller, wire its watches (tenants, plans,
 * subscriptions, the system namespace's ConfigMaps) and queue the key ring
 * first. */
int licence_setup(manager *m, operator_ctx *op, const opconfig_licence *cfg, informer *tenants,
                  informer *plans, informer *subs, informer *configmaps, int workers, pb_err *err);
void licence_state_free(licence_state *s);

controller_result licence_reconcile(controller_ctx *ctx, const char *key, pb_err *err);

/* The licence controller's watch filters (ud: the operator_ctx), here for
 * tests: a Tenant's add, and a Subscription's changes, pass only for a
 * tenant a licence can be signed into (namespace ready, plan known, not
 * being deleted, as op->tenants has it for a Subscription). The others
 * come when their status says they are ready. A Tenant's update passes
 * when what a licence is made of changed and the tenant is, or was,
 * signable. */
int licence_tenant_added(json_t *tenant, void *ud);
int licence_tenant_updated(json_t *old_tenant, json_t *new_tenant, void *ud);
json_t *licence_map_subscription(json_t *sub, void *ud);

/* The names of the tenants in op->tenants a licence can be signed into now
 * (new array, never NULL but when out of memory): what a new or retired
 * key re-signs. The others come when they become signable. */
json_t *licence_signable_tenants(operator_ctx *op);

/* The tenant controller has just created the tenant's namespace (the
 * server answered 201): it holds no licence objects, so the first licence
 * reconcile need not look (two GETs answered 404 per new tenant). Believed
 * for the memo's window, used once; a no-op before licence_setup. */
void licence_namespace_created(operator_ctx *op, const char *tenant);

/* Adds GET /.well-known/jwks.json (from the cached JWKS ConfigMap; 503
 * until there is one). ud is the operator_ctx. */
int licence_register_routes(pb_http_server *srv, void *ud, pb_err *err);

#endif
